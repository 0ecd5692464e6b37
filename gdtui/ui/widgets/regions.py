"""Decision regions of a classifier on 2-D data, drawn in cells (as TensorFlow Playground does).

The worker computes :class:`gdtui.engine.Regions` (the predicted class and its probability on a
grid, and the training points); :func:`render_regions` only maps them to cells: each cell shows
two vertical samples with ``▀`` (foreground = upper, background = lower), in the colour of the
predicted class, darker where the model is unsure; cells where the predicted class changes show
the decision boundary as ``·``; the points are drawn on top with a glyph per class (``o``,
``x``, ``+`` …). Boundary and points read without colour too (``NO_COLOR``). The last row is a footer with the
feature ranges and the legend. :class:`~gdtui.ui.widgets.landscape.Landscape` draws it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

if TYPE_CHECKING:
    from gdtui.engine import Regions

__all__ = ["CLASS_GLYPHS", "class_cells", "render_regions"]

# matplotlib's tab10: one colour per class.
_CLASS_RGB = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]
CLASS_GLYPHS = "ox+*#%@&=~"
"""The marker of each class's points (class ``k`` uses ``CLASS_GLYPHS[k % 10]``)."""

_SHADES = 5  # confidence levels per class
_BOUNDARY = Color.from_rgb(225, 225, 225)
_UNSURE = np.array([38.0, 38.0, 38.0])


def _shade(label: int, level: int) -> Color:
    """Class ``label``'s region colour at confidence ``level`` (0: unsure … _SHADES-1: sure)."""
    rgb = np.array(_CLASS_RGB[label % len(_CLASS_RGB)], dtype=float) * 0.7
    t = 0.3 + 0.7 * level / (_SHADES - 1)
    r, g, b = (_UNSURE + (rgb - _UNSURE) * t).round().astype(int)
    return Color.from_rgb(int(r), int(g), int(b))


def _point_color(label: int) -> Color:
    r, g, b = (min(255, int(c * 1.15 + 40)) for c in _CLASS_RGB[label % len(_CLASS_RGB)])
    return Color.from_rgb(r, g, b)


def _levels(regions: Regions) -> np.ndarray:
    """Confidence level 0 … _SHADES-1 per grid sample: how far above chance its probability is."""
    classes = max(2, int(regions.label.max()) + 1, int(np.max(regions.labels, initial=0)) + 1)
    chance = 1.0 / classes
    confidence = (np.asarray(regions.probability, dtype=float) - chance) / (1.0 - chance)
    return np.clip(np.rint(confidence * (_SHADES - 1)), 0, _SHADES - 1).astype(np.int64)


def class_cells(
    regions: Regions, cols: int, rows: int
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
    """The class of the upper and lower half of every cell ``(rows, cols)`` (nearest grid
    sample) and the class of the points drawn in each cell ``{(col, row): class}`` (the most
    frequent class of the points that fall in it)."""
    ny, nx = regions.label.shape
    xi = np.rint(np.linspace(0, nx - 1, cols)).astype(np.int64)
    yi = np.rint(np.linspace(0, ny - 1, 2 * rows)).astype(np.int64)
    top_first = regions.label[np.ix_(yi, xi)][::-1]
    x0, x1 = float(regions.xs[0]), float(regions.xs[-1])
    y0, y1 = float(regions.ys[0]), float(regions.ys[-1])
    px, py = regions.points[:, 0], regions.points[:, 1]
    col = np.rint((px - x0) / ((x1 - x0) or 1.0) * (cols - 1)).astype(np.int64)
    sub = np.rint((py - y0) / ((y1 - y0) or 1.0) * (2 * rows - 1)).astype(np.int64)
    row = rows - 1 - sub // 2
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    counts: dict[tuple[int, int], dict[int, int]] = {}
    for c, r, k in zip(col[inside], row[inside], regions.labels[inside], strict=True):
        cell = counts.setdefault((int(c), int(r)), {})
        cell[int(k)] = cell.get(int(k), 0) + 1
    points = {cell: max(seen, key=lambda k: (seen[k], -k)) for cell, seen in counts.items()}
    return top_first[0::2], top_first[1::2], points


def render_regions(regions: Regions, width: int, height: int, note: str = "") -> list[Strip]:
    """The regions and the points in ``height`` rows of ``width`` cells (the last: a footer
    with the feature ranges, ``note`` and a legend of the point markers)."""
    rows = height - 1
    if rows < 2 or width < 4:
        return [Strip([Segment(" " * width)]) for _ in range(height)]
    upper, lower, points = class_cells(regions, width, rows)
    ny, nx = regions.label.shape
    xi = np.rint(np.linspace(0, nx - 1, width)).astype(np.int64)
    yi = np.rint(np.linspace(0, ny - 1, 2 * rows)).astype(np.int64)
    level = _levels(regions)[np.ix_(yi, xi)][::-1]
    up_level, low_level = level[0::2], level[1::2]
    # The boundary: the class changes inside the cell, or towards the cell right of it or below.
    boundary = upper != lower
    boundary[:, :-1] |= lower[:, :-1] != lower[:, 1:]
    boundary[:-1, :] |= lower[:-1, :] != upper[1:, :]
    styles: dict[tuple[int, ...], Style] = {}
    strips = []
    for r in range(rows):
        segments = []
        for c in range(width):
            up = (int(upper[r, c]), int(up_level[r, c]))
            low = (int(lower[r, c]), int(low_level[r, c]))
            point = points.get((c, r))
            if point is not None:
                key = (1, point, *low)
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(
                        color=_point_color(point), bgcolor=_shade(*low), bold=True
                    )
                segments.append(Segment(CLASS_GLYPHS[point % len(CLASS_GLYPHS)], style))
                continue
            if boundary[r, c]:
                key = (2, *low)
                style = styles.get(key)
                if style is None:
                    style = styles[key] = Style(color=_BOUNDARY, bgcolor=_shade(*low))
                segments.append(Segment("·", style))
                continue
            key = (0, *up, *low)
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=_shade(*up), bgcolor=_shade(*low))
            segments.append(Segment("▀", style))
        strips.append(Strip(segments, width).simplify())
    strips.append(_footer(regions, width, note))
    return strips


def _footer(regions: Regions, width: int, note: str) -> Strip:
    """``note``, the legend of the point markers, then the feature ranges where they fit."""
    segments = [Segment(note, Style(dim=True))] if note else []
    used = len(note)
    for k in sorted({int(k) for k in np.unique(regions.labels)}):
        glyph = CLASS_GLYPHS[k % len(CLASS_GLYPHS)]
        entry = f" {k}"
        if used + 2 + len(glyph) + len(entry) > width:
            break
        segments += [
            Segment("  " if used else ""),
            Segment(glyph, Style(color=_point_color(k), bold=True)),
            Segment(entry, Style(dim=True)),
        ]
        used += (2 if used else 0) + len(glyph) + len(entry)
    a, b = regions.feature_names
    xs, ys = regions.xs, regions.ys
    ranges = f"{a} ∈ [{xs[0]:.3g}, {xs[-1]:.3g}]  {b} ∈ [{ys[0]:.3g}, {ys[-1]:.3g}]"
    if used + 2 + len(ranges) <= width:
        segments.append(Segment(" " * (width - used - len(ranges))))
        segments.append(Segment(ranges, Style(dim=True)))
    return Strip(segments).adjust_cell_length(width)
