"""The loss-landscape widget: a shaded map (2-D) or a curve (1-D) with the descent path.

The worker computes the landscape (:meth:`Landscape.grid_size` says how many samples are worth
computing) as a :class:`~gdtui.ui.messages.Surface`; the widget only maps values to colours and
cells. The shaded map is cached, so a new path point re-composes and repaints only the rows it
touches. The widget owns both directions of its coordinate mapping (:meth:`Landscape.cell_of`,
:meth:`Landscape.point_at`) and the start-placing mode; it posts :class:`Landscape.StartPlaced`
when the user picks a new start (a click, or enter while placing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotext as plt
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.message import Message
from textual.strip import Strip

from gdtui.ui.messages import Surface
from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.line_canvas import LineCanvas
from gdtui.ui.widgets.plot_text import PLOTEXT_LOCK, message_lines, new_figure

__all__ = ["NO_LANDSCAPE", "PALETTE", "Landscape", "render_curve_text"]

NO_LANDSCAPE = "a landscape needs 1 or 2 parameters"
"""Shown when there is no surface to draw."""

# Viridis anchors (matplotlib), darkened a little so the white / yellow / red overlay glyphs
# stay readable on every level.
_VIRIDIS = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
]
_LEVELS = 20
_DARKEN = 0.82
_QUANTILE_POWER = 2.0  # levels get finer towards low loss: valley floors show detail


def _make_palette(levels: int) -> list[Color]:
    anchors = np.array(_VIRIDIS, dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, levels)
    channels = [np.interp(t, positions, anchors[:, i]) * _DARKEN for i in range(3)]
    return [
        Color.from_rgb(round(r), round(g), round(b))
        for r, g, b in zip(*(c.tolist() for c in channels), strict=True)
    ]


PALETTE: list[Color] = _make_palette(_LEVELS)
"""The colour ramp, low loss first."""

_PATH_STYLE = Color.from_rgb(235, 235, 235)
_TRAIL_STYLE = Color.from_rgb(170, 170, 170)
_START_STYLE = Color.from_rgb(255, 255, 255)
_MINIMUM_STYLE = Color.from_rgb(255, 225, 0)
_CURRENT_STYLE = Color.from_rgb(255, 64, 64)

# Overlay glyphs by precedence (higher wins).
_TRAIL, _STEP, _START, _MINIMUM, _CURRENT = range(5)
_GLYPHS = {
    _TRAIL: ("·", _TRAIL_STYLE, False),
    _STEP: ("•", _PATH_STYLE, True),
    _START: ("○", _START_STYLE, True),
    _MINIMUM: ("★", _MINIMUM_STYLE, True),
    _CURRENT: ("●", _CURRENT_STYLE, True),
}


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def quantile_levels(z: np.ndarray, levels: int = _LEVELS) -> np.ndarray:
    """Colour level per sample (−1 for nan / inf) by rank of ``log(z − zmin + ε)``.

    Rank levels give every colour the same share of the map, so valleys show at any scale
    (e.g. Rosenbrock's banana valley); the log only matters for ties and documents intent.
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.full(z.shape, -1, dtype=np.int64)
    finite = np.isfinite(z)
    if not finite.any():
        return out
    values = z[finite]
    zmin = float(values.min())
    spread = float(values.max()) - zmin
    eps = max(spread * 1e-9, 1e-300)
    t = np.log(values - zmin + eps)
    edges = np.quantile(t, np.linspace(0.0, 1.0, levels + 1)[1:-1] ** _QUANTILE_POWER)
    out[finite] = np.searchsorted(edges, t, side="right")
    return out


class _Background:
    """The shaded map for one surface at one size: levels per cell and one strip per row."""

    def __init__(self, surface: Surface, cols: int, rows: int) -> None:
        self.surface = surface
        self.cols, self.rows = cols, rows
        x = np.asarray(surface.x, dtype=np.float64)
        y = np.asarray(surface.y, dtype=np.float64)
        z = np.asarray(surface.z, dtype=np.float64)
        self.x0, self.x1 = float(x[0]), float(x[-1])
        self.y0, self.y1 = float(y[0]), float(y[-1])
        # Nearest sample per half cell: column j, sub-row k counted from the bottom.
        ny, nx = z.shape
        xi = np.rint(np.linspace(0, nx - 1, cols)).astype(np.int64)
        yi = np.rint(np.linspace(0, ny - 1, 2 * rows)).astype(np.int64)
        levels = quantile_levels(z)[np.ix_(yi, xi)]  # (2*rows, cols), bottom first
        top_first = levels[::-1]
        self.upper = top_first[0::2]  # (rows, cols)
        self.lower = top_first[1::2]
        self._styles: dict[tuple[int, int], tuple[str, Style | None]] = {}
        self.strips = [self.row_strip(r, {}) for r in range(rows)]

    def cell(self, up: int, low: int) -> tuple[str, Style | None]:
        key = (up, low)
        cached = self._styles.get(key)
        if cached is None:
            if up < 0 and low < 0:
                cached = (" ", None)
            elif up < 0:
                cached = ("▄", Style(color=PALETTE[low]))
            elif low < 0:
                cached = ("▀", Style(color=PALETTE[up]))
            elif up == low:
                cached = (" ", Style(bgcolor=PALETTE[up]))
            else:
                cached = ("▀", Style(color=PALETTE[up], bgcolor=PALETTE[low]))
            self._styles[key] = cached
        return cached

    def row_strip(self, row: int, overlay: dict[int, int]) -> Strip:
        """One map row, with overlay glyphs (column → kind) on top."""
        upper, lower = self.upper[row], self.lower[row]
        segments: list[Segment] = []
        text: list[str] = []
        style: Style | None = None
        for col in range(self.cols):
            up, low = int(upper[col]), int(lower[col])
            kind = overlay.get(col)
            if kind is None:
                char, cell_style = self.cell(up, low)
            else:
                glyph, color, bold = _GLYPHS[kind]
                level = up if up >= 0 else low
                bg = PALETTE[level] if level >= 0 else None
                char, cell_style = glyph, _overlay_style(color, bg, bold)
            if text and cell_style != style:
                segments.append(Segment("".join(text), style))
                text = []
            text.append(char)
            style = cell_style
        if text:
            segments.append(Segment("".join(text), style))
        return Strip(segments, self.cols)

    def to_cells(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns, rows (from the top) and an inside-the-domain mask for arrays of points."""
        px = np.asarray(px, dtype=np.float64)
        py = np.asarray(py, dtype=np.float64)
        x_span = (self.x1 - self.x0) or 1.0
        y_span = (self.y1 - self.y0) or 1.0
        with np.errstate(invalid="ignore"):
            inside = (
                np.isfinite(px)
                & np.isfinite(py)
                & (px >= self.x0)
                & (px <= self.x1)
                & (py >= self.y0)
                & (py <= self.y1)
            )
        cx = np.where(inside, (px - self.x0) / x_span * (self.cols - 1), 0.0)
        cy = np.where(inside, (py - self.y0) / y_span * (2 * self.rows - 1), 0.0)
        col = np.rint(cx).astype(np.int64)
        row = self.rows - 1 - np.rint(cy).astype(np.int64) // 2
        return col, row, inside

    def to_cell(self, px: float, py: float) -> tuple[int, int] | None:
        """(column, row from the top) of a point, or None outside the domain."""
        col, row, inside = self.to_cells(np.array([px]), np.array([py]))
        return (int(col[0]), int(row[0])) if inside[0] else None

    def to_point(self, col: int, row: int) -> tuple[float, float] | None:
        """The point at the middle of a cell (the inverse of :meth:`to_cell`), None outside."""
        if not (0 <= col < self.cols and 0 <= row < self.rows):
            return None
        x = self.x0 + col / max(self.cols - 1, 1) * (self.x1 - self.x0)
        sub_row = 2 * (self.rows - 1 - row) + 0.5  # between the cell's two half-block samples
        y = self.y0 + sub_row / (2 * self.rows - 1) * (self.y1 - self.y0)
        return (min(x, self.x1), min(y, self.y1))


_OVERLAY_STYLES: dict[tuple[Color, Color | None, bool], Style] = {}


def _overlay_style(color: Color, bg: Color | None, bold: bool) -> Style:
    key = (color, bg, bold)
    style = _OVERLAY_STYLES.get(key)
    if style is None:
        style = _OVERLAY_STYLES[key] = Style(color=color, bgcolor=bg, bold=bold or None)
    return style


_MAX_TRAIL_SAMPLES = 200_000


def _path_cells(
    bg: _Background, path: np.ndarray
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Cells of the path points and of the segments joining them (clipped to the domain)."""
    pts = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if not len(pts):
        return [], []
    col, row, inside = bg.to_cells(pts[:, 0], pts[:, 1])
    step_cells = np.unique(np.column_stack([col[inside], row[inside]]), axis=0)
    steps = [(int(c), int(r)) for c, r in step_cells]
    if len(pts) < 2:
        return steps, []
    # Continuous coordinates: column, sub-row from the bottom.
    x_span = (bg.x1 - bg.x0) or 1.0
    y_span = (bg.y1 - bg.y0) or 1.0
    cx = (pts[:, 0] - bg.x0) / x_span * (bg.cols - 1)
    cy = (pts[:, 1] - bg.y0) / y_span * (2 * bg.rows - 1)
    xy = np.column_stack([cx, cy])
    finite = np.isfinite(xy).all(axis=1)
    ok = finite[:-1] & finite[1:]
    # Clip far-away ends to a window around the map so that huge jumps stay cheap.
    low = np.array([-2.0 * bg.cols, -4.0 * bg.rows])
    high = np.array([3.0 * bg.cols, 6.0 * bg.rows])
    a = np.clip(xy[:-1][ok], low, high)
    b = np.clip(xy[1:][ok], low, high)
    if not len(a):
        return steps, []
    counts = (np.ceil(np.max(np.abs(b - a), axis=1)) + 1).astype(np.int64)
    total = int(counts.sum())
    if total > _MAX_TRAIL_SAMPLES:
        counts = np.maximum(2, counts * _MAX_TRAIL_SAMPLES // total)
    seg = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    t = offsets / np.maximum(counts[seg] - 1, 1)
    samples = a[seg] + (b[seg] - a[seg]) * t[:, None]
    s_col = np.rint(samples[:, 0]).astype(np.int64)
    s_sub = np.rint(samples[:, 1]).astype(np.int64)
    keep = (s_col >= 0) & (s_col < bg.cols) & (s_sub >= 0) & (s_sub < 2 * bg.rows)
    cells = np.unique(np.column_stack([s_col[keep], bg.rows - 1 - s_sub[keep] // 2]), axis=0)
    return steps, [(int(c), int(r)) for c, r in cells]


def _footer(left: str, width: int) -> Strip:
    legend = [
        ("● ", _CURRENT_STYLE, "now"),
        ("○ ", _START_STYLE, "start"),
        ("★ ", _MINIMUM_STYLE, "min"),
    ]
    segments = [Segment(left, Style(dim=True))]
    used = len(left)
    tail: list[Segment] = []
    tail_len = 0
    for glyph, color, label in legend:
        tail.extend(
            [Segment("  "), Segment(glyph, Style(color=color)), Segment(label, Style(dim=True))]
        )
        tail_len += 2 + len(glyph) + len(label)
    if used + tail_len <= width:
        segments.append(Segment(" " * (width - used - tail_len)))
        segments.extend(tail)
    return Strip(segments).adjust_cell_length(width)


def render_curve_text(
    curve: Surface,
    path: np.ndarray | None,
    current: tuple[float, ...] | None,
    start: tuple[float, ...] | None,
    width: int,
    height: int,
) -> list[str]:
    """Draw a 1-D landscape with plotext: the curve, path points, start, minima and current.

    ``path`` is ``(n,)`` / ``(n, 1)`` parameter values (their loss is read off the curve) or
    ``(n, 2)`` ``(x, loss)`` pairs. Returns ``height`` ANSI lines.
    """
    x = np.asarray(curve.x, dtype=np.float64).ravel()
    z = np.asarray(curve.z, dtype=np.float64).ravel()
    n = min(len(x), len(z))
    x, z = x[:n], z[:n]
    ok = np.isfinite(x) & np.isfinite(z)
    if not ok.any() or width < 16 or height < 4:
        return message_lines(f"{curve.names[0]}: nothing to draw", width, height)
    x, z = x[ok], z[ok]
    if len(x) > 4 * width:  # guard: never hand plotext more points than it can show
        idx = np.rint(np.linspace(0, len(x) - 1, 4 * width)).astype(np.int64)
        x, z = x[idx], z[idx]
    xlo, xhi = float(x[0]), float(x[-1])
    zlo, zhi = float(z.min()), float(z.max())
    if zhi <= zlo:
        zlo, zhi = zlo - 1.0, zhi + 1.0
    pad = 0.05 * (zhi - zlo)
    zlo, zhi = zlo - pad, zhi + pad

    def on_curve(values: np.ndarray) -> np.ndarray:
        return np.interp(values, x, z)

    def inside(px: np.ndarray, pz: np.ndarray) -> np.ndarray:
        return (
            np.isfinite(px)
            & np.isfinite(pz)
            & (px >= xlo)
            & (px <= xhi)
            & (pz >= zlo)
            & (pz <= zhi)
        )

    with PLOTEXT_LOCK:
        new_figure(width, height)
        plt.plot(x.tolist(), z.tolist(), color="blue+", marker="hd")
        if path is not None and np.size(path):
            arr = np.asarray(path, dtype=np.float64)
            if arr.ndim == 2 and arr.shape[1] >= 2:
                px, pz = arr[:, 0], arr[:, 1]
            else:
                px = arr.reshape(-1)
                pz = on_curve(px)
            keep = inside(px, pz)
            if keep.any():
                plt.scatter(px[keep].tolist(), pz[keep].tolist(), color="white", marker="•")
        for value, glyph, color in (
            (start, "○", "white"),
            *[((m[0],), "★", "orange+") for m in curve.minima],
            (current, "●", "red+"),
        ):
            if value is None or not len(value):
                continue
            px = np.array([float(value[0])])
            pz = np.array([float(value[1])]) if len(value) > 1 else on_curve(px)
            if inside(px, pz).all():
                plt.scatter(px.tolist(), pz.tolist(), color=color, marker=glyph)
        plt.xlim(xlo, xhi)
        plt.ylim(zlo, zhi)
        plt.xlabel(curve.names[0])
        lines = plotext_internals.build_lines()
    return (lines + [""] * height)[:height]


class Landscape(LineCanvas):
    """Loss landscape with the descent path: a shaded map for 2 parameters, a curve for 1.

    2-D: each cell shows two vertical samples with ``▀`` (foreground = upper, background =
    lower), coloured by rank of the loss; overlays: ``·`` path segments, ``•`` path points,
    ``○`` start, ``★`` minima, ``●`` current point. y grows upwards. The last row is a footer
    with the parameter ranges.

    While a start is being placed (:meth:`start_placing`) the pending start is drawn as ``○``.
    """

    @dataclass
    class StartPlaced(Message):
        """The user picked a new start point (a click on the map, or enter while placing)."""

        landscape: Landscape
        point: tuple[float, ...]

        @property
        def control(self) -> Landscape:
            """The landscape that was clicked."""
            return self.landscape

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._surface: Surface | None = None
        self._domain: tuple[tuple[float, float], ...] = ()
        self.placing: tuple[float, ...] | None = None
        """The pending start while placing it (None: not placing)."""
        self._path: np.ndarray | None = None
        self._current: tuple[float, ...] | None = None
        self._start: tuple[float, ...] | None = None
        self._background: _Background | None = None
        self._regions: Any = None  # gdtui.engine.Regions while decision regions are shown
        self._regions_note = ""
        self._note = NO_LANDSCAPE

    def grid_size(self) -> tuple[int, int]:
        """How many samples ``(nx, ny)`` are worth computing for the current size.

        For a 2-D surface: one column per cell and two rows per cell (half blocks), the footer
        row excluded. For a 1-D curve use ``nx`` (``ny`` is then irrelevant). Before the widget
        has a size a modest default is returned.
        """
        width, height = self.size
        if width <= 0 or height <= 1:
            return (64, 32)
        return (width, 2 * (height - 1))

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """The cell ``(column, row)`` where the 2-D point ``(x, y)`` is drawn, or None."""
        bg = self._background_for_size()
        return bg.to_cell(x, y) if bg is not None else None

    def point_at(self, col: int, row: int) -> tuple[float, float] | None:
        """The 2-D point a cell ``(column, row)`` stands for (the inverse of :meth:`cell_of`).

        None outside the map (the footer row included) or when no 2-D map is shown.
        """
        bg = self._background_for_size()
        return bg.to_point(col, row) if bg is not None else None

    # -- placing the start ---------------------------------------------------------------------

    def start_placing(
        self, point: tuple[float, ...], domain: tuple[tuple[float, float], ...]
    ) -> None:
        """Show ``point`` as the pending start; arrows (:meth:`move_placing`) move it in ``domain``."""
        self.placing = tuple(float(v) for v in point)
        self._domain = domain
        self.rerender()

    def move_placing(self, dx: int, dy: int) -> None:
        """Nudge the pending start by 2% of the plotting domain per step."""
        if self.placing is None:
            return
        point = list(self.placing)
        for i, delta in enumerate((dx, dy)[: len(point)]):
            lo, hi = self._domain[i]
            point[i] = min(hi, max(lo, point[i] + delta * 0.02 * (hi - lo)))
        self.placing = tuple(point)
        self.rerender()

    def apply_placing(self) -> None:
        """Post :class:`StartPlaced` for the pending start and leave placing."""
        if self.placing is None:
            return
        point, self.placing = self.placing, None
        self.post_message(self.StartPlaced(self, point))

    def cancel_placing(self) -> None:
        """Leave placing; the start stays as it was."""
        self.placing = None
        self.rerender()

    def on_click(self, event: Click) -> None:
        """A click on a 2-D map picks the start there."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        point = self.point_at(offset.x, offset.y)
        if point is not None:
            self.placing = None
            self.post_message(self.StartPlaced(self, point))

    def show(
        self,
        surface: Surface | None,
        path: np.ndarray | None,
        current: tuple[float, ...] | None,
        start: tuple[float, ...] | None,
    ) -> list[int]:
        """Show a landscape and the descent so far, repainting only the rows that changed.

        Args:
            surface: The landscape (None: a note that it is shown for 1-/2-parameter problems).
                Passing the same object again reuses the cached shaded map.
            path: Visited points, shape ``(n, 2)`` for 2-D; ``(n,)`` / ``(n, 1)`` for 1-D.
            current: The current point (drawn last, on top).
            start: The starting point (a start being placed is drawn instead).

        Returns:
            The rows refreshed (empty before the widget has a size).
        """
        self._surface = surface
        self._regions = None
        self._note = NO_LANDSCAPE
        self._path = None if path is None else np.asarray(path, dtype=np.float64)
        self._current = None if current is None else tuple(float(v) for v in current)
        self._start = None if start is None else tuple(float(v) for v in start)
        return self.rerender()

    def show_regions(self, regions: Any, note: str = "") -> list[int]:
        """Show a classifier's decision regions with its training points (a
        :class:`gdtui.engine.Regions`; see :mod:`gdtui.ui.widgets.regions`), ``note`` in the
        footer. Returns the rows refreshed."""
        self._surface = None
        self._regions = regions
        self._regions_note = note
        return self.rerender()

    def show_note(self, text: str) -> list[int]:
        """Show a one-line note instead of a landscape (e.g. while the worker computes one)."""
        self._surface = None
        self._regions = None
        self._note = text
        return self.rerender()

    @property
    def showing_regions(self) -> bool:
        """Decision regions are shown (not a loss landscape)."""
        return self._regions is not None

    @property
    def _shown_start(self) -> tuple[float, ...] | None:
        return self.placing if self.placing is not None else self._start

    def _background_for_size(self) -> _Background | None:
        surface = self._surface
        width, height = self.size
        if surface is None or surface.is_curve or width <= 0 or height <= 1:
            return None
        rows = height - 1
        bg = self._background
        if bg is None or bg.surface is not surface or bg.cols != width or bg.rows != rows:
            bg = self._background = _Background(surface, width, rows)
        return bg

    def rerender(self) -> list[int]:
        """Draw the current landscape at the current size."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return []
        surface = self._surface
        if self._regions is not None:
            from gdtui.ui.widgets.regions import render_regions

            self._background = None
            return self.set_lines(render_regions(self._regions, width, height, self._regions_note))
        if surface is None:
            self._background = None
            strips = [Strip([Segment(line)]) for line in message_lines(self._note, width, height)]
            return self.set_lines(strips)
        if surface.is_curve:
            self._background = None
            lines = render_curve_text(
                surface, self._path, self._current, self._shown_start, width, height
            )
            return self.set_ansi_lines(lines)
        return self.set_lines(self._render_2d(surface, width, height))

    def _render_2d(self, surface: Surface, width: int, height: int) -> list[Strip]:
        if height < 3 or width < 4:
            return [Strip([Segment(line)]) for line in message_lines("…", width, height)]
        bg = self._background_for_size()
        assert bg is not None
        overlay: dict[int, dict[int, int]] = {}

        def put(cell: tuple[int, int] | None, kind: int) -> None:
            if cell is None:
                return
            col, row = cell
            row_overlay = overlay.setdefault(row, {})
            if row_overlay.get(col, -1) < kind:
                row_overlay[col] = kind

        if self._path is not None and self._path.size >= 2:
            steps, trail = _path_cells(bg, self._path)
            for cell in trail:
                put(cell, _TRAIL)
            for cell in steps:
                put(cell, _STEP)
        start = self._shown_start
        if start is not None and len(start) >= 2:
            put(bg.to_cell(start[0], start[1]), _START)
        for minimum in surface.minima:
            put(bg.to_cell(float(minimum[0]), float(minimum[1])), _MINIMUM)
        if self._current is not None and len(self._current) >= 2:
            put(bg.to_cell(self._current[0], self._current[1]), _CURRENT)
        strips = [
            bg.row_strip(row, overlay[row]) if row in overlay else bg.strips[row]
            for row in range(bg.rows)
        ]
        x_name, y_name = surface.names
        footer = (
            f"{x_name} ∈ [{_fmt(bg.x0)}, {_fmt(bg.x1)}]  {y_name} ∈ [{_fmt(bg.y0)}, {_fmt(bg.y1)}]"
        )
        strips.append(_footer(footer, width))
        return strips
