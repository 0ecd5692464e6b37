"""Backprop, the map: the loss, what ``backward()`` put in ``.grad``, and the graph it walked."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gdtui.ui.format import fit, num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.rich_canvas import RichCanvas


def param_table(names: tuple[str, ...]) -> Table:
    """A grid with one column per parameter (quantities are rows): fits 1–3 parameters."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    for _ in names:
        table.add_column(justify="right", no_wrap=True, overflow="crop")
    table.add_row("", *[Text(n, style="bold italic") for n in names])
    return table


def column_width(total: int, label: int, count: int) -> int:
    """Cells each parameter column gets in a panel ``total`` cells wide."""
    return max(4, (total - label - 2 * count) // max(1, count))


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
        table = param_table(info.param_names)
        cells = column_width(self.size.width, 1, len(info.param_names))
        if record is None:
            table.add_row("θ", *fit(list(info.init), cells))
            note = Text("no step yet: n steps once, space runs", style="dim")
            self.show_renderable(Group(table, note))
            return
        head = Text.assemble(
            ("loss ", "bold"), num(record.loss), ("   ‖∇‖ ", "bold"), num(record.grad_norm)
        )
        table.add_row("θ", *fit(list(record.params_before), cells))
        table.add_row("∇", *[Text(g, style="bold cyan") for g in fit(list(record.grad), cells)])
        graph = Text(
            "\n".join(snapshot.graph) if snapshot and snapshot.graph else "",
            style="dim",
            no_wrap=True,
            overflow="ellipsis",
        )
        heading = Text("autograd graph:", style="italic")
        self.show_renderable(Group(head, table, heading, graph))
