"""Learning-rate schedules in a model run: the same rates and parameters as a plain PyTorch loop
with the same ``torch.optim.lr_scheduler``; scenarios with ``[schedule]`` and ``[data]``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from gdtui.cli import main
from gdtui.engine import Run, RunError, ScheduleError, get_problem
from gdtui.engine.data import load_data
from gdtui.engine.model_run import ModelRun, build_model_run
from gdtui.engine.models import Loss, build_model
from gdtui.scenario import ScenarioError, load_file

STEPS = 40
SEED = 7


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread (and the test box is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# name, the scheduler's arguments (all given, so the plain loop builds the very same one), the
# torch class, the optimizer, the batch size
CASES = [
    ("cosine", {"T_max": 30, "eta_min": 0.01}, lr_scheduler.CosineAnnealingLR, "sgd", 16),
    ("step", {"step_size": 7, "gamma": 0.5}, lr_scheduler.StepLR, "momentum", "full"),
    (
        "one-cycle",
        {"max_lr": 0.4, "total_steps": STEPS, "cycle_momentum": False},
        lr_scheduler.OneCycleLR,
        "adam",
        16,
    ),
    (
        "plateau",
        {"factor": 0.5, "patience": 1, "threshold": 0.05},
        lr_scheduler.ReduceLROnPlateau,
        "sgd",
        "full",
    ),
]


def model_run(name, args, optimizer, batch_size) -> ModelRun:
    data = load_data({"name": "moons", "samples": 80}, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model("mlp", 2, 2, hidden=[8], activation="tanh")
    return ModelRun(
        data,
        model,
        Loss("cross_entropy", "classification", 2),
        optimizer,
        0.2,
        batch_size=batch_size,
        max_steps=STEPS,
        dtype="float64",
        device="cpu",
        seed=SEED,
        layer_every=1,
        schedule=name,
        schedule_args=args,
    )


def plain_loop(
    cls, args, optimizer, batch_size
) -> tuple[list[float], list[float], torch.nn.Module]:
    """A plain PyTorch loop: the rate each step used, its loss, and the trained model."""
    data = load_data({"name": "moons", "samples": 80}, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model("mlp", 2, 2, hidden=[8], activation="tanh").double()
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=0.2)
    else:
        opt = torch.optim.SGD(
            model.parameters(), lr=0.2, momentum=0.9 if optimizer == "momentum" else 0.0
        )
    scheduler = cls(opt, **args)
    x = torch.tensor(data.x_train)
    y = torch.tensor(data.y_train)
    g = torch.Generator().manual_seed(SEED)
    lrs: list[float] = []
    losses: list[float] = []
    while len(lrs) < STEPS:
        order = [None] if batch_size == "full" else torch.randperm(len(y), generator=g).split(16)
        for idx in order:
            if len(lrs) == STEPS:
                break
            xb, yb = (x, y) if idx is None else (x[idx], y[idx])
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            lrs.append(opt.param_groups[0]["lr"])
            losses.append(loss.item())
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(loss.item())
            else:
                scheduler.step()
    return lrs, losses, model


@pytest.mark.parametrize(("name", "args", "cls", "optimizer", "batch_size"), CASES)
def test_same_rates_and_parameters_as_a_plain_loop(name, args, cls, optimizer, batch_size):
    run = model_run(name, args, optimizer, batch_size)
    records = list(run.steps())
    lrs, losses, model = plain_loop(cls, args, optimizer, batch_size)
    assert [r.step for r in records] == list(range(1, STEPS + 1))
    assert [r.lr for r in records] == lrs
    assert len(set(lrs)) >= 3  # the schedule did move the rate
    assert [r.loss for r in records] == losses
    for a, b in zip(run.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert type(run.scheduler) is cls


def test_schedule_planned_over_the_budget_by_default() -> None:
    run = build_model_run(
        {"name": "moons", "samples": 80}, {}, {}, {"steps": 30, "device": "cpu"}, "sgd", 0.1,
        schedule="cosine",
    )  # fmt: skip
    assert run.scheduler.T_max == 30
    lrs = [r.lr for r in run.steps()]
    # the closed form of cosine annealing at step 30 of 30 (torch steps it recursively)
    assert lrs[0] == 0.1
    assert lrs[-1] == pytest.approx(0.1 * (1 + math.cos(29 / 30 * math.pi)) / 2, rel=1e-9)


def test_set_lr_scales_the_schedule_as_a_formula_run_does() -> None:
    """One rule for both runs: the schedule keeps its shape, scaled to the new rate (one-cycle
    computes each rate from its peak, so a bare change of the group's lr would be undone)."""

    def model_run() -> ModelRun:
        tables = ({"name": "moons", "samples": 80}, {}, {}, {"steps": 20, "device": "cpu"})
        return build_model_run(*tables, "sgd", 0.1, schedule="one-cycle")

    untouched = [r.lr for r in model_run().steps()]
    model = model_run()
    formula = Run(get_problem("quadratic"), "sgd", 0.1, max_steps=20, schedule="one-cycle")
    for run in (model, formula):
        for _ in range(5):
            run.step()
        assert run.set_lr(0.05) == 0.05
    a = [r.lr for r in model.steps()]
    b = [r.lr for r in formula.steps()]
    assert a == b and a[0] == 0.05
    factor = 0.05 / untouched[5]
    assert a == pytest.approx([factor * lr for lr in untouched[5:]], rel=1e-12)


def test_bad_schedules_are_one_line() -> None:
    tables = ({"name": "moons", "samples": 80}, {}, {}, {"device": "cpu"}, "sgd", 0.1)
    with pytest.raises(ScheduleError, match="unknown schedule 'cosinus'"):
        build_model_run(*tables, schedule="cosinus")
    with pytest.raises(ScheduleError, match="has no argument 'T_mx'"):
        build_model_run(*tables, schedule="cosine", schedule_args={"T_mx": 3})
    with pytest.raises(RunError, match="schedule_args are given but no schedule"):
        build_model_run(*tables, schedule_args={"T_max": 3})


SCENARIO = """
title = "A model with a schedule"
[data]
name = "moons"
samples = 80
[model]
kind = "mlp"
hidden = [8]
[optimizer]
name = "sgd"
lr = 0.4
[schedule]
name = "step"
step_size = 5
gamma = 0.5
[run]
steps = 12
batch_size = 16
"""


def test_a_data_scenario_with_a_schedule_loads_and_runs(tmp_path: Path, capsys) -> None:
    path = tmp_path / "scheduled.toml"
    path.write_text(SCENARIO)
    scenario = load_file(path)
    assert scenario.is_model and scenario.schedule == "step"
    run = scenario.build_run()
    assert [r.lr for r in run.steps()] == [0.4] * 5 + [0.2] * 5 + [0.1] * 2
    assert main(["run", str(path), "--format", "jsonl", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["lr"] for r in rows] == [0.4] * 5 + [0.2] * 5 + [0.1] * 2
    path.write_text(SCENARIO.replace("gamma = 0.5", "gama = 0.5"))
    with pytest.raises(ScenarioError, match=r"\[schedule\] schedule 'step' has no argument 'gama'"):
        load_file(path)
