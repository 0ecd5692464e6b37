"""The race's loss plot: every contender's curve overlaid, with a legend.

Each contender has a slot, and each slot a colour *and* a marker (``●``, ``▲``, ``■``…), so the
curves and the legend read under ``NO_COLOR`` too. The y axis is ``log10(loss − L*)`` drawn on a
linear axis (plotext's own log scale fails when drawn twice), whole decades, sticky while the
data stays inside; the x axis is ``[0, 2**k]``, so a new step repaints only a few rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotext as plt
from rich.color import Color
from rich.style import Style

from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.line_canvas import LineCanvas
from gdtui.ui.widgets.plot_text import PLOTEXT_LOCK, message_lines, new_figure

__all__ = ["COLORS", "MARKERS", "Curve", "RacePlot", "render_race_text", "slot_style"]

MARKERS = ("●", "▲", "■", "◆", "✚", "✖")
"""One marker per slot: what tells the runs apart without colour."""

COLORS = (51, 208, 213, 196, 231, 226)
"""One 256-colour code per slot (cyan, orange, pink, red, white, yellow): clear on the dark
background and on the shaded landscape alike."""

YLim = tuple[float, float, bool]
"""y-limits in plot units and whether they are log10 units."""

EMPTY = "no steps yet — space runs the race, n steps it"
_MIN_XMAX = 8


def slot_style(slot: int, *, bold: bool = False) -> Style:
    """The Rich style of a slot's marker (its colour)."""
    return Style(color=Color.from_ansi(COLORS[slot % len(COLORS)]), bold=bold or None)


def marker(slot: int) -> str:
    """The marker of a slot."""
    return MARKERS[slot % len(MARKERS)]


@dataclass(frozen=True)
class Curve:
    """One contender's loss, already downsampled to about the plot width."""

    label: str
    slot: int
    steps: np.ndarray
    loss: np.ndarray


def _xmax(curves: Sequence[Curve]) -> float:
    top = max((float(np.max(c.steps)) for c in curves if len(c.steps)), default=0.0)
    xmax = _MIN_XMAX
    while xmax < top:
        xmax *= 2
    return float(xmax)


def _legend(title: str, curves: Sequence[Curve], width: int, max_rows: int) -> list[str]:
    """The title, then ``● label`` per curve in its colour, on as many rows as it takes (at
    most ``max_rows``)."""
    rows = [[plt.colorize(title, "default", style="bold")]]
    used = [len(title)]
    for curve in curves:
        entry = f"{marker(curve.slot)} {curve.label}"
        if used[-1] + 3 + len(entry) > width:
            if len(rows) == max_rows:
                break
            rows.append([])
            used.append(-3)
        rows[-1].append("   " + plt.colorize(entry, COLORS[curve.slot % len(COLORS)]))
        used[-1] += 3 + len(entry)
    return [
        "".join(parts).removeprefix("   ") if i else "".join(parts) for i, parts in enumerate(rows)
    ]


def transform(curves: Sequence[Curve], log_offset: float | None) -> tuple[list[tuple], bool]:
    """Each curve's finite points as ``(x, y)``: ``y = log10(loss − L*)`` where any loss lies
    above L* (True), else the loss itself (False)."""
    offset = float(log_offset) if log_offset is not None else 0.0
    logged = any(
        np.any(np.isfinite(c.loss) & (np.asarray(c.loss, dtype=np.float64) - offset > 0))
        for c in curves
    )
    out = []
    for c in curves:
        x = np.asarray(c.steps, dtype=np.float64)
        y = np.asarray(c.loss, dtype=np.float64)
        if logged:
            with np.errstate(invalid="ignore", divide="ignore"):
                y = np.log10(np.where(y - offset > 0, y - offset, np.nan))
        keep = np.isfinite(x) & np.isfinite(y)
        out.append((c, x[keep], y[keep]))
    return out, logged


def sticky_ylim(
    lo: float, hi: float, logged: bool, previous: tuple[float, float] | None
) -> tuple[float, float]:
    """Whole decades (log view) or a padded range, kept while the data stays inside and fills
    at least a quarter of it."""
    if previous is not None:
        plo, phi = previous
        if plo <= lo and hi <= phi and (hi - lo) >= 0.25 * (phi - plo):
            return previous
    if logged:
        low, high = math.floor(lo), math.ceil(hi)
        return float(low), float(max(high, low + 1))
    pad = 0.05 * (hi - lo) or (abs(hi) * 0.1 or 1.0)
    return lo - pad, hi + pad


def render_race_text(
    curves: Sequence[Curve],
    width: int,
    height: int,
    log_offset: float | None = None,
    ylim: YLim | None = None,
) -> tuple[list[str], YLim | None]:
    """Draw the overlaid curves as ``height`` ANSI rows; also the y-limits used.

    ``ylim`` is the previous frame's (kept while the data fits them). Pure: the same input gives
    the same rows.
    """
    width, height = max(int(width), 1), max(int(height), 1)
    points, logged = transform(curves, log_offset)
    title = "loss"
    if logged:
        title = "log10(loss − L*)" if log_offset is not None else "log10(loss)"
    header = _legend(title, curves, width, max(1, height // 3))
    if not any(len(x) for _, x, _ in points):
        given = any(len(c.steps) for c in curves)
        text = "no finite loss to plot (diverged?)" if given else EMPTY
        lines = message_lines(text, width, height)
        lines[0] = header[0]
        return lines, ylim
    if width < 16 or height < len(header) + 4:
        lines = message_lines("(too small for a plot)", width, height)
        lines[0] = header[0]
        return lines, ylim
    lo = min(float(y.min()) for _, _, y in points if len(y))
    hi = max(float(y.max()) for _, _, y in points if len(y))
    previous = ylim[:2] if ylim is not None and ylim[2] == logged else None
    ylo, yhi = sticky_ylim(lo, hi, logged, previous)
    xmax = _xmax(curves)
    rows = height - len(header)
    with PLOTEXT_LOCK:
        new_figure(width, rows)
        for curve, x, y in points:
            if len(x):
                plt.plot(
                    x.tolist(),
                    np.clip(y, ylo, yhi).tolist(),
                    color=COLORS[curve.slot % len(COLORS)],
                    marker=marker(curve.slot),
                )
        plt.xlim(0.0, xmax)
        plt.ylim(ylo, yhi)
        divisions = 4 if width >= 40 else 2
        plt.xticks(
            [xmax * i / divisions for i in range(divisions + 1)],
            [f"{round(xmax * i / divisions)}" for i in range(divisions + 1)],
        )
        if logged:
            ticks = list(range(math.ceil(ylo), math.floor(yhi) + 1))
            every = max(1, math.ceil(len(ticks) / max(2, rows // 2)))
            ticks = ticks[::every]
            plt.yticks([float(t) for t in ticks], [f"1e{t}" for t in ticks])
        body = plotext_internals.build_lines()
    body = (body + [""] * rows)[:rows]
    return [*header, *body], (ylo, yhi, logged)


class RacePlot(LineCanvas):
    """Live overlaid loss curves of a race, repainting only the rows that change."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._curves: tuple[Curve, ...] = ()
        self._log_offset: float | None = None
        self._ylim: YLim | None = None

    def show(self, curves: Sequence[Curve], log_offset: float | None) -> list[int]:
        """Show these curves (replacing the previous ones); return the rows refreshed.

        ``log_offset`` is the problem's known minimum L* (None: 0).
        """
        if log_offset != self._log_offset:
            self._ylim = None
        self._curves = tuple(curves)
        self._log_offset = log_offset
        return self.rerender()

    def reset_axes(self) -> None:
        """Forget the sticky y-limits (a fresh race)."""
        self._ylim = None

    def rerender(self) -> list[int]:
        """Draw at the current size."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return []
        lines, self._ylim = render_race_text(
            self._curves, width, height, self._log_offset, self._ylim
        )
        return self.set_ansi_lines(lines)
