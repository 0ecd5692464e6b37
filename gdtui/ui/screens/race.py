"""The race screen: several runs on one problem, stepped together in their own worker.

Overlaid loss curves (:class:`~gdtui.ui.widgets.race_plot.RacePlot`), the paths on the landscape
(:class:`~gdtui.ui.widgets.race_paths.RacePaths`) and the engine's table
(:class:`~gdtui.ui.widgets.race_table.RaceTable`). Keys: space run / pause, n one step, r reset,
a add a contender (optimizer, lr, hyper-parameters, label, a model's batch size; checked
inline), d remove the selected one, ↑ ↓ select, f speed, t the tolerance of steps-to-tolerance
(checked inline; the table recounts at once), esc back to the main screen. A race of models (a
scenario on ``[data]``) has loss curves and the table, no landscape. A
:class:`~gdtui.ui.race_worker.RaceLoop` owns the race and torch; this screen only draws what it
sends, at most three times a second and only when something changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from gdtui.safetext import visible
from gdtui.settings import SettingError, check_tolerance, parse_lr
from gdtui.ui import commands as cmd
from gdtui.ui.messages import Notice, Surface
from gdtui.ui.race_worker import (
    AddContender,
    ContenderAnswer,
    RaceFailed,
    RaceFileError,
    RaceInfo,
    RaceLoop,
    RaceProgress,
    RaceSnapshot,
    RaceStarted,
    RaceSurface,
    RemoveContender,
    SetTolerance,
    parse_hyper,
)
from gdtui.ui.widgets.controls import SPEEDS
from gdtui.ui.widgets.race_paths import PathLine, RacePaths
from gdtui.ui.widgets.race_plot import Curve, RacePlot
from gdtui.ui.widgets.race_table import RaceTable

if TYPE_CHECKING:
    from gdtui.scenario import Scenario

REFRESH_HZ = 3  # at most three pictures a second, and only when something changed
RACE_KEYS = (
    "Race keys: space run / pause, n one step, r reset, a add a contender (enter adds, esc "
    "closes the form), d remove the selected one, ↑ ↓ select, f speed, t tolerance, esc back to "
    "the run."
)


class RaceScreen(Screen[None]):
    """A race of up to six runs on one problem.

    Args:
        setup: a resolved Scenario (problem and shared settings), or a scenario file with
            ``[[race]]`` entries.
        entries: the contenders (``[[race]]`` tables); None with a file: the file's.
        speed: rounds per second while running (None: as fast as it goes).
        initial_steps: rounds taken before the first picture (tests, screenshots).
        autostart: start running at once.
        deterministic: no cursor blink (snapshots).
    """

    CSS_PATH = "race.tcss"
    AUTO_FOCUS = None  # keys go to the race until the form is opened
    BINDINGS = [
        Binding("space", "toggle", "run/pause"),
        Binding("n", "step", "step"),
        Binding("r", "reset", "reset"),
        Binding("a", "add", "add"),
        Binding("d,delete", "remove", "remove"),
        Binding("up,k", "select(-1)", "select", show=False),
        Binding("down,j", "select(1)", "select", show=False),
        Binding("f", "speed", "speed", show=False),
        Binding("t", "tolerance", "tolerance", show=False),
        Binding("escape", "back", "back"),
        Binding("question_mark", "help", "help", key_display="?"),
    ]

    def __init__(
        self,
        setup: Scenario | str | Path,
        entries: Sequence[Mapping[str, Any]] | None = None,
        *,
        speed: float | None = None,
        initial_steps: int = 0,
        autostart: bool = False,
        deterministic: bool = False,
    ) -> None:
        super().__init__()
        self.loop = RaceLoop(
            self.post_message,
            setup,
            entries,
            speed=speed,
            initial_steps=initial_steps,
            autostart=autostart,
        )
        self.initial_steps = initial_steps
        self.deterministic = deterministic
        self.tolerance = self.loop.tolerance
        """The tolerance of steps-to-tolerance, as last sent to the race."""
        self.speed_index = next(
            (i for i, (_, s) in enumerate(SPEEDS) if s == speed), len(SPEEDS) - 1
        )
        self.info: RaceInfo | None = None
        """The race's facts (None until the worker has built it)."""
        self.snapshot: RaceSnapshot | None = None
        """The newest picture of the race from the worker."""
        self.surface: Surface | None = None
        self.failure: str | None = None
        """Why the race could not be built (a bad file or entry)."""
        self.add_error: str = ""
        """Why the last contender was refused ("" when it was added)."""
        self.notice: str = ""
        self.selected = 0
        self._dirty = True
        self._width_sent = 0
        self._grid_sent: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        """Plots side by side, the table, the add form (hidden), the error and status lines."""
        with Horizontal(id="race-plots"):
            yield RacePlot(id="race-loss")
            yield RacePaths(id="race-paths")
        yield RaceTable(id="race-table")
        with Vertical(id="race-form"):
            with Horizontal():
                yield Label("optimizer")
                yield Select([], id="race-optimizer", allow_blank=True, compact=True)
                yield Label("lr")
                yield Input(placeholder="default", id="race-lr", compact=True)
                yield Label("label")
                yield Input(placeholder="auto", id="race-label", compact=True)
            with Horizontal():
                yield Label("hyper")
                yield Input(
                    placeholder="momentum=0.9 betas=0.9,0.99", id="race-hyper", compact=True
                )
                yield Label("batch", id="race-batch-label")
                yield Input(placeholder="as the scenario", id="race-batch", compact=True)
                yield Button("add", id="race-add", compact=True)
        with Horizontal(id="race-tolerance-form"):
            yield Label("tolerance")
            yield Input(id="race-tolerance", compact=True)
            yield Static("", id="race-criterion")
        yield Static("", id="race-error")
        yield Static("", id="race-status")
        yield Footer()

    def on_mount(self) -> None:
        """Titles, then the worker; the timer draws."""
        self.query_one("#race-loss").border_title = "race · loss"
        self.query_one("#race-paths").border_title = "paths"
        for field in self.query(Input).results(Input):
            field.cursor_blink = not self.deterministic
        self._show_form(False)
        self._show_tolerance_form(False)
        self._show_error("")
        self._show_status()
        self.set_interval(1 / REFRESH_HZ, self._tick)
        self.run_race()
        self.call_after_refresh(self._send_sizes)

    @work(thread=True, exclusive=True, group="race", exit_on_error=False)
    def run_race(self) -> None:
        """The race thread: the only place torch runs for this screen."""
        worker = get_current_worker()
        self.loop.run(lambda: worker.is_cancelled)

    def on_unmount(self) -> None:
        """Stop the race thread."""
        self.loop.send(cmd.Quit())

    # -- sizes ------------------------------------------------------------------------------------

    def _send_sizes(self) -> None:
        try:
            plot = self.query_one(RacePlot)
            paths = self.query_one(RacePaths)
        except NoMatches:
            return
        if plot.size.width > 0:
            width = max(8, plot.size.width - 6)
            if width != self._width_sent:
                self._width_sent = width
                self.loop.send(cmd.SetViewWidth(width))
        if paths.size.width > 0:
            grid = paths.grid_size()
            if grid != self._grid_sent:
                self._grid_sent = grid
                self.loop.send(cmd.SetGrid(*grid))

    # -- messages from the worker -------------------------------------------------------------------

    def on_race_started(self, message: RaceStarted) -> None:
        """A fresh race: its facts, the optimizers for the form, a new landscape."""
        info = message.info
        fresh = self.info is None or info.problem != self.info.problem
        self.info = info
        self.snapshot = None
        self.failure = None
        self.surface = message.surface
        self.query_one(RacePlot).reset_axes()
        select = self.query_one("#race-optimizer", Select)
        if fresh:
            select.set_options([(name, name) for name in info.optimizers])
            if "adam" in info.optimizers:
                select.value = "adam"
        # The title and formula come from the file: controls made visible (safetext).
        self.query_one(RacePlot).border_subtitle = Text(visible(f"{info.problem} · {info.title}"))
        paths = self.query_one(RacePaths)
        paths.border_subtitle = Text(visible(info.expression))
        paths.display = not info.is_model  # a model has no landscape: the curves take the row
        for widget in self.query("#race-batch-label, #race-batch"):
            widget.display = info.is_model  # mini-batches are a model's
        self._dirty = True

    def on_race_surface(self, message: RaceSurface) -> None:
        """The landscape grid at the paths widget's size."""
        if self.info is not None and message.generation == self.info.generation:
            self.surface = message.surface
            self._dirty = True

    def on_race_progress(self, message: RaceProgress) -> None:
        """Keep the newest picture; the tick draws it."""
        if self.info is None or message.snapshot.generation != self.info.generation:
            return
        self.snapshot = message.snapshot
        count = len(self.snapshot.rows)
        self.selected = min(self.selected, max(count - 1, 0))
        self._dirty = True

    def on_race_failed(self, message: RaceFailed) -> None:
        """The race could not be built: say why where the table would be."""
        self.failure = message.text
        self._show_error(message.text)
        self._dirty = True

    def on_contender_answer(self, message: ContenderAnswer) -> None:
        """The worker's verdict on a new contender: the error inline, or close the form."""
        self._show_add_error(message.error)
        if not message.error:
            self.notice = f"added '{message.label}'"
            self.query_one("#race-label", Input).value = ""
            self._show_form(False)
        self._dirty = True

    def on_notice(self, message: Notice) -> None:
        """A one-line message from the worker: on the status line (it goes on to the app)."""
        self.notice = message.text
        self._dirty = True

    def _show_add_error(self, error: str) -> None:
        self.add_error = error
        self._show_error(error)

    def _show_error(self, text: str) -> None:
        line = self.query_one("#race-error", Static)
        line.update(Text(visible(text, 400)))
        line.display = bool(text)

    def _show_tolerance_form(self, shown: bool) -> None:
        """Show the tolerance field (with the race's tolerance in it), or hide it."""
        self.set_class(shown, "-tolerance")
        form = self.query_one("#race-tolerance-form")
        form.disabled = not shown
        if shown:
            field = self.query_one("#race-tolerance", Input)
            field.value = f"{self.tolerance:g}"
            snap = self.snapshot
            words = snap.criterion if snap is not None else ""
            self.query_one("#race-criterion", Static).update(Text(f"  to tol: {words}"))
            field.focus()
        else:
            self.set_focus(None)

    def _show_form(self, shown: bool) -> None:
        """Show the add form (and focus its rate), or hide it and give the keys back."""
        self.set_class(shown, "-adding")
        form = self.query_one("#race-form")
        form.disabled = not shown  # hidden fields must not take focus or keys
        if shown:
            self.query_one("#race-lr", Input).focus()
        else:
            self.set_focus(None)

    # -- drawing ------------------------------------------------------------------------------------

    def _tick(self) -> None:
        try:
            self._send_sizes()
            if not self._dirty:
                return
            self._dirty = False
            with self.app.batch_update():
                self.redraw()
        except NoMatches:
            pass  # the screen is being torn down

    def redraw(self) -> None:
        """Draw the newest picture in every widget."""
        self._show_status()
        info, snap = self.info, self.snapshot
        if info is None or snap is None:
            return
        slots = {c.label: c.slot for c in snap.contenders}
        curves = [Curve(c.label, c.slot, c.view.step, c.view.loss) for c in snap.contenders]
        self.query_one(RacePlot).show(curves, info.min_value)
        lines = [PathLine(c.slot, c.path, c.current) for c in snap.contenders]
        self.query_one(RacePaths).show(self.surface, lines, info.init)
        table = self.query_one(RaceTable)
        table.styles.height = max(len(snap.rows), 1) + 2
        table.show(snap.rows, slots, self.selected if snap.rows else None, snap.criterion)

    def _show_status(self) -> None:
        snap = self.snapshot
        if self.failure is not None:
            text = "the race could not start — esc goes back"
        elif snap is None:
            text = "loading the race…"
        else:
            state = "running" if snap.playing else "paused"
            runs = len(snap.rows)
            text = f"step {snap.step} · {state} · {runs} run{'s' if runs != 1 else ''}"
            text += f" · {SPEEDS[self.speed_index][0]}"
            if self.notice:
                text += f" · {self.notice}"
        self.query_one("#race-status", Static).update(Text(visible(text, 400)))

    def request_redraw(self) -> None:
        """Draw now (not on the next tick)."""
        self._dirty = True
        self._tick()

    def drawn(self, step: int) -> bool:
        """The race is at ``step`` (or stopped) and drawn at the current size (tests)."""
        if self.failure is not None:
            return True
        info, snap = self.info, self.snapshot
        if info is None or snap is None:
            return False
        at_step = snap.step == step or all(row.status != "running" for row in snap.rows)
        paths = self.query_one(RacePaths)
        surface = self.surface
        grid = paths.grid_size()
        surface_ok = len(info.param_names) not in (1, 2) or (
            surface is not None
            and len(surface.x) == grid[0]
            and (surface.y is None or len(surface.y) == grid[1])
        )
        width_ok = snap.view_width == self._width_sent
        return at_step and surface_ok and width_ok

    # -- actions ------------------------------------------------------------------------------------

    def action_toggle(self) -> None:
        """Run or pause the race."""
        self.notice = ""
        self.loop.send(cmd.Toggle())

    def action_step(self) -> None:
        """Every contender one step."""
        self.notice = ""
        self.loop.send(cmd.Step(1))

    def action_reset(self) -> None:
        """Every contender back to the start, same settings."""
        self.notice = ""
        self.loop.send(cmd.Reset())

    def action_speed(self) -> None:
        """Next speed: 1, 10, 100 rounds/s, as fast as it goes."""
        self.speed_index = (self.speed_index + 1) % len(SPEEDS)
        self.loop.send(cmd.SetSpeed(SPEEDS[self.speed_index][1]))
        self._dirty = True

    def action_select(self, delta: int) -> None:
        """Move the selection in the table."""
        count = len(self.snapshot.rows) if self.snapshot else 0
        if count:
            self.selected = (self.selected + delta) % count
            self._dirty = True

    def action_remove(self) -> None:
        """Take the selected contender out of the race."""
        snap = self.snapshot
        if snap is None or not snap.rows:
            return
        self.loop.send(RemoveContender(snap.rows[self.selected].label))

    def action_add(self) -> None:
        """Show the form for a new contender."""
        self._show_form(True)

    def action_help(self) -> None:
        """The race's own words (the file's description) and its keys."""
        from gdtui.ui.screens.help import HelpScreen

        info = self.info
        title = info.title if info is not None else "race"
        words = info.description if info is not None else ""
        self.app.push_screen(HelpScreen((f"Race · {title}", f"{words} {RACE_KEYS}".strip())))

    def action_tolerance(self) -> None:
        """Show the field for the tolerance of steps-to-tolerance."""
        if not self.has_class("-adding"):
            self._show_tolerance_form(True)

    def action_back(self) -> None:
        """Leave the form, else go back to the main screen."""
        if self.has_class("-tolerance"):
            self._show_tolerance_form(False)
            self._show_error("")
        elif self.has_class("-adding"):
            self._show_form(False)
            self._show_add_error("")
        else:
            self.dismiss()

    # -- the form -----------------------------------------------------------------------------------

    @on(Input.Changed, "#race-lr")
    def _lr_changed(self, event: Input.Changed) -> None:
        """Check the rate as it is typed (empty: the optimizer's default)."""
        self._show_add_error(_lr_problem(event.value))

    @on(Input.Changed, "#race-tolerance")
    def _tolerance_changed(self, event: Input.Changed) -> None:
        """Check the tolerance as it is typed."""
        self._show_error(_tolerance_problem(event.value))

    @on(Input.Submitted, "#race-tolerance")
    def _tolerance_submitted(self, event: Input.Submitted) -> None:
        """A good tolerance goes to the race (the table recounts); a bad one says why inline."""
        event.stop()
        problem = _tolerance_problem(event.value)
        if problem:
            self._show_error(problem)
            return
        tolerance = check_tolerance(event.value)
        self.tolerance = tolerance
        self.loop.send(SetTolerance(tolerance))
        self.notice = f"tolerance {tolerance:g}"
        self._show_tolerance_form(False)
        self._show_error("")
        self._dirty = True

    @on(Input.Submitted, "#race-form Input")
    @on(Button.Pressed, "#race-add")
    def _submit(self, event: Input.Submitted | Button.Pressed) -> None:
        """Send the new contender to the worker; what it refuses shows inline."""
        event.stop()
        entry, error = self.form_entry()
        if error:
            self._show_add_error(error)
            return
        self.loop.send(AddContender(entry))

    def form_entry(self) -> tuple[dict[str, Any], str]:
        """The form as a ``[[race]]`` table, or why it can't be one (torch-free checks)."""
        entry: dict[str, Any] = {}
        optimizer = self.query_one("#race-optimizer", Select).value
        if isinstance(optimizer, str):
            entry["optimizer"] = optimizer
        lr_text = self.query_one("#race-lr", Input).value.strip()
        if lr_text:
            problem = _lr_problem(lr_text)
            if problem:
                return {}, problem
            entry["lr"] = parse_lr(lr_text)
        hyper_text = self.query_one("#race-hyper", Input).value
        if hyper_text.strip():
            try:
                entry["hyper"] = parse_hyper(hyper_text)
            except RaceFileError as err:
                return {}, str(err)
        batch = self.query_one("#race-batch", Input).value.strip()
        if batch and self.info is not None and self.info.is_model:
            entry["batch_size"] = batch  # "full" or a whole number, checked by the worker
        label = self.query_one("#race-label", Input).value.strip()
        if label:
            entry["label"] = label
        return entry, ""


def _tolerance_problem(text: str) -> str:
    """Why ``text`` is not a tolerance ("" when it is)."""
    try:
        check_tolerance(text)
    except SettingError as err:
        return str(err)
    return ""


def _lr_problem(text: str) -> str:
    """Why ``text`` is not a learning rate ("" when it is, or when empty: the default)."""
    if not text.strip():
        return ""
    try:
        parse_lr(text)
    except SettingError as err:
        return str(err)
    return ""
