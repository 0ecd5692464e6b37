"""The learning-rate sweep of a model trained on data: one real ModelRun per rate from the same
start. Each rate's final loss is a plain PyTorch loop's at that rate; statuses, the edge and
the stability bound are checked against least squares, where the maths is known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gdtui import cli
from gdtui.engine.data import load_data
from gdtui.engine.model_run import ModelRun
from gdtui.engine.models import Loss, build_model
from gdtui.engine.sweep import SweepError, sweep_model
from gdtui.scenario import load_scenario

SEED = 4


def regression_base(steps: int = 60) -> ModelRun:
    """Least squares on one feature, full batch, float64: λmax of the loss is 2·var-like and
    exact, so plain SGD is stable exactly for lr < 2/λmax."""
    data = load_data({"name": "regression", "samples": 80, "features": 1}, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model("linear", 1, 1)
    return ModelRun(
        data, model, Loss("mse", "regression", 1), "sgd", 0.01,
        max_steps=steps, dtype="float64", device="cpu", seed=SEED,
    )  # fmt: skip


def test_each_rate_is_a_plain_training_loop_from_the_same_start() -> None:
    """Mini-batches of 16 with Adam on moons: rate i's final full-set training loss is that of
    a plain loop at rate i with the same seed, batches and initial weights."""
    data = load_data({"name": "moons", "samples": 80}, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model("mlp", 2, 2, hidden=[8], activation="tanh")
    base = ModelRun(
        data, model, Loss("cross_entropy", "classification", 2), "adam", 0.01,
        batch_size=16, max_steps=30, dtype="float64", device="cpu", seed=SEED,
    )  # fmt: skip
    result = sweep_model(base, [0.3, 0.003, 0.03], steps=30)
    assert result.lrs == [0.003, 0.03, 0.3]
    assert base.taken == 0  # the base run is only a starting point
    x, y = torch.tensor(data.x_train), torch.tensor(data.y_train)
    for lr, final in zip(result.lrs, result.final_loss, strict=True):
        torch.manual_seed(SEED)
        net = build_model("mlp", 2, 2, hidden=[8], activation="tanh").double()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        g = torch.Generator().manual_seed(SEED)
        taken = 0
        while taken < 30:
            for idx in torch.randperm(len(y), generator=g).split(16):
                if taken == 30:
                    break
                opt.zero_grad()
                F.cross_entropy(net(x[idx]), y[idx]).backward()
                opt.step()
                taken += 1
        with torch.no_grad():
            expected = F.cross_entropy(net(x), y).item()
        assert final == pytest.approx(expected, rel=1e-12, abs=1e-15)
    with torch.no_grad():
        start = F.cross_entropy(base.model(x), y).item()
    assert result.initial_loss == pytest.approx(start, rel=1e-12)


def test_least_squares_edge_agrees_with_two_over_lambda_max() -> None:
    """Plain SGD on least squares: rates under 2/λmax descend or converge, rates over it
    diverge; the measured edge is the first rate above the bound, which is 2/λmax of
    2/n·XᵀX (with the bias column)."""
    base = regression_base(steps=200)
    result = sweep_model(base, lr_min=0.05, lr_max=5.0, num=24, steps=200)
    x = np.c_[base.dataset.x_train, np.ones(len(base.dataset.x_train))]
    lam = float(np.linalg.eigvalsh(2 / len(x) * x.T @ x).max())
    assert result.lambda_max == pytest.approx(lam, rel=1e-6)
    assert result.bound == pytest.approx(2 / lam, rel=1e-6)
    for lr, status in zip(result.lrs, result.status, strict=True):
        if lr < 0.95 * result.bound:
            assert status in ("converged", "descending"), (lr, status)
        elif lr > result.bound:  # even 0.8 % above it: the loss grows, slowly
            assert status == "diverged", (lr, status)
    above = [lr for lr in result.lrs if lr > result.bound]
    assert result.edge == above[0]
    assert result.suggested is not None and result.suggested <= result.edge / 2
    assert "converged" in result.status


def test_progress_cancel_and_json() -> None:
    base = regression_base(steps=20)
    seen: list[tuple[int, int]] = []
    result = sweep_model(base, [0.01, 0.1], steps=20, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (40, 40) and all(t == 40 for _, t in seen)
    json.dumps(result.to_dict(), allow_nan=False)
    calls = iter(range(1000))
    stopped = sweep_model(base, [0.01, 0.1, 1.0], steps=20, cancelled=lambda: next(calls) >= 25)
    assert len(stopped.lrs) == 2 and stopped.steps_done < 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lrs": []}, "no learning rates"),
        ({"lrs": [0.1, -1.0]}, "finite and above 0"),
        ({"lrs": [math.inf]}, "finite and above 0"),
        ({"steps": 0}, "steps must be a whole number"),
    ],
)
def test_bad_settings_are_one_line(kwargs, message) -> None:
    with pytest.raises(SweepError, match=message):
        sweep_model(regression_base(), **{"lrs": [0.1], "steps": 5, **kwargs})


def test_a_stepped_run_is_refused() -> None:
    base = regression_base()
    base.step()
    with pytest.raises(SweepError, match="unstepped"):
        sweep_model(base, [0.1], steps=5)


def test_cli_sweep_on_a_data_scenario(capsys) -> None:
    code = cli.main(
        ["sweep", "linear-regression", "--steps", "40", "--num", "6", "--lr-max", "5",
         "--format", "json"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["mode"] == "separate runs" and len(result["lrs"]) == 6
    assert {"lrs", "final_loss", "best_loss", "status", "edge", "bound"} <= set(result)
    assert result["status"][-1] == "diverged" and result["edge"] is not None
    base = load_scenario("linear-regression").build_run(max_steps=40)
    again = sweep_model(base, result["lrs"], steps=40)
    assert again.final_loss == result["final_loss"]
    code = cli.main(["sweep", "linear-regression", "--steps", "10", "--num", "3"])
    out, err = capsys.readouterr()
    assert code == 0 and "data       regression:" in out and "separate runs" in out
