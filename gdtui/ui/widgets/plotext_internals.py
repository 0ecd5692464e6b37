"""Fast drawing on plotext's private internals, written for plotext 5.3.2.

plotext's own ``build()`` spends most of its time turning its character matrix into one ANSI
string cell by cell, and a min/max band drawn as plotext lines costs more than the curve. With
plotext pinned (``PLOTEXT_VERSION``) we build its matrix, paint the band into the empty cells
ourselves and write the ANSI rows with one escape sequence per run of equal colours.

What is used from plotext (tests/test_plotext_internals.py fails loudly if any of it changes):
``plotext._global.figure._active`` with ``_set_sizes()``, ``_build_matrix()`` and
``monitor.matrix`` (``marker``, ``fullground``, ``style``, ``background``, ``Cols_canvas``,
``Rows_canvas``), ``plotext._utility.colors_to_ansi`` and the data → cell formula of
``plotext._utility.get_matrix_data``. If the internals are not there, :func:`build_lines` falls
back to the public ``plt.build()`` (same picture, slower, no painted band).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import plotext as plt
import plotext._global as _plotext_global
import plotext._utility as _plotext_utility

__all__ = ["PLOTEXT_VERSION", "Band", "active_figure", "band_codes", "build_lines", "paint_bands"]

PLOTEXT_VERSION = "5.3.2"
"""The plotext release this module was written against (pinned in pyproject.toml)."""

USE_INTERNALS = True
"""Set to False to draw through plotext's public API only (tests compare both)."""

_ANSI_RESET = "\x1b[0m"

# Braille dot bits by (sub-row counted from the bottom of the cell, sub-column).
_BRAILLE_BITS = np.array([[0x40, 0x80], [0x04, 0x20], [0x02, 0x10], [0x01, 0x08]], dtype=np.int64)

Band = tuple[np.ndarray, np.ndarray, np.ndarray, str]
"""A min/max band: x values, lower edge, upper edge, plotext colour."""


def active_figure() -> object | None:
    """plotext's active sub-figure, if it has the internals used here (else None)."""
    figure = getattr(_plotext_global, "figure", None)
    active = getattr(figure, "_active", None)
    needed = ("_set_sizes", "_build_matrix", "monitor")
    return active if active is not None and all(hasattr(active, a) for a in needed) else None


def _to_bins(values: np.ndarray, lim: tuple[float, float], bins: int) -> np.ndarray:
    """Data → sub-cell index, the same formula as ``plotext._utility.get_matrix_data``."""
    scaled = 0.5 + (bins - 1) * (values - lim[0]) / (lim[1] - lim[0])
    return np.floor(np.round(scaled, 8)).astype(np.int64)


def band_codes(
    band: Band, xlim: tuple[float, float], ylim: tuple[float, float], cols: int, rows: int
) -> np.ndarray:
    """Braille codes (rows counted from the bottom, cols) filling a min/max band."""
    band_x, band_lo, band_hi, _ = band
    sub_w, sub_h = 2 * cols, 4 * rows
    sx = np.clip(_to_bins(band_x, xlim, sub_w), 0, sub_w - 1)
    slo = np.clip(_to_bins(band_lo, ylim, sub_h), 0, sub_h - 1)
    shi = np.clip(_to_bins(band_hi, ylim, sub_h), 0, sub_h - 1)
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


def paint_bands(
    matrix: object,
    bands: Sequence[Band],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> None:
    """Paint min/max bands (braille dots) into the empty cells of plotext's canvas.

    Bands never cover a line; where bands overlap the first one given wins.
    """
    col0 = matrix.Cols_canvas.start  # type: ignore[attr-defined]
    row0 = matrix.Rows_canvas.start  # type: ignore[attr-defined]
    cols = len(matrix.Cols_canvas)  # type: ignore[attr-defined]
    rows = len(matrix.Rows_canvas)  # type: ignore[attr-defined]
    if cols <= 0 or rows <= 0:
        return
    markers = matrix.marker  # type: ignore[attr-defined]
    fgs = matrix.fullground  # type: ignore[attr-defined]
    for band in bands:
        codes = band_codes(band, xlim, ylim, cols, rows)
        color = band[3]
        for r, c in zip(*np.nonzero(codes), strict=True):
            row, col = row0 + int(r), col0 + int(c)
            if markers[row][col] == " ":
                markers[row][col] = chr(0x2800 + int(codes[r, c]))
                fgs[row][col] = color


def build_lines(paint: Callable[[object], None] | None = None) -> list[str]:
    """Build plotext's current figure into ANSI rows (top first), quickly.

    Uses plotext's character matrix directly (one escape sequence per run of equal colours,
    several times faster than ``plt.build()``); ``paint(matrix)`` may add cells first. Falls
    back to ``plt.build()`` (without calling ``paint``) if plotext's internals are missing.
    """
    figure = active_figure() if USE_INTERNALS else None
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
