"""The race loop: the one thread that owns a :class:`~gdtui.engine.race.Race` and steps torch.

The race screen starts it in a Textual thread worker and talks to it only through
:meth:`RaceLoop.send` (small command dataclasses); the loop answers only through ``post``
(thread-safe) with the dataclass messages below. :class:`RaceProgress` and :class:`RaceSurface`
are replaceable, so a burst collapses into the newest; every record stays in the engine.

A race comes from a scenario (the problem, or the data and model, and the shared run settings)
and a list of entries, each a table as a scenario's ``[[race]]`` array holds (``label``,
``optimizer``, ``lr``, ``hyper``, ``batch_size``, ``schedule``, ``schedule_args``, ``seed``,
``noise``). Each entry is built by :meth:`gdtui.scenario.Scenario.contender`, which applies the
one inheritance rule (:func:`gdtui.engine.race.inherit`) and checks it as the scenario loader
checks a file: a formula's entries race :class:`~gdtui.engine.Run` s, a ``[data]`` scenario's
race :class:`~gdtui.engine.ModelRun` s (loss curves and the table; no landscape).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from gdtui.ui import commands as cmd
from gdtui.ui.messages import InternalError, Notice, Surface
from gdtui.ui.pacing import Pacer

if TYPE_CHECKING:  # torch loads in the worker
    import numpy as np

    from gdtui.engine import HistoryView, Race, RaceRow
    from gdtui.scenario import Scenario

PUBLISH_INTERVAL = 1 / 3  # at most 3 pictures a second: bytes over SSH matter
BATCH_SECONDS = 0.02  # at full speed, how long to step between looks at the command queue
PATH_POINTS = 1 << 12  # points of each run's path sent to the landscape (thinned by powers of 2)
SLOTS = 6
"""Colour / marker slots; a contender keeps its slot while it stays in the race."""


class RaceFileError(ValueError):
    """Hyper-parameters typed in the add form that can't be read; ``str()`` is one line."""


# -- the add form's hyper-parameters (torch-free) -------------------------------------------------


def parse_hyper(text: str) -> dict[str, Any]:
    """``momentum=0.9 betas=0.9,0.99`` → ``{"momentum": 0.9, "betas": (0.9, 0.99)}``
    (torch-free; the optimizer's own checks judge the values)."""
    from gdtui.values import parse_value

    out: dict[str, Any] = {}
    for part in text.replace(";", " ").split():
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise RaceFileError(f"hyper-parameters are name=value, got {part!r}")
        out[key.strip()] = parse_value(value)
    return out


# -- commands of the race screen (the generic ones come from gdtui.ui.commands) -------------------


@dataclass(frozen=True)
class AddContender:
    """Add one entry (a ``[[race]]`` table) to the race; answered by :class:`ContenderAnswer`."""

    entry: dict[str, Any]


@dataclass(frozen=True)
class RemoveContender:
    """Take the run with this label out of the race."""

    label: str


@dataclass(frozen=True)
class SetTolerance:
    """A new tolerance for steps-to-tolerance (checked by the screen; the table recounts)."""

    tolerance: float


RaceCommand = (
    cmd.Toggle
    | cmd.Step
    | cmd.Reset
    | cmd.SetSpeed
    | cmd.SetViewWidth
    | cmd.SetGrid
    | cmd.Quit
    | AddContender
    | RemoveContender
    | SetTolerance
)
"""Everything the race screen can ask of the loop."""


# -- messages to the race screen -----------------------------------------------------------------


@dataclass(frozen=True)
class RaceInfo:
    """Facts of a fresh race: the scenario and its problem."""

    generation: int
    scenario: str
    title: str
    description: str
    problem: str
    expression: str
    param_names: tuple[str, ...]
    init: tuple[float, ...]
    minima: tuple[tuple[float, ...], ...]
    min_value: float | None
    criterion: str
    optimizers: tuple[str, ...]
    is_model: bool = False
    tolerance: float = 1e-6


@dataclass(frozen=True)
class ContenderView:
    """One contender as it stands: a width-sized view of its loss history and its path."""

    label: str
    slot: int
    status: str
    step: int
    view: HistoryView
    path: np.ndarray
    current: tuple[float, ...]


@dataclass(frozen=True)
class RaceSnapshot:
    """The race as it stands: every contender and the engine's table."""

    generation: int
    playing: bool
    contenders: tuple[ContenderView, ...]
    rows: tuple[RaceRow, ...]
    criterion: str
    view_width: int

    @property
    def step(self) -> int:
        """The most steps any contender has taken."""
        return max((c.step for c in self.contenders), default=0)


@dataclass
class RaceStarted(Message):
    """A fresh race exists (start, reset, or a file was read)."""

    info: RaceInfo
    surface: Surface | None


@dataclass
class RaceProgress(Message):
    """New steps were taken (or the race changed); replaceable."""

    snapshot: RaceSnapshot

    def can_replace(self, message: Message) -> bool:
        """A newer picture of the race makes an older one pointless."""
        return isinstance(message, RaceProgress)


@dataclass
class RaceSurface(Message):
    """The landscape grid at the size the paths widget asked for; replaceable."""

    generation: int
    surface: Surface | None

    def can_replace(self, message: Message) -> bool:
        """A newer grid makes an older one pointless."""
        return isinstance(message, RaceSurface)


@dataclass
class ContenderAnswer(Message):
    """The loop's answer to :class:`AddContender`: the new label, or why not (``error``)."""

    label: str
    error: str


@dataclass
class RaceFailed(Message):
    """The race could not be built (a bad file or entry); the screen says why."""

    text: str


# -- the loop ------------------------------------------------------------------------------------


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class RaceLoop:
    """Steps a race for the screen. Create it on the UI thread, call :meth:`run` in a worker.

    Args:
        post: thread-safe delivery of a message to the screen.
        setup: a resolved Scenario (the problem and shared settings), or the path of a scenario
            file with ``[[race]]`` entries.
        entries: the contenders (``[[race]]`` tables); None: the scenario's own ``[[race]]``.
        tolerance: steps-to-tolerance counts the first step with ``loss − L* ≤ tolerance``.
        speed: rounds per second while running (None: as fast as it goes).
        initial_steps: rounds taken before the first picture (tests, screenshots).
        autostart: start running at once.
    """

    def __init__(
        self,
        post: Callable[[Message], Any],
        setup: Scenario | str | Path,
        entries: Sequence[Mapping[str, Any]] | None = None,
        *,
        tolerance: float = 1e-6,
        speed: float | None = None,
        initial_steps: int = 0,
        autostart: bool = False,
    ) -> None:
        self.post = post
        self.setup = setup
        self.entries: list[dict[str, Any]] | None = (
            None if entries is None else [dict(e) for e in entries]
        )
        self.tolerance = tolerance
        self.speed = speed
        self.initial_steps = initial_steps
        self.autostart = autostart
        self.commands: queue.Queue[RaceCommand] = queue.Queue()
        self.scenario: Scenario | None = None
        self.race: Race | None = None
        self.slots: dict[str, int] = {}
        self.generation = 0
        self.playing = False
        self.view_width = 80
        self.grid_size: tuple[int, int] | None = None
        self._user_errors: tuple[type[Exception], ...] = (ValueError,)
        self._last_publish = 0.0
        self._pacer = Pacer()

    def send(self, command: RaceCommand) -> None:
        """Queue a command for the loop (thread-safe, never blocks)."""
        self.commands.put(command)

    # -- the thread ------------------------------------------------------------------------------

    def run(self, is_cancelled: Callable[[], bool]) -> None:
        """The worker body: build the race, then serve commands and step."""
        if not self._start():
            return
        while not is_cancelled():
            timeout = self._wait_time()
            try:
                command = (
                    self.commands.get_nowait()
                    if timeout <= 0
                    else self.commands.get(timeout=timeout)
                )
            except queue.Empty:
                pass
            else:
                while True:  # a burst of key presses is handled before stepping
                    if isinstance(command, cmd.Quit):
                        return
                    self._handle(command)
                    try:
                        command = self.commands.get_nowait()
                    except queue.Empty:
                        break
            if self.playing:
                try:
                    self._step_batch()
                except Exception as err:  # an op torch refuses mid-run
                    self._bug(err, "the race step failed")
            if self.playing and time.perf_counter() - self._last_publish >= PUBLISH_INTERVAL:
                self.publish()

    def _wait_time(self) -> float:
        return self._pacer.wait(self.playing, self.speed)

    def _start(self) -> bool:
        try:
            from gdtui.engine import USER_ERRORS
            from gdtui.scenario import ScenarioError, load_file

            self._user_errors = (*USER_ERRORS, ScenarioError, RaceFileError)
            if isinstance(self.setup, str | Path):
                self.scenario = load_file(self.setup)
            else:
                self.scenario = self.setup
            if self.entries is None:
                self.entries = [dict(e) for e in self.scenario.race]
                if not self.entries:
                    raise ScenarioError(f"{self.scenario.source}: no [[race]] entries")
            self._new_race()
        except self._user_errors as err:
            self.post(RaceFailed(_one_line(err)))
            return False
        except Exception as err:
            self._bug(err, "the race could not start")
            return False
        if self.initial_steps:
            self.race.run(self.initial_steps)
        self.publish()
        if self.autostart:
            self._play()
        return True

    def _handle(self, command: RaceCommand) -> None:
        try:
            self._dispatch(command)
        except self._user_errors as err:
            self.post(Notice(_one_line(err), "error"))
        except Exception as err:  # a bug must not kill the loop or lose the race
            self._bug(err, f"{type(command).__name__} failed")

    def _dispatch(self, command: RaceCommand) -> None:
        match command:
            case cmd.Toggle():
                if self.playing:
                    self.playing = False
                    self.publish()
                else:
                    self._play()
            case cmd.Step(count):
                self.playing = False
                if self._can_step():
                    self.race.run(count)
                    self._stopped_check()
                self.publish()
            case cmd.Reset():
                self.playing = False
                self._new_race()
                self.publish()
            case cmd.SetSpeed(speed):
                self.speed = speed
                self._pacer.restart()
            case cmd.SetViewWidth(width):
                width = max(8, int(width))
                if width != self.view_width:
                    self.view_width = width
                    self.publish()
            case cmd.SetGrid(nx, ny):
                size = (max(2, int(nx)), max(2, int(ny)))
                if size != self.grid_size:
                    self.grid_size = size
                    self.post(RaceSurface(self.generation, self._surface()))
            case AddContender(entry):
                self._add(entry)
            case SetTolerance(tolerance):
                self.race.tolerance = tolerance
                self.tolerance = self.race.tolerance
                self.publish()
            case RemoveContender(label):
                self.race.remove(label)
                self.slots.pop(label, None)
                self.entries = [e for e in self.entries if e.get("label") != label]
                self.publish()
            case _:
                raise TypeError(f"unknown command {command!r}")

    def _bug(self, err: Exception, what: str) -> None:
        self.playing = False
        # Out of memory or a device error: named, not called a bug.
        self.post(InternalError.of(err, f"{what}: {type(err).__name__}: {_one_line(err)}"))

    # -- building --------------------------------------------------------------------------------

    def _build_run(self, entry: Mapping[str, Any], index: int | None = None) -> Any:
        """A run for one entry: the scenario's settings, the entry's overrides (a Run, or a
        ModelRun for a scenario on [data]); errors are the scenario loader's one line."""
        scenario = self.scenario
        return scenario.contender(entry, index).build_run(max_steps=scenario.steps)

    def _enter(self, race: Race, entry: Mapping[str, Any], index: int | None = None) -> str:
        label = race.add(entry.get("label"), self._build_run(entry, index))
        free = [s for s in range(SLOTS) if s not in self.slots.values()]
        self.slots[label] = free[0] if free else len(self.slots) % SLOTS
        return label

    def _new_race(self) -> None:
        from gdtui.engine import MAX_CONTENDERS, OPTIMIZERS, Race, RaceError

        if len(self.entries) > MAX_CONTENDERS:
            raise RaceError(
                f"a race holds at most {MAX_CONTENDERS} runs, got {len(self.entries)} entries"
            )
        scenario = self.scenario
        self._problem = None if scenario.is_model else scenario.problem()
        race = Race(tolerance=self.tolerance)
        self.slots = {}
        labelled = []
        for i, entry in enumerate(self.entries, start=1):
            label = self._enter(race, entry, i)
            labelled.append({**entry, "label": label})
        self.entries = labelled  # labels fixed, so a reset keeps names, colours and markers
        self.race = race
        self.generation += 1
        problem = self._problem
        common = {
            "generation": self.generation,
            "scenario": scenario.name,
            "title": scenario.title,
            "description": " ".join(scenario.description.split()),
            "criterion": race.criterion,
            "optimizers": tuple(OPTIMIZERS),
            "tolerance": race.tolerance,
        }
        if problem is None:
            info = RaceInfo(
                problem=_model_words(scenario, race),
                expression="",
                param_names=(),
                init=(),
                minima=(),
                min_value=None,
                is_model=True,
                **common,
            )
        else:
            info = RaceInfo(
                problem=problem.name,
                expression=problem.expression,
                param_names=tuple(problem.param_names),
                init=tuple(problem.init),
                minima=tuple(tuple(float(v) for v in m) for m in problem.minima),
                min_value=problem.min_value,
                **common,
            )
        self.post(RaceStarted(info, self._surface()))

    def _add(self, entry: Mapping[str, Any]) -> None:
        try:
            label = self._enter(self.race, entry)
        except self._user_errors as err:
            self.post(ContenderAnswer("", _one_line(err)))
            return
        self.entries.append({**entry, "label": label})
        self.post(ContenderAnswer(label, ""))
        self.publish()

    def _surface(self) -> Surface | None:
        import numpy as np

        problem = self._problem
        if problem is None or self.grid_size is None or problem.dim not in (1, 2):
            return None
        nx, ny = self.grid_size
        (x_lo, x_hi), *rest = problem.domain
        x = np.linspace(x_lo, x_hi, nx)
        minima = tuple(tuple(float(v) for v in m) for m in problem.minima)
        names = tuple(problem.param_names)
        if problem.dim == 1:
            return Surface(x, None, problem.evaluate_grid(x), minima, names)
        y = np.linspace(rest[0][0], rest[0][1], ny)
        return Surface(x, y, problem.evaluate_grid(x, y), minima, names)

    # -- stepping --------------------------------------------------------------------------------

    def _can_step(self) -> bool:
        from gdtui.engine import Status

        race = self.race
        if not len(race):
            self.post(Notice("the race is empty — press a to add a contender", "warning"))
            return False
        for _, run in race:
            if run.status is Status.FINISHED:  # a spent budget: go on for as many again
                run.extend(self.scenario.steps)
        if race.finished:
            self.post(Notice("every run has stopped — press r to reset", "warning"))
            return False
        return True

    def _play(self) -> None:
        if not self._can_step():
            self.playing = False
            self.publish()
            return
        self.playing = True
        self._pacer.restart()
        self.publish()

    def _step_batch(self) -> None:
        race = self.race
        now = time.perf_counter()
        if self.speed is None:
            deadline = now + BATCH_SECONDS
            while not race.finished and time.perf_counter() < deadline:
                for _ in range(8):
                    race.step()
        else:
            due = self._pacer.due(now, self.speed)
            race.run(due)
        if race.finished:
            self._stopped_check()
            self.publish()

    def _stopped_check(self) -> None:
        if self.race.finished:
            self.playing = False
            self.post(Notice("every run has stopped (the table says how)"))

    def publish(self) -> None:
        """Send the race as it stands (a replaceable message)."""
        race = self.race
        if race is None:
            return
        import numpy as np

        views = []
        formula = self._problem is not None
        for label, run in race:
            views.append(
                ContenderView(
                    label=label,
                    slot=self.slots.get(label, 0),
                    status=str(run.status),
                    step=run.step_count,
                    view=run.history.view(self.view_width),
                    # a model has no landscape: no path, and no synchronising read of its weights
                    path=run.history.path(PATH_POINTS) if formula else np.empty((0, 0)),
                    current=tuple(run.current) if formula else (),
                )
            )
        snapshot = RaceSnapshot(
            generation=self.generation,
            playing=self.playing,
            contenders=tuple(views),
            rows=tuple(race.table()),
            criterion=race.criterion,
            view_width=self.view_width,
        )
        self._last_publish = time.perf_counter()
        self.post(RaceProgress(snapshot))


def _model_words(scenario: Scenario, race: Race) -> str:
    """What a model race trains, for the plot's subtitle: ``digits · Linear → ReLU → Linear``."""
    from gdtui.engine.models import describe_model

    if not len(race):
        return scenario.title
    run = next(iter(race))[1]
    return f"{run.dataset.name} · {describe_model(run.model)}"


def opening_entries(optimizer: str, lr: float | None, hyper: Mapping[str, Any]) -> list[dict]:
    """The race the app opens on the current run: that run first, then one rival.

    The rival is plain SGD at its default rate, or, when the current run is SGD, heavy-ball
    momentum at the same rate (the ravine story of ``momentum-vs-plain``).
    """
    first: dict[str, Any] = {"optimizer": optimizer, "hyper": dict(hyper)}
    if lr is not None:
        first["lr"] = lr
    if optimizer == "sgd":
        rival: dict[str, Any] = {"optimizer": "momentum"}
        if lr is not None:
            rival["lr"] = lr
    else:
        rival = {"optimizer": "sgd"}
    return [first, rival]


__all__ = [
    "AddContender",
    "ContenderAnswer",
    "ContenderView",
    "RaceFailed",
    "RaceFileError",
    "RaceInfo",
    "RaceLoop",
    "RaceProgress",
    "RaceSnapshot",
    "RaceStarted",
    "RaceSurface",
    "RemoveContender",
    "SetTolerance",
    "opening_entries",
    "parse_hyper",
]
