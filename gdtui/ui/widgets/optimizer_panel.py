"""Optimizer, the hiker: the step it actually took, its effective rate and its state."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gdtui.ui.format import num
from gdtui.ui.messages import RunInfo, Snapshot
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
            self.show_renderable("")
            return
        self.border_subtitle = f"{info.torch_name}"
        record = snapshot.record if snapshot is not None else None
        lr = snapshot.lr if snapshot is not None else info.lr
        head = Text.assemble(("lr ", "bold"), num(lr), ("  ", ""), (info.optimizer, "italic"))
        if record is None:
            self.show_renderable(Group(head, Text("waiting for the first step", style="dim")))
            return
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        for _ in range(3):
            table.add_column(justify="right")
        table.add_row(
            "",
            Text("θ before → after", style="dim"),
            Text("Δ", style="dim"),
            Text("Δ / −∇", style="dim"),
        )
        for i, name in enumerate(info.param_names):
            table.add_row(
                name,
                f"{num(record.params_before[i])} → {num(record.params[i])}",
                Text(num(record.update[i]), style="bold cyan"),
                num(record.effective_lr[i]),
            )
        summary = Text.assemble(
            ("‖Δ‖ ", "bold"),
            num(record.update_norm),
            ("   cos(−∇, Δ) ", "bold"),
            num(record.cos, 4),
        )
        parts = [head, summary, table]
        if record.state:
            state = Table.grid(padding=(0, 2))
            state.add_column(style="dim")
            for _ in info.param_names:
                state.add_column(justify="right")
            state.add_row(
                Text("state", style="bold"), *[Text(n, style="dim") for n in info.param_names]
            )
            for key, values in record.state.items():
                state.add_row(key, *[num(v) for v in values])
            parts.append(state)
        self.show_renderable(Group(*parts))
