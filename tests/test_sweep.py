"""The vectorised learning-rate sweep against separate plain torch.optim runs, and its verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gdtui.engine import get_problem, make_optimizer
from gdtui.engine.sweep import SweepError, log_rates, sweep, sweep_mode


def plain_paths(problem, optimizer, lrs, steps, hyper=None):
    """One plain torch loop per rate: zero_grad, loss, backward, step; the parameters each step."""
    out = []
    for lr in lrs:
        params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
        opt = make_optimizer(optimizer, params, lr, hyper)
        path = [[p.item() for p in params]]
        for _ in range(steps):
            opt.zero_grad()
            problem.loss(*params).backward()
            opt.step()
            path.append([p.item() for p in params])
        out.append(path)
    return np.array(out).transpose(1, 0, 2)  # (steps + 1, num, dim)


CASES = [
    ("rosenbrock", "sgd", list(np.geomspace(1e-5, 1.5e-3, 5)), None),
    ("rosenbrock", "momentum", list(np.geomspace(1e-6, 1.5e-4, 5)), None),
    ("rosenbrock", "adam", list(np.geomspace(1e-4, 1e-1, 5)), None),
    ("quadratic", "sgd", list(np.geomspace(1e-3, 0.9, 6)), None),
    ("quadratic", "momentum", list(np.geomspace(1e-3, 0.9, 6)), None),
    ("quadratic", "adam", list(np.geomspace(1e-3, 1.0, 6)), None),
    ("ill-conditioned", "nesterov", list(np.geomspace(1e-3, 0.06, 5)), None),
]


@pytest.mark.parametrize(("problem_name", "optimizer", "lrs", "hyper"), CASES)
def test_vectorised_paths_equal_separate_runs(problem_name, optimizer, lrs, hyper):
    problem = get_problem(problem_name)
    steps = 300
    result = sweep(problem, optimizer, lrs, steps=steps, hyper=hyper, keep_paths=True)
    assert result.mode in ("gradient", "update")
    expected = plain_paths(problem, optimizer, lrs, steps, hyper)
    assert result.paths.shape == expected.shape
    assert np.max(np.abs(result.paths - expected)) < 1e-12
    assert all(s != "diverged" for s in result.status)


@pytest.mark.parametrize(
    ("optimizer", "hyper", "mode"),
    [
        ("sgd", {"weight_decay": 0.1}, "update"),
        ("momentum", {"dampening": 0.3}, "gradient"),
        ("adamw", None, "update"),
        ("adam", {"amsgrad": True, "weight_decay": 0.01}, "update"),
        ("rmsprop", {"momentum": 0.5, "centered": True}, "update"),
        ("adagrad", None, "update"),
        ("adadelta", None, "update"),
        ("adamax", None, "update"),
        ("nadam", None, "update"),
        ("radam", None, "update"),
        ("adagrad", {"lr_decay": 0.01}, "groups"),
        ("asgd", None, "groups"),
        ("rprop", None, "groups"),
    ],
)
def test_every_mode_walks_the_separate_paths(optimizer, hyper, mode):
    problem = get_problem("rosenbrock")
    lrs = [1e-4, 3e-4, 1e-3]
    assert sweep_mode(optimizer, hyper) == mode
    result = sweep(problem, optimizer, lrs, steps=150, hyper=hyper, keep_paths=True)
    assert result.mode == mode
    expected = plain_paths(problem, optimizer, lrs, 150, hyper)
    assert np.max(np.abs(result.paths - expected)) < 1e-12


def test_groups_mode_forced_is_exact_too():
    problem = get_problem("quadratic")
    lrs = [0.01, 0.1, 0.5]
    result = sweep(problem, "adam", lrs, steps=60, mode="groups", keep_paths=True)
    assert result.mode == "groups"
    assert np.max(np.abs(result.paths - plain_paths(problem, "adam", lrs, 60))) < 1e-12
    with pytest.raises(SweepError, match="not exact"):
        sweep(problem, "rprop", lrs, steps=5, mode="update")


def test_a_diverging_rate_is_frozen_and_leaves_the_others_alone():
    problem = get_problem("quadratic")
    lrs = [0.1, 0.5, 1.5, 5.0]  # 2/λ = 1: the last two diverge
    result = sweep(problem, "sgd", lrs, steps=400, keep_paths=True)
    assert result.status[2:] == ["diverged", "diverged"]
    expected = plain_paths(problem, "sgd", lrs[:2], 400)
    assert np.max(np.abs(result.paths[:, :2] - expected)) < 1e-12
    # Frozen at the last finite point: the parameters stop moving once the run is stopped.
    k = result.diverged_at[3]
    assert k is not None and k < 400
    assert np.all(np.isfinite(result.paths[:, 3]))
    assert np.all(result.paths[k:, 3] == result.paths[-1, 3])
    # Its loss before freezing is what a plain run saw: (w-2)² growing by (1-2·lr)² each step.
    assert result.best_loss[3] == 9.0
    assert result.final_loss[3] > 9.0 * 1e10 / 81  # explode limit 1e10 × loss0, minus one step
    assert result.edge == 1.5


def test_statuses_edge_and_suggestion_on_the_quadratic():
    problem = get_problem("quadratic")  # λ = 2: stable for lr < 1, monotone for lr < 0.5
    lrs = [1e-4, 0.01, 0.3, 0.9, 1.0, 1.001, 3.0]
    result = sweep(problem, "sgd", lrs, steps=1000)
    assert result.status == [
        "descending",  # 1e-4: (1 - 2e-4)^1000 ≈ 0.82 of the way still to go
        "converged",
        "converged",
        "converged",  # 0.9: the weight flips sides each step, but |1 - 1.8| = 0.8 < 1
        "oscillating",  # 1.0: w bounces between 5 and -1 for ever
        "diverged",  # 1.001: grows slowly (×54 in 1000 steps), not yet past the explode limit
        "diverged",
    ]
    assert result.edge == 1.0  # the loss ends where it started: no progress
    assert result.bound == pytest.approx(1.0, rel=1e-9)
    assert result.lambda_max == pytest.approx(2.0, rel=1e-9)
    assert result.suggested == 0.3
    assert "half the edge" in result.rule
    assert result.diverged_at[5] is None  # still finite
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    for key in ("lrs", "final_loss", "best_loss", "status", "edge", "bound"):
        assert key in data
    assert data["lrs"] == lrs


def test_oscillation_seen_in_the_updates():
    problem = get_problem("ill-conditioned")  # l2 = 20: y overshoots for lr in (0.05, 0.1)
    result = sweep(problem, "sgd", [0.0999], steps=200)
    assert result.status == ["oscillating"]
    result = sweep(problem, "sgd", [0.001], steps=200)
    assert result.status == ["descending"]


def test_json_has_no_nan_when_everything_blows_up():
    problem = get_problem("rosenbrock")
    result = sweep(problem, "sgd", [0.5, 1.0], steps=50)
    assert result.status == ["diverged", "diverged"]
    assert result.edge == 0.5
    assert result.suggested is None
    assert "no rate made progress" in result.rule
    json.dumps(result.to_dict(), allow_nan=False)


def test_rates_log_spaced_and_progress_reported():
    assert log_rates(1e-3, 1e-1, 3) == pytest.approx([1e-3, 1e-2, 1e-1])
    seen = []
    result = sweep(
        get_problem("quadratic"),
        "sgd",
        lr_min=1e-3,
        lr_max=1e-1,
        num=8,
        steps=200,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(result.lrs) == 8 and result.lrs[0] == pytest.approx(1e-3)
    assert seen[-1] == (200, 200) and len(seen) == 100
    stop_after = iter(range(10**6))
    result = sweep(
        get_problem("quadratic"), "sgd", [0.1], steps=200, cancelled=lambda: next(stop_after) >= 7
    )
    assert result.steps_done == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr_min": 0.0}, "lr_min must be a finite number above 0"),
        ({"lr_min": 1.0, "lr_max": 0.1}, "must not be above"),
        ({"num": 0}, "num must be"),
        ({"steps": 0}, "steps must be"),
        ({"lrs": [0.1, math.inf]}, "finite and above 0"),
    ],
)
def test_bad_settings_are_one_line(kwargs, message):
    with pytest.raises(SweepError, match=message) as info:
        sweep(get_problem("quadratic"), "sgd", **kwargs)
    assert "\n" not in str(info.value)
