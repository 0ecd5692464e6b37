"""The race's paths: each contender's descent drawn over the loss landscape.

2-D: the landscape shaded as the main screen's map (the same colour ramp and rank levels,
:data:`~gdtui.ui.widgets.landscape.PALETTE` and
:func:`~gdtui.ui.widgets.landscape.quantile_levels`), each run's visited points in its marker
and colour, the segments between them as ``·``, its current point as its marker in reverse.
1-D: the curve, with each run's points and its current point in its marker. The shaded map is
cached; only the rows a path touches are re-composed, and only changed rows repainted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotext as plt
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from gdtui.ui.messages import Surface
from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.landscape import PALETTE, quantile_levels
from gdtui.ui.widgets.line_canvas import LineCanvas
from gdtui.ui.widgets.plot_text import PLOTEXT_LOCK, message_lines, new_figure
from gdtui.ui.widgets.race_plot import COLORS, marker, slot_style

__all__ = ["NO_MAP", "PathLine", "RacePaths"]

NO_MAP = "paths are drawn for 1- and 2-parameter problems"

_START = ("○", Style(color="white", bold=True))
_MINIMUM = ("★", Style(color="yellow", bold=True))
# Overlay precedence (higher wins): trail, visited point, start, minimum, current point.
_TRAIL, _POINT, _START_KIND, _MIN_KIND, _CURRENT = range(5)


@dataclass(frozen=True)
class PathLine:
    """One contender's path: visited points ``(n, d)`` and where it is now."""

    slot: int
    path: np.ndarray
    current: tuple[float, ...]


class _Map:
    """The shaded landscape for one surface at one size (half-block cells, low loss dark)."""

    def __init__(self, surface: Surface, cols: int, rows: int) -> None:
        self.surface, self.cols, self.rows = surface, cols, rows
        x, y = np.asarray(surface.x, dtype=np.float64), np.asarray(surface.y, dtype=np.float64)
        z = np.asarray(surface.z, dtype=np.float64)
        self.x0, self.x1, self.y0, self.y1 = float(x[0]), float(x[-1]), float(y[0]), float(y[-1])
        ny, nx = z.shape
        xi = np.rint(np.linspace(0, nx - 1, cols)).astype(np.int64)
        yi = np.rint(np.linspace(0, ny - 1, 2 * rows)).astype(np.int64)
        levels = quantile_levels(z)[np.ix_(yi, xi)][::-1]  # top first
        self.upper, self.lower = levels[0::2], levels[1::2]
        self.strips = [self.row(r, {}) for r in range(rows)]

    def _cell(self, up: int, low: int) -> tuple[str, Style | None]:
        if up < 0 and low < 0:
            return " ", None
        if up < 0:
            return "▄", Style(color=PALETTE[low])
        if low < 0:
            return "▀", Style(color=PALETTE[up])
        return "▀", Style(color=PALETTE[up], bgcolor=PALETTE[low])

    def row(self, r: int, overlay: dict[int, tuple[int, str, Style]]) -> Strip:
        """Row ``r`` of the map with overlay glyphs (column → (kind, glyph, style)) on top."""
        segments = []
        for c in range(self.cols):
            up, low = int(self.upper[r, c]), int(self.lower[r, c])
            if c in overlay:
                _, glyph, style = overlay[c]
                level = up if up >= 0 else low
                if level >= 0 and style.bgcolor is None:
                    style = style + Style(bgcolor=PALETTE[level])
                segments.append(Segment(glyph, style))
            else:
                segments.append(Segment(*self._cell(up, low)))
        return Strip(Segment.simplify(segments), self.cols)

    def to_sub(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous (column, sub-row from the bottom) of points ``(n, 2)``."""
        cx = (pts[:, 0] - self.x0) / ((self.x1 - self.x0) or 1.0) * (self.cols - 1)
        cy = (pts[:, 1] - self.y0) / ((self.y1 - self.y0) or 1.0) * (2 * self.rows - 1)
        return cx, cy

    def cells(self, pts: np.ndarray) -> list[tuple[int, int]]:
        """The cells ``(column, row from the top)`` of the points inside the map."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        cx, cy = self.to_sub(pts)
        col, sub = np.rint(cx), np.rint(cy)
        ok = np.isfinite(col) & np.isfinite(sub)
        ok &= (col >= 0) & (col < self.cols) & (sub >= 0) & (sub < 2 * self.rows)
        col, sub = col[ok].astype(np.int64), sub[ok].astype(np.int64)
        return [(int(c), int(self.rows - 1 - s // 2)) for c, s in zip(col, sub, strict=True)]

    def trail(self, pts: np.ndarray) -> list[tuple[int, int]]:
        """The cells the segments between consecutive points cross (inside the map)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if len(pts) < 2:
            return []
        cx, cy = self.to_sub(pts)
        xy = np.column_stack([cx, cy])
        ok = np.isfinite(xy).all(axis=1)
        ok = ok[:-1] & ok[1:]
        limit = np.array([3.0 * self.cols, 6.0 * self.rows])
        a, b = np.clip(xy[:-1][ok], -limit, limit), np.clip(xy[1:][ok], -limit, limit)
        if not len(a):
            return []
        counts = (np.ceil(np.max(np.abs(b - a), axis=1)) + 1).astype(np.int64)
        seg = np.repeat(np.arange(len(a)), counts)
        within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        t = within / np.maximum(counts[seg] - 1, 1)
        samples = a[seg] + (b[seg] - a[seg]) * t[:, None]
        col, sub = np.rint(samples[:, 0]).astype(np.int64), np.rint(samples[:, 1]).astype(np.int64)
        keep = (col >= 0) & (col < self.cols) & (sub >= 0) & (sub < 2 * self.rows)
        cells = np.unique(np.column_stack([col[keep], self.rows - 1 - sub[keep] // 2]), axis=0)
        return [(int(c), int(r)) for c, r in cells]


def _footer(surface: Surface, m: _Map, width: int) -> Strip:
    x_name, y_name = surface.names
    left = f"{x_name} ∈ [{m.x0:.3g}, {m.x1:.3g}]  {y_name} ∈ [{m.y0:.3g}, {m.y1:.3g}]"
    tail = [Segment("  "), Segment(*_START), Segment("start  ", Style(dim=True))]
    tail += [Segment(*_MINIMUM), Segment("min", Style(dim=True))]
    tail_len = sum(len(s.text) for s in tail)
    segments = [Segment(left, Style(dim=True))]
    if len(left) + tail_len <= width:
        segments += [Segment(" " * (width - len(left) - tail_len)), *tail]
    return Strip(segments).adjust_cell_length(width)


def render_curve_paths(
    curve: Surface,
    lines: Sequence[PathLine],
    start: tuple[float, ...] | None,
    width: int,
    height: int,
) -> list[str]:
    """A 1-D landscape with plotext: the curve, each run's points and current point in its
    marker and colour, the start ``○`` and the minima ``★``. ``height`` ANSI rows."""
    x = np.asarray(curve.x, dtype=np.float64).ravel()
    z = np.asarray(curve.z, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(z)
    if not ok.any() or width < 16 or height < 4:
        return message_lines(f"{curve.names[0]}: nothing to draw", width, height)
    x, z = x[ok], z[ok]
    if len(x) > 4 * width:  # never hand plotext more points than it can show
        idx = np.rint(np.linspace(0, len(x) - 1, 4 * width)).astype(np.int64)
        x, z = x[idx], z[idx]
    xlo, xhi = float(x[0]), float(x[-1])
    zlo, zhi = float(z.min()), float(z.max())
    pad = 0.05 * (zhi - zlo) or 1.0
    zlo, zhi = zlo - pad, zhi + pad

    def scatter(values: np.ndarray, glyph: str, color: int | str) -> None:
        px = np.asarray(values, dtype=np.float64).reshape(-1)
        keep = np.isfinite(px) & (px >= xlo) & (px <= xhi)
        if keep.any():
            px = px[keep]
            if len(px) > 2 * width:
                px = px[np.rint(np.linspace(0, len(px) - 1, 2 * width)).astype(np.int64)]
            plt.scatter(px.tolist(), np.interp(px, x, z).tolist(), color=color, marker=glyph)

    with PLOTEXT_LOCK:
        new_figure(width, height)
        plt.plot(x.tolist(), z.tolist(), color="blue+", marker="hd")
        if start is not None and len(start):
            scatter(np.array(start[:1]), "○", "white")
        for m in curve.minima:
            scatter(np.array(m[:1]), "★", "orange+")
        for line in lines:
            color = COLORS[line.slot % len(COLORS)]
            path = np.asarray(line.path, dtype=np.float64)
            if path.size:
                scatter(path[:, 0] if path.ndim == 2 else path, "·", color)
        for line in lines:
            scatter(np.array(line.current[:1]), marker(line.slot), COLORS[line.slot % len(COLORS)])
        plt.xlim(xlo, xhi)
        plt.ylim(zlo, zhi)
        plt.xlabel(curve.names[0])
        out = plotext_internals.build_lines()
    return (out + [""] * height)[:height]


class RacePaths(LineCanvas):
    """Every contender's path over the landscape (a shaded map for 2 parameters, a curve for 1)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._surface: Surface | None = None
        self._lines: tuple[PathLine, ...] = ()
        self._start: tuple[float, ...] | None = None
        self._map: _Map | None = None

    def grid_size(self) -> tuple[int, int]:
        """How many samples ``(nx, ny)`` are worth computing: a column per cell, two rows per
        cell (half blocks), the footer row excluded."""
        width, height = self.size
        if width <= 0 or height <= 1:
            return (64, 32)
        return (width, 2 * (height - 1))

    def show(
        self,
        surface: Surface | None,
        lines: Sequence[PathLine],
        start: tuple[float, ...] | None,
    ) -> list[int]:
        """Show the landscape and the paths; return the rows refreshed."""
        self._surface = surface
        self._lines = tuple(lines)
        self._start = start
        return self.rerender()

    def rerender(self) -> list[int]:
        """Draw at the current size."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return []
        surface = self._surface
        if surface is None:
            return self.set_lines(
                [Strip([Segment(t)]) for t in message_lines(NO_MAP, width, height)]
            )
        if surface.is_curve:
            return self.set_ansi_lines(
                render_curve_paths(surface, self._lines, self._start, width, height)
            )
        if height < 3 or width < 4:
            return self.set_lines([Strip([Segment(t)]) for t in message_lines("…", width, height)])
        m = self._map
        if m is None or m.surface is not surface or m.cols != width or m.rows != height - 1:
            m = self._map = _Map(surface, width, height - 1)
        overlay: dict[int, dict[int, tuple[int, str, Style]]] = {}

        def put(cells: list[tuple[int, int]], kind: int, glyph: str, style: Style) -> None:
            for col, row in cells:
                held = overlay.setdefault(row, {})
                if col not in held or held[col][0] <= kind:
                    held[col] = (kind, glyph, style)

        for line in self._lines:
            path = np.asarray(line.path, dtype=np.float64)
            if path.ndim == 2 and path.shape[1] == 2 and len(path):
                style = slot_style(line.slot)
                put(m.trail(path), _TRAIL, "·", style)
                put(m.cells(path), _POINT, marker(line.slot), style)
        if self._start is not None and len(self._start) == 2:
            put(m.cells(np.array([self._start])), _START_KIND, *_START)
        for minimum in surface.minima:
            put(m.cells(np.array([minimum[:2]])), _MIN_KIND, *_MINIMUM)
        for line in self._lines:
            if len(line.current) == 2:
                style = slot_style(line.slot, bold=True) + Style(reverse=True)
                put(m.cells(np.array([line.current])), _CURRENT, marker(line.slot), style)
        strips = [m.row(r, overlay[r]) if r in overlay else m.strips[r] for r in range(m.rows)]
        strips.append(_footer(surface, m, width))
        return self.set_lines(strips)
