"""StepRecord: one training step, with backprop's half and the optimizer's half kept apart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    CONVERGED = "converged"
    DIVERGED = "diverged"
    FINISHED = "finished"


@dataclass(slots=True)
class StepRecord:
    """One step of descent.

    Backprop (the map): ``loss`` at ``params_before``, the ``grad`` that ``backward()`` left in
    ``.grad``, and ``grad_norm``. Optimizer (the hiker): the ``update`` it actually applied
    (``params`` after − ``params_before``), ``update_norm``, the ``lr`` of its param group and its
    ``state`` after the step (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, … one value per
    parameter, read from ``optimizer.state``). Vectors are tuples in the run's parameter order.
    ``lambda_max`` is the top Hessian eigenvalue at ``params_before`` (where ``loss`` and ``grad``
    were measured) on the steps a run measures it (``Run(curvature_every=k)``), else None.
    """

    step: int
    loss: float
    params_before: tuple[float, ...]
    grad: tuple[float, ...]
    grad_norm: float
    params: tuple[float, ...]
    update: tuple[float, ...]
    update_norm: float
    lr: float
    state: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    status: Status = Status.RUNNING
    reason: str | None = None
    lambda_max: float | None = None

    @property
    def effective_lr(self) -> tuple[float | None, ...]:
        """Per parameter, update ÷ (−gradient): exactly lr for plain SGD; None where ∇ = 0."""
        return tuple(
            (u / -g) if g != 0.0 else None for u, g in zip(self.update, self.grad, strict=True)
        )

    @property
    def cos(self) -> float | None:
        """cos(−gradient, update): 1 when the step goes straight downhill; None if either is 0."""
        return cos_between(self.grad, self.update)

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready dict; vectors become objects keyed by parameter name."""

        def by_name(values: Sequence[float | None]) -> dict[str, float | None]:
            return {n: finite_or_none(v) for n, v in zip(names, values, strict=True)}

        return {
            "step": self.step,
            "loss": finite_or_none(self.loss),
            "params": by_name(self.params),
            "params_before": by_name(self.params_before),
            "grad": by_name(self.grad),
            "grad_norm": finite_or_none(self.grad_norm),
            "update": by_name(self.update),
            "update_norm": finite_or_none(self.update_norm),
            "effective_lr": by_name(self.effective_lr),
            "cos": finite_or_none(self.cos),
            "lr": self.lr,
            "lambda_max": finite_or_none(self.lambda_max),
            "state": {k: by_name(v) for k, v in self.state.items()},
            "status": str(self.status),
            "reason": self.reason,
        }


def cos_between(grad: Sequence[float], update: Sequence[float]) -> float | None:
    """cos of the angle between −grad and update, or None when either has zero length."""
    g_norm = math.hypot(*grad)
    u_norm = math.hypot(*update)
    if g_norm == 0.0 or u_norm == 0.0 or not math.isfinite(g_norm * u_norm):
        return None
    dot = -math.fsum(g * u for g, u in zip(grad, update, strict=True))
    return max(-1.0, min(1.0, dot / (g_norm * u_norm)))


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if value is None or not math.isfinite(value):
        return None
    return value


def loss_divergence(
    loss: float, step: int, limit: float | None, explode_factor: float
) -> tuple[str | None, float | None]:
    """Whether a step's loss stops a run as diverged: ``(reason or None, explode limit)``.

    A loss that is not finite diverges; the first finite loss sets the limit to
    ``explode_factor`` × max(1, |loss|), and a later loss above it has exploded. One rule for
    scalar runs and model runs.
    """
    if not math.isfinite(loss):
        where = "at the start point" if step == 1 else f"at step {step}"
        return f"loss became {loss} {where}", limit
    if limit is None:
        return None, explode_factor * max(1.0, abs(loss))
    if loss > limit:
        return f"loss exploded to {loss:.3g} at step {step}", limit
    return None, limit
