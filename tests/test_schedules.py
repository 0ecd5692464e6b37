"""Schedules: the learning rates a run gets equal the torch scheduler's in a plain loop."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler

from gdtui.engine import get_problem, make_optimizer
from gdtui.engine.schedules import (
    SCHEDULES,
    ScheduleError,
    check_schedule,
    make_scheduler,
    schedule_arguments,
    step_scheduler,
)

STEPS = 120


def used_rates(make, optimizer_name="momentum", lr=1e-3, steps=STEPS, stepper=None):
    """The lr of every step of a plain loop on Rosenbrock, with the scheduler ``make`` builds."""
    problem = get_problem("rosenbrock")
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
    opt = make_optimizer(optimizer_name, params, lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = problem.loss(*params)
        loss.backward()
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if stepper is not None:
            stepper(sched, loss.item())
        elif isinstance(sched, lr_scheduler.ReduceLROnPlateau):
            sched.step(loss.item())
        else:
            sched.step()
    return out


PLAIN = {
    "step": lambda o: lr_scheduler.StepLR(o, step_size=STEPS // 3, gamma=0.1),
    "exponential": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.01 ** (1 / STEPS)),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=STEPS),
    "one-cycle": lambda o: lr_scheduler.OneCycleLR(
        o, max_lr=1e-3, total_steps=STEPS, cycle_momentum=False
    ),
    "warmup": lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=STEPS // 10),
    "plateau": lambda o: lr_scheduler.ReduceLROnPlateau(o),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_default_schedules_give_the_plain_loops_rates(name):
    ours = used_rates(lambda o: make_scheduler(name, o, {}, STEPS), stepper=step_scheduler)
    plain = used_rates(PLAIN[name])
    assert ours == plain
    assert len(set(ours)) > 1 or name == "plateau"


def test_plateau_reduces_when_the_loss_stalls():
    problem = get_problem("quadratic")
    params = [torch.tensor(5.0, dtype=torch.float64, requires_grad=True)]
    opt = make_optimizer("sgd", params, 1.0)  # lr = 2/λ: w bounces 5 ↔ -1, the loss stays 9
    sched = make_scheduler("plateau", opt, {"patience": 3, "factor": 0.5}, 100)
    rates = []
    for _ in range(20):
        opt.zero_grad()
        loss = problem.loss(*params)
        loss.backward()
        opt.step()
        rates.append(step_scheduler(sched, loss.item()))
    assert rates[0] == 1.0 and min(rates) < 1.0
    with pytest.raises(ScheduleError, match="needs the loss"):
        step_scheduler(sched)


def test_user_arguments_are_the_constructors_own():
    ours = used_rates(
        lambda o: make_scheduler("cosine", o, {"T_max": 30, "eta_min": 1e-5}, STEPS),
        stepper=step_scheduler,
    )
    plain = used_rates(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=30, eta_min=1e-5))
    assert ours == plain
    ours = used_rates(
        lambda o: make_scheduler("one-cycle", o, {"max_lr": 0.01, "cycle_momentum": True}, STEPS),
        stepper=step_scheduler,
    )
    plain = used_rates(lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.01, total_steps=STEPS))
    assert ours == plain


def test_one_cycle_holds_its_last_rate_past_its_length():
    problem = get_problem("quadratic")
    params = [torch.tensor(5.0, dtype=torch.float64, requires_grad=True)]
    opt = make_optimizer("sgd", params, 0.1)
    sched = make_scheduler("one-cycle", opt, {}, 10)
    rates = []
    for _ in range(15):
        opt.step()  # no gradient: nothing moves, but the scheduler sees a step taken
        rates.append(step_scheduler(sched))
    assert rates[-1] == rates[8] == pytest.approx(0.1 / 25 / 1e4)
    del problem


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("cosin", {}, "unknown schedule 'cosin' (did you mean 'cosine'?)"),
        ("cosine", {"T_maxx": 5}, "has no argument 'T_maxx' (did you mean 'T_max'?)"),
        ("cosine", {"T_max": "many"}, "T_max must be a whole number"),
        ("step", {"step_size": 2.5}, "step_size must be a whole number"),
        ("exponential", {"gamma": "fast"}, "gamma must be a number"),
        ("plateau", {"mode": "lowest"}, "mode must be one of min, max"),
        ("one-cycle", {"cycle_momentum": "yes"}, "cycle_momentum must be true or false"),
        ("one-cycle", {"pct_start": 1.5}, "schedule one-cycle: Expected float between 0 and 1"),
        ("warmup", {"start_factor": 0.0}, "schedule warmup: Starting multiplicative factor"),
        ("plateau", {"factor": 2.0}, "schedule plateau: Factor should be < 1.0"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(name, args, message):
    param = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([param], lr=0.1)
    with pytest.raises(ScheduleError) as info:
        make_scheduler(name, opt, args, 100)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert opt.param_groups[0]["lr"] == 0.1  # a refused schedule leaves the optimizer alone
    assert "initial_lr" not in opt.param_groups[0]


def test_check_schedule_without_a_run():
    assert check_schedule("cosine", {"T_max": 500}, 1000) == {"T_max": 500, "eta_min": 0.0}
    assert schedule_arguments("reduce-on-plateau", {}, 10, 0.1) == {}
    with pytest.raises(ScheduleError, match="total_steps"):
        check_schedule("cosine", {}, 0)
