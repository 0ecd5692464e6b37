"""The table both step panels draw: quantities (θ, ∇, Δ, …) of every parameter.

Used by :class:`~gdtui.ui.widgets.backprop_panel.BackpropPanel` and
:class:`~gdtui.ui.widgets.optimizer_panel.OptimizerPanel`; every number is rounded to fit its
column (:mod:`gdtui.ui.format`), never cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from gdtui.ui.format import fit, fits

__all__ = ["WIDE_LIMIT", "Quantity", "column_width", "quantity_table"]

Quantity = tuple[str | Text, Sequence[float | str | None], str]
"""One row of the table: label, a value per parameter (numbers, or text shown as is), style."""

WIDE_LIMIT = 3  # up to this many parameters are columns; more are rows


def column_width(total: int, label: int, count: int) -> int:
    """Cells each parameter column gets in a panel ``total`` cells wide."""
    return max(4, (total - label - 2 * count) // max(1, count))


def quantity_table(
    names: Sequence[str],
    rows: Sequence[Quantity],
    width: int,
) -> Table:
    """Quantities (θ, ∇, Δ, …) of every parameter, each number rounded to fit, never cut.

    Up to three parameters, a column per parameter; more, a row per parameter (so eight
    parameters still fit 38 cells). ``rows`` holds (label, values, style) per quantity; values
    already written as text are shown as they are.
    """

    def texts(values: Sequence[float | str | None], cells: int) -> list[str]:
        if values and isinstance(values[0], str):
            return [str(v) for v in values]
        return fit(list(values), cells)  # type: ignore[arg-type]

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    if len(names) <= WIDE_LIMIT:
        label = max(len(str(r[0])) if not isinstance(r[0], Text) else r[0].cell_len for r in rows)
        cells = column_width(width, label, len(names))
        for _ in names:
            table.add_column(justify="right", no_wrap=True, overflow="crop")
        table.add_row("", *[Text(n, style="bold italic") for n in names])
        for label_text, values, style in rows:
            table.add_row(label_text, *[Text(t, style=style) for t in texts(values, cells)])
        return table
    # A row per parameter: as many quantities (in order) as fit the width, headings included,
    # each number with at least 3 significant digits.
    name_width = max(len(n) for n in names)

    def heading(row: Quantity) -> int:
        return row[0].cell_len if isinstance(row[0], Text) else len(row[0])

    shown = list(rows)
    while True:
        cells = column_width(width, name_width, len(shown))
        columns = [
            [str(v) for v in values]
            if values and isinstance(values[0], str)
            else fits(list(values), cells)  # type: ignore[arg-type]
            for _, values, _ in shown
        ]
        used = name_width + sum(
            max(heading(row), *(len(t) for t in col)) + 2
            for row, col in zip(shown, columns, strict=True)
            if col is not None
        )
        if len(shown) == 1 or (all(col is not None for col in columns) and used <= width):
            break
        shown.pop()
    columns = [
        col if col is not None else texts(shown[j][1], cells) for j, col in enumerate(columns)
    ]
    rows = shown
    for _ in rows:
        table.add_column(justify="right", no_wrap=True, overflow="crop")
    table.add_row("", *[r[0] if isinstance(r[0], Text) else Text(r[0], style="bold") for r in rows])
    for i, name in enumerate(names):
        table.add_row(
            Text(name, style="bold italic"),
            *[Text(col[i], style=rows[j][2]) for j, col in enumerate(columns)],
        )
    return table
