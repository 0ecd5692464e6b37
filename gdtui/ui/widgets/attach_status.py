"""The attach screen's status line: step, loss, steps/s, and whether the run is still writing."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text

from gdtui.ui.format import num, rate
from gdtui.ui.widgets.rich_canvas import RichCanvas

__all__ = ["AttachState", "AttachStatus", "duration"]


def duration(seconds: float) -> str:
    """A wait in words a glance can read: ``12 s``, ``4 min``, ``3 h``, ``2 d``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


@dataclass(frozen=True)
class AttachState:
    """What the status line says about a followed record file.

    Attributes:
        file: The file's name.
        rank: Its rank, ``ranks`` how many rank files the run has beside it.
        optimizer: The optimizer class, ``device`` where it ran (from the header).
        steps: Steps recorded; ``step`` the last optimizer step (None before any).
        loss: The last logged loss (None if none).
        steps_per_s: Optimizer steps per second (None if unknown).
        end_reason: Why the writer closed the file (None while it is open).
        stale_s: Seconds without a new step, when that is long enough to say (else None).
        problem: Why the file cannot be read on ("" when it can).
        waiting: No header yet (the writer has not started).
    """

    file: str
    rank: int = 0
    ranks: int = 1
    optimizer: str = ""
    device: str = ""
    steps: int = 0
    step: int | None = None
    loss: float | None = None
    steps_per_s: float | None = None
    end_reason: str | None = None
    stale_s: float | None = None
    problem: str = ""
    waiting: bool = False


class AttachStatus(RichCanvas):
    """One line at the bottom of the attach screen."""

    DEFAULT_CSS = """
    AttachStatus { height: 1; background: $panel; padding: 0 1; }
    """

    def show(self, state: AttachState) -> None:
        """Draw ``state`` in the width there is, dropping the least telling parts first.

        The file's own news (a problem, the end, a stalled writer) comes first; what changes at
        every step comes last, since a terminal update starts at the first changed cell.
        """
        parts: list[tuple[int, Text]] = []  # (priority, text): lower numbers are kept longer
        if state.problem:
            parts.append((0, Text.assemble(("⚠ ", "bold red"), state.problem)))
        if state.end_reason is not None:
            parts.append((1, Text(f"■ run finished ({state.end_reason})", style="bold green")))
        elif state.waiting:
            parts.append((1, Text("waiting for the writer's header line…", style="italic")))
        elif state.stale_s is not None:
            parts.append(
                (1, Text(f"⏸ no new step for {duration(state.stale_s)}", style="bold yellow"))
            )
        about = " · ".join(p for p in (state.optimizer, state.device) if p)
        if state.ranks > 1:
            about += f" · rank {state.rank} (k: next of {state.ranks})"
        if about:
            parts.append((6, Text(about, style="dim")))
        parts.append((7, Text(state.file, style="dim")))
        if state.step is not None:
            parts.append((2, Text(f"step {state.step}", style="bold")))
            if state.steps != state.step:
                parts.append((5, Text(f"{state.steps} recorded", style="dim")))
        if state.loss is not None and math.isfinite(state.loss):
            parts.append((3, Text.assemble(("loss ", "dim"), num(state.loss, 4))))
        if state.steps_per_s is not None and state.end_reason is None:
            parts.append((4, Text(rate(state.steps_per_s))))
        width = self.size.width or 120
        while len(parts) > 1 and sum(p.cell_len for _, p in parts) + 2 * (len(parts) - 1) > width:
            parts.remove(max(reversed(parts), key=lambda part: part[0]))
        self.show_renderable(
            Text("  ", no_wrap=True, overflow="ellipsis").join(p for _, p in parts)
        )
