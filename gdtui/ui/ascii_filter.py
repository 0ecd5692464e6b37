"""``--ascii``: the whole screen drawn without braille, box-drawing or block characters.

Some terminals and fonts lack the glyphs the plots and panels use: braille dots (loss bands),
quadrant blocks (plotext's ``hd`` lines), half blocks (the landscape's shading), box drawing
(borders, tables) and a few geometric shapes (markers). :class:`AsciiFilter` is a Textual line
filter that the app applies to every line it draws, so every widget — borders, plots, panels,
the help, the pickers — comes out in characters every font has. Colours are kept. A half block
on a background of its own (the landscape's shading: two samples per cell) becomes a space that
keeps that background (half the vertical detail); a half block on the widget's background is part
of a line and becomes ``-`` or ``_``. Path markers stay apart: ``·`` trail, ``o`` step, ``O``
start, ``*`` minimum, ``@`` current.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

__all__ = ["AsciiFilter", "ascii_table", "to_ascii"]

# Ranges of glyphs that are replaced: box drawing, block elements, geometric shapes, braille,
# and the sextants of "Symbols for Legacy Computing" (plotext's fhd marker).
_RANGES = ((0x2500, 0x25FF), (0x2800, 0x28FF), (0x1FB00, 0x1FBFF))
_SPECIFIC = {
    "•": "o",  # a step of the path
    "●": "@",  # the current point
    "○": "O",  # the start
    "◆": "x",
    "◇": "x",
    "■": "#",
    "□": "#",
    "▲": "^",
    "△": "^",
    "▼": "v",
    "▽": "v",
    "▶": ">",
    "◀": "<",
    "★": "*",
    "❚": "|",
    "…": ".",  # one cell, like the glyph
    "█": "#",
    "░": ".",
    "▒": ":",
    "▓": "#",
    "▀": "-",  # a line drawn with half blocks; shading cells are handled apart
    "▄": "_",
    "⠀": " ",  # blank braille
}


def _replacement(ch: str) -> str:
    special = _SPECIFIC.get(ch)
    if special is not None:
        return special
    code = ord(ch)
    if 0x2800 <= code <= 0x28FF:
        return "."  # braille dots: the min/max band
    name = unicodedata.name(ch, "")
    if name.startswith("BOX DRAWINGS"):
        if "DIAGONAL UPPER RIGHT TO LOWER LEFT" in name:
            return "/"
        if "DIAGONAL UPPER LEFT TO LOWER RIGHT" in name:
            return "\\"
        horizontal, vertical = "HORIZONTAL" in name, "VERTICAL" in name
        if horizontal and not vertical:
            return "-"
        if vertical and not horizontal:
            return "|"
        return "+"  # corners, arcs, crossings, tees
    if "QUADRANT" in name or "SEXTANT" in name:
        return "*"  # plotext's hd/fhd line markers
    if name.startswith("UPPER") or name.startswith("LOWER") or name.startswith("LEFT"):
        return "#" if "BLOCK" in name else "*"
    if "CIRCLE" in name:
        return "o"
    if "TRIANGLE" in name:
        return "^"
    if "SQUARE" in name or "RECTANGLE" in name:
        return "#"
    if "DIAMOND" in name or "LOZENGE" in name:
        return "x"
    return "*"


@lru_cache(1)
def ascii_table() -> dict[int, str]:
    """The ``str.translate`` table: every glyph of the ranges above, and a few others."""
    table = {ord(ch): _replacement(ch) for ch in _SPECIFIC}
    for low, high in _RANGES:
        for code in range(low, high + 1):
            table.setdefault(code, _replacement(chr(code)))
    return table  # every replacement is one cell wide, like the glyph it replaces


def to_ascii(text: str) -> str:
    """``text`` with braille, box, block and shape glyphs replaced (one cell each)."""
    return text.translate(ascii_table())


class AsciiFilter(LineFilter):
    """A Textual line filter: :func:`to_ascii` on every segment, styles kept."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        """Replace the glyphs of one line."""
        table = ascii_table()
        out = []
        for text, style, control in segments:
            if ("▀" in text or "▄" in text) and _is_shading(style, background):
                text = text.replace("▀", " ").replace("▄", " ")
            out.append(Segment(text.translate(table), style, control))
        return out


def _is_shading(style: Style | None, background: Color) -> bool:
    """A half block whose background differs from the widget's: a two-colour shading cell."""
    if style is None or style.bgcolor is None:
        return False
    return Color.from_rich_color(style.bgcolor) != background
