"""The arithmetic of a step and the curvature beside the learning rate, as Rich text.

Both draw what the engine computed in the descent thread (:mod:`gdtui.engine.arithmetic`,
:mod:`gdtui.engine.curvature`, called through :mod:`gdtui.ui.arithmetic_view`); nothing here does
the maths again. :func:`arithmetic_lines` writes the update rule with this step's numbers, wrapped
at ``=`` signs to the width there is, and shows a disagreement with torch's update in bold red
with a ``✗`` (readable without colour), never hiding it. :func:`curvature_line` shows λmax and
the stability bound next to the rate in use, e.g. ``λmax 20 · lr < 2/λmax = 0.1 · now 0.05 ✓``.
:class:`ArithmeticView` is a small canvas that shows the first.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

from gdtui.ui.format import num
from gdtui.ui.widgets.rich_canvas import RichCanvas

if TYPE_CHECKING:  # torch loads in the worker; these are only read here
    from gdtui.engine.arithmetic import StepArithmetic
    from gdtui.engine.curvature import StabilityBound

__all__ = [
    "AGREES",
    "ArithmeticView",
    "abridged",
    "arithmetic_lines",
    "condensed",
    "curvature_line",
    "wrap_at_equals",
]

AGREES = "✓ torch agrees"
"""Put after the last line when the written result equals torch's update within rounding."""

MISMATCH_STYLE = "bold red"
_INDENT = "    "


def wrap_at_equals(line: str, width: int) -> list[str]:
    """``line`` in rows of at most ``width`` cells, broken before ``=`` signs (and after ``;``).

    Continuation rows are indented; a piece that is still too wide is broken at spaces.
    """
    width = max(int(width), 12)
    if cell_len(line) <= width:
        return [line]
    rows: list[str] = []
    for clause in line.split(";  "):
        parts = clause.split(" = ")
        pieces = [parts[0], *(f"= {p}" for p in parts[1:])]
        current: str | None = None  # the row being filled
        for piece in pieces:
            if current is not None and cell_len(current) + 1 + cell_len(piece) <= width:
                current += " " + piece
                continue
            if current is not None:
                rows.append(current)
            lead = _INDENT if rows else ""
            if cell_len(lead + piece) <= width:
                current = lead + piece
                continue
            chunks = textwrap.wrap(
                piece, width - len(_INDENT), break_long_words=True, break_on_hyphens=False
            )
            for chunk in chunks[:-1]:
                rows.append((_INDENT if rows else "") + chunk)
            current = (_INDENT if rows else "") + chunks[-1]
        if current is not None:
            rows.append(current)
    return rows


def arithmetic_lines(arithmetic: StepArithmetic, width: int = 80, *, verdict: bool = True) -> Text:
    """The step's update rule with its numbers, one rule per line, wrapped to ``width`` cells.

    Lines the engine marked as a mismatch (``✗ mismatch: …``) are bold red. With ``verdict``,
    the text ends in :data:`AGREES` when the written result equals torch's update within
    rounding, else in a bold red line ``✗ differs from torch's update …`` with the worst
    relative difference: a disagreement is always on screen.
    """
    out = Text(no_wrap=True, overflow="fold")
    rows: list[tuple[str, str]] = []
    for line in arithmetic.lines:
        style = MISMATCH_STYLE if line.startswith("✗") else ""
        rows.extend((row, style) for row in wrap_at_equals(line, width))
    if verdict:
        if arithmetic.matches:
            last, style = rows[-1] if rows else ("", "")
            if rows and not style and cell_len(last) + 2 + cell_len(AGREES) <= width:
                rows[-1] = (f"{last}  {AGREES}", "")
            else:
                rows.append((AGREES, ""))
        else:
            note = (
                f"✗ differs from torch's update: worst relative difference {arithmetic.worst:.2g}"
            )
            rows.extend((row, MISMATCH_STYLE) for row in wrap_at_equals(note, width))
    for i, (row, style) in enumerate(rows):
        if i:
            out.append("\n")
        if row.endswith(AGREES) and not style:
            out.append(row[: -len(AGREES)])
            out.append(AGREES, style="green")
        else:
            out.append(row, style=style)
    return out


def curvature_line(
    lambda_max: float | None,
    bound: StabilityBound | None,
    lr: float,
    width: int = 80,
) -> Text:
    """λmax, the optimizer's stability bound with its formula, and the rate in use against it.

    ``bound`` is the engine's :func:`~gdtui.engine.curvature.stability_bound` for this λmax (its
    ``lr`` is None where no closed form is known; its ``formula`` then says why). The rate gets
    ``✓`` below the bound and a bold red ``✗ above the bound`` at or above it.
    """
    out = Text(no_wrap=True, overflow="ellipsis")
    if lambda_max is None:
        out.append("λmax not measured", style="dim")
        out.append(f" · now {num(lr, 4)}")
        return out
    out.append("λmax ", style="bold")
    out.append(num(lambda_max, 4))
    if bound is None or bound.lr is None:
        reason = bound.formula if bound is not None else "no bound known"
        out.append(f" · {reason}", style="dim")
        out.append(f" · now {num(lr, 4)}")
        return out
    head, _, tail = bound.formula.partition(", ")
    below = lr < bound.lr
    verdict = ("✓", "green") if below else ("✗ above the bound", "bold red")
    full = out.copy()
    full.append(f" · {head} = {num(bound.lr, 4)}")
    if tail and cell_len(full.plain) + len(tail) + 20 <= width:
        full.append(f" ({tail})", style="dim")
    full.append(f" · now {num(lr, 4)} ")
    full.append(*verdict)
    if full.cell_len <= width:
        return full
    # A narrow panel: the rate in use is on the line above; say only the bound and the verdict.
    short = out.copy()
    short.append(f" · {head} = {num(bound.lr, 4)} ")
    short.append(*verdict)
    if short.cell_len <= width:
        return short
    out.append(f" · bound {num(bound.lr, 4)} ")
    out.append(*(verdict if below else ("✗ above", "bold red")))
    return out


def condensed(arithmetic: StepArithmetic, names: Sequence[str]) -> StepArithmetic:
    """Only the lines that move a parameter (``w ← …``) and the mismatches: the short form of
    a long rule (Adam's m, v, m̂, v̂ lines left out) for a panel with few rows."""
    heads = tuple(f"{name} ←" for name in names)
    lines = tuple(line for line in arithmetic.lines if line.startswith(("✗", *heads)))
    return dataclasses.replace(arithmetic, lines=lines or arithmetic.lines)


class ArithmeticView(RichCanvas):
    """The arithmetic of the last step (or a dim note when there is none to write)."""

    DEFAULT_CSS = """
    ArithmeticView { height: 3; }
    """

    def show(self, arithmetic: StepArithmetic | None, note: str = "") -> None:
        """Draw ``arithmetic`` at the widget's width; without one, ``note`` (dim)."""
        if arithmetic is None:
            self.show_renderable(Text(note, style="dim"))
            return
        self.show_renderable(arithmetic_lines(arithmetic, self.size.width or 80))


def abridged(arithmetic: StepArithmetic, names: Sequence[str]) -> StepArithmetic:
    """:func:`condensed`, each line cut to its rule and its result (``x ← x − lr·m̂/(√v̂ + ε)
    = … = -1.38946``): the shortest form that still says what torch's update came to."""
    short = condensed(arithmetic, names)

    def ends(line: str) -> str:
        parts = line.split(" = ")
        return f"{parts[0]} = … = {parts[-1]}" if len(parts) > 2 and "✗" not in line else line

    return dataclasses.replace(short, lines=tuple(ends(line) for line in short.lines))
