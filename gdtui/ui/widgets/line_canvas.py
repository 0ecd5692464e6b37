"""A Line-API widget that keeps its last frame and repaints only the rows that changed.

The app runs over slow SSH links, so the bytes written to the terminal are a budget. Textual
writes the regions a widget marks dirty; :class:`LineCanvas` keeps the previous frame's strips,
compares a new frame row by row and marks only the runs of changed rows dirty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.cells import cell_len
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["LineCanvas", "ansi_to_strip", "changed_runs", "changed_span"]

_SGR = re.compile(r"\x1b\[([0-9;]*)m")

# (fg, bg, bold, dim, italic, underline) -> Style; the set of styles plotext emits is tiny.
_StyleKey = tuple[Color | None, Color | None, bool, bool, bool, bool]
_STYLE_CACHE: dict[_StyleKey, Style | None] = {}
_PLAIN: _StyleKey = (None, None, False, False, False, False)


def _style_for(key: _StyleKey) -> Style | None:
    style = _STYLE_CACHE.get(key, ...)
    if style is ...:
        fg, bg, bold, dim, italic, underline = key
        style = (
            None
            if key == _PLAIN
            else Style(
                color=fg,
                bgcolor=bg,
                bold=bold or None,
                dim=dim or None,
                italic=italic or None,
                underline=underline or None,
            )
        )
        _STYLE_CACHE[key] = style
    return style


def _apply_sgr(key: _StyleKey, params: str) -> _StyleKey:
    """Fold one SGR parameter list into the current style state."""
    fg, bg, bold, dim, italic, underline = key
    codes = [int(code) if code else 0 for code in params.split(";")] if params else [0]
    i = 0
    n = len(codes)
    while i < n:
        code = codes[i]
        if code == 0:
            fg, bg, bold, dim, italic, underline = _PLAIN
        elif code == 1:
            bold = True
        elif code == 2:
            dim = True
        elif code == 3:
            italic = True
        elif code == 4:
            underline = True
        elif code == 22:
            bold = dim = False
        elif code == 23:
            italic = False
        elif code == 24:
            underline = False
        elif code in (38, 48) and i + 1 < n:
            color: Color | None = None
            if codes[i + 1] == 5 and i + 2 < n:
                color = Color.from_ansi(codes[i + 2] & 255)
                i += 2
            elif codes[i + 1] == 2 and i + 4 < n:
                color = Color.from_rgb(codes[i + 2], codes[i + 3], codes[i + 4])
                i += 4
            if code == 38:
                fg = color
            else:
                bg = color
        elif code == 39:
            fg = None
        elif code == 49:
            bg = None
        elif 30 <= code <= 37:
            fg = Color.from_ansi(code - 30)
        elif 90 <= code <= 97:
            fg = Color.from_ansi(code - 90 + 8)
        elif 40 <= code <= 47:
            bg = Color.from_ansi(code - 40)
        elif 100 <= code <= 107:
            bg = Color.from_ansi(code - 100 + 8)
        i += 1
    return (fg, bg, bold, dim, italic, underline)


def ansi_to_strip(line: str, width: int | None = None) -> Strip:
    """Convert one line of SGR-coloured text (as plotext emits) into a :class:`Strip`.

    A small purpose-built parser: several times faster than ``Text.from_ansi`` + render, and it
    joins neighbouring runs of the same style so Textual writes fewer escape sequences.

    Args:
        line: One line of text with ``ESC[...m`` sequences and no newline.
        width: If given, the strip is padded with spaces or cropped to this many cells.

    Returns:
        The strip.
    """
    segments: list[Segment] = []
    key = _PLAIN
    last_style: Style | None = None
    pending: list[str] = []
    length = 0
    parts = _SGR.split(line)
    for index, part in enumerate(parts):
        if index & 1:
            key = _apply_sgr(key, part)
            continue
        if not part:
            continue
        style = _style_for(key)
        if pending and style is not last_style:
            text = "".join(pending)
            segments.append(Segment(text, last_style))
            pending.clear()
        pending.append(part)
        last_style = style
        length += cell_len(part)
    if pending:
        segments.append(Segment("".join(pending), last_style))
    strip = Strip(segments, length)
    if width is not None and length != width:
        strip = strip.adjust_cell_length(width)
    return strip


def changed_runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Group sorted row indices into ``(start, count)`` runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][0] + runs[-1][1] == row:
            start, count = runs[-1]
            runs[-1] = (start, count + 1)
        else:
            runs.append((row, 1))
    return runs


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def changed_span(old: Strip, new: Strip) -> tuple[int, int] | None:
    """The cell range ``[start, end)`` outside which two equally wide strips agree.

    Works on segments (whole equal segments are skipped, partly equal ones compared by
    character), so it is cheap; the range may be a little wider than the true difference but
    never narrower. None when the strips are equal.
    """
    a, b = list(old), list(new)
    if a == b:
        return None
    width = max(old.cell_length, new.cell_length)
    i = left = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        left += cell_len(a[i].text)
        i += 1
    if i < len(a) and i < len(b) and a[i].style == b[i].style:
        left += cell_len(_common_prefix(a[i].text, b[i].text))
    j = right = 0
    while j < len(a) - i and j < len(b) - i and a[-1 - j] == b[-1 - j]:
        right += cell_len(a[-1 - j].text)
        j += 1
    if j < len(a) - i and j < len(b) - i and a[-1 - j].style == b[-1 - j].style:
        right += cell_len(_common_prefix(a[-1 - j].text[::-1], b[-1 - j].text[::-1]))
    start = min(left, width - 1)
    end = max(width - right, start + 1)
    return start, end


class LineCanvas(Widget):
    """Base widget that draws a stored list of strips through the Line API.

    Subclasses build a whole frame (one :class:`Strip` per row, or one ANSI string per row) and
    hand it to :meth:`set_lines` / :meth:`set_ansi_lines`. Only the rows that differ from the
    previous frame are refreshed, so a small change costs a few rows of terminal output rather
    than a full repaint. Subclasses re-render their frame in :meth:`rerender`, which is called on
    every resize.
    """

    DEFAULT_CSS = """
    LineCanvas {
        height: 1fr;
        width: 1fr;
    }
    """

    can_focus = False

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._strips: list[Strip] = []
        self._strips_width = -1
        self._ansi_cache: dict[str, Strip] = {}
        self.last_regions: list[Region] = []
        """The regions (content coordinates) the last :meth:`set_lines` refreshed."""

    # -- frame management ---------------------------------------------------------------------

    @property
    def lines(self) -> list[Strip]:
        """The strips of the current frame (one per row, padded to the widget width)."""
        return list(self._strips)

    @property
    def plain_lines(self) -> list[str]:
        """The current frame as plain text, one string per row (handy in tests)."""
        return [strip.text for strip in self._strips]

    def set_lines(self, strips: Sequence[Strip]) -> list[int]:
        """Replace the frame, refreshing only the rows that differ from the previous frame.

        Args:
            strips: One strip per row; each is padded / cropped to the widget's content width.

        Returns:
            The indices of the rows that were refreshed (all rows when the row count or the
            width changed). Within a changed row only the span of cells that differs is
            refreshed (see :attr:`last_regions`).
        """
        width = self.size.width
        new = [
            strip if strip.cell_length == width else strip.adjust_cell_length(width)
            for strip in strips
        ]
        old = self._strips
        self._strips = new
        if len(old) != len(new) or self._strips_width != width:
            self._strips_width = width
            self.last_regions = [Region(0, 0, width, max(len(old), len(new)))]
            self.refresh()
            return list(range(max(len(old), len(new))))
        changed: list[int] = []
        regions: list[Region] = []
        for y, (before, after) in enumerate(zip(old, new, strict=True)):
            if before is after:
                continue
            span = changed_span(before, after)
            if span is not None:
                changed.append(y)
                regions.append(Region(span[0], y, span[1] - span[0], 1))
        self.last_regions = regions
        if regions:
            self.refresh(*regions)
        return changed

    def set_ansi_lines(self, lines: Sequence[str]) -> list[int]:
        """Like :meth:`set_lines`, from ANSI-coloured text lines (e.g. plotext's output).

        Lines identical to a line of the previous frame reuse its strip, so only new lines are
        parsed.
        """
        width = self.size.width
        if width != self._strips_width:
            self._ansi_cache = {}
        cache = self._ansi_cache
        strips: list[Strip] = []
        new_cache: dict[str, Strip] = {}
        for line in lines:
            strip = new_cache.get(line) or cache.get(line)
            if strip is None:
                strip = ansi_to_strip(line, width)
            new_cache[line] = strip
            strips.append(strip)
        self._ansi_cache = new_cache
        return self.set_lines(strips)

    # -- rendering ----------------------------------------------------------------------------

    def rerender(self) -> list[int]:
        """Rebuild the frame for the current size and return the refreshed rows.

        Subclasses override this; it is called on every resize.
        """
        return []

    def on_resize(self) -> None:
        """Re-render at the new size."""
        self.rerender()

    def render_line(self, y: int) -> Strip:
        """Return the stored strip for row ``y`` (a blank strip when there is none)."""
        width = self.size.width
        base = self.visual_style.rich_style
        if 0 <= y < len(self._strips):
            strip = self._strips[y]
            if strip.cell_length != width:
                strip = strip.adjust_cell_length(width)
            return strip.apply_style(base)
        return Strip.blank(width, base)
