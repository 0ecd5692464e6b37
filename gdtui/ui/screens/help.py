"""The help screen: every key, and what the panels mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gdtui.safetext import visible

KEYS: list[tuple[str, str]] = [
    ("space", "run / pause"),
    ("n", "one step"),
    ("r", "reset (same settings, from the start point)"),
    ("+  −", "learning rate ×2 / ÷2, applied to the running optimizer at once"),
    ("l", "loss curve: linear / log10 scale"),
    ("f", "speed: 1, 10, 100 steps/s, as fast as it goes"),
    ("s", "place the start: arrows move it, enter applies, esc cancels (or click the map)"),
    ("o", "open a scenario (built-ins and .toml files here)"),
    ("w", "learning-rate sweep of this scenario: loss by rate, edge, bound, a suggested rate"),
    (
        "  a",
        "in the sweep: apply the suggested rate to the run; tab edits the range, enter "
        "sweeps again, esc / q close the sweep (and stop it)",
    ),
    ("R", "race: several optimizers side by side on this problem; add / remove contenders"),
    (
        "k",
        "measure λmax (top Hessian eigenvalue) now: the optimizer panel shows the stability "
        "bound (lr < 2/λmax, (2+2β)/λmax with momentum) beside the learning rate",
    ),
    (
        "K",
        "the plot under the loss: auto, the learning rate of each step, λmax against the "
        "edge of stability 2/lr, none",
    ),
    (
        "[  ]",
        "rewind / forward one step through the run (shift: { } ten steps); the panels "
        "and the point show that step",
    ),
    (
        "  ",
        "change lr or optimizer while rewound: branch from that step; esc returns to the live end",
    ),
    ("e", "export the run's records (JSONL; CSV from the command palette)"),
    ("ctrl+s", "save an SVG screenshot"),
    ("c  g  b", "show / hide: controls, landscape, backprop vs optimizer"),
    ("tab", "move between controls; esc leaves a field"),
    ("ctrl+p", "command palette: problems, optimizers, scenarios, actions"),
    ("?", "this help"),
    ("q", "quit"),
]

ABOUT = (
    "Backprop (the map) computes the gradient: loss.backward() fills w.grad. "
    "The optimizer (the hiker) uses it: optimizer.step() moves the parameters. "
    "Δ is the update actually applied (θ after − θ before); Δ/−∇ is the effective learning "
    "rate: exactly lr for plain SGD, different per parameter for Adam. Under Δ, the step's "
    "arithmetic: the update rule with this step's numbers, checked against torch's update "
    "(✓ torch agrees, or ✗ with the difference). The schedule field in the controls picks a "
    "torch.optim.lr_scheduler (its arguments: name=value, enter applies)."
)


class HelpScreen(ModalScreen[None]):
    """A modal list of the keys; any of esc, q, ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 96; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "close", show=False),
    ]

    def __init__(
        self,
        about: tuple[str, str] | None = None,
        *,
        keys: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.about = about
        self.keys = KEYS if keys is None else keys
        """(key, what it does) rows; the main screen's keys by default."""

    def compose(self) -> ComposeResult:
        """The scenario's own words, the key table and a paragraph on the two halves of a step."""
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in self.keys:
            table.add_row(key, what)
        with VerticalScroll() as box:
            box.border_title = "gdtui · keys"
            box.border_subtitle = "esc closes"
            if self.about is not None:
                title, description = self.about
                description = " ".join(description.split())  # TOML line breaks are not paragraphs
                # From a file: ESC [ 2 J must not clear the screen; shown as \x1b[2J.
                title, description = visible(title, 200), visible(description, 4000)
                yield Static(Text.assemble((title, "bold"), "\n", (description, "italic"), "\n"))
            yield Static(table)
            yield Static(Text("\n" + ABOUT, style="dim"))
