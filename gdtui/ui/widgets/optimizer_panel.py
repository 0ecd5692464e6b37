"""Optimizer, the hiker: the step it actually took, its effective rate and its state."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from gdtui.ui.format import fit, num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.quantity_table import Quantity, quantity_table
from gdtui.ui.widgets.rich_canvas import RichCanvas


class OptimizerPanel(RichCanvas):
    """Right half of the step panel: the update ``optimizer.step()`` applied."""

    DEFAULT_CSS = """
    OptimizerPanel { border: round $secondary; padding: 0 1; height: 1fr; }
    """

    def on_mount(self) -> None:
        """Title the panel."""
        self.border_title = "Optimizer · the hiker"
        self.border_subtitle = "optimizer.step()"

    def show(self, info: RunInfo | None, snapshot: Snapshot | None) -> None:
        """Draw the last record's optimizer half.

        The lr shown is the record's (the rate that step used); a rate changed since then is
        shown apart as the next one, so Δ/−∇ always sits under the lr it came from.
        """
        if info is None:
            self.show_renderable(Text(""))
            return
        if self.border_subtitle != info.torch_name:  # setting it repaints the whole widget
            self.border_subtitle = info.torch_name
        record = snapshot.record if snapshot is not None else None
        current_lr = snapshot.lr if snapshot is not None else info.lr
        head = Text.assemble((info.optimizer, "bold italic"), ("   lr ", "bold"))
        if record is None:
            head.append(num(current_lr))
            self.show_renderable(Group(head, Text("waiting for the first step", style="dim")))
            return
        head.append(num(record.lr))
        if record.lr != current_lr:
            head.append(f"  (next steps: {num(current_lr)})", style="dim")
        norms = Text.assemble(
            ("‖Δ‖ ", "bold"), num(record.update_norm), ("  cos(−∇,Δ) ", "bold"), num(record.cos, 4)
        )
        names = info.param_names
        width = self.size.width
        rows: list[Quantity] = []
        if len(names) == 1:  # the worked example reads: w 5.0 → 4.4
            before, after = fit([record.params_before[0], record.params[0]], (width - 14) // 2)
            rows.append(("θ", (f"{before} → {after}",), ""))
        rows.append(("Δ", record.update, "bold magenta"))
        rows.append(("Δ / −∇", record.effective_lr, ""))
        if len(names) > 1:
            rows.append(("θ after", record.params, ""))
        # Moments first, the step counter last: at 80x24 what gets cut is the least telling.
        state = sorted(record.state.items(), key=lambda item: item[0] == "step")
        rows += [(Text(key, style="dim"), values, "") for key, values in state]
        self.show_renderable(Group(head, norms, quantity_table(names, rows, width)))
