"""The learning-rate sweep plot: final and best loss against the rate, both on log axes.

:func:`render_sweep` is a pure function from a :class:`~gdtui.engine.sweep.SweepResult` to ANSI
rows (plotext underneath, as the loss plot). plotext's own log scale fails when drawn twice
(STYLE.md), so the x values are ``log10(lr)`` and, where every loss lies above the known minimum
L*, the y values ``log10(loss − L*)``, on linear axes labelled in powers of ten.

Each rate's final loss is a marker that says how its run ended, by shape as well as colour so it
reads under ``NO_COLOR``: ``o`` converged, ``+`` still descending, ``~`` oscillating, ``x``
diverged (:data:`MARKERS`). The best loss of each rate is a dotted line under them. A ``│`` marks
the measured edge, a ``┊`` the theoretical bound (2/λmax, …), a ``▲`` on the bottom row the
suggested rate. :class:`SweepPlot` draws it through the row-diffing canvas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotext as plt

from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.line_canvas import LineCanvas
from gdtui.ui.widgets.plot_text import PLOTEXT_LOCK, message_lines, new_figure

if TYPE_CHECKING:  # the result comes from the sweep worker; torch is not imported here
    from gdtui.engine.sweep import SweepResult

__all__ = [
    "BEST_MARK",
    "BOUND_MARK",
    "COLORS",
    "EDGE_MARK",
    "MARKERS",
    "SUGGESTED_MARK",
    "SweepPlot",
    "lr_label",
    "render_sweep",
]

MARKERS = {"converged": "o", "descending": "+", "oscillating": "~", "diverged": "x"}
"""The marker of each status (distinct characters: readable without colour)."""

COLORS = {
    "converged": "green+",
    "descending": "cyan+",
    "oscillating": "yellow+",
    "diverged": "red+",
}
"""The plotext colour of each status."""

BEST_MARK = "·"
"""The best loss of each rate, joined as a dotted line."""

EDGE_MARK = "│"
"""The measured edge: from this rate on no rate makes progress."""

BOUND_MARK = "┊"
"""The theoretical stability bound (2/λmax for gradient descent)."""

SUGGESTED_MARK = "▲"
"""The suggested rate, on the bottom row."""

TITLE = "final (o + ~ x) and best (·) {y} against lr · {axes}"
"""The top row: ``y`` is ``loss`` or ``loss − L*``, ``axes`` says which axes are log10."""

_FLOOR_DECADES = 30  # losses this many decades below the start are drawn on the bottom row
_HUGE = 1e150  # plotext's scaling overflows near the float limit


def lr_label(exponent: float) -> str:
    """A tick label for ``10**exponent``: ``0.01``, ``1``, ``100`` near 1, else ``1e-4``."""
    k = round(exponent)
    if abs(exponent - k) < 1e-9:
        return f"{10.0**k:g}" if -2 <= k <= 2 else f"1e{k}"
    return f"{10.0**exponent:.3g}"


def _values(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _y_axis(
    final: np.ndarray, best: np.ndarray, initial: float, min_value: float | None
) -> tuple[np.ndarray, np.ndarray, tuple[float, float], list[float], list[str], str, bool]:
    """Plot coordinates of the final and best losses, y-limits, ticks and what the y axis is.

    Log10 of ``loss − L*`` when it can be (L* = ``min_value``, else 0 when every loss is
    above 0); losses at or below L*, or more than 30 decades under the start, sit on the
    bottom row, whose label then starts with ``≤``. Otherwise the loss on a linear axis.
    """
    both = np.concatenate([final, best, [initial]])
    finite = both[np.isfinite(both)]
    offset = min_value
    if offset is None and len(finite) and finite.min() > 0:
        offset = 0.0
    if offset is not None and len(finite):
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = [np.log10(np.where(v - offset > 0, v - offset, np.nan)) for v in (final, best)]
        shown = np.concatenate([x[np.isfinite(x)] for x in logs])
        start = initial - offset
        top = float(shown.max()) if len(shown) else (math.log10(start) if start > 0 else 0.0)
        floor_limit = (math.log10(start) if start > 0 else top) - _FLOOR_DECADES
        bottom = max(float(shown.min()), floor_limit) if len(shown) else top - 1
        ylo, yhi = float(math.floor(bottom)), float(math.ceil(top))
        if yhi <= ylo:
            yhi = ylo + 1
        clamped = False
        ys = []
        for x, raw in zip(logs, (final, best), strict=True):
            low = np.isfinite(raw) & ~(np.isfinite(x) & (x >= ylo))
            clamped = clamped or bool(low.any())
            ys.append(np.where(low, ylo, x))
        every = 1
        decades = round(yhi - ylo)
        while decades / every + 1 > 6:
            every += 1
        ticks = [
            float(k) for k in range(round(ylo), round(yhi) + 1) if (k - round(ylo)) % every == 0
        ]
        labels = [f"1e{round(t)}" for t in ticks]
        if clamped and ticks and ticks[0] == ylo:
            labels[0] = "≤" + labels[0]
        name = "loss − L*" if offset else "loss"
        return ys[0], ys[1], (ylo, yhi), ticks, labels, name, True
    # Linear: losses that can be 0 or below with no known minimum (a saddle, a formula).
    clipped = [np.clip(v, -_HUGE, _HUGE) for v in (final, best)]
    lo = float(finite.min()) if len(finite) else 0.0
    hi = float(finite.max()) if len(finite) else 1.0
    lo, hi = max(lo, -_HUGE), min(hi, _HUGE)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    ylo, yhi = lo - pad, hi + pad
    ticks = [ylo + (yhi - ylo) * i / 4 for i in range(5)]
    labels = [f"{t:.3g}" for t in ticks]
    return clipped[0], clipped[1], (ylo, yhi), ticks, labels, "loss", False


def _x_ticks(xlo: float, xhi: float, width: int) -> tuple[list[float], list[str]]:
    decades = list(range(math.ceil(xlo - 1e-9), math.floor(xhi + 1e-9) + 1))
    room = max(2, width // 9)
    if len(decades) >= 2:
        every = 1
        while len(decades) / every > room:
            every += 1
        ticks = [float(k) for k in decades[::every]]
    else:
        ticks = [xlo, xhi] if xhi > xlo else [xlo]
    return ticks, [lr_label(t) for t in ticks]


def render_sweep(
    result: SweepResult, width: int, height: int, min_value: float | None = None
) -> str:
    """Draw a finished sweep as ``height`` ANSI rows of at most ``width`` cells (pure).

    ``min_value`` is the problem's known minimum loss L* (None when unknown).
    """
    width, height = max(int(width), 1), max(int(height), 1)
    if width < 24 or height < 6:
        return "\n".join(message_lines("(too small for a plot)", width, height))
    if not result.lrs:
        return "\n".join(message_lines("no rates were swept", width, height))
    x = np.log10(np.asarray(result.lrs, dtype=np.float64))
    final, best = _values(result.final_loss), _values(result.best_loss)
    y_final, y_best, (ylo, yhi), yt, yl, y_name, log_y = _y_axis(
        final, best, float(result.initial_loss), min_value
    )
    xlo, xhi = float(x.min()), float(x.max())
    pad = 0.03 * (xhi - xlo) if xhi > xlo else 0.5
    xlim = (xlo - pad, xhi + pad)
    axes = "log axes" if log_y else "log lr axis"
    header = plt.colorize(TITLE.format(y=y_name, axes=axes), "default", style="bold")
    rows = height - 1
    with PLOTEXT_LOCK:
        new_figure(width, rows)
        keep = np.isfinite(y_best)
        if keep.any():
            plt.plot(x[keep].tolist(), y_best[keep].tolist(), marker=BEST_MARK, color="gray")
        for value, mark, color in (
            (result.bound, BOUND_MARK, "magenta+"),
            (result.edge, EDGE_MARK, "red+"),
        ):
            if value is not None and value > 0 and xlim[0] <= math.log10(value) <= xlim[1]:
                at = math.log10(value)
                plt.plot([at, at], [ylo, yhi], marker=mark, color=color)
        statuses = np.asarray(result.status)
        for status, mark in MARKERS.items():
            chosen = (statuses == status) & np.isfinite(y_final)
            if chosen.any():
                plt.scatter(
                    x[chosen].tolist(),
                    np.clip(y_final[chosen], ylo, yhi).tolist(),
                    marker=mark,
                    color=COLORS[status],
                )
        if result.suggested is not None and result.suggested > 0:
            plt.scatter(
                [math.log10(result.suggested)], [ylo], marker=SUGGESTED_MARK, color="green+"
            )
        plt.xlim(*xlim)
        plt.ylim(ylo, yhi)
        plt.xticks(*_x_ticks(xlo, xhi, width))
        plt.yticks(yt, yl)
        body = plotext_internals.build_lines()
    body = (body + [""] * rows)[:rows]
    return "\n".join([header, *body])


class SweepPlot(LineCanvas):
    """The sweep's plot, or a one-line note while there is no result to draw."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._result: SweepResult | None = None
        self._min_value: float | None = None
        self._note = "sweeping…"

    @property
    def result(self) -> SweepResult | None:
        """The sweep drawn (None while there is none)."""
        return self._result

    def show_result(self, result: SweepResult, min_value: float | None = None) -> list[int]:
        """Draw ``result`` (``min_value``: the problem's known minimum loss, if any)."""
        self._result, self._min_value = result, min_value
        return self.rerender()

    def show_note(self, note: str) -> list[int]:
        """Clear the plot and show ``note`` in its middle."""
        self._result, self._note = None, note
        return self.rerender()

    def rerender(self) -> list[int]:
        """Draw at the current size."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return []
        if self._result is None:
            return self.set_ansi_lines(message_lines(self._note, width, height))
        return self.set_ansi_lines(
            render_sweep(self._result, width, height, self._min_value).split("\n")
        )
