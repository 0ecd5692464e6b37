"""The status line: step, loss, ‖∇‖, speed, device, and the run's state in words."""

from __future__ import annotations

from rich.text import Text

from gdtui.ui.format import num, rate
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.rich_canvas import RichCanvas

_HINTS = {
    "diverged": " — lower the learning rate",
    "converged": " — press r to reset",
    "finished": " — space runs on",
}


class StatusLine(RichCanvas):
    """One line at the bottom of the screen."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; padding: 0 1; }
    """

    def show(self, info: RunInfo | None, snapshot: Snapshot | None) -> None:
        """Draw the run's state in the width there is.

        Whole parts are dropped, least telling first, rather than cutting a number; a stopped
        run's reason comes first. What changes every update comes last, since a terminal update
        starts at the first changed cell.
        """
        if info is None or snapshot is None:
            self.show_renderable(Text("loading torch…", style="italic"))
            return
        record = snapshot.record
        budget = f"/{info.max_steps}" if info.max_steps and snapshot.status == "running" else ""
        # (priority, text): lower numbers are kept longer.
        parts: list[tuple[int, Text]] = []
        if snapshot.status != "running":
            style = {"diverged": "bold red", "converged": "bold green"}.get(snapshot.status, "bold")
            reason = snapshot.reason or ""
            text = Text(no_wrap=True, overflow="ellipsis")
            if reason.startswith(snapshot.status):  # "converged at step 57: …" says it already
                text.append(reason[: len(snapshot.status)], style=style)
                reason = reason[len(snapshot.status) :]
            else:
                text.append(f"{snapshot.status}: ", style=style)
            text.append(f"{reason}{_HINTS.get(snapshot.status, '')}")
            parts.append((0, text))
        parts.append(
            (
                5,
                Text(
                    f"{info.optimizer} lr {num(snapshot.lr)}  {info.device} {info.dtype}",
                    style="dim",
                ),
            )
        )
        if snapshot.status == "running":
            if snapshot.playing:
                parts.append(
                    (3, Text.assemble(("▶ running ", "bold green"), rate(snapshot.steps_per_s)))
                )
            else:
                parts.append((1, Text("❚❚ paused", style="bold")))
        parts.append((1, Text(f"step {snapshot.step}{budget}", style="bold")))
        if record is not None:
            parts.append((2, Text.assemble(("loss ", "dim"), num(record.loss))))
            parts.append((4, Text.assemble(("‖∇‖ ", "dim"), num(record.grad_norm))))
        width = self.size.width or 120
        while len(parts) > 1 and sum(p.cell_len for _, p in parts) + 2 * (len(parts) - 1) > width:
            parts.remove(max(parts, key=lambda part: part[0]))
        self.show_renderable(
            Text("  ", no_wrap=True, overflow="ellipsis").join(p for _, p in parts)
        )
