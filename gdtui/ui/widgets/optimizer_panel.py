"""Optimizer, the hiker: the step it actually took, its effective rate and its state."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from gdtui.ui.format import num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.backprop_panel import param_table
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
        """Draw the last record's optimizer half."""
        if info is None:
            self.show_renderable(Text(""))
            return
        if self.border_subtitle != info.torch_name:  # setting it repaints the whole widget
            self.border_subtitle = info.torch_name
        record = snapshot.record if snapshot is not None else None
        lr = snapshot.lr if snapshot is not None else info.lr
        head = Text.assemble((info.optimizer, "bold italic"), ("   lr ", "bold"), num(lr))
        if record is None:
            self.show_renderable(Group(head, Text("waiting for the first step", style="dim")))
            return
        norms = Text.assemble(
            ("‖Δ‖ ", "bold"), num(record.update_norm), ("  cos(−∇,Δ) ", "bold"), num(record.cos, 4)
        )
        names = info.param_names
        table = param_table(names)
        if len(names) == 1:
            table.add_row("θ", f"{num(record.params_before[0])} → {num(record.params[0])}")
        else:
            table.add_row("θ before", *[num(v) for v in record.params_before])
            table.add_row("θ after", *[num(v) for v in record.params])
        table.add_row("Δ", *[Text(num(u), style="bold magenta") for u in record.update])
        table.add_row("Δ / −∇", *[num(v) for v in record.effective_lr])
        for key, values in record.state.items():
            table.add_row(Text(key, style="dim"), *[num(v) for v in values])
        self.show_renderable(Group(head, norms, table))
