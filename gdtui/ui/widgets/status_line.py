"""The status line: step, loss, ‖∇‖, speed, device, and the run's state in words; for a model
the epoch and the newest validation loss and accuracy too."""

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

    def show(
        self, info: RunInfo | None, snapshot: Snapshot | None, *, rewound_of: int | None = None
    ) -> None:
        """Draw the run's state in the width there is.

        ``rewound_of``: the snapshot shows an earlier step of a run now at this step (the run is
        paused; esc goes back to its live end).

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
        if rewound_of is not None:
            where = f"step {snapshot.step} of {rewound_of} (rewound; esc: live end)"
            parts.append((1, Text(where, style="bold yellow")))
        elif snapshot.status == "running":
            if snapshot.playing:
                parts.append(
                    (3, Text.assemble(("▶ running ", "bold green"), rate(snapshot.steps_per_s)))
                )
            else:
                parts.append((1, Text("❚❚ paused", style="bold")))
        if rewound_of is None:
            parts.append((1, Text(f"step {snapshot.step}{budget}", style="bold")))
        model = info.model
        if model is not None:
            parts.append((1, Text(f"epoch {snapshot.epoch}", style="bold")))
            evaluation = snapshot.evaluation
            if evaluation is not None:
                loss = evaluation.val_loss if model.n_val else evaluation.train_loss
                which = "val" if model.n_val else "train"
                parts.append((2, Text.assemble((f"{which} loss ", "dim"), num(loss, 4))))
                accuracy = evaluation.val_accuracy if model.n_val else evaluation.train_accuracy
                if accuracy is not None:
                    parts.append((2, Text.assemble((f"{which} acc ", "dim"), f"{accuracy:.1%}")))
        batch_priority = 3 if model is not None else 2
        if record is not None:
            label = "batch loss " if model is not None else "loss "
            parts.append((batch_priority, Text.assemble((label, "dim"), num(record.loss))))
            if model is None or record.grad_norm == record.grad_norm:  # nan between summaries
                parts.append((4, Text.assemble(("‖∇‖ ", "dim"), num(record.grad_norm))))
        width = self.size.width or 120
        while len(parts) > 1 and sum(p.cell_len for _, p in parts) + 2 * (len(parts) - 1) > width:
            parts.remove(max(parts, key=lambda part: part[0]))
        self.show_renderable(
            Text("  ", no_wrap=True, overflow="ellipsis").join(p for _, p in parts)
        )
