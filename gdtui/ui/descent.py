"""The descent loop: the one thread that owns the Run and steps torch.

The app starts it in a Textual thread worker and talks to it only through :meth:`DescentLoop.send`
(a queue of :mod:`gdtui.ui.commands`); the loop talks back only through ``post`` (thread-safe)
with :mod:`gdtui.ui.messages`. The UI
thread never waits for torch: even ``import torch`` happens here, after the first paint.
"""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from gdtui.ui import commands as cmd
from gdtui.ui.commands import Command
from gdtui.ui.messages import (
    Catalog,
    ChoiceChecked,
    EngineReady,
    EpochCurves,
    ExpressionChecked,
    InternalError,
    ModelInfo,
    ModelLandscape,
    ModelLandscapeReady,
    Notice,
    OptimizerChoice,
    Progress,
    Rewound,
    RunInfo,
    RunStarted,
    ScheduleChecked,
    Snapshot,
    StartupFailed,
    Surface,
    SurfaceReady,
)
from gdtui.ui.pacing import Pacer

if TYPE_CHECKING:  # torch loads in the worker, after the first paint
    import numpy as np

    from gdtui.engine import ModelRecord, ModelRun, Run
    from gdtui.scenario import Scenario

# Seconds between progress messages while running: 3 updates/s keeps the curve live and the
# bytes sent to the terminal near 7 KB/s at 120x40 (benchmarks/terminal_bytes.py).
PUBLISH_INTERVAL = 1 / 3
BATCH_SECONDS = 0.02  # at full speed, how long to step between looks at the command queue
# Points of the path sent to the landscape: thinned by powers of two (the points kept stay put,
# so the drawing only changes at its end), enough for every cell of a large terminal.
PATH_POINTS = 1 << 14
# A classifier's decision regions are redrawn while it learns, at most this often (seconds).
REGIONS_INTERVAL = 0.5
# Samples per side of a filter-normalised loss slice (each one a full-set forward pass); a
# costly model gets fewer: a CNN, or more than BIG_MODEL scalars (the digits CNN took 7 s per
# 21×21 slice on a busy 2-core cpu, the digits MLP 0.3 s).
SLICE_SIZE = 21
SLICE_SIZE_BIG = 11
BIG_MODEL = 10_000  # scalars
EPOCH_KEYS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (for a toast)."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _load(spec: str) -> Scenario:
    """:func:`gdtui.scenario.load_scenario` (formula and ``[data]`` scenarios alike)."""
    from gdtui.scenario import load_scenario

    return load_scenario(spec)


def _title(name: str) -> str:
    """A built-in scenario's title (its file's, when this version cannot load it)."""
    import tomllib

    from gdtui.scenario import ScenarioError, builtin_dir

    try:
        return _load(name).title
    except ScenarioError:
        text = (builtin_dir() / f"{name}.toml").read_text(encoding="utf-8")
        return str(tomllib.loads(text).get("title", name))


def _resolve(spec: str | None, overrides: dict[str, Any]) -> Scenario:
    """:func:`gdtui.scenario.resolve_scenario`, with :func:`_load`'s fallback (no overrides
    for a model scenario read by the fallback)."""
    from gdtui.scenario import ScenarioError, resolve_scenario

    try:
        return resolve_scenario(spec, overrides)
    except ScenarioError:
        if spec is None or any(value is not None for value in overrides.values()):
            raise
        return _load(spec)


class DescentLoop:
    """Runs descent for the app. Create it on the UI thread, call :meth:`run` in a worker."""

    def __init__(
        self,
        post: Callable[[Message], Any],
        scenario: str | Path | Scenario | None = None,
        overrides: dict[str, Any] | None = None,
        *,
        initial_steps: int = 0,
        autostart: bool = False,
        speed: float | None = None,
    ) -> None:
        self.post = post
        self.scenario_spec = scenario
        self.overrides = dict(overrides or {})
        self.initial_steps = initial_steps
        self.autostart = autostart
        self.speed = speed
        self.commands: queue.Queue[Command] = queue.Queue()
        self.view_width = 120
        self.grid_size: tuple[int, int] | None = None
        self.generation = 0
        self.playing = False
        self.scenario: Scenario | None = None  # set by _start(), before any command
        self.run_obj: Run | None = None  # set by _start(), before any command
        self._user_errors: tuple[type[Exception], ...] = (ValueError,)
        self._graph: tuple[str, ...] = ()
        self._last_publish = 0.0
        self._rate_mark: tuple[float, int] = (0.0, 0)
        self._rate: float | None = None
        self._pacer = Pacer()
        self._layers: ModelRecord | None = None  # the newest record with per-layer summaries
        self._rewound_layers: ModelRecord | None = None  # the last step rewound to, with them
        self._landscape_kind: str | None = None  # a model's: "surface", "regions" or "slice"
        self._last_landscape = 0.0
        self._slice_size = SLICE_SIZE
        self.rewound: int | None = None
        """The step shown as it was (scrubbed back; the run is paused), None at the live end."""
        self._info: RunInfo | None = None  # the current run's facts, as last sent
        self._measured: list[tuple[int, float]] = []  # λmax on demand: (step, value)
        self._lr_varied = False  # the rate was changed by hand during this run

    # -- called from the UI thread -----------------------------------------------------------------

    def send(self, command: Command) -> None:
        """Queue a command for the loop (thread-safe, never blocks)."""
        self.commands.put(command)

    # -- the thread --------------------------------------------------------------------------------

    def run(self, is_cancelled: Callable[[], bool]) -> None:
        """The worker body: load the engine, build the first run, then serve commands and step."""
        if not self._start():
            return
        while not is_cancelled():
            timeout = self._wait_time()
            try:
                if timeout <= 0:
                    command = self.commands.get_nowait()
                else:
                    command = self.commands.get(timeout=timeout)
            except queue.Empty:
                pass
            else:
                while True:  # drain: a burst of key presses is handled before stepping
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
                except Exception as err:  # e.g. an op torch refuses mid-run, CUDA out of memory
                    self.report_bug(err, "the step failed")
                    self._show_paused()
            if self.playing and time.perf_counter() - self._last_publish >= PUBLISH_INTERVAL:
                self.publish()

    def _wait_time(self) -> float:
        return self._pacer.wait(self.playing, self.speed)

    def _start(self) -> bool:
        try:
            from gdtui.engine import LOSSES, MODEL_KINDS, OPTIMIZERS, PROBLEMS, USER_ERRORS
            from gdtui.engine.data import GENERATED, SKLEARN
            from gdtui.engine.schedules import SCHEDULES
            from gdtui.scenario import ScenarioError, builtin_names

            self._user_errors = (*USER_ERRORS, ScenarioError)
            catalog = Catalog(
                tuple((name, spec.description) for name, spec in PROBLEMS.items()),
                tuple(
                    OptimizerChoice(
                        spec.name,
                        spec.torch_name,
                        spec.description,
                        spec.default_lr,
                        spec.hyperparameters(),
                    )
                    for spec in OPTIMIZERS.values()
                ),
                tuple((name, _title(name)) for name in builtin_names()),
                datasets=(*GENERATED, *SKLEARN),
                model_kinds=tuple(MODEL_KINDS),
                loss_fns=tuple(LOSSES),
                schedules=tuple((n, spec.description) for n, spec in SCHEDULES.items()),
            )
            self.post(EngineReady(catalog))
            spec = self.scenario_spec
            if spec is None or isinstance(spec, str | Path):
                scenario = _resolve(str(spec) if spec is not None else None, self.overrides)
            else:  # an already resolved Scenario (gdtui screenshot, tests)
                scenario = spec
            self._new_run(scenario)
        except (ValueError, *self._user_errors) as err:  # bad input on the command line
            self.post(StartupFailed(str(err).splitlines()[0] if str(err) else repr(err)))
            return False
        except Exception as err:  # a bug: the app exits 1 and the log has the traceback
            self.report_bug(err, "gdtui could not start", fatal=True)
            return False
        if self.initial_steps:
            for record in self.run_obj.steps(self.initial_steps):
                self._note(record)
            self._after_stop_check(notify=False)
        self.publish()
        self._publish_landscape(slice_too=True)
        if self.autostart:
            self._play()
        return True

    # -- commands ----------------------------------------------------------------------------------

    def _handle(self, command: Command) -> None:
        try:
            self._dispatch(command)
        except self._user_errors as err:
            self.post(Notice(str(err), "error"))
        except Exception as err:  # a bug must not kill the loop or lose the run
            self.report_bug(err, f"{type(command).__name__} failed")

    def _dispatch(self, command: Command) -> None:
        if self._dispatch_rewind(command):
            return
        match command:
            case cmd.Toggle():
                if self.playing:
                    self._pause()
                else:
                    self._play()
            case cmd.Step(count):
                self._step(count)
            case cmd.Reset():
                self.playing = False
                self._new_run(self.scenario)
                self.publish()
                self._publish_landscape(slice_too=True)
            case cmd.SetLr(value):
                self._set_lr(value)
            case cmd.ScaleLr(factor):
                self._set_lr(self.run_obj.lr * factor)
            case cmd.Configure(changes):
                self._configure(changes)
            case cmd.SetExpression(text):
                self._set_expression(text)
            case cmd.ConfigureModel(setting, value):
                self._configure_model(setting, value)
            case cmd.ComputeLandscape():
                self._compute_landscape()
            case cmd.OpenScenario(spec):
                self._open_scenario(spec)
            case cmd.PlaceStart(point):
                names = self.run_obj.param_names
                init = {n: float(v) for n, v in zip(names, point, strict=True)}
                self._configure({"init": init})
            case cmd.SetSpeed(speed):
                self.speed = speed
                self._pacer.restart()
            case cmd.SetViewWidth(width):
                self._set_view_width(width)
            case cmd.SetGrid(nx, ny):
                self._set_grid(nx, ny)
            case cmd.Export(fmt, folder):
                self._export(fmt, folder)
            case cmd.MeasureCurvature():
                self._measure_curvature()
            case cmd.SetSchedule(name, args):
                self._set_schedule(name, args)
            case _:
                raise TypeError(f"unknown command {command!r}")

    def report_bug(self, err: Exception, what: str, *, fatal: bool = False) -> None:
        """An unexpected error: one line for the user, the traceback for the log.

        The run is paused and kept as it was.
        """
        self.playing = False
        # Out of memory or a device error: name the fault and the way out, not "a bug".
        self.post(InternalError.of(err, f"{what}: {one_line(err)}", fatal=fatal))

    def _show_paused(self) -> None:
        """After a fault while playing: the screen shows the run paused at its last step."""
        try:
            self.publish()
        except Exception as err:  # the device cannot even be read: said once more, run kept
            self.report_bug(err, "showing the run failed")

    def _pause(self) -> None:
        self.playing = False
        self._rate = None
        self.publish()
        self._publish_landscape(slice_too=True)

    def _step(self, count: int) -> None:
        run = self.run_obj
        self.playing = False
        self._rate = None
        if not self._can_step(run):
            return
        for record in run.steps(count):
            self._note(record)
        self._after_stop_check(notify=True)
        self.publish()
        self._publish_landscape(slice_too=False)

    def _set_lr(self, value: float | str) -> None:
        lr = self.run_obj.set_lr(value)
        self._lr_varied = True
        # Later resets keep the new rate: the scenario is what a reset goes back to.
        self.scenario = dataclasses.replace(self.scenario, lr=lr)
        self.publish()

    def _configure(self, changes: dict[str, Any]) -> None:
        changes = dict(changes)
        hyper = changes.pop("hyper", None)
        scenario = self.scenario.with_overrides(**changes)
        if hyper is not None:
            scenario = scenario.with_overrides(hyper=hyper)
        was_playing = self.playing
        self.playing = False
        self._new_run(scenario)
        self.publish()
        self._publish_landscape(slice_too=True)
        if was_playing:
            self._play()

    def _configure_model(self, setting: str, value: str) -> None:
        """A fresh model run with one setting changed; the answer goes under the field."""
        from gdtui.engine.data import REGRESSION, data_task
        from gdtui.engine.model_run import parse_batch_size
        from gdtui.engine.models import default_loss

        scenario = self.scenario
        if not getattr(scenario, "is_model", False):
            self.post(ChoiceChecked(setting, "this run descends a formula; it has no data"))
            return
        model = dict(scenario.model)
        try:
            if setting == "dataset":
                data = {"name": value}
                if "validation" in scenario.data:
                    data["validation"] = scenario.data["validation"]
                task = data_task(data) or REGRESSION
                # A new data set starts with the loss that fits its target; an MLP fits both.
                keep = model if model.get("kind") == "mlp" else {}
                changes = {"data": data, "model": keep, "loss_fn": default_loss(task)}
            elif setting == "model":
                kind = {"kind": value}
                if "activation" in model and value in ("mlp", "cnn"):
                    kind["activation"] = model["activation"]
                if "hidden" in model and value == "mlp":
                    kind["hidden"] = model["hidden"]
                changes = {"model": kind}
            elif setting == "loss_fn":
                changes = {"loss_fn": value}
            elif setting == "batch_size":
                size = parse_batch_size(value)
                changes = {"batch_size": "full" if size is None else size}
            else:
                raise TypeError(f"unknown model setting {setting!r}")
            was_playing = self.playing
            self.playing = False
            self._new_run(scenario.with_overrides(**changes))
        except self._user_errors as err:
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.post(ChoiceChecked(setting, text))
            self.post(Notice(text, "error"))
            return
        self.post(ChoiceChecked(setting, ""))
        self.publish()
        self._publish_landscape(slice_too=True)
        if was_playing:
            self._play()

    def _set_expression(self, text: str) -> None:
        from gdtui.engine import ExpressionError, compile_expression

        try:
            compile_expression(text)
        except ExpressionError as err:
            self.post(ExpressionChecked(text, str(err).strip().splitlines()[0]))
            return
        self.post(ExpressionChecked(text, ""))
        self._configure({"expression": text})

    def _open_scenario(self, spec: str) -> None:
        scenario = _load(spec)
        self.playing = False
        self._new_run(scenario)
        self.publish()
        self._publish_landscape(slice_too=True)
        self.post(Notice(f"opened {scenario.name}: {scenario.title}"))

    def _set_view_width(self, width: int) -> None:
        changed = width != self.view_width
        self.view_width = max(8, int(width))
        if changed and self.run_obj is not None and not self.playing:
            self.publish()

    def _set_grid(self, nx: int, ny: int) -> None:
        size = (max(2, int(nx)), max(2, int(ny)))
        if size != self.grid_size:
            self.grid_size = size
            if self.run_obj is not None and self._landscape_kind is not None:
                self._publish_landscape(slice_too=True)
            elif self.run_obj is not None:
                self.post(SurfaceReady(self.generation, self._surface(), size))

    def _export(self, fmt: str, folder: Path) -> None:
        from gdtui.report import write_rows

        run = self.run_obj
        rows = list(run.history.rows())
        if rows:
            rows[-1]["status"] = str(run.status)
            rows[-1]["reason"] = run.reason
        for row in rows[:-1]:
            row["status"] = "running"
            row["reason"] = None
        if self._landscape_kind is not None:  # a model run: the epoch evaluations, where held
            evaluations = {record.step: record for record in run.epochs}
            for row in rows:
                record = evaluations.get(row["step"])
                if record is not None:
                    evaluation = record.to_dict(())
                    row.update({k: evaluation[k] for k in EPOCH_KEYS if k in evaluation})
        name = f"gdtui-{self.scenario.name}-step{run.step_count}.{fmt}"
        path = Path(folder) / name
        partial = path.with_name(f".{name}.partial")
        try:
            # Written aside and renamed: a failed export never leaves half a file behind.
            with partial.open("w", encoding="utf-8") as out:
                write_rows(rows, out, fmt, run.param_names)
            partial.replace(path)
        except OSError as err:
            partial.unlink(missing_ok=True)
            self.post(Notice(f"could not export to {path}: {err.strerror or err}", "error"))
            return
        note = ""
        if run.history.stride > 1:
            note = f" (every {run.history.stride}th step after the first {run.history.head})"
        records = "record" if len(rows) == 1 else "records"
        self.post(Notice(f"exported {len(rows)} {records} to {path}{note}"))

    # -- rewind and branch -------------------------------------------------------------------------

    def _dispatch_rewind(self, command: Command) -> bool:
        """Scrubbing, and what branches while a step is shown as it was; True when handled.

        While rewound, running or stepping on (space, n), a new learning rate (typed, + / -),
        another optimizer or new hyper-parameters branch the run from the step shown
        (:meth:`_branch`); anything else (a new problem, a reset, …) starts afresh as always.
        """
        match command:
            case cmd.Scrub(delta):
                base = self.rewound if self.rewound is not None else self._rewind_total()
                self._rewind(base + delta)
            case cmd.ScrubTo(step):
                self._rewind(step)
            case cmd.LiveEnd():
                self._live_end()
            case _ if self.rewound is None:
                return False
            case cmd.Toggle():
                self._branch()
                self._play()
            case cmd.Step(count):
                self._branch()
                self._step(count)
            case cmd.SetLr(value):
                self._branch(lr=value)
            case cmd.ScaleLr(factor):
                self._branch(scale=factor)
            case cmd.Configure(changes) if changes and set(changes) <= {"optimizer", "hyper"}:
                self._branch(optimizer=changes.get("optimizer"), hyper=changes.get("hyper"))
            case _:
                return False
        return True

    def _rewind_total(self) -> int:
        return int(self.run_obj.step_count) if self.run_obj is not None else 0

    def _rewind(self, step: int) -> None:
        """Pause and send step ``step``'s record as it was (``state_at``: rebuilt here, in the
        worker, from the nearest checkpoint; a model's with its per-layer summaries); at or past
        the live end, back to it."""
        run = self.run_obj
        if run is None:
            return
        total = run.step_count
        if total < 2:
            self.post(Notice("nothing to rewind yet: take a few steps first (n)", "warning"))
            return
        step = max(1, int(step))
        if step >= total:
            self._live_end()
            return
        if self.playing:
            self._pause()
        scratch = None
        if self._landscape_kind == "regions":  # the model itself at that step, for its regions
            scratch = run.at(step)
            record = scratch.last_record
        else:
            record = run.state_at(step)
        self.rewound = step
        record = dataclasses.replace(record, state=dict(record.state))
        layers = None
        if getattr(record, "layers", None) is not None:
            self._rewound_layers = record  # a branch from here starts with these summaries
            layers = self._layer_table(record)
        epoch, evaluation = 0, None
        if self._landscape_kind is not None:  # a model: its epoch and evaluation at that step
            epoch = step // run.steps_per_epoch
            held = [r for r in run.epochs if r.step <= step]
            evaluation = dataclasses.replace(held[-1]) if held else None
        info = self._info_at(step)
        self.post(Rewound(self.generation, step, total, record, layers, info, epoch, evaluation))
        if scratch is not None:  # the decision regions as the model drew them then
            self._publish_landscape(slice_too=False, run=scratch)

    def _info_at(self, step: int) -> RunInfo | None:
        """The run's facts with the optimizer that took ``step``, where a branch has put
        another in its place since (None: the same as now)."""
        from gdtui.engine.optimizers import get_spec

        info = self._info
        name, hyper = self.run_obj.optimizer_at(step)
        if info is None or (name == info.optimizer and {**info.hyper, **hyper} == info.hyper):
            return None
        spec = get_spec(name)
        full = {**spec.hyperparameters(), **hyper}
        return dataclasses.replace(info, optimizer=name, torch_name=spec.torch_name, hyper=full)

    def _live_end(self) -> None:
        if self.rewound is None:
            return
        self.rewound = None
        self.post(Rewound(self.generation, None, self._rewind_total(), None))
        self.publish()
        self._publish_landscape(slice_too=False)  # a model's regions: the live ones again

    def _branch(
        self,
        *,
        lr: float | str | None = None,
        scale: float | None = None,
        optimizer: str | None = None,
        hyper: dict[str, Any] | None = None,
    ) -> None:
        """Replace the run by ``Run.branch`` from the step shown: parameters, optimizer state and
        RNG state of that step, with the changed setting (none: the original path, bit for bit).
        The later steps are dropped; the branch is a new run for the screen (its curve and path
        end at that step and go on from there)."""
        from gdtui.engine.optimizers import get_spec

        run, step = self.run_obj, self.rewound
        assert run is not None and step is not None and self._info is not None
        scenario = self.scenario
        if optimizer is not None or hyper is not None:  # checked as a fresh run's would be
            scenario = scenario.with_overrides(optimizer=optimizer, hyper=hyper)
            optimizer, hyper = scenario.optimizer, dict(scenario.hyper)
            at = run.branch(step)  # the optimizer in use at that step
            defaults = get_spec(optimizer).hyperparameters()
            if optimizer == at.optimizer_name and {**defaults, **at.hyper} == {
                **defaults,
                **hyper,
            }:
                optimizer = hyper = None  # the same settings: keep the optimizer's state
        branch = run.branch(step, optimizer=optimizer, lr=lr, hyper=hyper)
        if scale is not None:
            branch.set_lr(branch.lr * scale)
        self.run_obj = branch
        self.rewound = None
        self.playing = False
        self._rate = None
        if self._landscape_kind is not None:  # a model: the summaries of the branch's step
            shown = self._rewound_layers
            self._layers = shown if shown is not None and shown.step == step else None
        # Later resets keep the branch's settings, as they keep a changed rate.
        self.scenario = dataclasses.replace(scenario, lr=branch.lr)
        self.generation += 1
        spec = get_spec(branch.optimizer_name)
        self._info = dataclasses.replace(
            self._info,
            generation=self.generation,
            optimizer=branch.optimizer_name,
            torch_name=spec.torch_name,
            lr=branch.lr,
            hyper={**spec.hyperparameters(), **branch.hyper},
            max_steps=branch.max_steps,
            surface=self._surface(),
            grid_size=self.grid_size,
        )
        self.post(RunStarted(self._info))
        self.post(Notice(f"branched from step {step}"))
        self.publish()
        self._publish_landscape(slice_too=True)  # a model's, at the branch's parameters

    # -- stepping ----------------------------------------------------------------------------------

    def _can_step(self, run: Run) -> bool:
        from gdtui.engine import Status

        if run.status is Status.FINISHED:
            run.extend(self.scenario.steps)
        if run.status is not Status.RUNNING:
            self.post(Notice(f"{run.reason} — press r to reset", "warning"))
            return False
        return True

    def _play(self) -> None:
        if not self._can_step(self.run_obj):
            self.playing = False
            self.publish()
            return
        self.playing = True
        now = time.perf_counter()
        self._pacer.restart(now)
        self._rate_mark = (now, self.run_obj.step_count)
        self._rate = None
        self.publish()

    def _step_batch(self) -> None:
        run = self.run_obj
        now = time.perf_counter()
        if self._landscape_kind is not None:  # a model run: records come as lists
            self._step_model_batch(now)
        elif self.speed is None:
            deadline = now + BATCH_SECONDS
            step = run.step
            while True:
                for _ in range(32):
                    if step() is None:
                        break
                if run.finished or time.perf_counter() >= deadline:
                    break
        else:
            due = self._pacer.due(now, self.speed)
            for _ in range(due):
                if run.step() is None:
                    break
        if run.finished:
            self.playing = False
            self._after_stop_check(notify=True)
            self.publish()
            self._publish_landscape(slice_too=True)

    def _step_model_batch(self, now: float) -> None:
        run = self.run_obj
        due = 1 << 30
        deadline = now + BATCH_SECONDS
        if self.speed is not None:
            due = self._pacer.due(now, self.speed)
        while due > 0 and not run.finished:
            for record in run.step():
                if record.layers is not None:
                    self._layers = record
            due -= 1
            if time.perf_counter() >= deadline:
                break

    def _note(self, record: Any) -> None:
        """Keep the newest record with per-layer summaries (a model's records between them
        carry the batch loss only)."""
        if getattr(record, "layers", None) is not None:
            self._layers = record

    def _after_stop_check(self, notify: bool) -> None:
        from gdtui.engine import Status

        run = self.run_obj
        if run.status is Status.RUNNING:
            return
        self.playing = False
        if notify:
            severity = "error" if run.status is Status.DIVERGED else "information"
            self.post(Notice(str(run.reason), severity))

    def _new_run(self, scenario: Scenario) -> None:
        from gdtui.engine.optimizers import get_spec
        from gdtui.engine.run import describe_device

        run = scenario.build_run()
        self.scenario = scenario
        self.run_obj = run
        self.generation += 1
        self._graph = ()
        self._rate = None
        self._layers = None
        self._landscape_kind = None
        self.rewound = None
        self._rewound_layers = None
        self._measured = []
        self._lr_varied = False
        if getattr(scenario, "is_model", False):
            self._new_model_run(scenario, run)
            return
        problem = run.problem
        info = RunInfo(
            generation=self.generation,
            scenario=scenario.name,
            title=scenario.title,
            description=scenario.description.strip(),
            problem=problem.name,
            expression=problem.expression,
            param_names=problem.param_names,
            init=problem.init,
            domain=problem.domain,
            minima=problem.minima,
            min_value=problem.min_value,
            optimizer=run.optimizer_name,
            torch_name=get_spec(run.optimizer_name).torch_name,
            lr=run.lr,
            hyper={**get_spec(run.optimizer_name).hyperparameters(), **scenario.hyper},
            device=describe_device(run.device),
            dtype=str(run.dtype).replace("torch.", ""),
            max_steps=run.max_steps,
            is_expression=scenario.expression is not None,
            surface=self._surface(),
            grid_size=self.grid_size,
            schedule=scenario.schedule,
            schedule_args=dict(scenario.schedule_args),
            curvature_every=scenario.curvature_every,
        )
        self._info = info
        self.post(RunStarted(info))

    def _new_model_run(self, scenario: Scenario, run: ModelRun) -> None:
        from gdtui.engine.models import describe_model
        from gdtui.engine.optimizers import get_spec
        from gdtui.engine.run import describe_device

        data = run.dataset
        if run.n_scalars == 2 and data.n_features == 1 and data.task == "regression":
            self._landscape_kind = "surface"
        elif data.task == "classification" and data.n_features == 2:
            self._landscape_kind = "regions"
        else:
            self._landscape_kind = "slice"
        kind = scenario.model.get("kind") or ("linear" if data.task == "regression" else "mlp")
        costly = str(kind).strip().lower() == "cnn" or run.n_scalars > BIG_MODEL
        self._slice_size = SLICE_SIZE_BIG if costly else SLICE_SIZE
        model = ModelInfo(
            dataset=data.name,
            task=data.task,
            n_train=data.n_train,
            n_val=len(data.y_val),
            n_features=data.n_features,
            n_classes=data.n_classes,
            kind=str(kind).strip().lower(),
            description=describe_model(run.model),
            loss_fn=run.loss_fn.name,
            batch_size=run.batch_size,
            steps_per_epoch=run.steps_per_epoch,
            n_scalars=run.n_scalars,
            layer_names=run.layer_names,
            layer_shapes=tuple(run.layer_shapes[n] for n in run.layer_names),
        )
        info = RunInfo(
            generation=self.generation,
            scenario=scenario.name,
            title=scenario.title,
            description=scenario.description.strip(),
            problem=data.name,
            expression=f"{model.kind} · {model.loss_fn}",
            param_names=run.param_names,
            init=run.current if run.small else (),
            domain=(),
            minima=(),
            min_value=None,
            optimizer=run.optimizer_name,
            torch_name=get_spec(run.optimizer_name).torch_name,
            lr=run.lr,
            hyper={**get_spec(run.optimizer_name).hyperparameters(), **scenario.hyper},
            device=describe_device(run.device),
            dtype=str(run.dtype).replace("torch.", ""),
            max_steps=run.max_steps,
            grid_size=self.grid_size,
            model=model,
            schedule=getattr(run, "schedule", None),
            schedule_args=dict(getattr(run, "schedule_args", None) or {}),
            curvature_every=getattr(run, "curvature_every", 0),
        )
        self._info = info
        self.post(RunStarted(info))

    def _compute_landscape(self) -> None:
        if self._landscape_kind is None:
            self.post(Notice("v computes a model's landscape; a formula's is always shown"))
            return
        self._publish_landscape(slice_too=True, force=True)

    def _publish_landscape(
        self, *, slice_too: bool, force: bool = False, run: ModelRun | None = None
    ) -> None:
        """Compute a model's landscape here, in the worker, and send it.

        The (slope, bias) surface and the decision regions are cheap (one batched pass); a
        filter-normalised slice costs SLICE_SIZE² full-set passes, so it is computed only when
        ``slice_too`` (the run stopped or paused, a new run, ``v``). ``run``: another state
        of the run than its live one (a step rewound to).
        """
        kind = self._landscape_kind
        if kind is None or self.grid_size is None or (kind == "slice" and not slice_too):
            return
        from gdtui.engine import LandscapeError, decision_regions, loss_slice, regression_surface

        run = self.run_obj if run is None else run
        nx, ny = self.grid_size
        surface = regions = None
        try:
            if kind == "surface":
                s = regression_surface(run, size=min(max(nx, ny), 121))
                surface = Surface(s.xs, s.ys, s.z, (s.minimum,), (s.x_name, s.y_name))
            elif kind == "regions":
                regions = decision_regions(run, size=min(max(nx, ny), 120))
            else:
                if force:
                    self.post(Notice("computing a loss slice through the current parameters…"))
                s = loss_slice(run, size=self._slice_size, seed=self.scenario.seed)
                surface = Surface(s.xs, s.ys, s.z, (), (s.x_name, s.y_name))
        except LandscapeError as err:
            self.post(Notice(str(err), "warning"))
            return
        self._last_landscape = time.perf_counter()
        view = ModelLandscape(kind, run.step_count, self.grid_size, surface, regions)
        self.post(ModelLandscapeReady(self.generation, view))

    def _epoch_curves(self, run: ModelRun) -> EpochCurves | None:
        import numpy as np

        if not run.epochs:
            return None
        curves = run.epoch_curves()
        n = len(curves["step"])
        stride = 1
        while n / stride > max(8, self.view_width):
            stride *= 2
        index = np.arange(stride - 1, n, stride)
        if stride > 1 and index[-1] != n - 1:
            index = np.append(index, n - 1)
        return EpochCurves(**{key: curves[key][index] for key in EpochCurves.__dataclass_fields__})

    def _layer_table(self, record: ModelRecord | None = None) -> np.ndarray | None:
        """A record's per-layer summaries as rows (by default the newest that has them)."""
        import numpy as np

        from gdtui.engine.layer_stats import SUMMARY_FIELDS

        if record is None:
            record = self._layers
        if record is None or record.layers is None:
            return None
        return np.array(
            [
                [np.nan if row[k] is None else row[k] for k in SUMMARY_FIELDS]
                for row in record.layers.values()
            ],
            dtype=float,
        )

    def _surface(self) -> Surface | None:
        import numpy as np

        run = self.run_obj
        if self._landscape_kind is not None:
            return None
        problem = run.problem
        if self.grid_size is None or problem.dim not in (1, 2):
            return None
        nx, ny = self.grid_size
        (x_lo, x_hi), *rest = problem.domain
        x = np.linspace(x_lo, x_hi, nx)
        minima = tuple(tuple(float(v) for v in m) for m in problem.minima)
        names = tuple(problem.param_names)
        if problem.dim == 1:
            return Surface(x, None, problem.evaluate_grid(x), minima, names)
        y_lo, y_hi = rest[0]
        y = np.linspace(y_lo, y_hi, ny)
        return Surface(x, y, problem.evaluate_grid(x, y), minima, names)

    # -- publishing --------------------------------------------------------------------------------

    def publish(self) -> None:
        """Send the run as it stands (a replaceable message)."""
        from gdtui.engine import format_graph

        run = self.run_obj
        if run is None:
            return
        now = time.perf_counter()
        if self.playing:
            mark_time, mark_step = self._rate_mark
            if now - mark_time >= 0.2:
                self._rate = (run.step_count - mark_step) / (now - mark_time)
                self._rate_mark = (now, run.step_count)
        else:
            self._rate = None
        if not self._graph and run.step_count:
            self._graph = tuple(format_graph(run.autograd_graph()))
        record = run.last_record
        if record is not None:
            record = dataclasses.replace(record, state=dict(record.state))
        model: dict[str, Any] = {}
        if self._landscape_kind is not None:  # a model run
            model = {
                "epoch": run.epoch,
                "evaluation": dataclasses.replace(run.epochs[-1]) if run.epochs else None,
                "epochs": self._epoch_curves(run),
                "layers": self._layer_table(),
                "layers_step": self._layers.step if self._layers is not None else 0,
            }
            if (
                self._landscape_kind == "regions"
                and self.playing
                and now - self._last_landscape >= REGIONS_INTERVAL
            ):
                self._publish_landscape(slice_too=False)
        snapshot = Snapshot(
            generation=self.generation,
            step=run.step_count,
            status=str(run.status),
            reason=run.reason,
            lr=run.lr,
            playing=self.playing,
            record=record,
            view=run.history.view(self.view_width),
            path=run.history.path(PATH_POINTS),
            current=run.current if not model or run.small else (),
            graph=self._graph,
            steps_per_s=self._rate,
            view_width=self.view_width,
            **model,
            **self._step_views(run),
        )
        self._last_publish = now
        self.post(Progress(snapshot))

    # -- the arithmetic of a step, curvature, schedules ---------------------------------------------

    def _step_views(self, run: Run | ModelRun) -> dict[str, Any]:
        """The Snapshot's arithmetic, λmax with its bound, and the rate curves (computed here,
        never on the UI thread)."""
        from gdtui.ui.arithmetic_view import arithmetic_for, newest_curvature, rate_curves

        arithmetic, note = arithmetic_for(run)
        lam, at, bound = newest_curvature(run, self._measured)
        rates = rate_curves(run, self.view_width, self._measured, varied=self._lr_varied)
        return {
            "arithmetic": arithmetic,
            "arithmetic_note": note,
            "lambda_max": lam,
            "lambda_at": at,
            "bound": bound,
            "rates": rates,
        }

    def _measure_curvature(self) -> None:
        """λmax at the current parameters, by power iteration on Hessian-vector products."""
        run = self.run_obj
        measure = getattr(run, "lambda_max", None)
        if not callable(measure):
            self.post(
                Notice(
                    "λmax on demand is for a formula; a model measures it with "
                    "[run] curvature_every",
                    "warning",
                )
            )
            return
        value = float(measure())  # a CurvatureError is a user error: one line
        self._measured.append((run.step_count + 1, value))
        self.publish()

    def _set_schedule(self, name: str | None, args: dict[str, Any]) -> None:
        """A fresh run with this schedule; a refused one leaves the run as it was."""
        scenario = self.scenario
        try:
            scenario = scenario.with_overrides(schedule=name or "none", schedule_args=dict(args))
        except self._user_errors as err:
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            self.post(ScheduleChecked(text))
            return
        self.post(ScheduleChecked(""))
        self._configure(
            {"schedule": scenario.schedule or "none", "schedule_args": dict(scenario.schedule_args)}
        )
