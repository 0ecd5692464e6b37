"""The loss-curve renderer: a pure function from curves to ANSI rows (plotext underneath).

Over a slow link the axes must stay put so that a new point repaints only a few rows:

* x-limits are ``[0, 2**k]`` (at least 8), so they change only when the run doubles;
* linear y-limits are "sticky" nice bounds: kept while the data stays inside them and still
  fills a fair part of them, and re-fitted with head-room when the data leaves them;
* log y-limits are whole decades, sticky in the same way.

:func:`render_text` is the pure function that draws a frame; the widget
(:class:`~gdtui.ui.widgets.loss_plot.LossPlot`) adds the sticky limits and the row diff.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotext as plt

from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.plot_text import PLOTEXT_LOCK, centered, message_lines, new_figure

__all__ = [
    "EMPTY_HINT",
    "NOT_FINITE",
    "Series",
    "compute_ylim",
    "data_range",
    "log_message",
    "prepare",
    "render_prepared",
    "render_strip",
    "render_text",
    "x_limit",
    "y_labels",
]

EMPTY_HINT = "no steps yet — press space to run, n to step"
"""Shown when there is no data at all."""

NOT_FINITE = "no finite loss values to plot (diverged?)"
"""Shown when every loss value is nan or inf."""

_HUGE = 1e150  # beyond this, a linear axis is drawn as a message instead

_MIN_XMAX = 8
_LINE_MARKER = "hd"
_BAND_MARKER = "braille"


def log_message(log_offset: float | None) -> str:
    """The note shown instead of a log plot when no loss value lies above the offset."""
    floor = "L*" if log_offset is not None else "0"
    return f"log scale needs loss above {floor} — press l for linear"


@dataclass(frozen=True)
class Series:
    """One loss curve, already downsampled by the caller.

    Attributes:
        label: Legend label (the legend is shown when there is more than one series).
        steps: x values (step numbers), increasing.
        loss: Representative loss per point.
        loss_min: Per-bucket minimum (drawn as a faint band, so spikes survive).
        loss_max: Per-bucket maximum.
        color: A plotext colour name, e.g. ``"cyan+"``; the band uses the non-bright variant.
        marker: plotext's marker for the line (``"hd"``: half blocks; a single character such
            as ``"•"`` draws the line with it, so curves stay apart without colour).
    """

    label: str
    steps: np.ndarray
    loss: np.ndarray
    loss_min: np.ndarray
    loss_max: np.ndarray
    color: str
    marker: str = "hd"


@dataclass(frozen=True)
class _Prepared:
    """A series reduced to what is drawn: finite points in plot coordinates."""

    label: str
    color: str
    marker: str
    x: np.ndarray
    y: np.ndarray
    band_x: np.ndarray | None  # per-point min/max band, or None when min == max == loss
    band_lo: np.ndarray | None
    band_hi: np.ndarray | None
    finite_points: int  # finite loss values before the log view dropped any
    steps_given: int  # points given at all
    last_step: float = 0.0  # the last step given, drawn or not (the x-axis spans the run)


# -- helpers ----------------------------------------------------------------------------------


def _bucket(
    steps: np.ndarray, loss: np.ndarray, lo: np.ndarray, hi: np.ndarray, buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reduce to ``buckets`` points: last step, mean loss, min of mins, max of maxes.

    Non-finite values are ignored (a bucket with none finite gets NaN).
    """
    n = len(steps)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts = np.unique(edges[:-1])
    ends = np.append(starts[1:], n)
    finite = np.isfinite(loss)
    counts = np.add.reduceat(finite.astype(np.int64), starts)
    sums = np.add.reduceat(np.where(finite, loss, 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    lo_f = np.where(np.isfinite(lo), lo, np.nan)
    hi_f = np.where(np.isfinite(hi), hi, np.nan)
    b_lo = np.fmin.reduceat(lo_f, starts)
    b_hi = np.fmax.reduceat(hi_f, starts)
    return steps[ends - 1].astype(np.float64), mean, b_lo, b_hi


def _plot_width(width: int) -> int:
    """Roughly how many columns the plot area gets (the y tick labels take a few)."""
    return max(width - 8, 4)


def prepare(
    series: Sequence[Series], width: int, log_scale: bool, log_offset: float | None
) -> list[_Prepared]:
    """Guard the point count, drop non-finite (and, in log view, non-positive) points."""
    offset = float(log_offset) if log_offset is not None else 0.0
    out: list[_Prepared] = []
    limit = 2 * max(width, 1)
    for s in series:
        steps = np.asarray(s.steps, dtype=np.float64).ravel()
        loss = np.asarray(s.loss, dtype=np.float64).ravel()
        lo = np.asarray(s.loss_min, dtype=np.float64).ravel()
        hi = np.asarray(s.loss_max, dtype=np.float64).ravel()
        n = min(len(steps), len(loss))
        steps, loss = steps[:n], loss[:n]
        lo = lo[:n] if len(lo) >= n else loss
        hi = hi[:n] if len(hi) >= n else loss
        if n > limit:
            steps, loss, lo, hi = _bucket(steps, loss, lo, hi, _plot_width(width))
        finite_points = int(np.count_nonzero(np.isfinite(loss)))
        with np.errstate(invalid="ignore", divide="ignore"):
            if log_scale:
                loss = np.log10(np.where(loss - offset > 0, loss - offset, np.nan))
                lo = np.log10(np.where(lo - offset > 0, lo - offset, np.nan))
                hi = np.log10(np.where(hi - offset > 0, hi - offset, np.nan))
        keep = np.isfinite(loss) & np.isfinite(steps)
        x, y = steps[keep], loss[keep]
        band_x = band_lo = band_hi = None
        same = np.array_equal(lo, loss, equal_nan=True) and np.array_equal(hi, loss, equal_nan=True)
        if not same:
            # Where one edge is missing (e.g. min below L* in log view) use the line itself.
            lo_b = np.where(np.isfinite(lo), lo, loss)
            hi_b = np.where(np.isfinite(hi), hi, loss)
            bkeep = keep & np.isfinite(lo_b) & np.isfinite(hi_b)
            if np.any(bkeep):
                band_x = steps[bkeep]
                band_lo = np.minimum(lo_b[bkeep], hi_b[bkeep])
                band_hi = np.maximum(lo_b[bkeep], hi_b[bkeep])
        finite_steps = steps[np.isfinite(steps)]
        last = float(finite_steps.max()) if len(finite_steps) else 0.0
        out.append(
            _Prepared(
                s.label, s.color, s.marker, x, y, band_x, band_lo, band_hi, finite_points, n, last
            )
        )
    return out


def data_range(prepared: Sequence[_Prepared]) -> tuple[float, float] | None:
    """Lowest and highest y over all lines and bands (None when there is nothing)."""
    lows: list[float] = []
    highs: list[float] = []
    for p in prepared:
        for arr in (p.y, p.band_lo, p.band_hi):
            if arr is not None and len(arr):
                lows.append(float(arr.min()))
                highs.append(float(arr.max()))
    if not lows:
        return None
    return min(lows), max(highs)


def _nice_step(span: float, target: int) -> float:
    """A 1-2-2.5-5 × 10^k step that splits ``span`` into about ``target`` intervals."""
    raw = span / max(target, 1)
    if not math.isfinite(raw) or raw <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if mult * magnitude >= raw * (1 - 1e-9):
            return mult * magnitude
    return 10.0 * magnitude


def _fresh_ylim(
    lo: float, hi: float, log_scale: bool, headroom: float = 0.05
) -> tuple[float, float]:
    """Nice bounds around ``[lo, hi]`` with ``headroom`` (a fraction of the span) each side."""
    if hi <= lo:
        pad = 0.5 if log_scale else (abs(lo) * 0.1 or 1.0)
        lo, hi = lo - pad, hi + pad
    span = hi - lo
    if not math.isfinite(span) or not math.isfinite(lo - headroom * span):
        return lo, hi  # values near the float limit: no head-room, no rounding
    low, high = lo - headroom * span, hi + headroom * span
    if log_scale:
        return float(math.floor(low)), float(max(math.ceil(high), math.floor(low) + 1))
    if lo >= 0 > low:
        low = 0.0
    step = _nice_step(high - low, 5)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def compute_ylim(
    data_range: tuple[float, float] | None,
    log_scale: bool,
    previous: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Sticky nice y-limits (in plot units: log10 values in log view).

    The previous limits are kept while the data lies inside them and spans at least a quarter
    of them; otherwise new nice bounds are fitted, with extra head-room on the side the data
    left through so that a steadily falling loss does not re-fit every frame.
    """
    if data_range is None:
        return previous if previous is not None else ((-1.0, 0.0) if log_scale else (0.0, 1.0))
    lo, hi = data_range
    if previous is not None:
        plo, phi = previous
        inside = plo <= lo and hi <= phi
        if inside and (hi - lo) >= 0.25 * (phi - plo):
            return previous
        span = max(hi - lo, 1e-12 if not log_scale else 0.0)
        if inside:
            return _fresh_ylim(lo, hi, log_scale)
        # Left through the bottom and/or top: leave a quarter span of room on that side.
        lo_target = lo - 0.25 * span if lo < plo else lo
        hi_target = hi + 0.25 * span if hi > phi else hi
        if not log_scale and lo >= 0 > lo_target:
            lo_target = 0.0
        return _fresh_ylim(lo_target, hi_target, log_scale, headroom=0.0)
    return _fresh_ylim(lo, hi, log_scale)


def _xmax(prepared: Sequence[_Prepared]) -> float:
    """``[0, 2**k]`` with ``2**k`` the next power of two at or above the last step (≥ 8)."""
    top = 0.0
    for p in prepared:
        if len(p.x):
            top = max(top, float(p.x.max()))
        top = max(top, p.last_step)
    xmax = _MIN_XMAX
    while xmax < top:
        xmax *= 2
    return float(xmax)


def _fmt_count(value: float) -> str:
    """Compact step labels: 4096, 16.4k, 262k, 1.05M."""
    v = round(value)
    if abs(v) < 10_000:
        return str(v)
    if abs(v) < 1_000_000:
        return f"{v / 1e3:.3g}k"
    return f"{v / 1e6:.3g}M"


def _fmt_value(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    scaled = step * 10**decimals
    if abs(scaled - round(scaled)) > 1e-6:  # 2.5-type steps need one more digit
        decimals += 1
    return f"{value:.{decimals}f}"


def _linear_ticks(lo: float, hi: float, rows: int) -> tuple[list[float], list[str]]:
    step = _nice_step(hi - lo, max(2, min(6, rows // 2)))
    if not (math.isfinite(lo) and math.isfinite(hi)) or (hi - lo) / step > 50:
        ends = [v for v in (lo, hi) if math.isfinite(v)]  # no nice steps out there
        return ends, [_fmt_value(v, 0) for v in ends]
    first = math.ceil(lo / step - 1e-9)
    ticks: list[float] = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(k * step)
        k += 1
    return ticks, [_fmt_value(t, step) for t in ticks]


def _log_ticks(lo: float, hi: float, rows: int) -> tuple[list[float], list[str]]:
    decades = round(hi - lo)
    every = 1
    max_ticks = max(2, rows // 2)
    while decades / every + 1 > max_ticks:
        every += 1
    start = math.ceil(lo)
    ticks = [float(k) for k in range(start, math.floor(hi) + 1) if (k - start) % every == 0]
    return ticks, [f"1e{round(t)}" for t in ticks]


def _x_ticks(xmax: float, width: int) -> tuple[list[float], list[str]]:
    divisions = 8 if width >= 100 else 4 if width >= 40 else 2
    ticks = [xmax * i / divisions for i in range(divisions + 1)]
    return ticks, [_fmt_count(t) for t in ticks]


def _band_color(color: str) -> str:
    return color[:-1] if color.endswith("+") else "gray"


def _header(title: str, prepared_labels: Sequence[tuple[str, str, str]], width: int) -> str:
    """The top row: the title, then a coloured legend when there is more than one series (each
    entry drawn with its line's marker, so it reads without colour too)."""
    parts = [plt.colorize(title, "default", style="bold")]
    used = len(title)
    if len(prepared_labels) > 1:
        for label, color, marker in prepared_labels:
            sample = "━━" if marker == _LINE_MARKER or len(marker) != 1 else marker * 2
            entry = f"{sample} {label}"
            if used + 3 + len(entry) > width:
                break
            parts.append("   " + plt.colorize(entry, color))
            used += 3 + len(entry)
    return "".join(parts)


def _message_frame(header: str, message: str, width: int, height: int) -> str:
    if height <= 1:
        return centered(message, width)
    lines = message_lines(message, width, height, row=max(1, height // 2))
    lines[0] = header
    return "\n".join(lines)


# -- the pure renderer ------------------------------------------------------------------------


def x_limit(prepared: Sequence[_Prepared]) -> float:
    """The right end of the x-axis for these curves (a power of two, at least 8)."""
    return _xmax(prepared)


def y_labels(ylim: tuple[float, float], rows: int, log_scale: bool = False) -> list[str]:
    """The y tick labels a plot of ``rows`` rows (title row included) draws for ``ylim``."""
    lo, hi = ylim
    return (_log_ticks if log_scale else _linear_ticks)(lo, hi, max(1, rows - 1))[1]


def _pad(labels: list[str], label_width: int) -> list[str]:
    """Labels right-aligned to ``label_width`` cells, so plots stacked in one widget share
    their left edge (and so their x scale)."""
    return [label.rjust(label_width) for label in labels]


def render_prepared(
    prepared: Sequence[_Prepared],
    width: int,
    height: int,
    log_scale: bool,
    log_offset: float | None,
    title: str,
    ylim: tuple[float, float] | None,
    *,
    xmax: float | None = None,
    label_width: int = 0,
) -> str:
    """Draw prepared curves (see :func:`render_text`); ``xmax`` fixes the x-axis' right end
    and ``label_width`` pads the y labels (both to line up with a plot drawn beside it)."""
    width = max(int(width), 1)
    height = max(int(height), 1)
    if log_scale:
        shown_title = f"log10({title} − L*)" if log_offset is not None else f"log10({title})"
    else:
        shown_title = title
    header = _header(shown_title, [(s.label, s.color, s.marker) for s in prepared], width)
    if not any(len(p.x) for p in prepared):
        if not any(p.finite_points for p in prepared):
            message = EMPTY_HINT if not any(p.steps_given for p in prepared) else NOT_FINITE
        else:
            message = log_message(log_offset)
        return _message_frame(header, message, width, height)
    if width < 16 or height < 5:
        return _message_frame(header, "(too small for a plot)", width, height)

    data = data_range(prepared)
    if data is not None and max(abs(data[0]), abs(data[1])) > _HUGE:
        # plotext's scaling overflows near the float limit; the log view has no such values.
        return _message_frame(header, f"loss up to {data[1]:.3g}: l = log scale", width, height)
    ylo, yhi = ylim if ylim is not None else compute_ylim(data, log_scale)
    if not (math.isfinite(ylo) and math.isfinite(yhi)) or max(abs(ylo), abs(yhi)) > _HUGE:
        ylo, yhi = compute_ylim(data, log_scale)
    xmax = _xmax(prepared) if xmax is None else xmax
    rows = height - 1

    with PLOTEXT_LOCK:
        new_figure(width, rows)
        fast = plotext_internals.USE_INTERNALS and plotext_internals.active_figure() is not None
        if not fast:
            _plot_bands_with_plotext(prepared, ylo, yhi)
        for p in prepared:
            if len(p.x):
                plt.plot(
                    p.x.tolist(),
                    np.clip(p.y, ylo, yhi).tolist(),
                    color=p.color,
                    marker=p.marker,
                )
        plt.xlim(0.0, xmax)
        plt.ylim(ylo, yhi)
        xt, xl = _x_ticks(xmax, width)
        plt.xticks(xt, xl)
        yt, yl = (_log_ticks if log_scale else _linear_ticks)(ylo, yhi, rows)
        plt.yticks(yt, _pad(yl, label_width))
        bands = [
            (p.band_x, p.band_lo, p.band_hi, _band_color(p.color))
            for p in reversed(prepared)  # the top series' band wins
            if p.band_x is not None
            and p.band_lo is not None
            and p.band_hi is not None
            and len(p.band_x)
        ]
        body = plotext_internals.build_lines(
            lambda matrix: plotext_internals.paint_bands(matrix, bands, (0.0, xmax), (ylo, yhi))
        )
    body = (body + [""] * rows)[:rows]
    return "\n".join([header, *body])


def _plot_bands_with_plotext(prepared: Sequence[_Prepared], ylo: float, yhi: float) -> None:
    """Fallback band: a zig-zag min→max→max→min… line (vertical strokes joined along edges)."""
    for p in prepared:
        if p.band_x is None or p.band_lo is None or p.band_hi is None or not len(p.band_x):
            continue
        flip = (np.arange(len(p.band_x)) % 2).astype(bool)
        first = np.where(flip, p.band_hi, p.band_lo)
        second = np.where(flip, p.band_lo, p.band_hi)
        plt.plot(
            np.repeat(p.band_x, 2).tolist(),
            np.clip(np.column_stack([first, second]).ravel(), ylo, yhi).tolist(),
            color=_band_color(p.color),
            marker=_BAND_MARKER,
        )


def render_text(
    series: Sequence[Series],
    width: int,
    height: int,
    log_scale: bool = False,
    log_offset: float | None = None,
    title: str = "loss",
    *,
    ylim: tuple[float, float] | None = None,
) -> str:
    """Draw a loss plot as ANSI text (pure: identical input gives identical output).

    Args:
        series: The curves (drawn in order; the last one on top).
        width: Width in cells.
        height: Height in rows (row 0 is the title / legend row, the rest is the plot).
        log_scale: Plot ``log10(loss − log_offset)`` on a linear axis labelled in powers of ten.
        log_offset: The known minimum loss L* (``None`` means 0).
        title: Title shown in the top row.
        ylim: y-limits in plot units (log10 values in log view); fitted to the data when None.

    Returns:
        ``height`` lines joined by ``"\\n"``, each at most ``width`` cells wide.
    """
    prepared = prepare(series, width, log_scale, log_offset)
    return render_prepared(prepared, width, height, log_scale, log_offset, title, ylim)


def render_strip(
    series: Sequence[Series],
    width: int,
    height: int,
    title: str,
    ylim: tuple[float, float],
    xmax: float,
    *,
    label_width: int = 0,
) -> str:
    """A small plot to stack under the loss plot: a title / legend row, then the curves over
    the same x-axis (``[0, xmax]``, no tick labels of its own: the loss plot above has them),
    no top frame. Each series keeps its marker, so it reads without colour.

    Returns ``height`` lines joined by ``"\\n"``.
    """
    width, height = max(int(width), 1), max(int(height), 1)
    prepared = prepare(series, width, False, None)
    header = _header(title, [(p.label, p.color, p.marker) for p in prepared], width)
    if not any(len(p.x) for p in prepared):
        return _message_frame(header, "nothing measured yet", width, height)
    if width < 16 or height < 3:
        return _message_frame(header, "(too small for a plot)", width, height)
    ylo, yhi = ylim
    rows = height - 1
    with PLOTEXT_LOCK:
        new_figure(width, rows)
        for p in prepared:
            if len(p.x):
                plt.plot(
                    p.x.tolist(), np.clip(p.y, ylo, yhi).tolist(), color=p.color, marker=p.marker
                )
        plt.xlim(0.0, xmax)
        plt.ylim(ylo, yhi)
        plt.xticks([])
        plt.xaxes(True, False)
        yt, yl = _linear_ticks(ylo, yhi, rows)
        plt.yticks(yt, _pad(yl, label_width))
        body = plotext_internals.build_lines()
    body = (body + [""] * rows)[:rows]
    return "\n".join([header, *body])
