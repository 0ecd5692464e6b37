"""Backprop, the map: the loss, what ``backward()`` put in ``.grad``, and the graph it walked."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gdtui.ui.format import num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.rich_canvas import RichCanvas


class BackpropPanel(RichCanvas):
    """Left half of the step panel: the gradient that backpropagation computed."""

    DEFAULT_CSS = """
    BackpropPanel { border: round $primary; padding: 0 1; height: 1fr; }
    """

    def on_mount(self) -> None:
        """Title the panel."""
        self.border_title = "Backprop · the map"
        self.border_subtitle = "loss.backward()"

    def show(self, info: RunInfo | None, snapshot: Snapshot | None) -> None:
        """Draw the last record's backprop half (or the start point before any step)."""
        if info is None:
            self.show_renderable(Text("loading torch…", style="dim"))
            return
        record = snapshot.record if snapshot is not None else None
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column(justify="right")
        if record is None:
            table.add_row("", Text("θ", style="dim"), "")
            for name, value in zip(info.param_names, info.init, strict=True):
                table.add_row(name, num(value), "")
            note = Text("no step yet: press n to step, space to run", style="dim")
            self.show_renderable(Group(table, note))
            return
        table.add_row("", Text("θ before", style="dim"), Text("∇ = ∂loss/∂θ", style="dim"))
        for name, before, grad in zip(
            info.param_names, record.params_before, record.grad, strict=True
        ):
            table.add_row(name, num(before), Text(num(grad), style="bold cyan"))
        summary = Table.grid(padding=(0, 2))
        summary.add_column(style="bold")
        summary.add_column()
        summary.add_row("loss", num(record.loss))
        summary.add_row("‖∇‖", num(record.grad_norm))
        graph = Text("\n".join(snapshot.graph) if snapshot and snapshot.graph else "", style="dim")
        heading = Text(f"step {record.step}: autograd graph", style="dim")
        self.show_renderable(Group(summary, table, heading, graph))
