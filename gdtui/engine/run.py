"""Run: one descent. ``step()`` is forward, ``backward()``, ``optimizer.step()`` and a record.

The loop is exactly a plain PyTorch loop; the run only reads numbers around it (the loss, what
``backward()`` left in ``.grad``, the parameters before and after, ``optimizer.state``), so its
path equals the plain loop's bit for bit.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from gdtui import settings
from gdtui.engine.history import History
from gdtui.engine.optimizers import get_spec, make_optimizer, parse_lr
from gdtui.engine.problems import Problem
from gdtui.engine.records import Status, StepRecord

DTYPES = {name: getattr(torch, name) for name in settings.DTYPES}


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
        noise: float = 0.0,
    ) -> None:
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

    # -- control -------------------------------------------------------------------------------

    def set_lr(self, lr: float | str) -> float:
        """Change the learning rate of the running optimizer at once (no reset)."""
        value = parse_lr(lr)
        for group in self.optimizer.param_groups:
            group["lr"] = value
        return value

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
        if not math.isfinite(loss_value):
            where = "at the start point" if number == 1 else f"at step {number}"
            self._stop(Status.DIVERGED, f"loss became {loss_value} {where}")
            return None
        if self._explode_limit is None:
            self._explode_limit = self.explode_factor * max(1.0, abs(loss_value))
        elif loss_value > self._explode_limit:
            self._stop(Status.DIVERGED, f"loss exploded to {loss_value:.3g} at step {number}")
            return None
        loss.backward()
        grad = tuple([0.0 if p.grad is None else p.grad.item() for p in params])
        grad_norm = math.hypot(*grad)
        if not math.isfinite(grad_norm):
            self._stop(Status.DIVERGED, f"gradient became {grad_norm} at step {number}")
            return None
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
        return record

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
