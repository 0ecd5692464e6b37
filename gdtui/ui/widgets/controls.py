"""The controls: problem (or, for a model, data set, model, loss function and batch size),
optimizer, learning rate, its schedule, its hyper-parameters, speed.

The panel only shows choices and says what the user did, with its own messages
(:class:`Controls.LrSubmitted`, :class:`Controls.ProblemChosen`, …, in the style of davep's hike
widgets); the screen decides what to do with them. Nothing outside reaches into its fields.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static
from textual.widgets._select import SelectOverlay

from gdtui.ui.messages import Catalog, ModelInfo, RunInfo
from gdtui.values import format_value, parse_value

EXPRESSION = "expression"
NO_SCHEDULE = "none"
"""The schedule choice for a constant learning rate."""
SPEEDS: list[tuple[str, float | None]] = [
    ("1 step/s", 1.0),
    ("10 steps/s", 10.0),
    ("100 steps/s", 100.0),
    ("as fast as it goes", None),
]


def parse_schedule_args(text: str) -> dict[str, Any]:
    """``T_max=200 eta_min=0.001`` (spaces or ``;`` between, ``0.9, 0.99`` for a pair) as a
    dict of values as typed (:func:`~gdtui.values.parse_value`); ValueError says what is wrong.

    Only the form is checked here; the engine checks the names and values against the real
    scheduler's constructor.
    """
    out: dict[str, Any] = {}
    for item in re.split(r"[;\s]+(?=[A-Za-z_]\w*\s*=)", text.strip()):
        if not item.strip(" ;"):
            continue
        key, equals, value = item.strip(" ;").partition("=")
        key = key.strip()
        if not equals or not key.isidentifier() or not value.strip():
            raise ValueError(f"write the arguments as name=value, e.g. T_max=200; got {item!r}")
        out[key] = parse_value(value.strip())
    return out


class _GuardedOverlay(SelectOverlay):
    """A Select's drop-down whose page moves survive its options being replaced (Textual 8.2's
    ``OptionList._move_page`` reads a line map that is stale until the next layout: a
    ``KeyError`` that would end the app, found by the seeded key storm in the tests)."""

    def _move_page(self, direction: Any) -> None:
        try:
            super()._move_page(direction)
        except LookupError as err:
            text = "".join(traceback.format_exception(err))
            note = f"select: a page move while its list was being rebuilt (ignored)\n{text}"
            log_note = getattr(self.app, "log_note", None)
            if log_note is not None:
                log_note(note, error=True)
            else:
                self.log.error(note)


class GuardedSelect(Select):
    """Textual's Select with :class:`_GuardedOverlay` as its drop-down."""

    def compose(self) -> ComposeResult:
        """Select's own parts, the overlay guarded."""
        for widget in super().compose():
            if type(widget) is SelectOverlay:
                widget.__class__ = _GuardedOverlay
            yield widget


@dataclass
class ControlsMessage(Message):
    """Something the user did in the controls."""

    controls: Controls

    @property
    def control(self) -> Controls:
        """The controls panel that posted it."""
        return self.controls


class Controls(VerticalScroll):
    """The left-hand panel. It only shows choices and reports them; the screen applies them."""

    @dataclass
    class LrEdited(ControlsMessage):
        """The learning-rate text changed (not applied yet: check it and say why not)."""

        text: str

    @dataclass
    class LrSubmitted(ControlsMessage):
        """Enter in the learning-rate field: apply this rate to the running optimizer."""

        text: str

    @dataclass
    class ExpressionSubmitted(ControlsMessage):
        """Enter in the formula field: descend this formula (never empty)."""

        text: str

    @dataclass
    class ProblemChosen(ControlsMessage):
        """A built-in problem was picked."""

        problem: str

    @dataclass
    class OptimizerChosen(ControlsMessage):
        """An optimizer was picked."""

        optimizer: str

    @dataclass
    class HyperSubmitted(ControlsMessage):
        """Enter in a hyper-parameter field: every hyper-parameter as typed."""

        values: dict[str, Any]

    @dataclass
    class ModelSettingChosen(ControlsMessage):
        """A model setting was picked or typed: ``setting`` is ``dataset``, ``model``,
        ``loss_fn`` or ``batch_size`` (enter in its field), ``value`` as chosen."""

        setting: str
        value: str

    @dataclass
    class ScheduleChosen(ControlsMessage):
        """A learning-rate schedule was picked (``name`` None: a constant rate), or enter in its
        arguments field: the scheduler's own arguments as typed."""

        name: str | None
        args: dict[str, Any]

    @dataclass
    class SpeedChosen(ControlsMessage):
        """A speed was picked: ``index`` into :data:`SPEEDS`, and its steps/s (None: no limit)."""

        index: int
        speed: float | None

    @dataclass
    class ToggleRequested(ControlsMessage):
        """The run / pause button."""

    @dataclass
    class StepRequested(ControlsMessage):
        """The step button."""

    @dataclass
    class ResetRequested(ControlsMessage):
        """The reset button."""

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
    Controls .model-only { display: none; }
    Controls.-model .model-only { display: block; }
    Controls.-model .formula-only { display: none; }
    """

    def __init__(
        self,
        *,
        id: str | None = None,
        speed_index: int = len(SPEEDS) - 1,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__(id=id)
        self.speed_index = speed_index
        self.cursor_blink = cursor_blink
        self._choices: dict[str, list[str]] = {}

    def compose(self) -> ComposeResult:
        """Widgets are empty until the engine has loaded (the first paint does not wait)."""
        yield Label("problem", classes="formula-only")
        yield GuardedSelect(
            [],
            id="problem",
            allow_blank=True,
            prompt="loading…",
            compact=True,
            classes="formula-only",
        )
        yield Input(
            placeholder="formula, e.g. x**2 + 10*y**2",
            id="expression",
            compact=True,
            classes="formula-only",
        )
        yield Static("", id="expression-error", classes="error formula-only")
        for setting, label in (("dataset", "data set"), ("model", "model"), ("loss_fn", "loss")):
            yield Label(label, classes="model-only")
            yield GuardedSelect(
                [], id=f"{setting}-choice", allow_blank=True, compact=True, classes="model-only"
            )
            yield Static("", id=f"{setting}-error", classes="error model-only")
        yield Label("batch size (full or a number)", classes="model-only")
        yield Input(placeholder="full", id="batch_size-field", compact=True, classes="model-only")
        yield Static("", id="batch_size-error", classes="error model-only")
        yield Label("optimizer")
        yield Select([], id="optimizer", allow_blank=True, prompt="loading…", compact=True)
        yield Label("learning rate (enter applies)")
        yield Input(placeholder="e.g. 0.1", id="lr", compact=True)
        yield Static("", id="lr-error", classes="error")
        yield Label("lr schedule")
        yield GuardedSelect(
            [("none", NO_SCHEDULE)],
            id="schedule",
            value=NO_SCHEDULE,
            allow_blank=False,
            compact=True,
        )
        yield Input(
            placeholder="its arguments, e.g. T_max=200",
            id="schedule-args",
            compact=True,
        )
        yield Static("", id="schedule-error", classes="error")
        yield VerticalScroll(id="hyper")
        yield Label("speed")
        yield GuardedSelect(
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
        """Title the panel (and stop the fields' cursors blinking, if asked)."""
        self.border_title = "Controls"
        self.border_subtitle = "c hides"
        for field in self.query(Input):
            field.cursor_blink = self.cursor_blink

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
        schedules = [NO_SCHEDULE, *(name for name, _ in catalog.schedules)]
        self._choices["schedule"] = schedules
        with self.prevent(Select.Changed):
            self.query_one("#schedule", Select).set_options([(n, n) for n in schedules])
        for setting, names in (
            ("dataset", catalog.datasets),
            ("model", catalog.model_kinds),
            ("loss_fn", catalog.loss_fns),
        ):
            self._choices[setting] = list(names)
            self.query_one(f"#{setting}-choice", Select).set_options([(n, n) for n in names])

    def show_run(self, info: RunInfo) -> None:
        """Show a fresh run's settings (without sending change events back)."""
        with self.prevent(Select.Changed, Input.Changed):
            problem = self.query_one("#problem", Select)
            if info.model is not None:  # a model: no formula, the problem list is hidden
                problem.clear()
            else:
                problem.value = EXPRESSION if info.is_expression else info.problem
            expression = self.query_one("#expression", Input)
            expression.value = info.expression if info.is_expression else ""
            self.query_one("#optimizer", Select).value = info.optimizer
            self.show_lr(info.lr)
        self.show_schedule(info)
        self.query_one("#expression-error", Static).update("")
        self.set_class(info.model is not None, "-model")
        if info.model is not None:
            self.show_model(info.model)
            for setting in ("dataset", "model", "loss_fn", "batch_size"):
                self.show_setting_error(setting, "")
        self._build_hyper(info.hyper)

    def show_model(self, model: ModelInfo) -> None:
        """Show a model run's data set, model kind, loss function and batch size (a refused
        choice goes back to the one in use)."""
        with self.prevent(Select.Changed, Input.Changed):
            for setting, value in (
                ("dataset", model.dataset),
                ("model", model.kind),
                ("loss_fn", model.loss_fn),
            ):
                select = self.query_one(f"#{setting}-choice", Select)
                options = self._choices.setdefault(setting, [])
                if value not in options:  # e.g. the name of a CSV file
                    options.append(value)
                    select.set_options([(n, n) for n in options])
                select.value = value
            self.query_one("#batch_size-field", Input).value = model.batch_text

    def show_schedule(self, info: RunInfo, *, keep_args: bool = False) -> None:
        """Show the run's schedule and the arguments given for it (no change events sent);
        ``keep_args`` leaves the arguments as typed (a refused one, to be corrected)."""
        with self.prevent(Select.Changed, Input.Changed):
            select = self.query_one("#schedule", Select)
            name = info.schedule or NO_SCHEDULE
            known = self._choices.setdefault("schedule", [NO_SCHEDULE])
            if name not in known:  # shown before the catalog came
                known.append(name)
                select.set_options([(n, n) for n in known])
            select.value = name
            if not keep_args:
                self.query_one("#schedule-args", Input).value = " ".join(
                    f"{key}={format_value(value)}" for key, value in info.schedule_args.items()
                )
        self.show_schedule_error("")

    def show_schedule_error(self, message: str) -> None:
        """Show under the schedule why it was refused (empty: no error)."""
        self.query_one("#schedule-error", Static).update(Text(message))
        self.query_one("#schedule-args", Input).set_class(bool(message), "-invalid")

    def show_setting_error(self, setting: str, message: str) -> None:
        """Show under a model setting why the choice was refused (empty: no error)."""
        error = self.query_one(f"#{setting}-error", Static)
        error.update(Text(message))
        error.display = bool(message)
        if setting == "batch_size":
            self.query_one("#batch_size-field", Input).set_class(bool(message), "-invalid")

    @property
    def lr_focused(self) -> bool:
        """The learning-rate field has the focus (the user may be typing in it)."""
        return self.query_one("#lr", Input).has_focus

    def next_speed(self) -> None:
        """Pick the next speed (posts :class:`SpeedChosen`, as picking it with the mouse does)."""
        self.query_one("#speed", Select).value = (self.speed_index + 1) % len(SPEEDS)

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

    def _hyper_values(self) -> dict[str, Any]:
        out = {}
        for field in self.query(".hyper-input").results(Input):
            out[field.name or ""] = parse_value(field.value)
        return out

    # -- what the user did, said with the panel's own messages ----------------------------------

    @on(Input.Changed, "#lr")
    def _lr_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.LrEdited(self, event.value))

    @on(Input.Submitted, "#lr")
    def _lr_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.LrSubmitted(self, event.value))

    @on(Input.Submitted, "#expression")
    def _expression_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.post_message(self.ExpressionSubmitted(self, event.value))

    @on(Input.Submitted, ".hyper-input")
    def _hyper_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.HyperSubmitted(self, self._hyper_values()))

    @on(Select.Changed, "#problem")
    def _problem_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value == EXPRESSION:
            self.query_one("#expression", Input).focus()
        elif isinstance(event.value, str):
            self.post_message(self.ProblemChosen(self, event.value))

    @on(Select.Changed, "#optimizer")
    def _optimizer_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.post_message(self.OptimizerChosen(self, event.value))

    @on(Select.Changed, ".model-only")
    def _model_setting_changed(self, event: Select.Changed) -> None:
        event.stop()
        setting = (event.select.id or "").removesuffix("-choice")
        if isinstance(event.value, str):
            self.post_message(self.ModelSettingChosen(self, setting, event.value))

    @on(Input.Submitted, "#batch_size-field")
    def _batch_size_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.ModelSettingChosen(self, "batch_size", event.value.strip()))

    @on(Select.Changed, "#schedule")
    def _schedule_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, str):
            return
        with self.prevent(Input.Changed):  # a new schedule starts from its own defaults
            self.query_one("#schedule-args", Input).value = ""
        name = None if event.value == NO_SCHEDULE else event.value
        self.post_message(self.ScheduleChosen(self, name, {}))

    @on(Input.Submitted, "#schedule-args")
    def _schedule_args_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = self.query_one("#schedule", Select).value
        name = value if isinstance(value, str) and value != NO_SCHEDULE else None
        try:
            args = parse_schedule_args(event.value)
        except ValueError as err:
            self.show_schedule_error(str(err))
            return
        if name is None and args:
            self.show_schedule_error("pick a schedule first; its arguments go here")
            return
        self.post_message(self.ScheduleChosen(self, name, args))

    @on(Select.Changed, "#speed")
    def _speed_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, int) and event.value != self.speed_index:
            self.speed_index = event.value
            self.post_message(self.SpeedChosen(self, event.value, SPEEDS[event.value][1]))

    @on(Button.Pressed, "#toggle")
    def _toggle_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.ToggleRequested(self))

    @on(Button.Pressed, "#step")
    def _step_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.StepRequested(self))

    @on(Button.Pressed, "#reset")
    def _reset_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.ResetRequested(self))

    def _build_hyper(self, hyper: dict[str, Any]) -> None:
        box = self.query_one("#hyper", VerticalScroll)
        box.remove_children()
        rows = []
        for key, value in hyper.items():
            field = Input(format_value(value), name=key, classes="hyper-input", compact=True)
            field.cursor_blink = self.cursor_blink
            rows.append(Horizontal(Label(key), field, classes="hyper-row"))
        if rows:
            box.mount_all(rows)
        box.styles.height = "auto"
        box.styles.max_height = 10
