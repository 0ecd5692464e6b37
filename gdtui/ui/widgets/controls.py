"""The controls: problem, optimizer, learning rate, its hyper-parameters, speed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from gdtui.ui.messages import Catalog, RunInfo
from gdtui.values import format_value, parse_value

EXPRESSION = "expression"
SPEEDS: list[tuple[str, float | None]] = [
    ("1 step/s", 1.0),
    ("10 steps/s", 10.0),
    ("100 steps/s", 100.0),
    ("as fast as it goes", None),
]


class Controls(VerticalScroll):
    """The left-hand panel. It only shows choices and reports them; the app applies them."""

    DEFAULT_CSS = """
    Controls {
        width: 34; border: round $primary-darken-1; padding: 0 1; scrollbar-size-vertical: 1;
    }
    Controls Label { margin-top: 1; color: $text-muted; }
    Controls Input, Controls Select { width: 100%; }
    Controls .error { color: $error; height: auto; }
    Controls .hyper-row { height: auto; }
    Controls .hyper-row Label { width: 14; margin-top: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    Controls .hyper-row Input { width: 1fr; }
    Controls #buttons { height: auto; margin-top: 1; }
    Controls #buttons Button { min-width: 8; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, speed_index: int = len(SPEEDS) - 1) -> None:
        super().__init__(id=id)
        self.speed_index = speed_index

    def compose(self) -> ComposeResult:
        """Widgets are empty until the engine has loaded (the first paint does not wait)."""
        yield Label("problem")
        yield Select([], id="problem", allow_blank=True, prompt="loading…", compact=True)
        yield Input(placeholder="formula, e.g. x**2 + 10*y**2", id="expression", compact=True)
        yield Static("", id="expression-error", classes="error")
        yield Label("optimizer")
        yield Select([], id="optimizer", allow_blank=True, prompt="loading…", compact=True)
        yield Label("learning rate (enter applies)")
        yield Input(placeholder="e.g. 0.1", id="lr", compact=True)
        yield Static("", id="lr-error", classes="error")
        yield VerticalScroll(id="hyper")
        yield Label("speed")
        yield Select(
            [(label, i) for i, (label, _) in enumerate(SPEEDS)],
            id="speed",
            value=self.speed_index,
            allow_blank=False,
            compact=True,
        )
        with Horizontal(id="buttons"):
            yield Button("▶ run", id="toggle", compact=True)
            yield Button("step", id="step", compact=True)
            yield Button("reset", id="reset", compact=True)

    def on_mount(self) -> None:
        """Title the panel."""
        self.border_title = "Controls"
        self.border_subtitle = "c hides"

    def set_catalog(self, catalog: Catalog) -> None:
        """Fill the choices once the engine has loaded."""
        problems = [(name, name) for name, _ in catalog.problems]
        problems.append(("your formula…", EXPRESSION))
        problem = self.query_one("#problem", Select)
        problem.set_options(problems)
        problem.prompt = "problem"
        optimizer = self.query_one("#optimizer", Select)
        optimizer.set_options([(o.name, o.name) for o in catalog.optimizers])
        optimizer.prompt = "optimizer"

    def show_run(self, info: RunInfo) -> None:
        """Show a fresh run's settings (without sending change events back)."""
        with self.prevent(Select.Changed, Input.Changed):
            problem = self.query_one("#problem", Select)
            problem.value = EXPRESSION if info.is_expression else info.problem
            expression = self.query_one("#expression", Input)
            expression.value = info.expression if info.is_expression else ""
            self.query_one("#optimizer", Select).value = info.optimizer
            self.show_lr(info.lr)
        self.query_one("#expression-error", Static).update("")
        self._build_hyper(info.hyper)

    def show_lr(self, lr: float) -> None:
        """Show the learning rate in use (nothing is repainted when it is unchanged)."""
        field = self.query_one("#lr", Input)
        if field.value == f"{lr:g}":
            return
        with self.prevent(Input.Changed):
            field.value = f"{lr:g}"
        self.show_lr_error("")

    def show_lr_error(self, message: str) -> None:
        """Show why the typed learning rate can't be used (empty: no error)."""
        self.query_one("#lr-error", Static).update(Text(message))
        self.query_one("#lr", Input).set_class(bool(message), "-invalid")

    def show_expression_error(self, message: str) -> None:
        """Show why the typed formula can't be used."""
        self.query_one("#expression-error", Static).update(Text(message))

    def hyper_values(self) -> dict[str, Any]:
        """The hyper-parameters as typed."""
        out = {}
        for field in self.query(".hyper-input").results(Input):
            out[field.name or ""] = parse_value(field.value)
        return out

    def _build_hyper(self, hyper: dict[str, Any]) -> None:
        box = self.query_one("#hyper", VerticalScroll)
        box.remove_children()
        rows = []
        for key, value in hyper.items():
            field = Input(format_value(value), name=key, classes="hyper-input", compact=True)
            rows.append(Horizontal(Label(key), field, classes="hyper-row"))
        if rows:
            box.mount_all(rows)
        box.styles.height = "auto"
        box.styles.max_height = 10
