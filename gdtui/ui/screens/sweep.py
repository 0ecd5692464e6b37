"""The learning-rate sweep screen: one run per rate of the current scenario, all at once.

The sweep itself is the engine's (:func:`gdtui.engine.sweep.sweep`), run in a thread worker of
this screen (torch is imported there, never on the UI thread); it talks back only through its
own messages: :class:`SweepScreen.Progressed` feeds the progress bar (replaceable),
:class:`SweepScreen.Finished` brings the result, :class:`SweepScreen.Failed` one line of why not.
The screen draws final and best loss against the rate (:mod:`gdtui.ui.widgets.sweep_plot`), the
measured edge, the theoretical bound with its formula and the suggested rate with its rule. ``a``
posts :class:`SweepScreen.LrChosen` to the app, which sets the main run's learning rate; esc or
``q`` cancels a sweep that is still running and closes the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, ProgressBar, Static
from textual.worker import Worker, get_current_worker

from gdtui.safetext import visible
from gdtui.settings import (
    MODEL_SWEEP_RATES,
    SWEEP_RATES,
    SettingError,
    check_steps,
    parse_lr,
    shown,
)
from gdtui.ui.format import num
from gdtui.ui.messages import InternalError
from gdtui.ui.widgets.sweep_plot import (
    BEST_MARK,
    BOUND_MARK,
    EDGE_MARK,
    MARKERS,
    SUGGESTED_MARK,
    SweepPlot,
)

if TYPE_CHECKING:  # torch loads in the worker
    from gdtui.engine.sweep import SweepResult
    from gdtui.scenario import Scenario

__all__ = ["MAX_RATES", "SweepScreen", "SweepSettings", "check_settings", "default_settings"]

MAX_RATES = 256
"""The most rates one sweep takes in the app (the plot has no more columns than that)."""

_STYLES = {"converged": "green", "descending": "cyan", "oscillating": "yellow", "diverged": "red"}
_FIELDS = ("lr-min", "lr-max", "num", "steps")
_LABELS = {"lr-min": "lr min", "lr-max": "lr max", "num": "rates", "steps": "steps"}


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep runs: ``num`` rates log-spaced from ``lr_min`` to ``lr_max``, ``steps`` each."""

    lr_min: float
    lr_max: float
    num: int
    steps: int


def default_settings(scenario: Scenario) -> SweepSettings:
    """The CLI's range (1e-4 to 1; 64 rates, 16 for a model), widened to hold 100× below and
    10× above the scenario's rate; the scenario's step budget."""
    lr = scenario.effective_lr
    num = MODEL_SWEEP_RATES if scenario.is_model else SWEEP_RATES
    return SweepSettings(min(1e-4, lr / 100), max(1.0, lr * 10), num, scenario.steps)


def check_settings(texts: dict[str, str]) -> tuple[SweepSettings | None, dict[str, str]]:
    """The settings typed in the fields (keyed ``lr-min``, ``lr-max``, ``num``, ``steps``), or
    None and one message per field that is wrong (torch-free, the CLI's rules)."""
    problems: dict[str, str] = {}
    values: dict[str, float | int] = {}
    for key in ("lr-min", "lr-max"):
        try:
            values[key] = parse_lr(texts.get(key, ""))
        except SettingError as err:
            problems[key] = f"{_LABELS[key]}: {err}"
    if not problems and values["lr-min"] >= values["lr-max"]:
        problems["lr-max"] = (
            f"lr min ({values['lr-min']:g}) must be below lr max ({values['lr-max']:g})"
        )
    try:
        rates = check_steps(texts.get("num", ""), minimum=2)
        if rates > MAX_RATES:
            raise SettingError
        values["num"] = rates
    except SettingError:
        got = shown(texts.get("num", ""))
        problems["num"] = f"rates must be a whole number from 2 to {MAX_RATES}, got {got}"
    try:
        values["steps"] = check_steps(texts.get("steps", ""))
    except SettingError as err:
        problems["steps"] = str(err)
    if problems:
        return None, problems
    return (
        SweepSettings(
            float(values["lr-min"]),
            float(values["lr-max"]),
            int(values["num"]),
            int(values["steps"]),
        ),
        {},
    )


class SweepScreen(Screen[None]):
    """A learning-rate sweep of ``scenario``'s problem, optimizer, hyper-parameters and start.

    Args:
        scenario: the main run's scenario as it stands (its learning rate included).
        settings: the first sweep's range (default: :func:`default_settings`).
        deterministic: no cursor blink (snapshots).
        autostart: start the first sweep on mount.
    """

    DEFAULT_CSS = """
    SweepScreen { layout: vertical; }
    SweepScreen #sweep-title { height: 1; padding: 0 1; background: $panel; }
    SweepScreen #sweep-fields { height: 1; padding: 0 1; }
    SweepScreen #sweep-fields Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    SweepScreen #sweep-fields Input { width: 10; margin: 0 2 0 0; }
    SweepScreen #sweep-fields #num { width: 6; }
    SweepScreen #sweep-fields #steps { width: 8; }
    SweepScreen #sweep-fields Input.-invalid { color: $error; text-style: bold; }
    SweepScreen #sweep-error { height: auto; padding: 0 1; color: $error; display: none; }
    SweepScreen #sweep-error.-shown { display: block; }
    SweepScreen #sweep-run { height: 1; padding: 0 1; }
    SweepScreen #sweep-progress { width: auto; margin: 0 2 0 0; }
    SweepScreen #sweep-state { width: 1fr; }
    SweepScreen #sweep-plot { height: 1fr; min-height: 6; }
    SweepScreen #sweep-summary { height: auto; padding: 0 1; }
    """

    AUTO_FOCUS = ""  # no field focused: the keys below work at once; tab goes to the fields
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "escape", "close"),
        Binding("q", "close", "close", show=False),
        Binding("a", "apply", "apply suggested lr"),
        Binding("tab", "app.focus_next", "edit range"),
        Binding("enter", "run", "sweep again", show=False),
    ]

    @dataclass
    class Progressed(Message):
        """``done`` of ``total`` steps of sweep number ``sweep`` are taken (replaceable)."""

        sweep: int
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            """A newer count makes an older one pointless."""
            return isinstance(message, SweepScreen.Progressed)

    @dataclass
    class Finished(Message):
        """Sweep number ``sweep`` is done: its result and the problem's known minimum loss."""

        sweep: int
        result: SweepResult
        min_value: float | None

    @dataclass
    class Failed(Message):
        """Sweep number ``sweep`` could not run: one line of why."""

        sweep: int
        text: str

    @dataclass
    class LrChosen(Message):
        """Set the main run's learning rate to ``lr`` (the sweep's suggestion, by ``rule``)."""

        lr: float
        rule: str

    def __init__(
        self,
        scenario: Scenario,
        settings: SweepSettings | None = None,
        *,
        deterministic: bool = False,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.settings = settings or default_settings(scenario)
        """The settings of the sweep running or shown."""
        self.deterministic = deterministic
        self.autostart = autostart
        self.result: SweepResult | None = None
        """The finished sweep shown (None while running, cancelled or failed)."""
        self.error: str = ""
        """Why the last sweep could not run ("" when it could)."""
        self.worker: Worker[None] | None = None
        """The thread running the sweep (the last one started)."""
        self.ended: tuple[int, int, int] | None = None
        """Set by the thread when a sweep's loop returns: (sweep number, steps done, steps);
        fewer steps than asked when it was cancelled."""
        self._sweep_number = 0

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Title, the four fields, the progress bar, the plot, the legend and the verdict."""
        yield Static(self._title(), id="sweep-title")
        values = {
            "lr-min": f"{self.settings.lr_min:g}",
            "lr-max": f"{self.settings.lr_max:g}",
            "num": str(self.settings.num),
            "steps": str(self.settings.steps),
        }
        with Horizontal(id="sweep-fields"):
            for key in _FIELDS:
                yield Label(_LABELS[key])
                field = Input(values[key], id=key, compact=True)
                field.cursor_blink = not self.deterministic
                yield field
        yield Static("", id="sweep-error")
        with Horizontal(id="sweep-run"):
            yield ProgressBar(total=self.settings.steps, show_eta=False, id="sweep-progress")
            yield Static("", id="sweep-state")
        yield SweepPlot(id="sweep-plot")
        yield Static("", id="sweep-summary")
        yield Footer()

    def _title(self) -> Text:
        scenario = self.scenario
        hyper = ", ".join(f"{k} {v}" for k, v in scenario.hyper.items())
        optimizer = f"{scenario.optimizer} ({hyper})" if hyper else scenario.optimizer
        what = scenario.expression or scenario.loss or ""
        if scenario.is_model:  # a model trained on data: the data set (one run per rate)
            what = f"{(scenario.data or {}).get('name', 'data')} · one training run per rate"
        return Text.assemble(
            ("sweep", "bold"),
            # The scenario's name is a file's: controls made visible (safetext).
            visible(
                f" · main run lr {num(scenario.effective_lr)} · {scenario.name} · {what} · "
                f"{optimizer}"
            ),
            no_wrap=True,
            overflow="ellipsis",
        )

    def on_mount(self) -> None:
        """Start the first sweep."""
        if self.autostart:
            self.start(self.settings)

    # -- running -----------------------------------------------------------------------------

    def start(self, settings: SweepSettings) -> None:
        """Run a sweep with ``settings`` (a running one is cancelled)."""
        self.settings = settings
        self.result = None
        self.error = ""
        self._sweep_number += 1
        self.query_one(ProgressBar).update(total=settings.steps, progress=0)
        self._state(f"sweeping {settings.num} rates × {settings.steps} steps…")
        self.query_one(SweepPlot).show_note("sweeping…")
        self.query_one("#sweep-summary", Static).update("")
        self.worker = self.run_sweep(self._sweep_number, settings)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep")
    def run_sweep(self, number: int, settings: SweepSettings) -> None:
        """The sweep thread: torch and the engine load here; results go back as messages."""
        worker = get_current_worker()
        try:
            from gdtui.engine import USER_ERRORS
            from gdtui.engine.sweep import SweepError, sweep, sweep_model
            from gdtui.scenario import ScenarioError

            user_errors = (*USER_ERRORS, SweepError, ScenarioError)
        except Exception as err:  # a broken install: say so, never hang on "sweeping…"
            self._report_bug(number, err)
            return
        try:
            scenario = self.scenario
            common = {
                "lr_min": settings.lr_min,
                "lr_max": settings.lr_max,
                "num": settings.num,
                "steps": settings.steps,
                "progress": lambda done, total: self.post_message(
                    self.Progressed(number, done, total)
                ),
                "cancelled": lambda: worker.is_cancelled,
            }
            if scenario.is_model:  # one real training run per rate, from the same start
                min_value = None
                result = sweep_model(scenario.build_run(max_steps=settings.steps), **common)
            else:
                problem = scenario.problem()
                min_value = problem.min_value
                result = sweep(
                    problem,
                    scenario.optimizer,
                    hyper=scenario.hyper,
                    dtype=scenario.dtype,
                    device="cpu" if scenario.device == "auto" else scenario.device,
                    **common,
                )
        except user_errors as err:
            text = str(err).strip().splitlines()
            self.post_message(self.Failed(number, text[0] if text else type(err).__name__))
            return
        except Exception as err:  # a bug: one line here, the traceback to the app's log
            self._report_bug(number, err)
            return
        self.ended = (number, result.steps_done, settings.steps)
        if not worker.is_cancelled:
            self.post_message(self.Finished(number, result, min_value))

    def _report_bug(self, number: int, err: Exception) -> None:
        # Out of memory or a device error: named, not called a bug.
        bug = f"the sweep failed: {type(err).__name__}: {str(err).strip()[:200]}"
        message = InternalError.of(err, bug)
        self.post_message(self.Failed(number, message.summary))
        self.app.post_message(message)

    def on_sweep_screen_progressed(self, message: Progressed) -> None:
        """Move the progress bar."""
        if message.sweep == self._sweep_number:
            self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_sweep_screen_finished(self, message: Finished) -> None:
        """Draw the result."""
        if message.sweep != self._sweep_number:
            return
        result = self.result = message.result
        self.query_one(ProgressBar).update(total=result.steps, progress=result.steps_done)
        counts = "  ".join(
            f"{mark} {result.status.count(status)}"
            for status, mark in MARKERS.items()
            if result.status.count(status)
        )
        self._state(f"{len(result.lrs)} rates × {result.steps_done} steps: {counts}")
        self.query_one(SweepPlot).show_result(result, message.min_value)
        self.query_one("#sweep-summary", Static).update(self.summary(result))

    def on_sweep_screen_failed(self, message: Failed) -> None:
        """Say why there is no sweep to show."""
        if message.sweep != self._sweep_number:
            return
        self.error = message.text
        self._state("no sweep", error=True)
        self.query_one(SweepPlot).show_note(message.text)

    def _state(self, text: str, *, error: bool = False) -> None:
        self.query_one("#sweep-state", Static).update(
            Text(text, style="bold red" if error else "", no_wrap=True, overflow="ellipsis")
        )

    def summary(self, result: SweepResult) -> Text:
        """The legend, the edge, the bound with its formula and the suggested rate with its rule."""
        out = Text()
        for status, mark in MARKERS.items():
            out.append(mark, style=f"bold {_STYLES[status]}")
            out.append(f" {status}  ")
        out.append(BEST_MARK, style="dim")
        out.append(" best loss\n")
        lo, hi = result.lrs[0], result.lrs[-1]

        def outside(value: float) -> str:
            return "" if lo <= value <= hi else " (outside the swept range)"

        out.append(f"{EDGE_MARK} edge      ", style="bold red")
        if result.edge is None:
            out.append("none: the largest rate still makes progress\n")
        else:
            out.append(num(result.edge), style="bold")
            out.append(" — from here on no rate makes progress\n")
        out.append(f"{BOUND_MARK} bound     ", style="bold magenta")
        if result.bound is None:
            out.append(f"none — {result.bound_formula}\n")
        else:
            out.append(num(result.bound), style="bold")
            out.append(f"{outside(result.bound)} — {result.bound_formula}\n")
        out.append(f"{SUGGESTED_MARK} suggested ", style="bold green")
        if result.suggested is None:
            out.append(f"none — {result.rule}")
        else:
            out.append(num(result.suggested), style="bold")
            out.append(f" — {result.rule} · ")
            out.append("a", style="bold")
            out.append(" applies it")
        return out

    # -- the fields --------------------------------------------------------------------------

    def field_texts(self) -> dict[str, str]:
        """What the four fields hold now."""
        return {key: self.query_one(f"#{key}", Input).value for key in _FIELDS}

    def _check_fields(self) -> SweepSettings | None:
        settings, problems = check_settings(self.field_texts())
        for key in _FIELDS:
            self.query_one(f"#{key}", Input).set_class(key in problems, "-invalid")
        error = self.query_one("#sweep-error", Static)
        error.update(Text("\n".join(visible(problems[k]) for k in _FIELDS if k in problems)))
        error.set_class(bool(problems), "-shown")
        return settings

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        """Check as you type: the message under the fields, nothing run yet."""
        event.stop()
        self._check_fields()

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field runs the sweep, if every field is right."""
        event.stop()
        self.action_run()

    # -- actions -----------------------------------------------------------------------------

    def action_run(self) -> None:
        """Sweep again with the fields' settings (refused, with the reason shown, if wrong)."""
        settings = self._check_fields()
        if settings is not None:
            self.start(settings)

    def action_escape(self) -> None:
        """Leave a field; elsewhere, close (cancelling a running sweep)."""
        if isinstance(self.focused, Input):
            self.set_focus(None)
        else:
            self.action_close()

    def action_close(self) -> None:
        """Cancel a running sweep and go back to the main run."""
        self.workers.cancel_group(self, "sweep")
        self.dismiss()

    def action_apply(self) -> None:
        """Set the main run's learning rate to the suggested one and go back."""
        result = self.result
        if result is None or result.suggested is None:
            why = "the sweep is still running" if self.worker and self.worker.is_running else ""
            if result is not None:
                why = result.rule
            self._state(f"nothing to apply: {why or 'no sweep finished'}", error=True)
            return
        self.app.post_message(self.LrChosen(result.suggested, result.rule))
        self.workers.cancel_group(self, "sweep")
        self.dismiss()
