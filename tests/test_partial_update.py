"""gdtui/ui/partial_update.py replaces a private Textual method: it must leave the terminal
exactly as Textual's own does, in fewer bytes.

Random frames (with double-width characters, and dirty spans that start or end inside one) go
through both ``ChopsUpdate.render_segments`` (Textual's, and the patch) into a pyte virtual
terminal that already shows the previous frame; both terminals must end showing the new frame.
"""

from __future__ import annotations

import io
import random

import pyte
import textual
from rich.console import Console
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from gdtui.ui import partial_update

WIDTH, HEIGHT = 40, 8
NARROW_CHARS = "abcxyz.-é"
WIDE_CHARS = "中文字"
STYLES = [
    None,
    Style(color="#ff0000"),
    Style(color="#00ff00", bgcolor="#000080"),
    Style(bold=True),
    Style(color="#ffff00", bgcolor="#303030", bold=True),
]
ORIGINAL = ChopsUpdate.__dict__["render_segments"]
if getattr(ORIGINAL, "__module__", "") == partial_update.__name__:  # already installed
    ORIGINAL = partial_update.ORIGINAL_RENDER_SEGMENTS

Token = tuple[str, Style | None]  # one character (1 or 2 cells) and its style


def width_of(token: Token) -> int:
    return 2 if token[0] in WIDE_CHARS else 1


def random_tokens(rng: random.Random, cells: int) -> list[Token]:
    """Random characters filling exactly ``cells`` cells."""
    out: list[Token] = []
    left = cells
    while left:
        wide = left >= 2 and rng.random() < 0.35
        char = rng.choice(WIDE_CHARS if wide else NARROW_CHARS)
        out.append((char, rng.choice(STYLES)))
        left -= 2 if wide else 1
    return out


def to_strip(tokens: list[Token]) -> Strip:
    segments = [Segment(char, style) for char, style in tokens]
    return Strip(Segment.simplify(segments))


def random_frames(rng: random.Random) -> tuple[list[list[list[Token]]], list[list[list[Token]]]]:
    """An old and a new frame: lines of chops (widgets side by side) of tokens."""
    old: list[list[list[Token]]] = []
    new: list[list[list[Token]]] = []
    cuts = sorted(rng.sample(range(4, WIDTH - 4), rng.randint(0, 2)))
    widths = [b - a for a, b in zip([0, *cuts], [*cuts, WIDTH], strict=True)]
    for _ in range(HEIGHT):
        old_line = [random_tokens(rng, w) for w in widths]
        new_line = []
        for chop in old_line:
            chop = list(chop)
            if rng.random() < 0.5:  # replace a run of characters by as many cells of new ones
                i = rng.randrange(len(chop))
                j = rng.randint(i + 1, min(len(chop), i + 6))
                cells = sum(width_of(t) for t in chop[i:j])
                chop[i:j] = random_tokens(rng, cells)
            new_line.append(chop)
        old.append(old_line)
        new.append(new_line)
    return old, new


def cells_of(line: list[list[Token]]) -> list[tuple[str, Style | None] | None]:
    """Per cell: the token that starts there, or None for the right half of a wide one."""
    out: list[tuple[str, Style | None] | None] = []
    for chop in line:
        for token in chop:
            out.append(token)
            if width_of(token) == 2:
                out.append(None)
    return out


def dirty_spans(
    rng: random.Random, old: list[list[list[Token]]], new: list[list[list[Token]]]
) -> list[tuple[int, int, int]]:
    """Spans covering every changed cell, widened at random (so some start inside a wide one)."""
    spans = []
    for y in range(HEIGHT):
        a, b = cells_of(old[y]), cells_of(new[y])
        changed = [x for x in range(WIDTH) if a[x] != b[x]]
        if not changed:
            continue
        x1 = max(0, changed[0] - rng.randint(0, 2))
        x2 = min(WIDTH, changed[-1] + 1 + rng.randint(0, 2))
        spans.append((y, x1, x2))
    return spans


def chops_update(frame: list[list[list[Token]]], spans: list[tuple[int, int, int]]) -> ChopsUpdate:
    chops = []
    ends = []
    for line in frame:
        x = 0
        chop_map: dict[int, Strip | None] = {}
        line_ends = []
        for chop in line:
            chop_map[x] = to_strip(chop)
            x += sum(width_of(t) for t in chop)
            line_ends.append(x)
        chops.append(chop_map)
        ends.append(line_ends)
    return ChopsUpdate(chops, spans, ends)


def console() -> Console:
    return Console(file=io.StringIO(), color_system="truecolor", force_terminal=True, width=WIDTH)


def full_frame(frame: list[list[list[Token]]], con: Console) -> str:
    out = []
    for y, line in enumerate(frame):
        out.append(Control.move_to(0, y).segment.text)
        out.append("".join(to_strip(chop).render(con) for chop in line))
    return "".join(out)


def terminal(*writes: str) -> list[list[tuple[str, str, str, bool]]]:
    screen = pyte.Screen(WIDTH, HEIGHT)
    stream = pyte.Stream(screen)
    for data in writes:
        stream.feed(data)
    return [
        [(c.data, c.fg, c.bg, c.bold) for c in (screen.buffer[y][x] for x in range(WIDTH))]
        for y in range(HEIGHT)
    ]


def test_patch_is_active_on_the_pinned_textual() -> None:
    assert textual.__version__ == partial_update.PATCHED_VERSION == "8.2.8"
    assert partial_update.install() is True
    assert ChopsUpdate.render_segments is partial_update.render_segments


def test_random_frames_end_the_same_in_fewer_bytes() -> None:
    """The patched method leaves the terminal showing the new frame, always, in fewer bytes.

    Textual's own method is right too, except where a span ends inside a double-width
    character: it crops there and writes a space over the character's left half (a bug of
    Textual 8.2.8 that the patch does not copy).
    """
    rng = random.Random(1234)
    con = console()
    original_bytes = patched_bytes = 0
    starts_inside = ends_inside = original_wrong = 0
    for _ in range(400):
        old, new = random_frames(rng)
        spans = dirty_spans(rng, old, new)
        if not spans:
            continue
        cuts_wide_end = False
        for y, x1, x2 in spans:
            cells = cells_of(new[y])
            starts_inside += x1 < WIDTH and cells[x1] is None
            if x2 < WIDTH and cells[x2] is None:
                ends_inside += 1
                cuts_wide_end = True
        update = chops_update(new, spans)
        before = full_frame(old, con)
        expected = terminal(before, full_frame(new, con))
        original = ORIGINAL(update, con)
        patched = partial_update.render_segments(update, con)
        assert terminal(before, patched) == expected, (spans, patched)
        if terminal(before, original) != expected:
            assert cuts_wide_end, "Textual's own method went wrong: the harness is broken"
            original_wrong += 1
        original_bytes += len(original.encode())
        patched_bytes += len(patched.encode())
    assert starts_inside > 20 and ends_inside > 20, "spans must start and end inside wide chars"
    assert original_wrong > 0  # the double-width case is really exercised
    assert patched_bytes < 0.8 * original_bytes, (patched_bytes, original_bytes)
