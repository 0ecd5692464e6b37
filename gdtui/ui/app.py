"""The live explorer: a Textual app that watches descent step.

The app draws; it owns no maths and never steps torch. A :class:`~gdtui.ui.descent.DescentLoop`
runs in a thread worker, owns the Run, and sends snapshots of engine records; the app keeps the
newest and draws it on a timer tick, only when something changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Click, Resize
from textual.widgets import Button, Footer, Input, Select, Static
from textual.worker import get_current_worker

from gdtui.ui import partial_update
from gdtui.ui.descent import DescentLoop
from gdtui.ui.messages import (
    Catalog,
    EngineReady,
    Notice,
    Progress,
    RunInfo,
    RunStarted,
    Snapshot,
    StartupFailed,
    SurfaceReady,
)
from gdtui.ui.widgets.backprop_panel import BackpropPanel
from gdtui.ui.widgets.controls import EXPRESSION, SPEEDS, Controls
from gdtui.ui.widgets.optimizer_panel import OptimizerPanel
from gdtui.ui.widgets.status_line import StatusLine

partial_update.install()

MIN_SIZE = (60, 16)
NARROW = 110  # below this many columns the controls start hidden
SHORT = 30  # below this many rows the step panels get fewer rows
REFRESH_HZ = 8


class GdtuiCommands(Provider):
    """The command palette: problems, optimizers, scenarios and every action."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, GdtuiApp)
        out: list[tuple[str, Callable[[], Any], str]] = [
            ("Run / pause", app.action_toggle, "space"),
            ("Step once", app.action_step, "n"),
            ("Reset", app.action_reset, "r"),
            ("Learning rate ×2", app.action_lr_up, "+"),
            ("Learning rate ÷2", app.action_lr_down, "-"),
            ("Toggle log scale", app.action_log, "l"),
            ("Next speed", app.action_speed, "f"),
            ("Place the start point", app.action_place, "s"),
            ("Open a scenario…", app.action_open, "o"),
            ("Export records as JSONL", app.action_export, "e"),
            ("Export records as CSV", lambda: app.action_export("csv"), ""),
            ("Save an SVG screenshot", app.action_screenshot, "ctrl+s"),
            ("Show / hide controls", lambda: app.action_panel("controls"), "c"),
            ("Show / hide landscape", lambda: app.action_panel("landscape"), "g"),
            ("Show / hide backprop vs optimizer", lambda: app.action_panel("panels"), "b"),
            ("Help: keys", app.action_help, "?"),
        ]
        catalog = app.catalog
        if catalog is not None:
            for name, description in catalog.problems:
                out.append((f"Problem: {name}", _bind(app.configure, {"loss": name}), description))
            for choice in catalog.optimizers:
                out.append(
                    (
                        f"Optimizer: {choice.name}",
                        _bind(app.configure, {"optimizer": choice.name}),
                        choice.description,
                    )
                )
            for name, title in catalog.scenarios:
                out.append((f"Scenario: {name}", _bind(app.open_scenario, name), title))
        return out

    async def discover(self) -> Hits:
        """Everything, before anything is typed."""
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy match on the titles."""
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


def _bind(function: Callable[[Any], Any], argument: Any) -> Callable[[], Any]:
    return lambda: function(argument)


class GdtuiApp(App[int]):
    """gdtui's explorer. Tests build it the same way the CLI does.

    Args:
        scenario: a built-in name, a ``.toml`` path, a resolved Scenario, or None (default).
        overrides: command-line overrides (``lr``, ``optimizer``, …), checked by the engine.
        autostart: start running at once.
        initial_steps: steps taken before the first picture (screenshots, tests).
        speed: steps per second (None: as fast as it goes).
        export_dir: where ``e`` and ``ctrl+s`` write (default: the working directory).
        deterministic: no toasts, no cursor blink, no animation (snapshots, screenshots).
    """

    CSS_PATH = "app.tcss"
    TITLE = "gdtui"
    COMMANDS = App.COMMANDS | {GdtuiCommands}
    BINDINGS = [
        Binding("space", "toggle", "run/pause"),
        Binding("n", "step", "step"),
        Binding("r", "reset", "reset"),
        Binding("plus,equals_sign", "lr_up", "lr×2", key_display="+"),
        Binding("minus,underscore", "lr_down", "lr÷2", key_display="-"),
        Binding("l", "log", "log"),
        Binding("f", "speed", "speed", show=False),
        Binding("s", "place", "start", show=False),
        Binding("o", "open", "open", show=False),
        Binding("e", "export", "export", show=False),
        Binding("ctrl+s", "screenshot", "svg", show=False),
        Binding("c", "panel('controls')", "controls", show=False),
        Binding("g", "panel('landscape')", "landscape", show=False),
        Binding("b", "panel('panels')", "panels", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        Binding("escape", "escape", show=False),
        Binding("enter", "place_apply", show=False),
        Binding("up", "place_move(0, 1)", show=False),
        Binding("down", "place_move(0, -1)", show=False),
        Binding("left", "place_move(-1, 0)", show=False),
        Binding("right", "place_move(1, 0)", show=False),
    ]

    def __init__(
        self,
        scenario: Any = None,
        overrides: dict[str, Any] | None = None,
        *,
        autostart: bool = False,
        initial_steps: int = 0,
        speed: float | None = None,
        export_dir: str | Path | None = None,
        deterministic: bool = False,
    ) -> None:
        super().__init__()
        self.loop = DescentLoop(
            self.post_message,
            scenario,
            overrides,
            initial_steps=initial_steps,
            autostart=autostart,
            speed=speed,
        )
        self.initial_steps = initial_steps
        self.export_dir = Path(export_dir) if export_dir is not None else Path.cwd()
        self.deterministic = deterministic
        self.catalog: Catalog | None = None
        self.info: RunInfo | None = None
        self.snapshot: Snapshot | None = None
        self.startup_error: str | None = None
        self.placing: tuple[float, ...] | None = None
        self.speed_index = next(
            (i for i, (_, s) in enumerate(SPEEDS) if s == speed), len(SPEEDS) - 1
        )
        self.last_notice: str | None = None
        self._surface: Any = None  # a Surface2D or Curve1D of the landscape widget
        self._surface_generation = -1
        self._surface_size: tuple[int, int] | None = None
        self._view_width = 0
        self._grid_sent: tuple[int, int] | None = None
        self._dirty = False
        self.plots_ready = False
        self._hidden: dict[str, bool | None] = {
            "controls": None,
            "landscape": False,
            "panels": False,
        }
        if deterministic:
            self.animation_level = "none"

    # -- layout --------------------------------------------------------------------------------

    @property
    def main_screen(self):  # -> Screen
        """The screen with the panels (the help or a picker may be on top of it)."""
        return self.screen_stack[0]

    def compose(self) -> ComposeResult:
        """Everything is drawn before torch is imported; the engine loads in the worker."""
        with Horizontal(id="main"):
            yield Controls(id="controls", speed_index=self.speed_index)
            with Vertical(id="views"):
                with Horizontal(id="plots"):
                    # The plots (numpy, plotext) are mounted right after the first paint.
                    yield Static("", id="plots-loading")
                with Horizontal(id="panels"):
                    yield BackpropPanel(id="backprop")
                    yield OptimizerPanel(id="optimizer-panel")
        yield Static("", id="too-small")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Paint first, then mount the plots and start the descent thread (which imports torch)."""
        if self.deterministic:
            for field in self.query(Input):
                field.cursor_blink = False
        self._apply_layout()
        self.query_one(StatusLine).show(None, None)
        self.call_after_refresh(self._mount_plots)
        self.set_interval(1 / REFRESH_HZ, self._tick)

    async def _mount_plots(self) -> None:
        from gdtui.ui.widgets.landscape import Landscape
        from gdtui.ui.widgets.loss_plot import LossPlot

        loss, landscape = LossPlot(id="loss"), Landscape(id="landscape")
        loss.border_title = "loss · l: log scale"
        landscape.border_title = "landscape"
        await self.query_one("#plots-loading").remove()
        await self.query_one("#plots").mount(loss, landscape)
        self.plots_ready = True
        if self.info is not None:
            self._show_run_titles(self.info)
        self.run_descent()
        self.call_after_refresh(self._send_sizes)

    def on_unmount(self) -> None:
        """Stop the descent thread promptly."""
        self.loop.send("quit")

    @work(thread=True, exclusive=True, group="descent", exit_on_error=False)
    def run_descent(self) -> None:
        """The descent thread: the only place torch runs."""
        worker = get_current_worker()
        self.loop.run(lambda: worker.is_cancelled)

    def on_resize(self, event: Resize) -> None:
        """Adapt the layout to the terminal's new size (``self.size`` is not updated yet)."""
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int | None = None, height: int | None = None) -> None:
        if width is None or height is None:
            width, height = self.size
        screen = self.main_screen
        too_small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        screen.set_class(too_small, "-too-small")
        if too_small:
            self.query_one("#too-small", Static).update(
                Text(
                    f"terminal too small ({width}×{height}): gdtui needs at least "
                    f"{MIN_SIZE[0]}×{MIN_SIZE[1]}; enlarge it, or press q to quit"
                )
            )
        screen.set_class(height < SHORT, "-short")
        for panel, hidden in self._hidden.items():
            if hidden is None:  # automatic: controls start hidden on narrow terminals
                hidden = width < NARROW
            screen.set_class(hidden, f"-hide-{panel}")
        self.call_after_refresh(self._send_sizes)

    def _send_sizes(self) -> None:
        """Tell the descent thread the plot width and landscape grid, when they changed.

        Called on every tick: widgets get their size after layout, which may come later than
        any event the app sees.
        """
        if not self.plots_ready:
            return
        loss = self.query_one("#loss")
        if loss.size.width > 0:
            width = max(8, loss.size.width - 8)
            if width != self._view_width:
                self._view_width = width
                self.loop.send("view", width)
                self._dirty = True
        landscape = self.query_one("#landscape")
        if landscape.display and landscape.size.width > 0:
            grid = landscape.grid_size()
            if grid != self._grid_sent:
                self._grid_sent = grid
                self.loop.send("grid", *grid)
                self._dirty = True

    # -- messages from the descent thread --------------------------------------------------------

    def on_engine_ready(self, message: EngineReady) -> None:
        """torch has loaded: fill the controls."""
        self.catalog = message.catalog
        self.query_one(Controls).set_catalog(message.catalog)

    def on_run_started(self, message: RunStarted) -> None:
        """A fresh run: new settings in the controls, a new landscape."""
        info = message.info
        self.info = info
        self.snapshot = None
        self.placing = None
        self.query_one(Controls).show_run(info)
        self._set_surface(info.generation, info.surface, info.grid_size)
        if self.plots_ready:
            self._show_run_titles(info)
        self._send_sizes()

    def _show_run_titles(self, info: RunInfo) -> None:
        # User text (formulas, file names) goes in as Text: "[a=1]" is not markup.
        self.query_one("#loss").border_subtitle = Text(f"{info.problem} · {info.optimizer}")
        two_d = len(info.param_names) in (1, 2)
        title = f"landscape · {info.expression}" if two_d else "landscape"
        self.query_one("#landscape").border_title = Text(title)

    def on_surface_ready(self, message: SurfaceReady) -> None:
        """The landscape grid at the widget's size."""
        if self.info is not None and message.generation == self.info.generation:
            self._set_surface(message.generation, message.surface, message.grid_size)
            self._dirty = True

    def on_progress(self, message: Progress) -> None:
        """Keep the newest snapshot; the tick draws it."""
        if self.info is None or message.snapshot.generation != self.info.generation:
            return
        self.snapshot = message.snapshot
        if not self._lr_focused():  # don't overwrite what the user is typing
            self.query_one(Controls).show_lr(message.snapshot.lr)
        self._dirty = True

    def on_notice(self, message: Notice) -> None:
        """A one-line message: a toast (and the last one is kept for tests)."""
        self.notify_line(message.text, message.severity)

    def on_startup_failed(self, message: StartupFailed) -> None:
        """The command line asked for something unusable: leave with exit code 2."""
        self.startup_error = message.text
        self.exit(return_code=2)

    def notify_line(self, text: str, severity: str = "information") -> None:
        """Tell the user one line (toasts are off in deterministic mode)."""
        self.last_notice = text
        if not self.deterministic:
            self.notify(text, severity=severity, timeout=6, markup=False)  # type: ignore[arg-type]

    def _set_surface(
        self, generation: int, surface: Any, grid_size: tuple[int, int] | None
    ) -> None:
        from gdtui.ui.widgets.landscape import Curve1D, Surface2D

        info = self.info
        self._surface_size = grid_size
        if surface is None or info is None:
            self._surface = None
        elif surface.y is None:
            self._surface = Curve1D(
                surface.x, surface.z, tuple(m[0] for m in info.minima), info.param_names[0]
            )
        else:
            self._surface = Surface2D(
                surface.x,
                surface.y,
                surface.z,
                tuple((m[0], m[1]) for m in info.minima),
                info.param_names[0],
                info.param_names[1],
            )
        self._surface_generation = generation
        self._dirty = True

    # -- drawing ---------------------------------------------------------------------------------

    def _tick(self) -> None:
        try:
            self._send_sizes()
            if not self._dirty:
                return
            self._dirty = False
            with self.batch_update():
                self.redraw()
        except NoMatches:
            pass  # the screen is being torn down (the app is exiting)

    def redraw(self) -> None:
        """Draw the newest snapshot in every widget."""
        info, snapshot = self.info, self.snapshot
        self.query_one(StatusLine).show(info, snapshot)
        self.query_one(BackpropPanel).show(info, snapshot)
        self.query_one(OptimizerPanel).show(info, snapshot)
        if info is None or snapshot is None or not self.plots_ready:
            return
        from gdtui.ui.widgets.loss_plot import Series

        view = snapshot.view
        series = Series(
            info.optimizer,
            view.step,
            view.loss,
            view.loss_min,
            view.loss_max,
            "cyan+",
        )
        self.query_one("#loss").show_series([series], log_offset=info.min_value)
        landscape = self.query_one("#landscape")
        if landscape.display:
            start = self.placing if self.placing is not None else info.init
            path = snapshot.path if snapshot.step else None
            landscape.show(self._surface, path, snapshot.current, start)

    # -- waiting (tests and screenshots) ---------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate()`` holds and the screen has been redrawn."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the app did not reach the expected state")
            await asyncio.sleep(0.01)
        self._dirty = True
        self._tick()
        await asyncio.sleep(0)

    async def settled(self, step: int | None = None, timeout: float = 30.0) -> None:
        """Wait for the run (at ``step``, default the initial steps) and its landscape."""
        target = self.initial_steps if step is None else step

        def ready() -> bool:
            info, snap = self.info, self.snapshot
            if self.startup_error or info is None or snap is None or not self.plots_ready:
                return bool(self.startup_error)
            at_step = snap.step == target or snap.status != "running"
            if self.main_screen.has_class("-too-small"):
                return at_step  # nothing is drawn but the message
            landscape = self.query_one("#landscape")
            landscape_ok = (
                len(info.param_names) not in (1, 2)
                or not landscape.display
                or (self._surface is not None and self._surface_size == landscape.grid_size())
            )
            sized = snap.view_width == self._view_width
            return landscape_ok and sized and at_step

        await self.wait_until(ready, timeout)

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle(self) -> None:
        """Run or pause."""
        self.loop.send("toggle")

    def action_step(self) -> None:
        """One step."""
        self.loop.send("step", 1)

    def action_reset(self) -> None:
        """Back to the start point, same settings."""
        self.loop.send("reset")

    def action_lr_up(self) -> None:
        """Double the learning rate of the running optimizer."""
        self.loop.send("scale_lr", 2.0)

    def action_lr_down(self) -> None:
        """Halve the learning rate of the running optimizer."""
        self.loop.send("scale_lr", 0.5)

    def action_log(self) -> None:
        """Linear or log10 loss axis."""
        if not self.plots_ready:
            return
        plot = self.query_one("#loss")
        plot.log_scale = not plot.log_scale
        plot.border_title = "loss · log10 · l: linear" if plot.log_scale else "loss · l: log scale"

    def action_speed(self) -> None:
        """Next speed: 1, 10, 100 steps/s, as fast as it goes."""
        # The Select's change event applies it (the same path as choosing it with the mouse).
        self.query_one("#speed", Select).value = (self.speed_index + 1) % len(SPEEDS)

    def action_panel(self, panel: str) -> None:
        """Show or hide a panel."""
        hidden = self.main_screen.has_class(f"-hide-{panel}")
        self._hidden[panel] = not hidden
        self._apply_layout()

    def action_help(self) -> None:
        """The keys."""
        from gdtui.ui.screens.help import HelpScreen

        info = self.info
        about = (info.title, info.description) if info is not None else None
        self.push_screen(HelpScreen(about))

    def action_open(self) -> None:
        """Pick a scenario."""
        from gdtui.ui.screens.open_scenario import OpenScenarioScreen

        if self.catalog is None:
            self.notify_line("still loading torch…", "warning")
            return
        screen = OpenScenarioScreen(list(self.catalog.scenarios), self.export_dir)
        self.push_screen(screen, lambda choice: choice and self.open_scenario(choice))

    def open_scenario(self, spec: str) -> None:
        """Open a scenario by name or path (errors leave the current run as it is)."""
        self.loop.send("scenario", spec)

    def configure(self, changes: dict[str, Any]) -> None:
        """Start afresh with changed settings (errors leave the current run as it is)."""
        self.loop.send("configure", dict(changes))

    def action_export(self, fmt: str = "jsonl") -> None:
        """Write the run's records to a file and say where."""
        self.loop.send("export", fmt, str(self.export_dir))

    def action_screenshot(self) -> None:
        """Save an SVG of the screen and say where."""
        name = self.info.scenario if self.info else "gdtui"
        step = self.snapshot.step if self.snapshot else 0
        try:
            path = self.save_screenshot(f"gdtui-{name}-step{step}.svg", str(self.export_dir))
        except OSError as err:
            self.notify_line(f"could not save the screenshot: {err.strerror or err}", "error")
            return
        self.notify_line(f"screenshot saved to {path}")

    def action_escape(self) -> None:
        """Leave a field, or cancel placing the start."""
        if self.placing is not None:
            self.placing = None
            self._dirty = True
            self.notify_line("start unchanged")
        else:
            self.screen.set_focus(None)

    def action_place(self) -> None:
        """Move the start point with the arrow keys (or click the landscape)."""
        if self.info is None:
            self.notify_line("still loading torch…", "warning")
            return
        if len(self.info.param_names) not in (1, 2):
            self.notify_line("the start can be placed on 1- and 2-parameter problems", "warning")
            return
        self.screen.set_focus(None)
        self.placing = tuple(self.snapshot.current if self.snapshot else self.info.init)
        self._dirty = True
        self.notify_line("place the start: arrows move it, enter applies, esc cancels")

    def action_place_move(self, dx: int, dy: int) -> None:
        """Nudge the pending start by 2% of the plotting domain."""
        if self.placing is None or self.info is None:
            return
        point = list(self.placing)
        for i, delta in enumerate((dx, dy)[: len(point)]):
            lo, hi = self.info.domain[i]
            point[i] = min(hi, max(lo, point[i] + delta * 0.02 * (hi - lo)))
        self.placing = tuple(point)
        self._dirty = True

    def action_place_apply(self) -> None:
        """Start afresh from the pending start."""
        if self.placing is None:
            return
        point, self.placing = self.placing, None
        self.loop.send("start", point)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Arrows and enter belong to the focused widget unless the start is being placed."""
        if action in ("place_move", "place_apply"):
            return self.placing is not None
        return True

    # -- controls --------------------------------------------------------------------------------

    def _lr_focused(self) -> bool:
        focused = self.focused
        return isinstance(focused, Input) and focused.id == "lr"

    @on(Input.Changed, "#lr")
    def _lr_changed(self, event: Input.Changed) -> None:
        """Validate as you type: a clear message under the field, nothing applied yet."""
        self.query_one(Controls).show_lr_error(self._lr_problem(event.value))

    @on(Input.Submitted, "#lr")
    def _lr_submitted(self, event: Input.Submitted) -> None:
        """Apply the typed learning rate to the running optimizer (no reset)."""
        problem = self._lr_problem(event.value)
        self.query_one(Controls).show_lr_error(problem)
        if problem:
            self.notify_line(problem, "error")
            return
        self.loop.send("lr", event.value)

    def _lr_problem(self, text: str) -> str:
        if self.catalog is None:
            return ""
        from gdtui.engine.optimizers import OptimizerError, parse_lr

        try:
            parse_lr(text)
        except OptimizerError as err:
            return str(err)
        return ""

    @on(Input.Submitted, "#expression")
    def _expression_submitted(self, event: Input.Submitted) -> None:
        """Descend your own formula."""
        if not event.value.strip():
            return
        from gdtui.engine import ExpressionError, compile_expression

        try:
            compile_expression(event.value)
        except ExpressionError as err:
            self.query_one(Controls).show_expression_error(str(err))
            return
        self.query_one(Controls).show_expression_error("")
        self.configure({"expression": event.value})

    @on(Select.Changed, "#problem")
    def _problem_changed(self, event: Select.Changed) -> None:
        if event.value == EXPRESSION:
            self.query_one("#expression", Input).focus()
        elif (isinstance(event.value, str) and self.info and event.value != self.info.problem) or (
            isinstance(event.value, str) and self.info and self.info.is_expression
        ):
            self.configure({"loss": event.value})

    @on(Select.Changed, "#optimizer")
    def _optimizer_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and self.info and event.value != self.info.optimizer:
            self.configure({"optimizer": event.value})

    @on(Select.Changed, "#speed")
    def _speed_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and event.value != self.speed_index:
            self.speed_index = event.value
            self.loop.send("speed", SPEEDS[event.value][1])

    @on(Input.Submitted, ".hyper-input")
    def _hyper_submitted(self, event: Input.Submitted) -> None:
        """A changed hyper-parameter makes a new optimizer: start afresh."""
        self.configure({"hyper": self.query_one(Controls).hyper_values()})

    @on(Button.Pressed, "#toggle")
    def _toggle_pressed(self) -> None:
        self.action_toggle()

    @on(Button.Pressed, "#step")
    def _step_pressed(self) -> None:
        self.action_step()

    @on(Button.Pressed, "#reset")
    def _reset_pressed(self) -> None:
        self.action_reset()

    @on(Click, "#landscape")
    def _landscape_clicked(self, event: Click) -> None:
        """A click on a 2-D landscape starts afresh from that point."""
        info = self.info
        landscape = self.query_one("#landscape")
        if info is None or len(info.param_names) != 2 or self._surface is None:
            return
        width, height = landscape.size
        offset = event.get_content_offset(landscape)
        if offset is None or height < 2 or width < 2 or offset.y >= height - 1:
            return
        (x_lo, x_hi), (y_lo, y_hi) = info.domain
        x = x_lo + (offset.x + 0.5) / width * (x_hi - x_lo)
        y = y_hi - (offset.y + 0.5) / (height - 1) * (y_hi - y_lo)
        self.placing = None
        self.loop.send("start", (x, y))
