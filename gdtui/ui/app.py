"""The live explorer: a Textual app that watches descent step.

The app draws; it owns no maths and never steps torch. A :class:`~gdtui.ui.descent.DescentLoop`
runs in a thread worker, owns the Run, and sends snapshots of engine records to the main screen
(:class:`~gdtui.ui.screens.main.MainScreen`), which draws the newest on a timer tick. The App
keeps what every screen shares: the worker, the keys that work everywhere, the command palette,
the one-line notices and the log.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import textual
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.filter import LineFilter
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from gdtui.safetext import visible
from gdtui.settings import SettingError, parse_lr
from gdtui.ui import partial_update
from gdtui.ui.commands import Command, Configure, Export, OpenScenario, Quit, SetLr, Toggle
from gdtui.ui.descent import DescentLoop, one_line
from gdtui.ui.messages import (
    Catalog,
    EngineReady,
    InternalError,
    Notice,
    RunStarted,
    Severity,
    StartupFailed,
)
from gdtui.ui.recorder import RecordAppender, StepRecorder
from gdtui.ui.screens.main import MainScreen
from gdtui.ui.terminal import exit_code_for_signal, install_exit_signals, signal_name
from gdtui.ui.widgets.controls import SPEEDS

if TYPE_CHECKING:
    from gdtui.scenario import Scenario
    from gdtui.ui.screens.attach import AttachScreen
    from gdtui.ui.screens.sweep import SweepScreen

partial_update.install()  # before any app draws; on_mount says so if it is off

NOTICE_LIMIT = 400
"""Most characters of a one-line notice (``notify_line``); longer ones are cut."""
STUCK_EXIT_S = 10.0
"""After the app has closed, how long the descent thread may take to stop before the process
ends without it (a thread stuck in a blocking call would otherwise keep it alive forever)."""


class GdtuiCommands(Provider):
    """The command palette: problems, optimizers, scenarios and every action."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, GdtuiApp)
        if app.attach is not None:
            return app.attach_screen.palette_commands()
        main = app.main_screen
        out: list[tuple[str, Callable[[], Any], str]] = [
            ("Run / pause", main.action_toggle, "space"),
            ("Step once", main.action_step, "n"),
            ("Reset", main.action_reset, "r"),
            ("Learning rate ×2", main.action_lr_up, "+"),
            ("Learning rate ÷2", main.action_lr_down, "-"),
            ("Toggle log scale", main.action_log, "l"),
            ("Next speed", main.action_speed, "f"),
            ("Place the start point", main.action_place, "s"),
            ("Open a scenario…", app.action_open, "o"),
            ("Export records as JSONL", app.action_export, "e"),
            ("Export records as CSV", lambda: app.action_export("csv"), ""),
            ("Save an SVG screenshot", app.action_screenshot, "ctrl+s"),
            ("Show / hide controls", lambda: main.action_panel("controls"), "c"),
            ("Show / hide landscape", lambda: main.action_panel("landscape"), "g"),
            ("Show / hide backprop vs optimizer", lambda: main.action_panel("panels"), "b"),
            ("Learning-rate sweep of this scenario…", app.action_sweep, "w"),
            ("Race: this run against others", app.action_race, "R"),
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
        log_path: a file that gets the traceback of any internal error (appended), and notes
            such as the partial-update patch being off; ``textual.log`` always gets them.
        attach: a record file of :func:`gdtui.watch` to follow (``gdtui attach``): the app opens
            on the attach screen and never starts the descent thread (no torch).
        rank: with ``attach``, follow this rank's file of the run.
        clock: with ``attach``, Unix time now (tests fix it).
        ascii: ``--ascii``: draw without braille, box-drawing or block characters (a line filter
            on everything drawn, see ``ascii_filter.py``).
        record: ``--record``: an open :class:`~gdtui.ui.recorder.RecordAppender` that gets every
            step of every run as a JSON line; the app closes it when it exits.
    """

    CSS_PATH = ["app.tcss", "screens/attach.tcss"]  # the default screen's CSS_PATH is not read
    TITLE = "gdtui"
    COMMANDS = App.COMMANDS | {GdtuiCommands}
    # Keys that work on every screen; the main screen adds its own (space, n, r, …) in front.
    BINDINGS = [
        Binding("o", "open", "open", show=False),
        Binding("e", "export", "export", show=False),
        Binding("ctrl+s", "screenshot", "svg", show=False),
        Binding("w", "sweep", "sweep", show=False),
        Binding("R", "race", "race", show=False),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        scenario: str | Path | Scenario | None = None,
        overrides: dict[str, Any] | None = None,
        *,
        autostart: bool = False,
        initial_steps: int = 0,
        speed: float | None = None,
        export_dir: str | Path | None = None,
        deterministic: bool = False,
        log_path: Path | None = None,
        attach: str | os.PathLike | None = None,
        rank: int | None = None,
        clock: Callable[[], float] = time.time,
        record: RecordAppender | None = None,
        ascii: bool = False,
    ) -> None:
        super().__init__()
        self.attach = Path(attach) if attach is not None else None
        """The record file followed (None: the descent explorer)."""
        self.attach_rank = rank
        self.clock = clock
        self.ascii = ascii
        self._ascii_filter: LineFilter | None = None
        if ascii:
            from gdtui.ui.ascii_filter import AsciiFilter

            self._ascii_filter = AsciiFilter()
        self.loop = DescentLoop(
            self._from_worker,
            scenario,
            overrides,
            initial_steps=initial_steps,
            autostart=autostart,
            speed=speed,
        )
        self.initial_steps = initial_steps
        self.export_dir = Path(export_dir) if export_dir is not None else Path.cwd()
        self.deterministic = deterministic
        self.log_path = Path(log_path) if log_path is not None else None
        self.catalog: Catalog | None = None
        self.startup_error: str | None = None
        """Why the command line's scenario could not be used (the app exits with code 2)."""
        self.internal_error: str | None = None
        self.internal_error_is_fault = False  # a device fault (out of memory …), not a bug
        """One line about a bug that stopped the app (exit code 1; the log has the traceback)."""
        self.last_notice: str | None = None
        self.stopped_by_signal: int | None = None
        """SIGTERM, SIGHUP or SIGINT when one ended the app (return code ``128 + signal``)."""
        self._speed_index = next(
            (i for i, (_, s) in enumerate(SPEEDS) if s == speed), len(SPEEDS) - 1
        )
        if deterministic:
            self.animation_level = "none"
        self._descent_busy = False
        """True while the descent thread runs (the exit watchdog waits for it to clear)."""
        self.recorder = StepRecorder(record) if record is not None else None
        """Writes every step to the ``--record`` file (None: not recording)."""
        if record is not None and record.on_error is None:
            record.on_error = lambda line: self.post_message(Notice(line, "error"))

    def get_default_screen(self) -> Screen[Any]:
        """The main screen (or the attach screen) is the bottom of the stack."""
        if self.attach is not None:
            from gdtui.ui.screens.attach import AttachScreen

            return AttachScreen(
                self.attach,
                rank=self.attach_rank,
                deterministic=self.deterministic,
                clock=self.clock,
            )
        return MainScreen(speed_index=self._speed_index, deterministic=self.deterministic)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters (``NO_COLOR``'s among them), then ``--ascii``'s."""
        filters = super().get_line_filters()
        if self._ascii_filter is None:
            return filters
        return [*filters, self._ascii_filter]

    @property
    def attach_screen(self) -> AttachScreen:
        """The attach screen (``attach`` mode; the help may be on top of it)."""
        from gdtui.ui.screens.attach import AttachScreen

        screen = self.screen_stack[0]
        assert isinstance(screen, AttachScreen)
        return screen

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Opening scenarios and exporting runs belong to the explorer, not to ``attach``."""
        return not (self.attach is not None and action in ("open", "export"))

    @property
    def main_screen(self) -> MainScreen:
        """The screen with the panels (the help or a picker may be on top of it)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def on_mount(self) -> None:
        """Leave cleanly on SIGTERM/SIGHUP/SIGINT; say so when the partial-update patch is off."""
        if not self.is_headless:  # tests keep pytest's own Ctrl+C
            install_exit_signals(self.exit_on_signal)
        if not partial_update.install():
            self.log_note(
                f"partial-update patch is off: Textual {textual.__version__} is not "
                f"{partial_update.PATCHED_VERSION}; whole rows are rewritten (more bytes)"
            )

    def exit_on_signal(self, signum: int) -> None:
        """Exit through the normal path (the terminal restored) with code ``128 + signum``."""
        if self.stopped_by_signal is None:
            self.stopped_by_signal = signum
            self.log_note(f"{signal_name(signum)}: exiting")
        self.exit(return_code=exit_code_for_signal(signum))

    # -- the descent worker ----------------------------------------------------------------------

    def send(self, command: Command) -> None:
        """Queue a command for the descent thread (never blocks)."""
        self.loop.send(command)

    def start_descent(self) -> None:
        """Start the descent thread (the main screen calls it after its first paint)."""
        self.run_descent()

    @work(thread=True, exclusive=True, group="descent", exit_on_error=False)
    def run_descent(self) -> None:
        """The descent thread: the only place torch runs."""
        worker = get_current_worker()
        self._descent_busy = True
        try:
            self.loop.run(lambda: worker.is_cancelled)
        except Exception as err:  # the loop catches what it can; this is a bug in the loop
            self.loop.report_bug(err, "the descent thread stopped", fatal=True)
        finally:
            self._descent_busy = False

    def _from_worker(self, message: Message) -> None:
        """Deliver a message from the worker (thread-safe) to the main screen.

        The screen draws what concerns it; the message then bubbles up to the app, which
        handles what every screen shares (notices, errors, the catalog).
        """
        if self.recorder is not None and isinstance(message, RunStarted):
            # Still in the worker, before the new run's first step: record all its steps.
            self.recorder.attach(self.loop.run_obj)
        stack = self.screen_stack  # read from the worker thread: no assertion here
        target = stack[0] if stack and isinstance(stack[0], MainScreen) else self
        target.post_message(message)  # while the app closes there may be no screen left

    def on_unmount(self) -> None:
        """Stop the descent thread promptly; write and close the record file."""
        self.loop.send(Quit())
        if self.recorder is not None:
            self.recorder.close()
        if self._descent_busy and not self.is_headless:
            self._exit_if_stuck()

    def _exit_if_stuck(self) -> None:
        """End the process if the descent thread has not stopped :data:`STUCK_EXIT_S` seconds
        after the app closed (the terminal is restored by then).

        asyncio waits for every executor thread when the app ends: one blocked in a system call
        (a FIFO opened for reading, a hung device or network file system) made q, ctrl+q and
        Ctrl+C hang forever. Quitting must always work; the log says what happened.
        """

        def watch() -> None:
            deadline = time.monotonic() + STUCK_EXIT_S
            while time.monotonic() < deadline:
                if not self._descent_busy:
                    return
                time.sleep(0.05)
            line = "the descent thread is stuck in a blocking call; exiting without it"
            self.log_note(line, error=True)
            with contextlib.suppress(OSError):
                os.write(2, f"gdtui: {line}\n".encode())
            os._exit(self.return_code if self.return_code is not None else 0)

        threading.Thread(target=watch, name="gdtui-exit-watch", daemon=True).start()

    def on_engine_ready(self, message: EngineReady) -> None:
        """torch has loaded: remember what can be chosen (the command palette lists it)."""
        self.catalog = message.catalog

    def on_notice(self, message: Notice) -> None:
        """A one-line message: a toast (and the last one is kept for tests)."""
        self.notify_line(message.text, message.severity)

    def on_startup_failed(self, message: StartupFailed) -> None:
        """The command line asked for something unusable: leave with exit code 2."""
        self.startup_error = message.text
        self.exit(return_code=2)

    def on_internal_error(self, message: InternalError) -> None:
        """A bug: one line for the user, the traceback to the log; exit 1 if it was fatal."""
        self.log_note(f"{message.summary}\n{message.traceback}", error=True)
        where = f" (traceback in {self.log_path})" if self.log_path is not None else ""
        self.notify_line(f"{message.summary}{where}", "error")
        if message.fatal:
            self.internal_error = message.summary
            self.internal_error_is_fault = message.fault
            self.exit(return_code=1)

    def log_note(self, text: str, *, error: bool = False) -> None:
        """Write to ``textual.log`` and, when the app was given ``log_path``, to that file."""
        if error:
            self.log.error(text)
        else:
            self.log.warning(text)
        if self.log_path is None:
            return
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        try:
            with self.log_path.open("a", encoding="utf-8") as out:
                out.write(f"[{stamp}] {text.rstrip()}\n")
        except OSError as err:  # the log must never take the app down
            self.log.error(f"could not write {self.log_path}: {one_line(err)}")

    def notify_line(self, text: str, severity: Severity = "information") -> None:
        """Tell the user one line (toasts are off in deterministic mode).

        The text often quotes a file or the user (names, paths, formulas): control characters
        are made visible and huge text is cut (``safetext.visible``).
        """
        text = visible(text, NOTICE_LIMIT)
        self.last_notice = text
        if not self.deterministic:
            self.notify(text, severity=severity, timeout=6, markup=False)

    def lr_problem(self, text: str) -> str:
        """Why ``text`` is not a usable learning rate ("" when it is); torch-free, the same rule as the CLI."""
        try:
            parse_lr(text)
        except SettingError as err:
            return str(err)
        return ""

    # -- app-wide actions --------------------------------------------------------------------------

    def action_command_palette(self) -> None:
        """The command palette, guarded against a Textual bug (see ``screens/palette.py``)."""
        from textual.command import CommandPalette

        from gdtui.ui.screens.palette import GuardedCommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(GuardedCommandPalette(id="--command-palette"))

    def action_help(self) -> None:
        """The keys."""
        from gdtui.ui.screens.help import HelpScreen

        info = self.main_screen.info
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

    def action_sweep(self) -> None:
        """A learning-rate sweep of the current scenario, on its own screen."""
        from gdtui.ui.screens.sweep import SweepScreen

        scenario = self.loop.scenario
        if scenario is None:
            self.notify_line("still loading torch…", "warning")
            return
        if isinstance(self.screen, MainScreen):
            self.push_screen(SweepScreen(scenario, deterministic=self.deterministic))

    def on_sweep_screen_lr_chosen(self, message: SweepScreen.LrChosen) -> None:
        """The sweep's suggested rate, for the main run (no reset)."""
        self.send(SetLr(message.lr))
        self.notify_line(f"learning rate {message.lr:.6g}: {message.rule}")

    def action_race(self) -> None:
        """Race the current run (its problem, optimizer and rate) against others."""
        scenario = self.loop.scenario
        if scenario is None:
            self.notify_line("still loading torch…", "warning")
            return
        from gdtui.ui.race_worker import opening_entries

        if getattr(scenario, "race", ()):  # the scenario's own [[race]]
            self.open_race(scenario)
            return
        self.open_race(scenario, opening_entries(scenario.optimizer, scenario.lr, scenario.hyper))

    def open_race(self, setup: Any, entries: list[dict[str, Any]] | None = None) -> None:
        """Open the race screen: a Scenario and ``[[race]]`` entries, or a race file's path.

        The main run is paused first: both would share the CPU.
        """
        from gdtui.ui.screens.race import RaceScreen

        if isinstance(self.screen, RaceScreen):
            return  # one race at a time
        main = self.main_screen
        if main.snapshot is not None and main.snapshot.playing:
            self.send(Toggle())
        speed = SPEEDS[main.speed_index][1]
        screen = RaceScreen(setup, entries, speed=speed, deterministic=self.deterministic)
        self.push_screen(screen)

    def open_scenario(self, spec: str) -> None:
        """Open a scenario by name or path (errors leave the current run as it is)."""
        self.send(OpenScenario(spec))

    def configure(self, changes: dict[str, Any]) -> None:
        """Start afresh with changed settings (errors leave the current run as it is)."""
        self.send(Configure(dict(changes)))

    def action_export(self, fmt: str = "jsonl") -> None:
        """Write the run's records to a file and say where."""
        self.send(Export(fmt, self.export_dir))

    def action_screenshot(self) -> None:
        """Save an SVG of the screen and say where."""
        main = self.main_screen
        name = main.info.scenario if main.info else "gdtui"
        step = main.snapshot.step if main.snapshot else 0
        try:
            path = self.save_screenshot(f"gdtui-{name}-step{step}.svg", str(self.export_dir))
        except OSError as err:
            self.notify_line(f"could not save the screenshot: {err.strerror or err}", "error")
            return
        self.notify_line(f"screenshot saved to {path}")


def launch_attach(path: str | os.PathLike, rank: int | None = None) -> int:
    """``gdtui attach FILE [--rank N]``: follow a record file in the app; the exit code.

    A file that is not a record file (or of a newer format version), a rank without a file, or
    no terminal, is one line on stderr and exit code 2, before the app starts. An empty file is
    accepted: its writer may not have written the header yet.
    """
    from gdtui import recordfile

    try:
        target = recordfile.rank_file(path, rank) if rank is not None else Path(path)
        recordfile.follow(target)
    except recordfile.RecordFileError as err:
        print(f"gdtui: error: {visible(err, NOTICE_LIMIT)}", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "gdtui: gdtui attach needs a terminal (stdin and stdout); for scripts use: "
            "gdtui attach FILE --format summary|table|json",
            file=sys.stderr,
        )
        return 2
    app = GdtuiApp(attach=target)
    app.run()
    return app.return_code or 0
