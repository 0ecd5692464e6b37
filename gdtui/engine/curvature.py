"""Curvature: the top Hessian eigenvalue λmax by Hessian-vector products, and the stability
bounds it gives for a learning rate.

λmax is found by power iteration on ``v ↦ H·v``, each product a double backward through
``torch.autograd.grad`` (the Hessian itself is never formed), from a seeded random start vector, so
the same point always gives the same number. It works for a few scalar parameters and for the
parameter list of an ``nn.Module`` alike: pass a closure that computes the loss. A series of
measurements along a path (a model run's ``curvature_every``) may start each one from the last
one's eigenvector (``start``), which the top eigenvector moves little between.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gdtui.engine.optimizers import get_spec


class CurvatureError(ValueError):
    """The loss or its curvature cannot be measured here; ``str()`` is one line."""


def _hvp_operator(
    loss_closure: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]
) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """``v ↦ H·v`` at the current point: one forward and one backward with ``create_graph``,
    then one more backward per product (the graph of the gradient is kept between products)."""
    params = list(params)
    loss = loss_closure()
    if loss.numel() != 1:
        raise CurvatureError(f"the loss must be a single number, got shape {tuple(loss.shape)}")
    if not torch.isfinite(loss.detach()).all():
        raise CurvatureError(f"the loss is {loss.item()} here: no curvature to measure")
    grads = torch.autograd.grad(loss.reshape(()), params, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]
    live = [g for g in grads if g.requires_grad]

    def product(vec: list[torch.Tensor]) -> list[torch.Tensor]:
        if not live:  # a loss linear in every parameter: H = 0
            return [torch.zeros_like(p) for p in params]
        dot = sum((g * v).sum() for g, v in zip(grads, vec, strict=True) if g.requires_grad)
        out = torch.autograd.grad(dot, params, retain_graph=True, allow_unused=True)
        return [
            torch.zeros_like(p) if h is None else h.detach()
            for h, p in zip(out, params, strict=True)
        ]

    return product


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return math.fsum(float((x * y).sum()) for x, y in zip(a, b, strict=True))


def _power(
    product: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    start: list[torch.Tensor],
    shift: float,
    iters: int,
    tol: float,
) -> tuple[float, int, bool, list[torch.Tensor]]:
    """Power iteration on ``H − shift·I``: its eigenvalue of largest magnitude (Rayleigh
    quotient), the iterations used, whether the relative change fell under ``tol``, and the
    last (unit) iterate, the eigenvector's estimate."""
    norm = math.sqrt(_dot(start, start))
    v = [x / norm for x in start]
    value = math.nan
    for i in range(1, iters + 1):
        hv = product(v)
        if shift:
            hv = [h - shift * x for h, x in zip(hv, v, strict=True)]
        new_value = _dot(v, hv)
        norm = math.sqrt(_dot(hv, hv))
        if not math.isfinite(norm):
            raise CurvatureError("the Hessian-vector product is not finite here")
        if norm == 0.0:
            return 0.0, i, True, v
        v = [h / norm for h in hv]
        if abs(new_value - value) <= tol * max(1.0, abs(new_value)):
            return new_value, i, True, v
        value = new_value
    return value, iters, False, v


@dataclass(frozen=True)
class Curvature:
    """λmax with how it was found: ``iterations`` Hessian-vector products, ``converged`` when the
    Rayleigh quotient settled within the tolerance, and ``vector``, the unit eigenvector's
    estimate (one tensor per parameter; a warm ``start`` for the next measurement)."""

    lambda_max: float
    iterations: int
    converged: bool
    vector: list[torch.Tensor] | None = field(default=None, repr=False, compare=False)


def top_eigenvalue(
    loss_closure: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    iters: int = 200,
    tol: float = 1e-10,
    seed: int = 0,
    start: Sequence[torch.Tensor] | None = None,
) -> Curvature:
    """The largest (most positive) Hessian eigenvalue at the current point, with its diagnostics.

    Power iteration finds the eigenvalue of largest magnitude μ; where μ < 0 (a saddle or a
    maximum dominates), a second iteration on ``H − μ·I`` finds the top one. It starts from
    ``start`` (one tensor per parameter, e.g. the last measurement's ``vector``) where given and
    not zero, else from a random vector seeded with ``seed``.
    """
    params = list(params)
    if not params:
        raise CurvatureError("no parameters to measure the curvature of")
    if iters < 1:
        raise CurvatureError(f"iters must be at least 1, got {iters!r}")
    if start is not None:
        start = [
            s.detach().to(dtype=p.dtype, device=p.device)
            for s, p in zip(start, params, strict=True)
        ]
        if not all(s.shape == p.shape for s, p in zip(start, params, strict=True)):
            raise CurvatureError("the start vector's shapes are not the parameters'")
        if not math.isfinite(_dot(start, start)) or _dot(start, start) == 0.0:
            start = None
    if start is None:
        generator = torch.Generator().manual_seed(seed)
        start = [
            torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype).to(p.device)
            for p in params
        ]
    product = _hvp_operator(loss_closure, params)
    mu, used, converged, vector = _power(product, start, 0.0, iters, tol)
    if mu >= 0:
        return Curvature(mu, used, converged, vector)
    shifted, more, converged, vector = _power(product, start, mu, iters, tol)
    return Curvature(shifted + mu, used + more, converged, vector)


def lambda_max(
    loss_closure: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    iters: int = 200,
    tol: float = 1e-10,
    seed: int = 0,
) -> float:
    """The top Hessian eigenvalue λmax of ``loss_closure()`` with respect to ``params`` (a list of
    0-d tensors, or a module's ``parameters()``), at their current values."""
    return top_eigenvalue(loss_closure, params, iters=iters, tol=tol, seed=seed).lambda_max


def problem_lambda_max(
    loss: Callable[..., torch.Tensor],
    point: Sequence[float],
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    iters: int = 200,
    tol: float = 1e-10,
) -> float:
    """λmax of a problem's ``loss(*params)`` at ``point`` (scalar parameters, fresh tensors)."""
    params = [torch.tensor(float(v), dtype=dtype, device=device, requires_grad=True) for v in point]
    return lambda_max(lambda: loss(*params), params, iters=iters, tol=tol)


@dataclass(frozen=True)
class StabilityBound:
    """The largest stable learning rate on a quadratic with top curvature λmax, and its formula.

    ``lr`` is None where no bound is known for the optimizer (``formula`` then says why).
    """

    lr: float | None
    formula: str


def stability_bound(
    lambda_max: float, optimizer: str, hyper: Mapping[str, Any] | None = None
) -> StabilityBound:
    """The learning rate above which descent on a quadratic with top curvature ``lambda_max``
    diverges, for the optimizer's preset plus ``hyper``.

    Plain gradient descent (manual, sgd): ``lr < 2/λ``. Heavy-ball momentum β (torch's SGD
    momentum, ``v ← βv + (1−d)∇``, ``w ← w − lr·v``): ``lr < (2 + 2β)/((1−d)·λ)``. Nesterov
    (torch's form, ``w ← w − lr·(∇ + β·v)``): the characteristic polynomial
    ``z² − (1+β)(1−h)z + β(1−h)`` with ``h = lr·λ`` is stable (Jury) iff ``h < (2+2β)/(1+2β)``,
    so ``lr < (2 + 2β)/((1 + 2β)·λ)``. L2 ``weight_decay`` adds to every curvature. Adaptive
    optimizers (Adam, RMSprop, …) rescale each step by the gradient itself: no bound of this
    form, ``lr`` is None.
    """
    spec = get_spec(optimizer)
    params = {**spec.defaults(), **(hyper or {})}
    wd = float(params.get("weight_decay", 0.0) or 0.0)
    if spec.name not in ("manual", "sgd", "momentum", "nesterov"):
        return StabilityBound(None, f"no closed-form bound for {spec.name} (adaptive steps)")
    curvature = lambda_max + wd
    if not curvature > 0 or not math.isfinite(curvature):
        return StabilityBound(None, f"λmax = {lambda_max:.4g}: no bound where curvature ≤ 0")
    beta = float(params.get("momentum", 0.0) or 0.0)
    damp = float(params.get("dampening", 0.0) or 0.0)
    lam = "λmax" if wd == 0 else "(λmax + weight_decay)"
    if beta == 0.0:
        return StabilityBound(2.0 / curvature, f"lr < 2/{lam}")
    if params.get("nesterov"):
        return StabilityBound(
            (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * curvature),
            f"lr < (2 + 2β)/((1 + 2β)·{lam}), β = {beta:g} (Nesterov)",
        )
    if damp >= 1.0:
        return StabilityBound(None, "dampening 1 stops the momentum buffer from moving")
    return StabilityBound(
        (2.0 + 2.0 * beta) / ((1.0 - damp) * curvature),
        f"lr < (2 + 2β)/{lam}, β = {beta:g}"
        + (f" (÷ (1 − dampening), dampening = {damp:g})" if damp else ""),
    )


def stability_bounds(
    lambda_max: float, optimizer: str, hyper: Mapping[str, Any] | None = None
) -> dict[str, float | None]:
    """Both classical bounds for display beside the learning rate: ``gd`` (2/λmax), ``momentum``
    ((2+2β)/λmax with the optimizer's β, or None without momentum), and ``optimizer``, the one that
    applies to this optimizer (None where none is known)."""
    spec = get_spec(optimizer)
    params = {**spec.defaults(), **(hyper or {})}
    beta = float(params.get("momentum", 0.0) or 0.0)
    ok = lambda_max > 0 and math.isfinite(lambda_max)
    return {
        "gd": 2.0 / lambda_max if ok else None,
        "momentum": (2.0 + 2.0 * beta) / lambda_max if ok and beta > 0 else None,
        "optimizer": stability_bound(lambda_max, optimizer, hyper).lr,
    }
