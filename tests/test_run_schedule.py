"""A run with a learning-rate schedule and with curvature measured as it goes.

Schedules are checked against a plain PyTorch loop with the same ``torch.optim.lr_scheduler``
class; λmax against closed forms (a quadratic's largest curvature, Rosenbrock's Hessian).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from gdtui.engine import USER_ERRORS, Run, RunError, ScheduleError, get_problem
from gdtui.engine.run import DEFAULT_SCHEDULE_STEPS

F64 = torch.float64


def rosenbrock(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


# name -> (torch class, the full constructor arguments given to both the run and the reference)
SCHEDULES = {
    "step": (lr_scheduler.StepLR, {"step_size": 50, "gamma": 0.5}),
    "exponential": (lr_scheduler.ExponentialLR, {"gamma": 0.99}),
    "cosine": (lr_scheduler.CosineAnnealingLR, {"T_max": 200, "eta_min": 1e-5}),
    "one-cycle": (
        lr_scheduler.OneCycleLR,
        {"max_lr": 2e-3, "total_steps": 300, "cycle_momentum": False},
    ),
    "warmup": (lr_scheduler.LinearLR, {"start_factor": 0.1, "total_iters": 30}),
    "plateau": (lr_scheduler.ReduceLROnPlateau, {"patience": 5, "factor": 0.5, "threshold": 0.05}),
}
STEPS = 300


def reference_lrs(
    name: str, optimizer: str, lr: float, steps: int = STEPS
) -> tuple[list[float], list[tuple[float, float]]]:
    """A plain loop: real optimizer, real scheduler; the lr read before the scheduler steps."""
    cls, args = SCHEDULES[name]
    x = torch.tensor(-1.5, dtype=F64, requires_grad=True)
    y = torch.tensor(2.0, dtype=F64, requires_grad=True)
    opt = (
        torch.optim.SGD([x, y], lr=lr, momentum=0.9)
        if optimizer == "momentum"
        else torch.optim.Adam([x, y], lr=lr)
    )
    sched = cls(opt, **args)
    lrs, params = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = rosenbrock(x, y)
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if isinstance(sched, lr_scheduler.ReduceLROnPlateau):
            sched.step(loss.item())
        else:
            sched.step()
        params.append((x.item(), y.item()))
    return lrs, params


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_recorded_lrs_equal_a_plain_torch_loop(name: str, optimizer: str) -> None:
    lr = 1e-3
    expected_lrs, expected_params = reference_lrs(name, optimizer, lr)
    run = Run(
        get_problem("rosenbrock"), optimizer, lr=lr, schedule=name, schedule_args=SCHEDULES[name][1]
    )
    records = list(run.steps(STEPS))
    assert len(records) == STEPS
    assert [r.lr for r in records] == expected_lrs
    assert [r.params for r in records] == expected_params
    assert len(set(expected_lrs)) > 1, "the schedule must change the rate in this test"
    assert run.history.column("lr").tolist() == expected_lrs


def test_schedule_defaults_plan_over_the_budget_or_the_default() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=0.01, schedule="cosine", max_steps=100)
    lrs = [r.lr for r in run.steps()]
    assert len(lrs) == 100 and lrs[0] == 0.01
    # cosine over the 100-step budget: lr_k = lr/2 (1 + cos(pi k / 100))
    for k, got in enumerate(lrs):
        assert got == pytest.approx(0.005 * (1 + math.cos(math.pi * k / 100)), rel=1e-9, abs=1e-18)
    unbounded = Run(get_problem("quadratic"), "sgd", lr=0.01, schedule="cosine", tolerance=0)
    assert unbounded.scheduler.T_max == DEFAULT_SCHEDULE_STEPS


def test_bad_schedule_is_a_one_line_user_error() -> None:
    with pytest.raises(ScheduleError) as err:
        Run(get_problem("quadratic"), "sgd", schedule="cosin")
    assert "cosine" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ScheduleError) as err:
        Run(get_problem("quadratic"), "sgd", schedule="cosine", schedule_args={"T_maxx": 5})
    assert "T_max" in str(err.value)
    assert ScheduleError in USER_ERRORS


@pytest.mark.parametrize("name", [n for n in SCHEDULES if n != "plateau"])
def test_set_lr_scales_the_whole_schedule(name: str) -> None:
    args = SCHEDULES[name][1]
    problem = get_problem("rosenbrock")
    plain = Run(problem, "momentum", lr=1e-3, schedule=name, schedule_args=args)
    plain_lrs = [r.lr for r in plain.steps(STEPS)]
    # Before any step: the same as a run built at twice the rate (with one-cycle's peak and
    # cosine's floor doubled too: every rate of the schedule scales).
    doubled_args = {**args, **{k: 2 * args[k] for k in ("max_lr", "eta_min") if k in args}}
    built = Run(problem, "momentum", lr=2e-3, schedule=name, schedule_args=doubled_args)
    built_lrs = [r.lr for r in built.steps(STEPS)]
    early = Run(problem, "momentum", lr=1e-3, schedule=name, schedule_args=args)
    now = early.lr
    assert early.set_lr(2 * now) == 2 * now
    early_lrs = [r.lr for r in early.steps(STEPS)]
    assert early_lrs == pytest.approx(built_lrs, rel=1e-12, abs=1e-20)
    # Mid-run: from then on every rate is twice the unchanged schedule's.
    mid = Run(problem, "momentum", lr=1e-3, schedule=name, schedule_args=args)
    first = [r.lr for r in mid.steps(100)]
    assert mid.set_lr(2 * mid.lr) == 2 * plain_lrs[100]
    rest = [r.lr for r in mid.steps(STEPS - 100)]
    assert first == plain_lrs[:100]
    assert rest == pytest.approx([2 * v for v in plain_lrs[100:]], rel=1e-12, abs=1e-20)


def test_set_lr_with_plateau_sets_the_rate_and_its_floor() -> None:
    run = Run(
        get_problem("rosenbrock"),
        "sgd",
        lr=1e-3,
        schedule="plateau",
        schedule_args={"min_lr": 1e-4},
    )
    run.run(10)
    assert run.set_lr(5e-4) == 5e-4
    assert run.scheduler.min_lrs == pytest.approx([5e-5], rel=1e-15)
    assert run.step().lr == 5e-4


# -- curvature -----------------------------------------------------------------------------


def rosenbrock_lambda_max(x: float, y: float) -> float:
    """Rosenbrock's Hessian in closed form, and its larger eigenvalue."""
    a = 2 - 400 * (y - x * x) + 800 * x * x
    b = -400 * x
    c = 200.0
    return (a + c) / 2 + math.sqrt(((a - c) / 2) ** 2 + b * b)


def test_curvature_every_k_on_an_ill_conditioned_quadratic() -> None:
    problem = get_problem("ill-conditioned", {"l1": 3.0, "l2": 50.0})
    run = Run(problem, "sgd", lr=0.01, curvature_every=5)
    records = list(run.steps(30))
    for r in records:
        if r.step % 5 == 0:
            assert r.lambda_max == pytest.approx(50.0, rel=1e-9)  # max(l1, l2)
        else:
            assert r.lambda_max is None
    assert run.lambda_max() == pytest.approx(50.0, rel=1e-9)
    rows = [json.loads(json.dumps(r.to_dict(run.param_names))) for r in records]
    assert all("lambda_max" in row for row in rows)
    assert rows[3]["lambda_max"] is None and rows[4]["lambda_max"] == records[4].lambda_max
    held = run.history.column("lambda_max")
    assert held[4] == records[4].lambda_max and np.isnan(held[3])


def test_curvature_at_each_record_start_point_on_rosenbrock() -> None:
    run = Run(get_problem("rosenbrock"), "adam", lr=0.01, curvature_every=7)
    for r in run.steps(50):
        if r.lambda_max is not None:
            assert r.lambda_max == pytest.approx(rosenbrock_lambda_max(*r.params_before), rel=1e-8)
    assert run.lambda_max() == pytest.approx(rosenbrock_lambda_max(*run.current), rel=1e-8)


def test_measuring_curvature_leaves_the_path_alone() -> None:
    problem = get_problem("rosenbrock")
    plain = Run(problem, "adam", lr=0.01)
    measured = Run(problem, "adam", lr=0.01, curvature_every=1)
    for _ in range(40):
        a, b = plain.step(), measured.step()
        assert (a.loss, a.grad, a.params, a.state) == (b.loss, b.grad, b.params, b.state)
        assert b.lambda_max is not None


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_bad_curvature_every(value: object) -> None:
    with pytest.raises(RunError) as err:
        Run(get_problem("quadratic"), "sgd", curvature_every=value)  # type: ignore[arg-type]
    assert "curvature_every" in str(err.value)


def test_schedule_args_without_a_schedule() -> None:
    with pytest.raises(RunError) as err:
        Run(get_problem("quadratic"), "sgd", schedule_args={"T_max": 5})
    assert "no schedule" in str(err.value)
