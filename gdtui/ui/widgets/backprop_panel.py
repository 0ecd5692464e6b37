"""Backprop, the map: the loss, what ``backward()`` put in ``.grad``, and the graph it walked."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from gdtui.ui.format import num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.quantity_table import quantity_table
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
        width = self.size.width
        if record is None:
            table = quantity_table(info.param_names, [("θ", info.init, "")], width)
            note = Text("no step yet: n steps once, space runs", style="dim")
            self.show_renderable(Group(table, note))
            return
        head = Text.assemble(
            ("loss ", "bold"), num(record.loss), ("   ‖∇‖ ", "bold"), num(record.grad_norm)
        )
        table = quantity_table(
            info.param_names,
            [("θ", record.params_before, ""), ("∇", record.grad, "bold cyan")],
            width,
        )
        graph = Text(
            "\n".join(snapshot.graph) if snapshot and snapshot.graph else "",
            style="dim",
            no_wrap=True,
            overflow="ellipsis",
        )
        heading = Text("autograd graph:", style="italic")
        self.show_renderable(Group(head, table, heading, graph))
