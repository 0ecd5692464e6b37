"""Landscapes of model runs, computed in the engine (call them from a worker, never per step).

- :func:`regression_surface`: a two-parameter model (1-D linear regression: slope and bias) —
  its real full-batch training loss on a grid around the least-squares solution, with the path;
- :func:`decision_regions`: a classifier on 2-D data — the predicted class and its probability
  on a grid over the (standardised) features, with the training points;
- :func:`loss_slice`: any model — the training loss on a 2-D slice through the current
  parameters along two random, filter-normalised directions (Li et al. 2018, "Visualizing the
  Loss Landscape of Neural Nets"), seeded.

Each works on copies: the run's parameters are never touched, so a run may go on stepping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call

from gdtui.engine.model_run import ModelRun


class LandscapeError(ValueError):
    """A landscape asked of a model it does not fit; ``str()`` is one line."""


@dataclass(frozen=True)
class Surface:
    """A loss on a grid: ``z[i, j]`` at ``(xs[j], ys[i])`` (rows are y), plus where things are.

    For :func:`regression_surface` the axes are the two parameters (``x_name``, ``y_name``),
    ``path`` is the run's path ``(points, 2)`` and ``minimum`` the least-squares solution; for
    :func:`loss_slice` the axes are the step along each direction, ``path`` is empty and
    ``minimum`` is ``(0, 0)``: the current parameters.
    """

    xs: np.ndarray
    ys: np.ndarray
    z: np.ndarray
    x_name: str
    y_name: str
    path: np.ndarray
    minimum: tuple[float, float]


@dataclass(frozen=True)
class Regions:
    """Decision regions: ``label[i, j]`` (class index) and ``probability[i, j]`` of that class at
    ``(xs[j], ys[i])``, and the training points ``points (n, 2)`` with their ``labels``."""

    xs: np.ndarray
    ys: np.ndarray
    label: np.ndarray
    probability: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, str]


def _params(run: ModelRun) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in run.model.named_parameters()}


def regression_surface(run: ModelRun, size: int = 61) -> Surface:
    """The full-batch training loss of a one-feature linear model over (slope, bias).

    The grid is centred on the least-squares solution (numpy ``lstsq`` on the training rows)
    and wide enough for the start of the path and where it is now. Vectorised: one pass.
    """
    if run.n_scalars != 2 or run.dataset.n_features != 1 or run.dataset.task != "regression":
        raise LandscapeError("a (slope, bias) surface is for linear regression on one feature")
    x = run.dataset.x_train[:, 0]
    y = run.dataset.y_train
    design = np.c_[x, np.ones_like(x)]
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    path = run.history.path()
    points = np.vstack([path, [run.current]]) if len(path) else np.array([run.current])
    reach = np.abs(points - solution).max(axis=0)
    half = np.maximum(1.2 * reach, 1.0)
    xs = np.linspace(solution[0] - half[0], solution[0] + half[0], size)
    ys = np.linspace(solution[1] - half[1], solution[1] + half[1], size)
    with torch.no_grad():
        w = torch.as_tensor(xs, dtype=torch.float64)
        b = torch.as_tensor(ys, dtype=torch.float64)
        xt = torch.as_tensor(x, dtype=torch.float64)
        target = torch.as_tensor(y, dtype=torch.float64)
        # (rows = bias, columns = slope, samples)
        pred = w[None, :, None] * xt[None, None, :] + b[:, None, None]
        fn = run.loss_fn.fn
        z = fn(pred, target.expand_as(pred), reduction="none").mean(dim=-1)
    names = run.param_names
    return Surface(
        xs, ys, z.numpy(), names[0], names[1], path, (float(solution[0]), float(solution[1]))
    )


def decision_regions(run: ModelRun, size: int = 60, margin: float = 0.5) -> Regions:
    """Predicted class and its probability over the model's 2-D input space (standardised
    features when the data set is standardised), with the training points."""
    data = run.dataset
    if data.task != "classification" or data.n_features != 2:
        raise LandscapeError("decision regions are drawn for classifiers of two features")
    points = data.x_train
    lo = points.min(axis=0) - margin
    hi = points.max(axis=0) + margin
    xs = np.linspace(lo[0], hi[0], size)
    ys = np.linspace(lo[1], hi[1], size)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.as_tensor(np.c_[gx.ravel(), gy.ravel()], dtype=run.dtype).to(run.device)
    with torch.no_grad():
        out = functional_call(run.model, _params(run), (grid,))
        prob = run.loss_fn.probabilities(out)
        best, label = prob.max(dim=-1)
    return Regions(
        xs,
        ys,
        label.cpu().numpy().reshape(size, size),
        best.double().cpu().numpy().reshape(size, size),
        points.copy(),
        data.y_train.copy(),
        (data.feature_names[0], data.feature_names[1]),
    )


def filter_normalized_direction(
    params: dict[str, torch.Tensor], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """A random direction scaled filter by filter to the parameters' norms (Li et al. 2018).

    For a weight (2-D or more), each filter (row, or output channel) of a Gaussian direction is
    rescaled to the norm of the same filter of the weight; biases (1-D) get zero, as in the
    paper, so the slice shows the weights' landscape.
    """
    out = {}
    for name, p in params.items():
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p)
        if p.dim() <= 1:
            out[name] = torch.zeros_like(p)
            continue
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        p_norm = p.flatten(1).norm(dim=1)
        scale = (p_norm / d_norm).reshape(-1, *([1] * (p.dim() - 1)))
        out[name] = d * scale
    return out


def loss_slice(run: ModelRun, size: int = 21, span: float = 1.0, seed: int = 0) -> Surface:
    """Training loss at θ + a·δ + b·η for a, b in [−span, span] (``size`` steps each way),
    δ and η random filter-normalised directions drawn from ``seed``."""
    base = _params(run)
    generator = torch.Generator().manual_seed(seed)
    d1 = filter_normalized_direction(base, generator)
    d2 = filter_normalized_direction(base, generator)
    steps = np.linspace(-span, span, size)
    z = np.empty((size, size))
    x, target = run.x_train, run.t_train
    with torch.no_grad():
        rows = []
        for b in steps:
            for a in steps:
                moved = {n: base[n] + a * d1[n] + b * d2[n] for n in base}
                rows.append(run.loss_fn(functional_call(run.model, moved, (x,)), target))
        z[:] = torch.stack(rows).double().cpu().numpy().reshape(size, size)
    return Surface(steps, steps.copy(), z, "δ", "η", np.zeros((0, 2)), (0.0, 0.0))


def landscape(run: ModelRun, **kwargs) -> Surface | Regions:
    """The landscape that fits ``run``: the (slope, bias) surface, decision regions, or a slice."""
    data = run.dataset
    if run.n_scalars == 2 and data.n_features == 1 and data.task == "regression":
        return regression_surface(run, **kwargs)
    if data.task == "classification" and data.n_features == 2:
        return decision_regions(run, **kwargs)
    return loss_slice(run, **kwargs)
