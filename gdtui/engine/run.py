"""Run: one descent. ``step()`` is forward, ``backward()``, ``optimizer.step()`` and a record.

The loop is exactly a plain PyTorch loop; the run only reads numbers around it (the loss, what
``backward()`` left in ``.grad``, the parameters before and after, ``optimizer.state``), so its
path equals the plain loop's bit for bit.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from gdtui import settings
from gdtui.engine import curvature, schedules
from gdtui.engine.history import History
from gdtui.engine.optimizers import check_hyperparameters, get_spec, make_optimizer, parse_lr
from gdtui.engine.problems import Problem
from gdtui.engine.records import Status, StepRecord, loss_divergence
from gdtui.engine.rewind import Checkpoint, Checkpoints, restore_checkpoint, take_checkpoint

DTYPES = {name: getattr(torch, name) for name in settings.DTYPES}

# The length a schedule is planned for when the run has no step budget (cosine anneals over it).
DEFAULT_SCHEDULE_STEPS = 1000


class RunError(ValueError):
    """A bad run setting (device, dtype, tolerance, steps); ``str()`` is one line."""


def _setting(check: Callable[..., Any], value: Any, **kwargs: Any) -> Any:
    """One of :mod:`gdtui.settings`' checks, its message raised as a :class:`RunError`."""
    try:
        return check(value, **kwargs)
    except settings.SettingError as err:
        raise RunError(str(err)) from None


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"float64"`` or ``"float32"`` (or a torch dtype) to a torch dtype."""
    if isinstance(name, torch.dtype):
        if name in DTYPES.values():
            return name
        raise RunError(f"dtype {name} is not supported; choose one of: {', '.join(DTYPES)}")
    return DTYPES[_setting(settings.check_dtype, name)]


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` is cuda where present, else cpu; asking for a missing cuda is a clear error."""
    key = "auto" if name is None else _setting(settings.check_device, name)
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key == "cpu":
        return torch.device("cpu")
    # cuda or cuda:N, as the settings check allows
    if not torch.cuda.is_available():
        built = "without CUDA" if torch.version.cuda is None else "with CUDA but sees no GPU"
        raise RunError(
            f"device '{name}' is not available: torch {torch.__version__} was built {built}"
        )
    device = torch.device(key)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise RunError(f"device '{name}' is not available: {torch.cuda.device_count()} GPU(s)")
    return device


def describe_device(device: torch.device) -> str:
    """A short human name: ``cpu`` or ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


@dataclass(frozen=True)
class GraphNode:
    """One node of the autograd graph that produced the loss: ``PowBackward0``, or a leaf."""

    name: str
    children: tuple[GraphNode, ...] = ()


class Run:
    """One descent of ``problem`` with a real ``torch.optim`` optimizer.

    ``max_steps`` (None: unbounded) gives the step budget; ``tolerance`` the convergence test:
    the gradient norm at or under it, or the loss changing by at most ``tolerance`` (relative,
    for losses above 1) while the update is tiny too. A loss that is not finite, or that grows past
    ``explode_factor`` times the starting loss, stops the run as diverged at the last finite step.

    ``schedule`` names a ``torch.optim.lr_scheduler`` preset (:mod:`gdtui.engine.schedules`) with
    the scheduler's own ``schedule_args``, planned over ``max_steps`` (or
    ``DEFAULT_SCHEDULE_STEPS``); it steps after every optimizer step, and each record's ``lr`` is
    the one that step used. ``curvature_every = k`` measures λmax (Hessian-vector products) at
    the start point of every k-th step into ``record.lambda_max``.

    Rewind: every ``checkpoint_every`` steps the run keeps a checkpoint (at most
    ``max_checkpoints``, thinned by powers of two), and it logs every change of setting
    (:meth:`set_lr`, a branch's new optimizer), so :meth:`state_at` and :meth:`branch` can
    rebuild any step exactly by replay from the nearest checkpoint.
    ``noise`` (σ ≥ 0) makes the gradient noisy and unbiased, as a mini-batch's is: each step
    differentiates f(θ) + ξ·θ with a fresh ξ ~ N(0, σ²) per parameter drawn from a generator
    seeded with ``seed``, so autograd itself returns ∇f + ξ. The recorded ``loss`` is f(θ) (the
    noise term has mean zero); ``grad`` is the noisy gradient the optimizer used.
    """

    def __init__(
        self,
        problem: Problem,
        optimizer: str = "sgd",
        lr: float | str | None = None,
        hyper: Mapping[str, Any] | None = None,
        *,
        max_steps: int | None = None,
        tolerance: float = 1e-10,
        dtype: str | torch.dtype = "float64",
        device: str | torch.device | None = "cpu",
        seed: int = 0,
        explode_factor: float = 1e10,
        history_capacity: int = 1 << 16,
        schedule: str | None = None,
        schedule_args: Mapping[str, Any] | None = None,
        curvature_every: int = 0,
        checkpoint_every: int = 128,
        max_checkpoints: int = 64,
        noise: float = 0.0,
    ) -> None:
        # Every constructor argument but the problem, so a replay or a branch builds its twin.
        self._config: dict[str, Any] = {
            k: dict(v) if isinstance(v, Mapping) else v
            for k, v in locals().items()
            if k not in ("self", "problem", "__class__")
        }
        if max_steps is not None:
            _setting(settings.check_steps, max_steps, text=False)
        _setting(settings.check_tolerance, tolerance, text=False)
        if isinstance(explode_factor, bool) or not (1 < float(explode_factor) < math.inf):
            raise RunError(
                f"explode_factor must be a finite number above 1, got {explode_factor!r}"
            )
        _setting(settings.check_seed, seed, text=False)
        if (
            isinstance(noise, bool)
            or not isinstance(noise, int | float)
            or not 0 <= noise < math.inf
        ):
            raise RunError(f"noise must be a finite number ≥ 0, got {noise!r}")
        if history_capacity < 4096:
            raise RunError(f"history_capacity must be at least 4096, got {history_capacity!r}")
        for name, value, least in (
            ("curvature_every", curvature_every, 0),
            ("checkpoint_every", checkpoint_every, 1),
            ("max_checkpoints", max_checkpoints, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise RunError(f"{name} must be a whole number ≥ {least}, got {value!r}")
        self.problem = problem
        self.optimizer_name = get_spec(optimizer).name
        self.hyper = dict(hyper or {})
        self.max_steps = None if max_steps is None else int(max_steps)
        self.tolerance = float(tolerance)
        self.dtype = resolve_dtype(dtype)
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.explode_factor = float(explode_factor)
        torch.manual_seed(self.seed)
        self.params = [
            torch.tensor(v, dtype=self.dtype, device=self.device, requires_grad=True)
            for v in problem.init
        ]
        lr = get_spec(optimizer).default_lr if lr is None else lr
        self.optimizer = make_optimizer(self.optimizer_name, self.params, parse_lr(lr), self.hyper)
        if schedule is None and schedule_args:
            raise RunError("schedule_args are given but no schedule is named")
        self.schedule = None if schedule is None else schedules.get_schedule(schedule).name
        self.schedule_args = dict(schedule_args or {})
        self.scheduler: Any = None
        if self.schedule is not None:
            self.scheduler = schedules.make_scheduler(
                self.schedule, self.optimizer, self.schedule_args, self._schedule_steps
            )
        self.curvature_every = int(curvature_every)
        self.history = History(problem.param_names, capacity=history_capacity)
        self.status = Status.RUNNING
        self.reason: str | None = None
        self.step_count = 0
        self.last_record: StepRecord | None = None
        self._last_loss: torch.Tensor | None = None
        self._state_dicts: list[dict[str, Any] | None] | None = None
        self._explode_limit: float | None = None
        self._loss_fn: Callable[..., torch.Tensor] = problem.loss
        self._current = self._read()
        # Changes of setting, (step, kind, args), applied after that step; replays apply them.
        self._events: list[tuple[int, str, tuple[Any, ...]]] = []
        self._events_applied = 0
        # The start's checkpoint is taken by the first step (once every attribute exists).
        self._checkpoints = Checkpoints(checkpoint_every, max_checkpoints)
        self.noise = float(noise)
        self._noise_generator = (
            torch.Generator(device=self.device).manual_seed(self.seed) if noise else None
        )

    # -- properties ----------------------------------------------------------------------------

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names, in the order of every vector in a record."""
        return self.problem.param_names

    @property
    def lr(self) -> float:
        """The learning rate the optimizer uses now."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def current(self) -> tuple[float, ...]:
        """The parameters now (after the last step)."""
        return self._current

    @property
    def finished(self) -> bool:
        """True once the run has stopped (converged, diverged or out of steps)."""
        return self.status is not Status.RUNNING

    @property
    def _schedule_steps(self) -> int:
        return self.max_steps if self.max_steps is not None else DEFAULT_SCHEDULE_STEPS

    @property
    def checkpoint_steps(self) -> tuple[int, ...]:
        """The steps a checkpoint is held for (bounded: see :class:`~gdtui.engine.rewind.Checkpoints`)."""
        return self._checkpoints.steps

    # -- control -------------------------------------------------------------------------------

    def set_lr(self, lr: float | str) -> float:
        """Change the learning rate of the running optimizer at once (no reset); return it.

        With a schedule, the whole schedule is scaled by ``lr / self.lr``: the rate becomes
        ``lr`` now and every later rate the scheduler gives is scaled by the same factor (its base
        rates, one-cycle's peak and floor, cosine's ``eta_min``, plateau's floors). Where the
        schedule has the rate at 0 now, the factor is ``lr`` over the schedule's base rate, and
        the rate stays 0 for this step; the return value is the rate in use.
        """
        value = parse_lr(lr)
        self._set_lr(value)
        self._log("lr", (value,))
        return self.lr

    def _set_lr(self, value: float) -> None:
        schedules.set_rate(self.optimizer, self.scheduler, value)

    def _log(self, kind: str, args: tuple[Any, ...]) -> None:
        """Log a change of setting made after the current step, for replays."""
        self._events.append((self.step_count, kind, args))
        self._events_applied = len(self._events)

    def _apply(self, kind: str, args: tuple[Any, ...]) -> None:
        """Make a logged change again (during a replay)."""
        if kind == "lr":
            self._set_lr(*args)
        else:
            self._replace_optimizer(*args)
        self._events_applied += 1

    def _replace_optimizer(self, name: str, lr: float, hyper: Mapping[str, Any]) -> None:
        """A fresh optimizer ``name`` (no state) at ``lr``; a schedule keeps its position and
        its shape, scaled to the new rate."""
        spec = get_spec(name)
        optimizer = make_optimizer(spec.name, self.params, lr, hyper)
        old = self.optimizer
        self.optimizer = optimizer
        self.optimizer_name = spec.name
        self.hyper = dict(hyper)
        self._state_dicts = None
        if self.scheduler is not None:
            state = self.scheduler.state_dict()
            scheduler = schedules.make_scheduler(
                self.schedule, optimizer, self.schedule_args, self._schedule_steps
            )
            scheduler.load_state_dict(state)
            for new_group, old_group in zip(optimizer.param_groups, old.param_groups, strict=True):
                for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                    if key in old_group:
                        new_group[key] = old_group[key]
            self.scheduler = scheduler
            self._set_lr(lr)

    def extend(self, steps: int) -> None:
        """Allow ``steps`` more steps after a finished budget, so a paused run can go on."""
        if self.status is Status.FINISHED:
            self.status = Status.RUNNING
            self.reason = None
        if self.max_steps is not None:
            self.max_steps = max(self.max_steps, self.step_count) + steps

    # -- stepping ------------------------------------------------------------------------------

    def _read(self) -> tuple[float, ...]:
        return tuple([p.item() for p in self.params])

    def _stop(self, status: Status, reason: str) -> None:
        self.status = status
        self.reason = reason
        if self.last_record is not None:
            self.last_record.status = status
            self.last_record.reason = reason

    def step(self) -> StepRecord | None:
        """Take one step and return its record; None if the run has stopped (see ``status``).

        A non-finite or exploding loss (or gradient) stops the run before the optimizer moves:
        the last record is then the last finite step and carries the reason.
        """
        if self.status is not Status.RUNNING:
            return None
        if not self._checkpoints:
            self._checkpoints.add(self._checkpoint())
        number = self.step_count + 1
        params = self.params
        optimizer = self.optimizer
        # The parameters only change in optimizer.step(), so "before" is the last "after".
        before = self._current
        optimizer.zero_grad()
        loss = self._loss_fn(*params)
        loss_value = loss.item()
        if self.noise:
            xi = torch.randn(
                len(params), generator=self._noise_generator, dtype=self.dtype, device=self.device
            )
            loss = loss + self.noise * torch.dot(xi, torch.stack(params))
        diverged, self._explode_limit = loss_divergence(
            loss_value, number, self._explode_limit, self.explode_factor
        )
        if diverged is not None:
            self._stop(Status.DIVERGED, diverged)
            return None
        loss.backward()
        grad = tuple([0.0 if p.grad is None else p.grad.item() for p in params])
        grad_norm = math.hypot(*grad)
        if math.isnan(grad_norm):
            # A finite loss with a NaN gradient: a point where the loss is not differentiable
            # (sqrt(x**2) at 0, Ackley at its minimum), not a divergence.
            where = "at the start point" if number == 1 else f"at step {number}"
            self._stop(
                Status.FINISHED,
                f"stopped {where}: the gradient is undefined at this point "
                "(the loss is not differentiable here, e.g. sqrt or abs at 0)",
            )
            return None
        if not math.isfinite(grad_norm):
            self._stop(Status.DIVERGED, f"gradient became {grad_norm} at step {number}")
            return None
        sharpness = None
        if self.curvature_every and number % self.curvature_every == 0:
            # At params_before, where this record's loss and gradient are measured; the
            # Hessian-vector products use their own graph and leave .grad alone.
            sharpness = self._measure_curvature()
        optimizer.step()
        after = self._current = self._read()
        update = tuple(map(operator.sub, after, before))
        update_norm = math.hypot(*update)
        if not math.isfinite(update_norm):
            with torch.no_grad():
                for p, value in zip(params, before, strict=True):
                    p.fill_(value)
            self._current = before
            self._stop(Status.DIVERGED, f"the update became {update_norm} at step {number}")
            return None
        record = StepRecord(
            number,
            loss_value,
            before,
            grad,
            grad_norm,
            after,
            update,
            update_norm,
            optimizer.param_groups[0]["lr"],
            self._read_state(),
        )
        if not isinstance(record.lr, float):
            record.lr = float(record.lr)
        record.lambda_max = sharpness
        if self.scheduler is not None:
            # The record keeps the rate this step used; the scheduler sets the next one.
            schedules.step_scheduler(self.scheduler, loss_value)
        previous = self.last_record
        self.step_count = number
        self.last_record = record
        self._last_loss = loss
        tol = self.tolerance
        if grad_norm <= tol:
            self._stop(
                Status.CONVERGED,
                f"converged at step {number}: ‖∇‖ = {grad_norm:.3g} is within the tolerance {tol:g}",
            )
        elif (
            previous is not None
            and abs(loss_value - previous.loss) <= tol * max(1.0, abs(loss_value))
            and update_norm <= math.sqrt(tol) * max(1.0, math.hypot(*after))
        ):
            change = abs(loss_value - previous.loss)
            scale = max(1.0, abs(loss_value))
            relative = f" ({change / scale:.3g} relative)" if scale > 1.0 else ""
            # Loss barely moving while the gradient is still large compared with the loss is a
            # stall (a tiny learning rate), not a minimum: near a minimum ‖∇‖² shrinks with the
            # loss (for a quadratic, ‖∇‖² ≈ 2λ·loss), so this says nothing there.
            stalled = grad_norm * grad_norm > scale
            hint = (
                f"; but ‖∇‖ = {grad_norm:.3g}: the learning rate may be too small"
                if stalled
                else ""
            )
            self._stop(
                Status.CONVERGED,
                f"converged at step {number}: the loss changed by {change:.3g}{relative}, "
                f"within the tolerance {tol:g}{hint}",
            )
        elif self.max_steps is not None and number >= self.max_steps:
            self._stop(
                Status.FINISHED,
                f"finished the budget of {self.max_steps} step{'s' if self.max_steps != 1 else ''}",
            )
        self.history.append(record)
        if number % self._checkpoints.spacing == 0:
            self._checkpoints.add(self._checkpoint())
        return record

    # -- curvature -----------------------------------------------------------------------------

    def _measure_curvature(self) -> float | None:
        try:
            return curvature.lambda_max(lambda: self._loss_fn(*self.params), self.params)
        except curvature.CurvatureError:
            return None  # a non-finite Hessian-vector product: no number to show

    def lambda_max(self) -> float:
        """λmax, the top Hessian eigenvalue of the loss at the current parameters (power
        iteration on Hessian-vector products); :class:`CurvatureError` where it has none."""
        return curvature.lambda_max(lambda: self._loss_fn(*self.params), self.params)

    # -- rewind and branch ---------------------------------------------------------------------

    def _checkpoint(self) -> Checkpoint:
        return take_checkpoint(self)

    def _twin(self) -> Run:
        """A run built with this one's constructor settings (at its start)."""
        return Run(self.problem, **self._config)

    def _load(self, checkpoint: Checkpoint) -> None:
        """Take the state of ``checkpoint`` (of this run or its parent)."""
        saved = checkpoint.run_state
        if (saved["optimizer_name"], saved["hyper"]) != (self.optimizer_name, self.hyper):
            self._replace_optimizer(saved["optimizer_name"], self.lr, saved["hyper"])
        restore_checkpoint(self, checkpoint)

    def _replay(self, k: int, *, history: bool) -> Run:
        """A new run in the exact state after step ``k`` of this one: the nearest checkpoint,
        then the steps and changes of setting up to ``k`` again."""
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= self.step_count:
            raise RunError(f"step must be a whole number from 0 to {self.step_count}, got {k!r}")
        if not self._checkpoints:
            self._checkpoints.add(self._checkpoint())
        checkpoint = self._checkpoints.before(k)
        twin = self._twin()
        twin._load(checkpoint)
        twin._checkpoints = self._checkpoints.prefix(checkpoint.step)
        if history:
            twin.history = self.history.prefix(checkpoint.step)
        cut = bisect_right([e[0] for e in self._events], k)
        twin._events = list(self._events[:cut])
        pending = twin._events[twin._events_applied :]
        budget = self.max_steps
        twin.max_steps = None  # the replay is within steps already taken
        i = 0
        while True:
            while i < len(pending) and pending[i][0] <= twin.step_count:
                twin._apply(*pending[i][1:])
                i += 1
            if twin.step_count >= k:
                break
            if twin.step() is None:  # cannot happen: the same numbers went through before
                raise RunError(f"replay stopped at step {twin.step_count}: {twin.reason}")
        twin.max_steps = budget
        if budget is not None and twin.step_count >= budget and twin.status is Status.RUNNING:
            twin.status = Status.FINISHED
            twin.reason = f"finished the budget of {budget} step{'s' if budget != 1 else ''}"
        return twin

    def optimizer_at(self, k: int) -> tuple[str, dict[str, Any]]:
        """The optimizer (its name and hyper-parameters) that took step ``k``: the one this run
        was built with, or the last one a branch put in its place before that step."""
        name, hyper = get_spec(self._config["optimizer"]).name, dict(self._config["hyper"] or {})
        for step, kind, args in self._events:
            if step >= k:
                break
            if kind == "optimizer":
                name, hyper = args[0], dict(args[2])
        return name, hyper

    def state_at(self, k: int) -> StepRecord:
        """The record of step ``k`` (1 … ``step_count``): from the history where it holds that
        step exactly, else replayed from the nearest checkpoint on a scratch copy (this run and
        torch's global RNG are left as they were)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.step_count:
            raise RunError(f"step must be a whole number from 1 to {self.step_count}, got {k!r}")
        if k == self.step_count and self.last_record is not None:
            return self.last_record
        held = self.history.record_at(k)
        if held is not None:
            if not self.curvature_every or k % self.curvature_every:
                held.lambda_max = None
            return held
        with torch.random.fork_rng(devices=[]):
            twin = self._replay(k, history=False)
        assert twin.last_record is not None
        return twin.last_record

    def branch(
        self,
        k: int,
        *,
        optimizer: str | None = None,
        lr: float | str | None = None,
        hyper: Mapping[str, Any] | None = None,
    ) -> Run:
        """A new run that starts from the exact state after step ``k`` of this one and goes on
        from there (this run is left as it is).

        Parameters, optimizer state, scheduler state, RNG state (the run's generators and
        torch's global one), step count and history up to ``k`` are those of step ``k``. With
        no change it walks this run's path bit for bit. ``lr`` changes the rate as
        :meth:`set_lr` does (the optimizer state is kept). A different ``optimizer``, or any
        ``hyper`` (the new optimizer's hyper-parameters), starts a fresh optimizer with no
        state, at ``lr`` or else the rate in use at step ``k``; a schedule keeps its position.
        The branch has this run's step budget (``extend`` it to go further).
        """
        name = None if optimizer is None else get_spec(optimizer).name
        rate = None if lr is None else parse_lr(lr)
        if hyper is not None and not isinstance(hyper, Mapping):
            raise RunError(f"hyper must be a table of hyper-parameters, got {hyper!r}")
        if name is not None:  # a bad setting fails before any replay
            check_hyperparameters(get_spec(name), dict(hyper or {}))
        twin = self._replay(k, history=True)
        name = twin.optimizer_name if name is None else name
        fresh = name != twin.optimizer_name or (hyper is not None and dict(hyper) != twin.hyper)
        if fresh:
            rate = twin.lr if rate is None else rate
            new_hyper = dict(hyper or {})
            twin._replace_optimizer(name, rate, new_hyper)
            twin._log("optimizer", (name, rate, new_hyper))
        elif rate is not None:
            twin.set_lr(rate)
        return twin

    def _read_state(self) -> dict[str, tuple[float | None, ...]]:
        state = self.optimizer.state
        if not state:  # plain SGD keeps none
            return {}
        # A parameter's state dict stays the same object once the optimizer has made it, so it
        # is looked up once (hashing a tensor key costs about a microsecond a time).
        found = self._state_dicts
        if found is None:
            found = [state.get(p) for p in self.params]
            if all(entry is not None for entry in found):
                self._state_dicts = found
        n = len(self.params)
        out: dict[str, list[float | None]] = {}
        for i, entries in enumerate(found):
            if not entries:
                continue
            for key, value in entries.items():
                column = out.get(key)
                if column is None:
                    column = out[key] = [None] * n
                if isinstance(value, torch.Tensor):
                    column[i] = value.item() if value.numel() == 1 else float(value.norm())
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    column[i] = float(value)
        return {k: tuple(v) for k, v in out.items()}

    def steps(self, count: int | None = None) -> Iterator[StepRecord]:
        """Step until stopped (or ``count`` more steps), yielding each record."""
        taken = 0
        while count is None or taken < count:
            record = self.step()
            if record is None:
                return
            taken += 1
            yield record

    def run(self, count: int | None = None) -> StepRecord | None:
        """Step until stopped (or ``count`` more steps); return the last record."""
        for _ in self.steps(count):
            pass
        return self.last_record

    # -- backprop's graph ----------------------------------------------------------------------

    def autograd_graph(self) -> GraphNode | None:
        """The graph ``backward()`` walked for the last step, from ``loss.grad_fn`` down to the
        parameters (``AccumulateGrad`` leaves are named after their parameter)."""
        if self._last_loss is None or self._last_loss.grad_fn is None:
            return None
        names = {id(p): n for p, n in zip(self.params, self.param_names, strict=True)}
        seen = 0

        def walk(fn: Any, depth: int) -> GraphNode:
            nonlocal seen
            seen += 1
            variable = getattr(fn, "variable", None)
            if variable is not None:
                return GraphNode(names.get(id(variable), "leaf"))
            children = tuple(
                walk(child, depth + 1)
                for child, _ in fn.next_functions
                if child is not None and depth < 64 and seen < 512
            )
            return GraphNode(fn.name(), children)

        return walk(self._last_loss.grad_fn, 0)


def format_graph(node: GraphNode | None) -> list[str]:
    """The graph as text lines: chains as ``PowBackward0 ← SubBackward0 ← w``, branches indented."""
    if node is None:
        return []
    lines: list[str] = []

    def emit(n: GraphNode, indent: str) -> None:
        chain = [n.name]
        while len(n.children) == 1:
            n = n.children[0]
            chain.append(n.name)
        lines.append(indent + " ← ".join(chain))
        for child in n.children:
            emit(child, indent + "  ")

    emit(node, "")
    return lines
