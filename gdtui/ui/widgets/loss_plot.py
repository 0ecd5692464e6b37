"""The loss-curve widget: plotext drawing through a row-diffing Line-API canvas.

Over a slow link the axes must stay put so that a new point repaints only a few rows:

* x-limits are ``[0, 2**k]`` (at least 8), so they change only when the run doubles;
* linear y-limits are "sticky" nice bounds: kept while the data stays inside them and still
  fills a fair part of them, and re-fitted with head-room when the data leaves them;
* log y-limits are whole decades, sticky in the same way.

:func:`render_text` is the pure function that draws a frame; :class:`LossPlot` adds the sticky
limits and the row diff.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotext as plt
import plotext._global as _plotext_global
import plotext._utility as _plotext_utility
from textual.reactive import reactive

from gdtui.ui.widgets.line_canvas import LineCanvas

__all__ = [
    "EMPTY_HINT",
    "NOT_FINITE",
    "PLOTEXT_LOCK",
    "LossPlot",
    "Series",
    "build_plotext_lines",
    "compute_ylim",
    "log_message",
    "render_text",
]

EMPTY_HINT = "no steps yet — press space to run, n to step"
"""Shown when there is no data at all."""

NOT_FINITE = "no finite loss values to plot (diverged?)"
_HUGE = 1e150  # beyond this, a linear axis is drawn as a message instead
"""Shown when every loss value is nan or inf."""

_MIN_XMAX = 8
_THEME = "pro"  # default foreground/background everywhere: blends into the Textual background
_LINE_MARKER = "hd"
_BAND_MARKER = "braille"
_ANSI_RESET = "\x1b[0m"

PLOTEXT_LOCK = threading.RLock()
"""plotext draws on one global figure: hold this lock around any use of ``plotext``."""


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
    """

    label: str
    steps: np.ndarray
    loss: np.ndarray
    loss_min: np.ndarray
    loss_max: np.ndarray
    color: str


@dataclass(frozen=True)
class _Prepared:
    """A series reduced to what is drawn: finite points in plot coordinates."""

    label: str
    color: str
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


def _prepare(
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
            _Prepared(s.label, s.color, x, y, band_x, band_lo, band_hi, finite_points, n, last)
        )
    return out


def _data_range(prepared: Sequence[_Prepared]) -> tuple[float, float] | None:
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


def _centered(message: str, width: int) -> str:
    if len(message) >= width:
        return message[:width]
    left = (width - len(message)) // 2
    return " " * left + message


def _header(title: str, prepared_labels: Sequence[tuple[str, str]], width: int) -> str:
    """The top row: the title, then a coloured legend when there is more than one series."""
    parts = [plt.colorize(title, "default", style="bold")]
    used = len(title)
    if len(prepared_labels) > 1:
        for label, color in prepared_labels:
            entry = f"━━ {label}"
            if used + 3 + len(entry) > width:
                break
            parts.append("   " + plt.colorize(entry, color))
            used += 3 + len(entry)
    return "".join(parts)


def _message_frame(header: str, message: str, width: int, height: int) -> str:
    lines = [header] + [""] * (height - 1)
    if height > 1:
        lines[max(1, height // 2)] = _centered(message, width)
    else:
        lines[0] = _centered(message, width)
    return "\n".join(lines)


# -- the pure renderer ------------------------------------------------------------------------


def _render(
    prepared: Sequence[_Prepared],
    width: int,
    height: int,
    log_scale: bool,
    log_offset: float | None,
    title: str,
    ylim: tuple[float, float] | None,
) -> str:
    width = max(int(width), 1)
    height = max(int(height), 1)
    if log_scale:
        shown_title = f"log10({title} − L*)" if log_offset is not None else f"log10({title})"
    else:
        shown_title = title
    header = _header(shown_title, [(s.label, s.color) for s in prepared], width)
    if not any(len(p.x) for p in prepared):
        if not any(p.finite_points for p in prepared):
            message = EMPTY_HINT if not any(p.steps_given for p in prepared) else NOT_FINITE
        else:
            message = log_message(log_offset)
        return _message_frame(header, message, width, height)
    if width < 16 or height < 5:
        return _message_frame(header, "(too small for a plot)", width, height)

    data_range = _data_range(prepared)
    if data_range is not None and max(abs(data_range[0]), abs(data_range[1])) > _HUGE:
        # plotext's scaling overflows near the float limit; the log view has no such values.
        return _message_frame(
            header, f"loss up to {data_range[1]:.3g}: l = log scale", width, height
        )
    ylo, yhi = ylim if ylim is not None else compute_ylim(data_range, log_scale)
    if not (math.isfinite(ylo) and math.isfinite(yhi)) or max(abs(ylo), abs(yhi)) > _HUGE:
        ylo, yhi = compute_ylim(data_range, log_scale)
    xmax = _xmax(prepared)
    rows = height - 1

    with PLOTEXT_LOCK:
        plt.clear_figure()
        plt.limit_size(False, False)  # else plotext clips the size to the real terminal
        plt.plotsize(width, rows)
        plt.theme(_THEME)
        fast = _USE_PLOTEXT_INTERNALS and _active_figure() is not None
        if not fast:
            _plot_bands_with_plotext(prepared, ylo, yhi)
        for p in prepared:
            if len(p.x):
                plt.plot(
                    p.x.tolist(),
                    np.clip(p.y, ylo, yhi).tolist(),
                    color=p.color,
                    marker=_LINE_MARKER,
                )
        plt.xlim(0.0, xmax)
        plt.ylim(ylo, yhi)
        xt, xl = _x_ticks(xmax, width)
        plt.xticks(xt, xl)
        yt, yl = (_log_ticks if log_scale else _linear_ticks)(ylo, yhi, rows)
        plt.yticks(yt, yl)
        body = build_plotext_lines(
            lambda matrix: _paint_bands(matrix, prepared, (0.0, xmax), (ylo, yhi))
        )
    body = (body + [""] * rows)[:rows]
    return "\n".join([header, *body])


# -- drawing helpers that use plotext's matrix ------------------------------------------------
#
# plotext's own ``build()`` spends most of its time turning its character matrix into one ANSI
# string cell by cell, and a min/max band drawn as plotext lines costs more than the curve. With
# plotext pinned (5.3.2) we build its matrix, paint the band into the empty cells ourselves and
# write the ANSI rows with one escape sequence per run of equal colours. If the internals are
# not there, the public API is used instead (same picture, slower).

_USE_PLOTEXT_INTERNALS = True

# Braille dot bits by (sub-row counted from the bottom of the cell, sub-column).
_BRAILLE_BITS = np.array([[0x40, 0x80], [0x04, 0x20], [0x02, 0x10], [0x01, 0x08]], dtype=np.int64)


def _active_figure() -> object | None:
    figure = getattr(_plotext_global, "figure", None)
    active = getattr(figure, "_active", None)
    needed = ("_set_sizes", "_build_matrix", "monitor")
    return active if active is not None and all(hasattr(active, a) for a in needed) else None


def _to_bins(values: np.ndarray, lim: tuple[float, float], bins: int) -> np.ndarray:
    """Data → sub-cell index, the same formula as ``plotext._utility.get_matrix_data``."""
    scaled = 0.5 + (bins - 1) * (values - lim[0]) / (lim[1] - lim[0])
    return np.floor(np.round(scaled, 8)).astype(np.int64)


def _band_codes(
    p: _Prepared, xlim: tuple[float, float], ylim: tuple[float, float], cols: int, rows: int
) -> np.ndarray:
    """Braille codes (rows counted from the bottom, cols) filling the min/max band of ``p``."""
    assert p.band_x is not None and p.band_lo is not None and p.band_hi is not None
    sub_w, sub_h = 2 * cols, 4 * rows
    sx = np.clip(_to_bins(p.band_x, xlim, sub_w), 0, sub_w - 1)
    slo = np.clip(_to_bins(p.band_lo, ylim, sub_h), 0, sub_h - 1)
    shi = np.clip(_to_bins(p.band_hi, ylim, sub_h), 0, sub_h - 1)
    col_lo = np.full(sub_w, sub_h, dtype=np.int64)
    col_hi = np.full(sub_w, -1, dtype=np.int64)
    np.minimum.at(col_lo, sx, slo)
    np.maximum.at(col_hi, sx, shi)
    present = np.flatnonzero(col_hi >= 0)
    if len(present) > 1:  # join neighbouring points so the band has no gaps
        span = np.arange(present[0], present[-1] + 1)
        gaps = span[col_hi[span] < 0]
        col_lo[gaps] = np.floor(np.interp(gaps, present, col_lo[present])).astype(np.int64)
        col_hi[gaps] = np.ceil(np.interp(gaps, present, col_hi[present])).astype(np.int64)
    sub_rows = np.arange(sub_h)[:, None]
    mask = (sub_rows >= col_lo[None, :]) & (sub_rows <= col_hi[None, :])
    cells = mask.reshape(rows, 4, cols, 2).astype(np.int64)
    return np.einsum("aybx,yx->ab", cells, _BRAILLE_BITS)


def _paint_bands(
    matrix: object,
    prepared: Sequence[_Prepared],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> None:
    """Paint each series' min/max band (braille dots) into the empty cells of the canvas."""
    col0 = matrix.Cols_canvas.start  # type: ignore[attr-defined]
    row0 = matrix.Rows_canvas.start  # type: ignore[attr-defined]
    cols = len(matrix.Cols_canvas)  # type: ignore[attr-defined]
    rows = len(matrix.Rows_canvas)  # type: ignore[attr-defined]
    if cols <= 0 or rows <= 0:
        return
    markers = matrix.marker  # type: ignore[attr-defined]
    fgs = matrix.fullground  # type: ignore[attr-defined]
    for p in reversed(prepared):  # bands never cover a line; the top series' band wins
        if p.band_x is None or not len(p.band_x):
            continue
        codes = _band_codes(p, xlim, ylim, cols, rows)
        color = _band_color(p.color)
        for r, c in zip(*np.nonzero(codes), strict=True):
            row, col = row0 + int(r), col0 + int(c)
            if markers[row][col] == " ":
                markers[row][col] = chr(0x2800 + int(codes[r, c]))
                fgs[row][col] = color


def build_plotext_lines(paint: Callable[[object], None] | None = None) -> list[str]:
    """Build plotext's current figure into ANSI rows (top first), quickly.

    Uses plotext's character matrix directly (one escape sequence per run of equal colours,
    several times faster than ``plt.build()``); ``paint(matrix)`` may add cells first. Falls
    back to ``plt.build()`` (without calling ``paint``) if plotext's internals are missing.
    """
    figure = _active_figure() if _USE_PLOTEXT_INTERNALS else None
    if figure is None:
        text = plt.build().rstrip("\n")
        # plotext ends every line with a reset; drop it so that equal rows compare equal.
        return [line.removesuffix(_ANSI_RESET) for line in text.split("\n")]
    figure._set_sizes()  # type: ignore[attr-defined]
    figure._build_matrix()  # type: ignore[attr-defined]
    matrix = figure.monitor.matrix  # type: ignore[attr-defined]
    if paint is not None:
        paint(matrix)
    return _matrix_lines(matrix)


_ANSI_PREFIX: dict[tuple[object, object, object], str] = {}


def _matrix_lines(matrix: object) -> list[str]:
    """plotext's matrix → ANSI rows (top first), one escape sequence per run of one colour."""
    markers = matrix.marker  # type: ignore[attr-defined]
    fgs = matrix.fullground  # type: ignore[attr-defined]
    styles = matrix.style  # type: ignore[attr-defined]
    bgs = matrix.background  # type: ignore[attr-defined]
    lines: list[str] = []
    for row in range(len(markers) - 1, -1, -1):
        keys = list(zip(fgs[row], styles[row], bgs[row], strict=True))
        chars = markers[row]
        parts: list[str] = []
        start = 0
        n = len(keys)
        while start < n:
            key = keys[start]
            end = start + 1
            while end < n and keys[end] == key:
                end += 1
            prefix = _ANSI_PREFIX.get(key)
            if prefix is None:
                prefix = _ANSI_PREFIX[key] = _plotext_utility.colors_to_ansi(*key)
            text = "".join(chars[start:end])
            parts.append(f"{prefix}{text}{_ANSI_RESET}" if prefix else text)
            start = end
        lines.append("".join(parts))
    return lines


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
    prepared = _prepare(series, width, log_scale, log_offset)
    return _render(prepared, width, height, log_scale, log_offset, title, ylim)


# -- the widget -------------------------------------------------------------------------------


class LossPlot(LineCanvas):
    """Live loss curves, repainting only the rows that change between updates."""

    log_scale = reactive(False)
    """Plot ``log10(loss − L*)`` (L* = the ``log_offset`` given to :meth:`show_series`, else 0)
    instead of the loss. Toggling it re-renders at once."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._series: tuple[Series, ...] = ()
        self._log_offset: float | None = None
        self._title = "loss"
        self._ylim: tuple[float, float] | None = None
        self._ylim_mode: tuple[bool, float | None] | None = None
        self._last_changed: list[int] = []

    @property
    def last_changed_rows(self) -> list[int]:
        """Rows refreshed by the most recent re-render (for tests and diagnostics)."""
        return list(self._last_changed)

    @property
    def ylim(self) -> tuple[float, float] | None:
        """The y-limits in use (plot units), or None before the first plot."""
        return self._ylim

    def show_series(
        self,
        series: Sequence[Series],
        *,
        log_offset: float | None = None,
        title: str = "loss",
    ) -> list[int]:
        """Show these curves (replacing the previous ones) and repaint the rows that changed.

        Args:
            series: The curves, each already downsampled to about the plot width.
            log_offset: The known minimum loss L* used by the log view (None: 0).
            title: Title for the top row.

        Returns:
            The rows refreshed (empty before the widget has a size).
        """
        self._series = tuple(series)
        self._log_offset = log_offset
        self._title = title
        return self.rerender()

    def watch_log_scale(self, _old: bool, _new: bool) -> None:
        """Re-fit the y-limits for the new scale and re-render."""
        self._ylim = None
        self.rerender()

    def rerender(self) -> list[int]:
        """Draw the current series at the current size, keeping the y-limits sticky."""
        width, height = self.size
        if width <= 0 or height <= 0:
            self._last_changed = []
            return []
        mode = (True, self._log_offset) if self.log_scale else (False, None)
        if mode != self._ylim_mode:
            self._ylim = None
            self._ylim_mode = mode
        prepared = _prepare(self._series, width, self.log_scale, self._log_offset)
        data_range = _data_range(prepared)
        if data_range is not None:
            self._ylim = compute_ylim(data_range, self.log_scale, self._ylim)
        text = _render(
            prepared, width, height, self.log_scale, self._log_offset, self._title, self._ylim
        )
        self._last_changed = self.set_ansi_lines(text.split("\n"))
        return self._last_changed
