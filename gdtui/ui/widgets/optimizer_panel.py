"""Optimizer, the hiker: the step it actually took, its effective rate and its state."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from gdtui.ui.format import fit, num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.backprop_panel import column_width, param_table
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
        label = max([8, *(len(k) for k in record.state)])
        cells = column_width(self.size.width, label, len(names))
        if len(names) == 1:
            before, after = fit([record.params_before[0], record.params[0]], (cells - 3) // 2)
            table.add_row("θ", f"{before} → {after}")
            cells = max(cells, len(before) + len(after) + 3)
        else:
            table.add_row("θ before", *fit(list(record.params_before), cells))
            table.add_row("θ after", *fit(list(record.params), cells))
        update = fit(list(record.update), cells)
        table.add_row("Δ", *[Text(u, style="bold magenta") for u in update])
        table.add_row("Δ / −∇", *fit(list(record.effective_lr), cells))
        for key, values in record.state.items():
            table.add_row(Text(key, style="dim"), *fit(list(values), cells))
        self.show_renderable(Group(head, norms, table))
