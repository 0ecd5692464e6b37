"""The race's table: per contender, the numbers of :meth:`gdtui.engine.race.Race.table`.

Marker (its colour and shape, as in the plot and on the map), label, learning rate, steps,
steps to tolerance, final loss, best loss and status, each straight from the engine's
:class:`~gdtui.engine.race.RaceRow`, only written short (:func:`gdtui.ui.format.num`). The
selected row (the one ``d`` removes) is drawn in reverse; the criterion is the caption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.style import Style
from rich.table import Table
from rich.text import Text

from gdtui.ui.format import num
from gdtui.ui.widgets.race_plot import marker, slot_style
from gdtui.ui.widgets.rich_canvas import RichCanvas

if TYPE_CHECKING:
    from gdtui.engine import RaceRow

__all__ = ["COLUMNS", "RaceTable", "row_cells"]

COLUMNS = ("", "run", "lr", "steps", "to tol", "final loss", "best loss", "status")
"""The table's headers."""

DIGITS = 6
"""Significant digits of the numbers shown (4 below :data:`WIDE` cells)."""

WIDE = 100
"""From this width on the table shows every digit and long labels."""


def row_cells(row: RaceRow, digits: int = DIGITS) -> tuple[str, ...]:
    """The texts of one row after the marker: label, lr, steps, steps to tolerance, final loss,
    best loss, status."""
    reached = "—" if row.steps_to_tolerance is None else str(row.steps_to_tolerance)
    return (
        row.label,
        f"{row.lr:g}",
        str(row.steps),
        reached,
        num(row.final_loss, digits),
        num(row.best_loss, digits),
        row.status,
    )


class RaceTable(RichCanvas):
    """The race's table; repaints only the cells that change."""

    def show(
        self,
        rows: Sequence[RaceRow],
        slots: Mapping[str, int],
        selected: int | None,
        criterion: str,
    ) -> list[int]:
        """Show the engine's rows; ``selected`` is the highlighted row's index (or None)."""
        wide = self.size.width >= WIDE
        digits = DIGITS if wide else 4
        table = Table(
            box=None,
            padding=(0, 2, 0, 0) if wide else (0, 1, 0, 0),
            expand=False,
            show_edge=False,
            header_style="bold",
            caption=Text(f"to tol: {criterion}", style="dim"),
            caption_justify="left",
        )
        for i, header in enumerate(COLUMNS):
            table.add_column(
                header,
                justify="left" if i in (0, 1, 7) else "right",
                no_wrap=True,
                overflow="ellipsis" if i == 1 else "fold",
                max_width=(24 if wide else 18) if i == 1 else None,
                min_width=None if i == 1 else max(len(header), 1, 9 if i == 7 else 0),
            )
        if not rows:
            table.add_row("", Text("no contenders — press a to add one", style="dim"))
        for i, row in enumerate(rows):
            slot = slots.get(row.label, i)
            style = Style(reverse=True) if i == selected else None
            table.add_row(
                Text(marker(slot), style=slot_style(slot, bold=True)),
                *row_cells(row, digits),
                style=style,
            )
        return self.show_renderable(table)
