"""Write only the changed cells of a partial screen update (a fix to a TODO in Textual).

Textual 8.2.8 tracks dirty regions precisely, but when it writes a partial update
(``ChopsUpdate.render_segments``) it sends each dirty span from the *left edge of the widget* it
falls in, not from the span's first cell (its source says "TODO: crop to x extents"). A loss curve
that grows at the right edge of a plot then resends whole rows. Over SSH the bytes per second are
a budget (benchmarks/terminal_bytes.py), so :func:`install` replaces that one method with one that
crops each span on both sides, never through a double-width character (Textual's own crops a
span's end there and writes a space over half of it; the patch widens the crop instead). It
changes what is written, never what the screen shows: tests/test_partial_update.py drives random
frames through both methods into a virtual terminal and compares (about 40% fewer bytes).

Only applied to the Textual version it was written against; on any other version it does nothing.
"""

from __future__ import annotations

import textual
from rich.cells import get_character_cell_size
from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate
from textual.strip import Strip

PATCHED_VERSION = "8.2.8"

ORIGINAL_RENDER_SEGMENTS = ChopsUpdate.render_segments
"""Textual's own method (kept for tests/test_partial_update.py, which compares the two)."""


def _char_bounds(strip: Strip, start: int, stop: int) -> tuple[int, int]:
    """Widen ``[start, stop)`` (cells of ``strip``) so that it cuts no double-width character.

    Cropping inside one would write a space over half of it (Rich splits it into two spaces),
    and the terminal would lose the other half.
    """
    if strip.cell_length == len(strip.text):  # no wide characters: every cell is a character
        return start, stop
    pos = 0
    for segment in strip:
        for char in segment.text:
            width = get_character_cell_size(char)
            end = pos + width
            if pos < start < end:
                start = pos
            if pos < stop < end:
                stop = end
            if pos >= stop:
                return start, stop
            pos = end
    return start, stop


def render_segments(self: ChopsUpdate, console: Console) -> str:
    """Like Textual's own, but each span starts at its first dirty cell."""
    sequences: list[str] = []
    append = sequences.append
    chops = self.chops
    chop_ends = self.chop_ends
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        line = chops[y]
        ends = chop_ends[y]
        for end, (x, strip) in zip(ends, line.items(), strict=False):
            if strip is None or x >= x2 or end <= x1:
                continue
            start = max(x, x1)
            stop = min(end, x2)
            if start != x or stop != end:
                left, right = _char_bounds(strip, start - x, stop - x)
                start, stop = x + left, x + right
                strip = strip.crop(left, right)
            append(Control.move_to(start, y).segment.text)
            append(strip.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def install() -> bool:
    """Patch Textual (once); returns True when the patch is in place."""
    if textual.__version__ != PATCHED_VERSION:
        return False
    if getattr(ChopsUpdate.render_segments, "__module__", "") != __name__:
        ChopsUpdate.render_segments = render_segments  # type: ignore[method-assign]
    return True
