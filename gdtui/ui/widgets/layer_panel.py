"""The per-layer map-and-hiker table: one row per parameter tensor of a model.

Each row puts side by side what backprop left in ``.grad`` for that tensor (the map: ‖∇‖) and
what the optimizer then did to it (the hiker: ‖Δ‖, ‖Δ‖/‖θ‖, cos(−∇, Δ), and the spread of the
effective per-element learning rate |Δ|/|∇| as ``p10 · median · p90``), with the lr of its
param group. The input is a plain torch-free :class:`LayerRows`; the numbers come from
:mod:`gdtui.engine.layer_stats` (model runs) or :mod:`gdtui.recordfile` (``gdtui attach``).

Every number is rounded to fit its column (:mod:`gdtui.ui.format`), never cut; at narrow widths
whole columns go, least telling first. Choosing a row (cursor keys, Enter, a click) posts
:class:`LayerPanel.LayerChosen`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import numpy as np
from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.widgets import DataTable

from gdtui.ui.format import fit

if TYPE_CHECKING:
    from gdtui.recordfile import RecordFile

__all__ = ["FIELDS", "LayerPanel", "LayerRows", "ratio_mark"]

FIELDS = (
    "grad_norm",
    "param_norm",
    "update_norm",
    "ratio",
    "cos",
    "eff_lr_median",
    "eff_lr_p10",
    "eff_lr_p90",
)
"""Column order of :attr:`LayerRows.values` (= ``gdtui.recordfile.FIELDS`` =
``gdtui.engine.layer_stats.SUMMARY_FIELDS``; kept here so the ui needs neither torch nor the
reader)."""

_F = {field: i for i, field in enumerate(FIELDS)}

# The update-to-weight ratio practitioners watch: about 1e-3 is healthy; a hundred times more
# moves the weights too fast, a hundred times less barely moves them.
RATIO_HIGH = 1e-2
RATIO_LOW = 1e-5
RATIO_WILD = 1e-1


@dataclass(frozen=True, eq=False)
class LayerRows:
    """The last step of every parameter tensor, as :class:`LayerPanel` shows it.

    Attributes:
        names: Parameter names (``model.named_parameters()`` order).
        shapes: Each parameter's shape.
        values: ``(P, len(FIELDS))`` float array in :data:`FIELDS` order; NaN shows as "—".
        lr: The lr of each parameter's param group (None where unknown).
        step: The optimizer step these summaries come from (None before any).
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    values: np.ndarray
    lr: tuple[float | None, ...] | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.names), len(FIELDS)):
            raise ValueError(
                f"values has shape {self.values.shape}, expected ({len(self.names)}, {len(FIELDS)})"
            )
        if len(self.shapes) != len(self.names):
            raise ValueError("one shape per name")
        if self.lr is not None and len(self.lr) != len(self.names):
            raise ValueError("one lr per name")

    @classmethod
    def empty(cls, names: Sequence[str], shapes: Sequence[Sequence[int]]) -> LayerRows:
        """Rows for parameters that have no step yet (every number "—")."""
        return cls(
            tuple(names),
            tuple(tuple(s) for s in shapes),
            np.full((len(names), len(FIELDS)), math.nan),
        )

    @classmethod
    def from_record(cls, record: RecordFile, index: int = -1) -> LayerRows:
        """The rows of recorded step ``index`` of a :class:`gdtui.recordfile.RecordFile`.

        A parameter without a gradient at that step shows "—"; its lr is its group's lr
        (the header's ``params[i]["group"]``) when the header says.
        """
        if not record.count:
            return cls.empty(record.names, record.shapes)
        values = np.where(record.present[index][:, None], record.values[index], math.nan).astype(
            float
        )
        lrs = record.lr[index]
        params = (record.header or {}).get("params", [])
        lr: list[float | None] = []
        for i in range(len(record.names)):
            group = params[i].get("group", 0) if i < len(params) else 0
            ok = isinstance(group, int) and not isinstance(group, bool) and 0 <= group < len(lrs)
            value = float(lrs[group]) if ok else math.nan
            lr.append(value if math.isfinite(value) else None)
        return cls(
            tuple(record.names),
            tuple(record.shapes),
            values,
            tuple(lr),
            int(record.step[index]),
        )


def ratio_mark(ratio: float | None) -> tuple[str, str]:
    """The marker and style of an update-to-weight ratio: ``▲`` too big, ``▼`` too small.

    The marker carries the hint without colour (``NO_COLOR``); the style adds colour.
    """
    if ratio is None or not math.isfinite(ratio):
        return " ", ""
    if ratio >= RATIO_WILD:
        return "▲", "bold red"
    if ratio >= RATIO_HIGH:
        return "▲", "yellow"
    if ratio < RATIO_LOW:
        return "▼", "dim"
    return " ", "green"


def _floats(column: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in column]


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape)) or "()"


@dataclass(frozen=True)
class _Column:
    """One column the panel may show: its key, heading, priority and how to write its cells."""

    key: str
    heading: str
    priority: int  # lower is kept longer
    cells: Callable[[LayerRows, int], tuple[int, list[Text]]]  # (rows, digits) -> width, cells


def _number_column(field: str, *, signed: bool = False) -> Callable:
    def cells(rows: LayerRows, digits: int) -> tuple[int, list[Text]]:
        width = digits + (6 if signed else 5)
        texts = fit(_floats(rows.values[:, _F[field]]), width, digits)
        return width, [Text(t, justify="right") for t in texts]

    return cells


def _ratio_cells(rows: LayerRows, digits: int) -> tuple[int, list[Text]]:
    width = digits + 5
    values = _floats(rows.values[:, _F["ratio"]])
    out = []
    for text, value in zip(fit(values, width, digits), values, strict=True):
        mark, style = ratio_mark(value)
        out.append(Text.assemble((text, style), " ", (mark, style), justify="right"))
    return width + 2, out


def _eff_lr_cells(rows: LayerRows, digits: int) -> tuple[int, list[Text]]:
    digits = max(2, digits - 1)
    part = digits + 5
    p10, median, p90 = (
        fit(_floats(rows.values[:, _F[f]]), part, digits)
        for f in ("eff_lr_p10", "eff_lr_median", "eff_lr_p90")
    )
    out = []
    for lo, mid, hi in zip(p10, median, p90, strict=True):
        out.append(
            Text.assemble(
                (lo.rjust(part), "dim"), " · ", (mid.rjust(part), "bold"), " · ",
                (hi.rjust(part), "dim"), justify="right",
            )
        )  # fmt: skip
    return 3 * part + 6, out


def _lr_cells(rows: LayerRows, digits: int) -> tuple[int, list[Text]]:
    width = digits + 5
    values = list(rows.lr) if rows.lr is not None else [None] * len(rows.names)
    return width, [Text(t, justify="right") for t in fit(values, width, digits)]


def _shape_cells(rows: LayerRows, digits: int) -> tuple[int, list[Text]]:
    texts = [_shape_text(s) for s in rows.shapes]
    return max(map(len, texts), default=1), [Text(t, style="dim") for t in texts]


# Left to right as shown; the priority says which go first when the width is short.
_COLUMNS = (
    _Column("shape", "shape", 7, _shape_cells),
    _Column("grad_norm", "‖∇‖", 2, _number_column("grad_norm")),
    _Column("update_norm", "‖Δ‖", 5, _number_column("update_norm")),
    _Column("ratio", "‖Δ‖/‖θ‖", 1, _ratio_cells),
    _Column("cos", "cos(−∇,Δ)", 4, _number_column("cos", signed=True)),
    _Column("eff_lr", "lr_eff p10 · median · p90", 3, _eff_lr_cells),
    _Column("lr", "lr", 6, _lr_cells),
)
_NAME_MIN = 24  # names up to this long are never shortened to make room for a column
_NAME_MAX = 40


def _cut_name(name: str, width: int) -> str:
    """A parameter name in ``width`` cells: long ones lose their start (the end says most)."""
    return name if len(name) <= width else "…" + name[len(name) - width + 1 :]


@dataclass(frozen=True)
class _Layout:
    """What the table shows at one width: the columns, their widths, cells and the digits."""

    keys: tuple[str, ...]
    widths: tuple[int, ...]
    headings: tuple[str, ...]
    cells: tuple[tuple[Text, ...], ...]  # per row, per column (the name first)


def layout(rows: LayerRows, width: int) -> _Layout:
    """Choose the columns and digits that fit ``width`` cells (each column pads one cell a side).

    Four significant digits where everything fits, else three, else columns go by priority.
    """
    name_width = min(_NAME_MAX, max([len("layer"), *map(len, rows.names)]))
    shown = list(_COLUMNS)
    while True:
        for digits in (4, 3):
            built = [(c, *c.cells(rows, digits)) for c in shown]
            widths = [max(w, len(c.heading)) for c, w, _ in built]
            used = sum(w + 2 for w in widths)
            room = width - used - 2
            if room >= min(name_width, _NAME_MIN) or len(shown) == 1:
                break
        else:
            shown.remove(max(shown, key=lambda c: c.priority))
            continue
        break
    name_width = max(min(name_width, room), min(name_width, _NAME_MIN))
    names = [Text(_cut_name(n, name_width), style="bold") for n in rows.names]
    cells = tuple(
        (names[i], *(column[i] for _, _, column in built)) for i in range(len(rows.names))
    )
    return _Layout(
        keys=("name", *(c.key for c in shown)),
        widths=(name_width, *widths),
        headings=("layer", *(c.heading for c in shown)),
        cells=cells,
    )


class LayerPanel(DataTable):
    """The per-layer map-and-hiker table (a row per parameter tensor); a row cursor picks one."""

    DEFAULT_CSS = """
    LayerPanel { height: 1fr; }
    """
    _cells_only = False  # set while update_cell() runs (see refresh)

    class LayerChosen(Message):
        """The user chose a layer (moved the cursor onto its row, pressed Enter or clicked)."""

        def __init__(self, panel: LayerPanel, name: str) -> None:
            super().__init__()
            self.panel = panel
            self.name = name
            """The parameter's name, as in :attr:`LayerRows.names`."""

        @property
        def control(self) -> LayerPanel:
            """The panel the layer was chosen in."""
            return self.panel

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._rows: LayerRows | None = None
        self._layout: _Layout | None = None
        self._built_width = -1
        self._chosen: str | None = None
        self._cells_only = False

    # ------------------------------------------------------------------ data

    @property
    def layer_rows(self) -> LayerRows | None:
        """What the panel shows (None before :meth:`show_rows`)."""
        return self._rows

    @property
    def chosen(self) -> str | None:
        """The name of the layer under the cursor (None with no rows)."""
        return self._chosen

    def show_rows(self, rows: LayerRows) -> None:
        """Show these rows, changing only the cells whose text changed."""
        self._rows = rows
        self._draw()

    def choose(self, name: str) -> None:
        """Put the cursor on layer ``name`` (posts :class:`LayerChosen` if it moved)."""
        if self._rows is not None and name in self._rows.names:
            self.move_cursor(row=self._rows.names.index(name))

    def _table_width(self) -> int:
        return self.scrollable_content_region.width or self.size.width or 80

    def _draw(self) -> None:
        rows = self._rows
        if rows is None:
            return
        new = layout(rows, self._table_width())
        old = self._layout
        same_shape = (
            old is not None
            and old.keys == new.keys
            and old.widths == new.widths
            and len(old.cells) == len(new.cells)
            and self.row_count == len(new.cells)
        )
        self._layout = new
        if same_shape:
            assert old is not None
            changed = []
            self._cells_only = True  # update_cell() repaints the whole table; only cells change
            try:
                for i, (before, after) in enumerate(zip(old.cells, new.cells, strict=True)):
                    for j, (a, b) in enumerate(zip(before, after, strict=True)):
                        if a != b:
                            self.update_cell(str(i), new.keys[j], b)
                            changed.append(Coordinate(i, j))
            finally:
                self._cells_only = False
            for coordinate in changed:
                self.refresh_coordinate(coordinate)
            return
        cursor = self.cursor_row
        self.clear(columns=True)
        for key, heading, width in zip(new.keys, new.headings, new.widths, strict=True):
            label = Text(heading, style="bold", justify="left" if key == "name" else "right")
            self.add_column(label, width=width, key=key)
        for i, cells in enumerate(new.cells):
            self.add_row(*cells, key=str(i))
        if new.cells:
            self.move_cursor(row=min(max(cursor, 0), len(new.cells) - 1), animate=False)

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        """As Textual's, except the whole-table repaint that ``update_cell`` asks for.

        Over SSH a new step must cost the bytes of the cells that changed, not of the table.
        """
        if self._cells_only and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def on_resize(self) -> None:
        """Choose the columns again for the new width."""
        self._draw()

    # ------------------------------------------------------------------ choosing

    def _chose(self, row: int) -> None:
        if self._rows is None or not 0 <= row < len(self._rows.names):
            return
        name = self._rows.names[row]
        if name != self._chosen:
            self._chosen = name
            self.post_message(self.LayerChosen(self, name))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The cursor moved onto a row: that layer is chosen."""
        if event.data_table is self:
            self._chose(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter or a click on a row: that layer is chosen."""
        if event.data_table is self:
            self._chose(event.cursor_row)
