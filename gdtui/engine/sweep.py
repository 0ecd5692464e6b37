"""Learning-rate sweep: many runs of one problem, one per rate, stepped together.

Every parameter becomes one tensor of shape ``(num,)``, element ``i`` belonging to run ``i``. The
compiled loss works elementwise, so one forward and one ``backward()`` of the summed loss gives
every run its own gradient (the runs share no arithmetic). The real ``torch.optim`` optimizer then
steps all runs at once, and each run's rate enters where the maths is linear in it:

* ``gradient`` mode (manual, sgd, momentum, nesterov without weight decay): the optimizer runs
  with ``lr = 1`` on gradients scaled by each run's rate. SGD's update ``lr·v`` with
  ``v ← βv + (1−d)·∇`` is linear in ∇, so scaling ∇ by the rate gives ``rate·v`` exactly.
* ``update`` mode (Adam, AdamW, RMSprop, Adagrad without lr_decay, Adadelta, Adamax, NAdam,
  RAdam, and SGD with weight decay): these keep state that never sees the learning rate (m, v,
  sums of ∇²), and their step is ``lr × (something of that state and the parameter)``. The
  optimizer steps with ``lr = 1``, the step it took Δ is read, and ``θ = θ_before + rate·Δ``.
* ``groups`` mode (everything else: ASGD, Rprop, Adafactor, Adagrad with lr_decay): one 0-d leaf
  per run and parameter, one param group per rate, the forward still batched through
  ``torch.stack``: the same arithmetic as separate runs, only less of it shared.

A run whose loss or gradient stops being finite, or whose loss grows past ``explode_factor``
times its start, is frozen at its last finite point: its gradient is zeroed and its parameters
are put back after every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gdtui.engine.curvature import CurvatureError, problem_lambda_max, stability_bound
from gdtui.engine.optimizers import check_hyperparameters, get_spec
from gdtui.engine.problems import Problem
from gdtui.engine.records import Status, finite_or_none
from gdtui.engine.run import resolve_device, resolve_dtype

if TYPE_CHECKING:
    from gdtui.engine.model_run import ModelRun

STATUSES = ("converged", "descending", "oscillating", "diverged")

# Optimizers whose state never sees lr and whose step is lr × (a function of state and θ).
_UPDATE_LINEAR = frozenset(
    {"adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam"}
)
_SGD_FAMILY = frozenset({"manual", "sgd", "momentum", "nesterov"})


class SweepError(ValueError):
    """A bad sweep setting (rates, steps); ``str()`` is one line."""


@dataclass
class SweepResult:
    """What a sweep measured, one entry per rate (rates ascending).

    ``status`` per rate is one of :data:`STATUSES`. ``edge`` is the smallest rate from which on
    no rate makes progress (the loss ends at or above where it started, or diverges); None when the
    largest rate still makes progress. ``suggested`` is the rate ``rule`` chose (None if none
    made progress). ``bound`` is the stability bound from the curvature λmax at the start point
    (``lambda_max``) for optimizers that have one (see :func:`stability_bound`), else None.
    """

    problem: str
    optimizer: str
    hyper: dict[str, Any]
    steps: int
    mode: str
    lrs: list[float]
    initial_loss: float
    final_loss: list[float | None]
    best_loss: list[float | None]
    status: list[str]
    diverged_at: list[int | None]
    edge: float | None
    suggested: float | None
    rule: str
    bound: float | None
    bound_formula: str
    lambda_max: float | None
    steps_done: int
    losses: np.ndarray = field(repr=False)
    paths: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and infinities become None."""
        return {
            "problem": self.problem,
            "optimizer": self.optimizer,
            "hyper": {k: list(v) if isinstance(v, tuple) else v for k, v in self.hyper.items()},
            "steps": self.steps,
            "steps_done": self.steps_done,
            "mode": self.mode,
            "lrs": list(self.lrs),
            "initial_loss": finite_or_none(self.initial_loss),
            "final_loss": [finite_or_none(v) for v in self.final_loss],
            "best_loss": [finite_or_none(v) for v in self.best_loss],
            "status": list(self.status),
            "diverged_at": list(self.diverged_at),
            "edge": self.edge,
            "suggested": self.suggested,
            "rule": self.rule,
            "bound": finite_or_none(self.bound),
            "bound_formula": self.bound_formula,
            "lambda_max": finite_or_none(self.lambda_max),
        }


def log_rates(lr_min: float, lr_max: float, num: int) -> list[float]:
    """``num`` rates spaced evenly in log from ``lr_min`` to ``lr_max`` (both included)."""
    for name, value in (("lr_min", lr_min), ("lr_max", lr_max)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SweepError(f"{name} must be a number, got {value!r}")
        if not (0 < value < math.inf):
            raise SweepError(f"{name} must be a finite number above 0, got {value!r}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise SweepError(f"num must be a whole number of at least 1, got {num!r}")
    if lr_min > lr_max:
        raise SweepError(f"lr_min ({lr_min:g}) must not be above lr_max ({lr_max:g})")
    if num == 1:
        return [float(lr_min)]
    return [float(v) for v in np.geomspace(lr_min, lr_max, num)]


def sweep_mode(optimizer: str, hyper: Mapping[str, Any] | None = None) -> str:
    """How the rates share one optimizer: ``gradient``, ``update`` or ``groups`` (see module)."""
    spec = get_spec(optimizer)
    params = {**spec.defaults(), **(hyper or {})}
    if spec.name in _SGD_FAMILY:
        return "gradient" if not params.get("weight_decay") else "update"
    if spec.name == "adagrad" and params.get("lr_decay"):
        return "groups"
    if spec.name in _UPDATE_LINEAR:
        return "update"
    return "groups"


def sweep(
    problem: Problem,
    optimizer: str = "sgd",
    lrs: Sequence[float] | None = None,
    *,
    lr_min: float = 1e-4,
    lr_max: float = 1.0,
    num: int = 64,
    steps: int = 1000,
    hyper: Mapping[str, Any] | None = None,
    dtype: str | torch.dtype = "float64",
    device: str | torch.device | None = "cpu",
    explode_factor: float = 1e10,
    grad_tol: float = 1e-6,
    mode: str | None = None,
    keep_paths: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SweepResult:
    """Run ``problem`` with ``optimizer`` once per learning rate, all rates at once.

    ``lrs`` (any order; sorted ascending in the result) or ``num`` rates log-spaced from
    ``lr_min`` to ``lr_max``. ``progress(done, steps)`` is called about 100 times; ``cancelled()``
    returning True stops early (``steps_done`` says where). ``mode`` forces ``groups`` (or any
    mode that is exact for the optimizer); ``keep_paths`` keeps every run's parameters at every
    step in ``paths`` (shape ``(steps + 1, num, dim)``). A run is ``converged`` when its final
    ‖∇‖ ≤ ``grad_tol``·max(1, ‖∇ at the start‖).
    """
    spec = get_spec(optimizer)
    checked = check_hyperparameters(spec, hyper or {})
    rates = _checked_rates(lrs, lr_min, lr_max, num, steps)
    exact = sweep_mode(spec.name, checked)
    chosen = exact if mode is None else mode
    if chosen not in (exact, "groups"):
        raise SweepError(f"mode '{mode}' is not exact for {spec.name}; use '{exact}' or 'groups'")
    torch_dtype = resolve_dtype(dtype)
    dev = resolve_device(device)
    engine = _Batch(problem, spec.name, checked, rates, torch_dtype, dev, chosen, explode_factor)
    every = max(1, steps // 100)
    done = 0
    tail_from = steps - max(10, steps // 10)
    paths = [engine.point()] if keep_paths else None
    for k in range(1, steps + 1):
        if cancelled is not None and cancelled():
            break
        engine.step(k, track_tail=k > tail_from)
        done = k
        if paths is not None:
            paths.append(engine.point())
        if progress is not None and (k % every == 0 or k == steps):
            progress(k, steps)
    return engine.result(problem, spec.name, checked, steps, done, grad_tol, paths)


def _checked_rates(
    lrs: Sequence[float] | None, lr_min: float, lr_max: float, num: int, steps: int
) -> list[float]:
    """The rates to sweep, ascending (``lrs``, or ``num`` log-spaced), and ``steps``, checked."""
    rates = sorted(float(v) for v in lrs) if lrs is not None else log_rates(lr_min, lr_max, num)
    if not rates:
        raise SweepError("no learning rates to sweep")
    for r in rates:
        if not (0 < r < math.inf):
            raise SweepError(f"learning rates must be finite and above 0, got {r!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SweepError(f"steps must be a whole number of at least 1, got {steps!r}")
    return rates


class _Batch:
    """The batched runs: parameters, optimizer, and what is tracked per run."""

    def __init__(
        self,
        problem: Problem,
        name: str,
        hyper: dict[str, Any],
        rates: list[float],
        dtype: torch.dtype,
        device: torch.device,
        mode: str,
        explode_factor: float,
    ) -> None:
        spec = get_spec(name)
        self.mode = mode
        self.loss_fn = problem.loss
        self.num = n = len(rates)
        self.rates = torch.tensor(rates, dtype=dtype, device=device)
        kwargs = {**spec.preset, **hyper}
        if mode == "groups":
            self.leaves = [
                [
                    torch.tensor(v, dtype=dtype, device=device, requires_grad=True)
                    for v in problem.init
                ]
                for _ in rates
            ]
            groups = [
                {"params": leaves, "lr": r} for leaves, r in zip(self.leaves, rates, strict=True)
            ]
            self.optimizer = spec.cls(groups, lr=rates[0], **kwargs)
            self.params = None
        else:
            self.params = [
                torch.full((n,), v, dtype=dtype, device=device, requires_grad=True)
                for v in problem.init
            ]
            self.optimizer = spec.cls(self.params, lr=1.0, **kwargs)
        with torch.no_grad():
            start = self._loss(self._tensors())
        if not torch.isfinite(start).all():
            raise SweepError(f"the loss at the start point is {start[0].item()}: nothing to sweep")
        self.initial_loss = float(start[0])
        self.limit = explode_factor * max(1.0, abs(self.initial_loss))
        self.active = torch.ones(n, dtype=torch.bool, device=device)
        self.any_frozen = False
        self.last_loss = start.clone()  # the last finite loss of every run
        self.best = start.clone()
        self.diverged_at: list[int | None] = [None] * n
        self.losses = [start.clone()]
        self.previous: list[torch.Tensor] | None = None  # θ of the last finite loss
        self.last_update: torch.Tensor | None = None
        self.turns = torch.zeros(n, dtype=torch.long, device=device)
        self.rises = torch.zeros(n, dtype=torch.long, device=device)
        self.tail_steps = 0

    # -- the batch as tensors ---------------------------------------------------------------------

    def _tensors(self) -> list[torch.Tensor]:
        """One ``(num,)`` tensor per parameter (stacked from the leaves in groups mode)."""
        if self.params is not None:
            return self.params
        dim = len(self.leaves[0])
        return [torch.stack([run[j] for run in self.leaves]) for j in range(dim)]

    def _loss(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.broadcast_to(self.loss_fn(*tensors), (self.num,))

    def _values(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [t.detach().clone() for t in self._tensors()]

    def _put(self, values: list[torch.Tensor], where: torch.Tensor) -> None:
        """Set the parameters of the runs in ``where`` to ``values``."""
        with torch.no_grad():
            if self.params is not None:
                for p, v in zip(self.params, values, strict=True):
                    p.copy_(torch.where(where, v, p))
            else:
                for i in torch.nonzero(where).flatten().tolist():
                    for j, leaf in enumerate(self.leaves[i]):
                        leaf.copy_(values[j][i])

    def point(self) -> np.ndarray:
        """Every run's parameters now, shape ``(num, dim)``."""
        return torch.stack(self._values(), dim=1).cpu().numpy()

    def _grads(self) -> list[torch.Tensor]:
        """The gradients, one ``(num,)`` tensor per parameter (a parameter the loss does not use
        gets a zero gradient, so the optimizer treats it like any other)."""
        if self.params is not None:
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            return [p.grad for p in self.params]
        dim = len(self.leaves[0])
        zero = torch.zeros((), dtype=self.rates.dtype, device=self.rates.device)
        return [
            torch.stack([zero if run[j].grad is None else run[j].grad for run in self.leaves])
            for j in range(dim)
        ]

    def _zero_frozen_grads(self) -> None:
        """Frozen runs get a zero gradient (so no NaN reaches the optimizer's state)."""
        with torch.no_grad():
            if self.params is not None:
                for p in self.params:
                    p.grad.copy_(torch.where(self.active, p.grad, torch.zeros_like(p.grad)))
                return
            for i in torch.nonzero(~self.active).flatten().tolist():
                for leaf in self.leaves[i]:
                    leaf.grad = torch.zeros_like(leaf)

    # -- one step -----------------------------------------------------------------------------------

    def step(self, number: int, track_tail: bool) -> None:
        """Forward, backward, freeze what went bad, the optimizer's step, the rates applied.

        An update that overflows shows at the next step as a non-finite loss, and the run is then
        put back to the point before it.
        """
        optimizer = self.optimizer
        optimizer.zero_grad(set_to_none=False)
        keep = self.mode == "update" or self.any_frozen or track_tail
        before = self._values() if keep else None
        loss = self._loss(self._tensors())
        loss.sum().backward()
        value = loss.detach()
        grads = self._grads()
        bad_loss = ~torch.isfinite(value) | (value > self.limit)
        total = value
        for g in grads:
            total = total + g  # a NaN or an infinity anywhere makes this non-finite
        bad = (bad_loss | ~torch.isfinite(total)) & self.active
        if bool(bad.any()):
            self._freeze(bad, bad_loss, number)
            before = self._values()  # θ now is the frozen point for those runs
        active = self.active
        if self.any_frozen:
            self._zero_frozen_grads()
            value = torch.where(active, value, self.last_loss)
        if track_tail:
            self.rises += (value > self.last_loss) & active
        self.last_loss = value
        self.best = torch.minimum(self.best, value)
        self.losses.append(value)
        self.previous = before
        if self.mode == "gradient":
            with torch.no_grad():
                for p in self.params:
                    p.grad.mul_(self.rates)
            optimizer.step()
        elif self.mode == "update":
            optimizer.step()
            with torch.no_grad():
                for p, b in zip(self.params, before, strict=True):
                    p.copy_(b + self.rates * (p - b))
        else:
            optimizer.step()
        if self.any_frozen:
            self._put(before, ~self.active)
        if track_tail:
            after = self._values()
            update = torch.stack([a - b for a, b in zip(after, before, strict=True)])
            if self.last_update is not None:
                turned = (update * self.last_update).sum(dim=0) < 0
                self.turns += turned & self.active
                self.tail_steps += 1
            self.last_update = update

    def _freeze(self, bad: torch.Tensor, bad_loss: torch.Tensor, number: int) -> None:
        """Freeze the runs in ``bad`` at their last finite point."""
        self.active &= ~bad
        self.any_frozen = True
        for i in torch.nonzero(bad).flatten().tolist():
            self.diverged_at[i] = number
        if self.previous is not None:
            # Where the loss itself went bad, θ now is past the last finite point: step back.
            back = bad & bad_loss
            if bool(back.any()):
                self._put(self.previous, back)

    # -- the verdict ------------------------------------------------------------------------------

    def result(
        self,
        problem: Problem,
        name: str,
        hyper: dict[str, Any],
        steps: int,
        done: int,
        grad_tol: float,
        paths: list[np.ndarray] | None,
    ) -> SweepResult:
        """Final loss and gradient at every run's last point, statuses, edge and suggestion."""
        self.optimizer.zero_grad(set_to_none=False)
        loss = self._loss(self._tensors())
        loss.sum().backward()
        value = loss.detach()
        grad_norm = torch.sqrt(sum(g * g for g in self._grads()))
        finite = torch.isfinite(value) & torch.isfinite(grad_norm) & (value <= self.limit)
        went_bad = self.active & ~finite
        for i in torch.nonzero(went_bad).flatten().tolist():
            self.diverged_at[i] = done + 1
        self.active &= finite
        final = torch.where(self.active, value, self.last_loss)
        best = torch.minimum(self.best, torch.where(self.active, value, self.best))
        losses = torch.stack(self.losses + [final]).cpu().numpy()
        first_grad = self._start_grad_norm(problem)
        lrs = self.rates.cpu().tolist()
        final_l = final.cpu().tolist()
        best_l = best.cpu().tolist()
        gnorm = grad_norm.cpu().tolist()
        active = self.active.cpu().tolist()
        turns = self.turns.cpu().tolist()
        rises = self.rises.cpu().tolist()
        tail = max(1, self.tail_steps)
        l0 = self.initial_loss
        window = max(10, steps // 10)
        status = []
        for i in range(self.num):
            if not active[i]:
                status.append("diverged")
            elif gnorm[i] <= grad_tol * max(1.0, first_grad):
                status.append("converged")
            elif final_l[i] >= l0:
                start_of_tail = losses[max(0, len(losses) - 1 - window), i]
                status.append("diverged" if final_l[i] > start_of_tail else "oscillating")
            elif turns[i] * 2 > tail or rises[i] * 4 > tail:
                status.append("oscillating")
            else:
                status.append("descending")
        progress = [active[i] and final_l[i] < l0 for i in range(self.num)]
        edge = _edge(lrs, progress)
        suggested, rule = _suggest(lrs, status, progress, final_l, edge)
        lam, bound, formula = _bound(
            lambda: problem_lambda_max(problem.loss, problem.init),
            name,
            hyper,
            "at the start point (exact for a quadratic)",
        )
        return SweepResult(
            problem=problem.name,
            optimizer=name,
            hyper=dict(hyper),
            steps=steps,
            mode=self.mode,
            lrs=lrs,
            initial_loss=l0,
            final_loss=[v if math.isfinite(v) else None for v in final_l],
            best_loss=[v if math.isfinite(v) else None for v in best_l],
            status=status,
            diverged_at=list(self.diverged_at),
            edge=edge,
            suggested=suggested,
            rule=rule,
            bound=bound,
            bound_formula=formula,
            lambda_max=lam,
            steps_done=done,
            losses=losses,
            paths=None if paths is None else np.stack(paths),
        )

    def _start_grad_norm(self, problem: Problem) -> float:
        params = [
            torch.tensor(v, dtype=self.rates.dtype, device=self.rates.device, requires_grad=True)
            for v in problem.init
        ]
        grads = torch.autograd.grad(problem.loss(*params), params, allow_unused=True)
        return math.sqrt(math.fsum(0.0 if g is None else float(g) ** 2 for g in grads))


def _edge(lrs: list[float], progress: list[bool]) -> float | None:
    """The smallest rate from which on no rate makes progress; None if the largest still does."""
    edge = None
    for lr, ok in zip(reversed(lrs), reversed(progress), strict=True):
        if ok:
            break
        edge = lr
    return edge


def _suggest(
    lrs: list[float],
    status: list[str],
    progress: list[bool],
    final: list[float],
    edge: float | None,
) -> tuple[float | None, str]:
    """The suggested rate and the rule that chose it."""
    converged = [lr for lr, s in zip(lrs, status, strict=True) if s == "converged"]
    if converged:
        if edge is not None:
            safe = [lr for lr in converged if lr <= edge / 2]
            if safe:
                return max(safe), (
                    f"the largest rate that converged at no more than half the edge ({edge:.3g})"
                )
        return max(converged), "the largest rate that converged"
    made = [(f, lr) for f, lr, ok in zip(final, lrs, progress, strict=True) if ok]
    if made:
        if edge is not None:
            safe = [(f, lr) for f, lr in made if lr <= edge / 2]
            if safe:
                return min(safe)[1], (
                    f"none converged: the lowest final loss at no more than half the edge "
                    f"({edge:.3g})"
                )
        return min(made)[1], "none converged: the rate with the lowest final loss"
    return None, "no rate made progress: try smaller rates"


def _bound(
    measure: Callable[[], float], name: str, hyper: Mapping[str, Any], where: str
) -> tuple[float | None, float | None, str]:
    """λmax by ``measure()`` and the optimizer's stability bound there, with its formula and
    ``where`` λmax was measured."""
    try:
        lam = measure()
    except CurvatureError as err:
        return None, None, str(err)
    found = stability_bound(lam, name, hyper)
    return lam, found.lr, f"{found.formula}; λmax = {lam:.6g} {where}"


# -- models trained on data ------------------------------------------------------------------------


def sweep_model(
    base: ModelRun,
    lrs: Sequence[float] | None = None,
    *,
    lr_min: float = 1e-4,
    lr_max: float = 1.0,
    num: int = 16,
    steps: int = 200,
    grad_tol: float = 1e-6,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SweepResult:
    """A learning-rate sweep of a model trained on data: one real :class:`ModelRun` per rate,
    one after another, each from ``base``'s starting weights (a copy of its model as it is, not
    stepped) with the same seed, so the same batches in the same order.

    Unlike a formula's sweep the runs are separate: a model's forward pass does not batch over
    rates. The losses judged are **full-set training losses** (the model's own evaluations, the
    last after the final step), not the noisy batch losses: ``initial_loss`` at the start,
    ``final_loss`` at the end, ``best_loss`` the lowest evaluated. A run is ``diverged`` when it
    stopped as diverged or ends non-finite, or ends above the start and still rising;
    ``oscillating`` when it ends at or above the start without rising, or when its evaluations
    rose on more than half of the last half's intervals; ``converged`` when the full-batch ‖∇‖
    at the end is within ``grad_tol``·max(1, ‖∇‖ at the start); else ``descending``. ``edge``,
    ``suggested`` and ``bound`` follow :func:`sweep` (λmax of the full-batch loss at the start).
    ``progress(done, total)`` counts steps over all runs.
    """
    rates = _checked_rates(lrs, lr_min, lr_max, num, steps)
    if base.taken:
        raise SweepError("the sweep starts from an unstepped run")
    start = base.evaluate()
    l0 = start["train_loss"]
    if l0 is None:
        raise SweepError("the training loss at the start is not finite: nothing to sweep")
    g0 = _full_batch_grad_norm(base)
    total = steps * len(rates)
    every = max(1, total // 100)
    done = 0
    final_l: list[float | None] = []
    best_l: list[float | None] = []
    status: list[str] = []
    diverged_at: list[int | None] = []
    curves = np.full((steps + 1, len(rates)), np.nan)
    curves[0, :] = l0
    stopped = False
    for i, rate in enumerate(rates):
        # No per-layer summaries: the sweep reads losses only (summaries never change a step).
        run = base.fresh(lr=rate, max_steps=steps, layer_every=1 << 30, curvature_every=0)
        for record in run.steps():
            curves[record.step, i] = record.loss
            done += 1
            if progress is not None and done % every == 0:
                progress(done, total)
            if cancelled is not None and cancelled():
                stopped = True
                break
        run.drain()
        # The evaluations before the end (the last step's own is the end, taken again below).
        evaluated = [
            (r.step, r.train_loss)
            for r in run.epochs
            if r.train_loss is not None and r.step < run.taken
        ]
        end = run.evaluate()["train_loss"]
        finite_end = end is not None and math.isfinite(end)
        diverged = run.status is Status.DIVERGED or not finite_end
        series = [l0, *(v for _, v in evaluated if math.isfinite(v))]
        if finite_end:
            series.append(end)
        final_l.append(end if finite_end else None)
        best_l.append(min(series))
        diverged_at.append(run.step_count + 1 if diverged else None)
        if diverged:
            status.append("diverged")
        elif _full_batch_grad_norm(run) <= grad_tol * max(1.0, g0):
            status.append("converged")
        elif end >= l0:
            status.append("diverged" if len(series) > 2 and end > series[-2] else "oscillating")
        else:
            tail = series[len(series) // 2 :]
            rises = sum(b > a for a, b in pairwise(tail))
            status.append("oscillating" if rises * 2 > max(1, len(tail) - 1) else "descending")
        if stopped:
            break
    runs = len(final_l)
    lrs_done = rates[:runs]
    progress_made = [
        s != "diverged" and f is not None and f < l0 for s, f in zip(status, final_l, strict=True)
    ]
    edge = _edge(lrs_done, progress_made)
    finals = [math.inf if f is None else f for f in final_l]
    suggested, rule = _suggest(lrs_done, status, progress_made, finals, edge)
    name = base.optimizer_name
    lam, bound, formula = _bound(
        base.lambda_max, name, base.hyper, "of the full-batch loss at the start"
    )
    if progress is not None:
        progress(done, total)
    return SweepResult(
        problem=base.dataset.name,
        optimizer=name,
        hyper=dict(base.hyper),
        steps=steps,
        mode="separate runs",
        lrs=lrs_done,
        initial_loss=l0,
        final_loss=final_l,
        best_loss=best_l,
        status=status,
        diverged_at=diverged_at,
        edge=edge,
        suggested=suggested,
        rule=rule,
        bound=bound,
        bound_formula=formula,
        lambda_max=lam,
        steps_done=steps if not stopped else int(done - steps * (runs - 1)),
        losses=curves[:, :runs],
    )


def _full_batch_grad_norm(run: ModelRun) -> float:
    """‖∇‖ of the full-set training loss at the run's parameters now (∞ where not finite)."""
    grads = torch.autograd.grad(run._full_batch_loss(), run.params, allow_unused=True)
    total = math.fsum(0.0 if g is None else float((g.double() ** 2).sum()) for g in grads)
    return math.sqrt(total) if math.isfinite(total) else math.inf
