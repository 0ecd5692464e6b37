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

    def show(self, info: RunInfo | None, snapshot: Snapshot | None, loading: str = "") -> None:
        """Draw the run's state; a stopped run's reason comes first, so it fits 80 columns."""
        if info is None or snapshot is None:
            self.show_renderable(Text(loading or "loading torch…", style="italic"))
            return
        record = snapshot.record
        text = Text(no_wrap=True, overflow="ellipsis")
        # What changes every update comes last: a terminal update starts at the first changed cell.
        if snapshot.status != "running":
            style = {"diverged": "bold red", "converged": "bold green"}.get(snapshot.status, "bold")
            reason = snapshot.reason or ""
            if reason.startswith(snapshot.status):  # "converged at step 57: …" says it already
                text.append(reason[: len(snapshot.status)], style=style)
                reason = reason[len(snapshot.status) :]
            else:
                text.append(f"{snapshot.status}: ", style=style)
            text.append(f"{reason}{_HINTS.get(snapshot.status, '')}  ")
        text.append(
            f"{info.optimizer} lr {num(snapshot.lr)}  {info.device} {info.dtype}  ", style="dim"
        )
        if snapshot.status == "running":
            if snapshot.playing:
                text.append("▶ running ", style="bold green")
                text.append(f"{rate(snapshot.steps_per_s)}  ")
            else:
                text.append("❚❚ paused  ", style="bold")
        text.append(f"step {snapshot.step}", style="bold")
        if record is not None:
            text.append("  loss ", style="dim")
            text.append(num(record.loss))
            text.append("  ‖∇‖ ", style="dim")
            text.append(num(record.grad_norm))
        self.show_renderable(text)
