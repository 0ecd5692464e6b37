"""Tests for model runs: against closed forms, numpy lstsq and a plain PyTorch loop; scenarios'
claims; noisy gradients on analytic surfaces; model landscapes."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gdtui.engine import Run, RunError, expression_problem, format_graph, get_problem
from gdtui.engine.data import load_data
from gdtui.engine.landscape import (
    Regions,
    Surface,
    decision_regions,
    filter_normalized_direction,
    landscape,
    loss_slice,
    regression_surface,
)
from gdtui.engine.layer_stats import SUMMARY_FIELDS
from gdtui.engine.model_run import ModelRun, build_model_run
from gdtui.engine.models import Loss, ModelError, build_model

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread (and the test box is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def scenario_run(name: str, **loss) -> ModelRun:
    """A model scenario's run, built by the engine from its TOML tables."""
    table = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    opt = table["optimizer"]
    return build_model_run(
        table["data"],
        table.get("model"),
        {**table.get("loss", {}), **loss},
        {**table["run"], "device": "cpu"},
        opt["name"],
        opt["lr"],
        base_dir=SCENARIOS,
    )


def regression_run(batch_size="full", steps=300, features=1, lr=0.1) -> ModelRun:
    return build_model_run(
        {"name": "regression", "samples": 100, "features": features},
        {"kind": "linear"},
        {"fn": "mse"},
        {"batch_size": batch_size, "steps": steps, "dtype": "float64", "device": "cpu"},
        "sgd",
        lr,
    )


# -- closed forms --------------------------------------------------------------------------------


@pytest.mark.parametrize("features", [1, 3])
def test_full_batch_mse_converges_to_least_squares(features: int) -> None:
    run = regression_run(features=features, steps=400)
    run.run()
    d = run.dataset
    design = np.c_[d.x_train, np.ones(d.n_train)]
    expected = np.linalg.lstsq(design, d.y_train, rcond=None)[0]
    got = np.array(run.current)  # weight[0..], bias
    assert np.abs(got - expected).max() < 1e-6


def test_first_full_batch_gradient_is_the_closed_form() -> None:
    run = regression_run(steps=1)
    (record,) = run.step()
    d = run.dataset
    x = np.c_[d.x_train, np.ones(d.n_train)]
    w = np.array(record.params_before)
    expected = 2 / d.n_train * x.T @ (x @ w - d.y_train)
    assert np.allclose(record.grad, expected, rtol=1e-12, atol=1e-12)
    assert record.loss == pytest.approx(np.mean((x @ w - d.y_train) ** 2), rel=1e-12)


def test_batch_size_one_gradient_is_one_samples() -> None:
    run = regression_run(batch_size=1, steps=1)
    (record,) = run.step()
    d = run.dataset
    first = int(torch.randperm(d.n_train, generator=torch.Generator().manual_seed(0))[0])
    xi = np.r_[d.x_train[first], 1.0]
    w = np.array(record.params_before)
    expected = 2 * xi * (xi @ w - d.y_train[first])
    assert np.allclose(record.grad, expected, rtol=1e-12, atol=1e-12)


def test_record_shapes_small_and_big() -> None:
    small = regression_run(steps=10)
    small.run()
    row = json.loads(json.dumps(small.last_record.to_dict(small.param_names)))
    assert set(row["params"]) == {"weight", "bias"}
    assert {"loss", "grad", "update", "epoch", "train_loss", "val_loss"} <= set(row)
    assert "train_accuracy" not in row
    big = build_model_run(
        {"name": "moons", "samples": 100},
        {"kind": "mlp", "hidden": [8]},
        {},
        {"steps": 3},
        "sgd",
        0.01,
    )
    records = list(big.steps())
    assert [r.step for r in records] == [1, 2, 3]
    rows = [json.loads(json.dumps(r.to_dict(big.param_names))) for r in records]
    assert set(rows[0]["layers"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert set(rows[0]["layers"]["0.weight"]) == set(SUMMARY_FIELDS)
    assert rows[1]["layers"] is None  # summaries every 20th step, and on the last
    assert rows[2]["layers"] is not None and "params" not in rows[2]
    assert rows[2]["epoch"] == 3 and 0 <= rows[2]["val_accuracy"] <= 1
    # plain SGD: Δ = −lr·∇ exactly, so every effective learning rate is lr and cos is 1
    layer = rows[0]["layers"]["0.weight"]
    assert layer["eff_lr_median"] == pytest.approx(0.01, rel=1e-4)
    assert layer["cos"] == pytest.approx(1.0, abs=1e-5)


# -- the plain PyTorch loop ------------------------------------------------------------------------


@pytest.mark.parametrize(("batch_size", "optimizer"), [("full", "sgd"), (16, "adam"), (1, "sgd")])
def test_path_equals_a_plain_torch_loop(batch_size, optimizer: str) -> None:
    seed = 5
    data = load_data({"name": "moons", "samples": 80}, seed=seed)
    torch.manual_seed(seed)
    model = build_model("mlp", 2, 2, hidden=[8], activation="tanh")
    run = ModelRun(
        data,
        model,
        Loss("cross_entropy", "classification", 2),
        optimizer,
        0.05,
        batch_size=batch_size,
        max_steps=25,
        dtype="float64",
        device="cpu",
        seed=seed,
        layer_every=1,
    )
    losses = [r.loss for r in run.steps()]

    torch.manual_seed(seed)
    plain = build_model("mlp", 2, 2, hidden=[8], activation="tanh").double()
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(plain.parameters(), lr=0.05)
    x = torch.tensor(data.x_train)
    y = torch.tensor(data.y_train)
    g = torch.Generator().manual_seed(seed)
    expected = []
    while len(expected) < 25:
        order = (
            [None]
            if batch_size == "full"
            else torch.randperm(len(y), generator=g).split(batch_size)
        )
        for idx in order:
            if len(expected) == 25:
                break
            xb, yb = (x, y) if idx is None else (x[idx], y[idx])
            opt.zero_grad()
            loss = F.cross_entropy(plain(xb), yb)
            loss.backward()
            opt.step()
            expected.append(loss.item())
    assert losses == expected
    for a, b in zip(run.model.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b)


def test_batch_order_is_reproducible_from_the_seed() -> None:
    def order(seed: int) -> list[list[int]]:
        run = build_model_run(
            {"name": "xor", "samples": 40}, {}, {}, {"batch_size": 8, "seed": seed}
        )
        return [b.tolist() for _ in range(3) for b in run.batch_order()]

    a, b, c = order(1), order(1), order(2)
    assert a == b and a != c
    assert sorted(i for batch in a[:4] for i in batch) == list(
        range(32)
    )  # one epoch covers every training row once
    assert a[:4] != a[4:8]  # reshuffled every epoch


# -- what the scenarios claim ----------------------------------------------------------------------


def test_moons_mlp_reaches_95_percent_validation_accuracy() -> None:
    run = scenario_run("full-batch-vs-sgd")
    run.run()
    assert run.epochs[-1].val_accuracy >= 0.95


def test_digits_cnn_reaches_90_percent_validation_accuracy() -> None:
    run = scenario_run("mlp-digits")
    run.max_steps = 150
    run.run()
    assert run.epochs[-1].val_accuracy >= 0.90
    assert run.last_record.layers is not None


def test_cross_entropy_beats_mse_on_the_same_blobs() -> None:
    mse = scenario_run("mse-vs-cross-entropy")
    mse.run()
    ce = scenario_run("mse-vs-cross-entropy", fn="cross_entropy")
    ce.run()
    assert mse.epochs[-1].train_accuracy < 0.94
    assert ce.epochs[-1].train_accuracy > mse.epochs[-1].train_accuracy + 0.03


@pytest.mark.parametrize("name", ["linear-regression", "csv-example"])
def test_regression_scenarios_reach_least_squares(name: str) -> None:
    run = scenario_run(name)
    run.run()
    d = run.dataset
    design = np.c_[d.x_train, np.ones(d.n_train)]
    expected = np.linalg.lstsq(design, d.y_train, rcond=None)[0]
    assert np.allclose(run.current, expected, rtol=1e-3, atol=1e-3)  # float32


def test_bad_tables_are_one_line() -> None:
    cases = [
        (
            ({"name": "moons"}, {"knd": "mlp"}),
            ModelError,
            "unknown field 'knd' in [model] (did you mean 'kind'?)",
        ),
        (({"name": "moons"}, {}, {"fun": "mse"}), ModelError, "unknown field 'fun' in [loss]"),
        (({"name": "moons"}, {}, {}, {"batch": 3}), ModelError, "(did you mean 'batch_size'?)"),
        (({"name": "moons"}, {}, {}, {"batch_size": 0}), RunError, "batch_size must be"),
        (({"name": "diabetes"}, {}, {"fn": "cross_entropy"}), ModelError, "needs class labels"),
        (({"name": "regression"}, {"kind": "logistic"}), ModelError, "use linear"),
    ]
    for args, kind, message in cases:
        with pytest.raises(kind) as err:
            build_model_run(*args)
        assert message in str(err.value)


def test_exploding_run_stops_as_diverged() -> None:
    run = regression_run(lr=5.0, steps=500)
    run.run()
    assert run.status == "diverged" and "loss" in run.reason
    assert run.step_count < 500


def test_autograd_graph_reaches_every_layer() -> None:
    run = build_model_run({"name": "moons", "samples": 40}, {"hidden": [4]}, {}, {"steps": 2})
    run.run()
    lines = format_graph(run.autograd_graph())
    text = "\n".join(lines)
    assert lines[0].startswith("NllLossBackward0")
    for name in run.layer_names:
        assert name in text


def test_set_lr_and_extend() -> None:
    run = regression_run(steps=5)
    run.run()
    assert run.status == "finished"
    run.set_lr(0.01)
    run.extend(3)
    records = list(run.steps())
    assert [r.step for r in records] == [6, 7, 8] and records[-1].lr == 0.01


# -- noise on analytic surfaces --------------------------------------------------------------------


def test_noisy_gradient_is_unbiased_and_seeded() -> None:
    problem = get_problem("quadratic")  # (w - 2)**2 from w = 5: ∇ = 6
    run = Run(problem, "sgd", 1e-9, max_steps=4000, noise=0.5, seed=3, tolerance=0.0)
    grads = np.array([r.grad[0] for r in run.steps()])
    assert len(grads) == 4000
    assert abs(grads.mean() - 6.0) < 4 * 0.5 / math.sqrt(len(grads))
    assert grads.std() == pytest.approx(0.5, rel=0.05)
    w = run.last_record.params_before[0]
    assert run.last_record.loss == (w - 2) ** 2  # the recorded loss is f(θ), without the noise
    again = Run(problem, "sgd", 1e-9, max_steps=50, noise=0.5, seed=3, tolerance=0.0)
    other = Run(problem, "sgd", 1e-9, max_steps=50, noise=0.5, seed=4, tolerance=0.0)
    first = [r.grad for r in again.steps()]
    assert first == [tuple(g) for g in grads[:50, None]]
    assert first != [r.grad for r in other.steps()]


def test_noise_zero_leaves_the_path_unchanged() -> None:
    a = Run(get_problem("rosenbrock"), "adam", 0.01, max_steps=50)
    b = Run(get_problem("rosenbrock"), "adam", 0.01, max_steps=50, noise=0.0)
    assert [r.params for r in a.steps()] == [r.params for r in b.steps()]
    with pytest.raises(RunError, match="noise must be"):
        Run(get_problem("quadratic"), noise=-1.0)


def test_noisy_gradient_escapes_the_shallow_basin() -> None:
    table = tomllib.loads((SCENARIOS / "noisy-gradient-escapes.toml").read_text())
    problem = expression_problem(table["problem"]["expression"], table["problem"]["init"])
    opt, settings = table["optimizer"], table["run"]
    noisy = Run(
        problem,
        opt["name"],
        opt["lr"],
        max_steps=settings["steps"],
        seed=settings["seed"],
        noise=table["problem"]["noise"],
    )
    noisy.run()
    plain = Run(problem, opt["name"], opt["lr"], max_steps=settings["steps"], seed=settings["seed"])
    plain.run()
    # the ridge between the basins is near x = 0.13: the deep basin is at x ≈ -1.06
    assert plain.current[0] == pytest.approx(0.93, abs=0.01)
    assert noisy.current[0] < -0.5
    assert problem.loss(*map(torch.tensor, noisy.current)) < problem.loss(
        *map(torch.tensor, plain.current)
    )


# -- landscapes ------------------------------------------------------------------------------------


def test_regression_surface_is_the_real_loss_around_least_squares() -> None:
    run = regression_run(batch_size=8, steps=40, lr=0.05)
    run.run()
    surface = regression_surface(run, size=31)
    assert isinstance(surface, Surface) and surface.z.shape == (31, 31)
    d = run.dataset
    i, j = 7, 20
    w, b = surface.xs[j], surface.ys[i]
    assert surface.z[i, j] == pytest.approx(np.mean((w * d.x_train[:, 0] + b - d.y_train) ** 2))
    # the grid's lowest point is next to the least-squares solution
    low = np.unravel_index(np.argmin(surface.z), surface.z.shape)
    step = surface.xs[1] - surface.xs[0], surface.ys[1] - surface.ys[0]
    assert abs(surface.xs[low[1]] - surface.minimum[0]) <= step[0]
    assert abs(surface.ys[low[0]] - surface.minimum[1]) <= step[1]
    assert surface.path.shape == (41, 2)
    assert landscape(run, size=11).z.shape == (11, 11)


def test_decision_regions_predict_like_the_model() -> None:
    run = build_model_run({"name": "moons"}, {}, {}, {"steps": 30}, "adam", 0.05)
    run.run()
    regions = decision_regions(run, size=12)
    assert isinstance(regions, Regions) and regions.label.shape == (12, 12)
    point = torch.tensor([[regions.xs[3], regions.ys[9]]], dtype=torch.float32)
    with torch.no_grad():
        expected = run.model(point).argmax(dim=-1).item()
    assert regions.label[9, 3] == expected
    assert ((regions.probability >= 0.5) & (regions.probability <= 1)).all()
    assert isinstance(landscape(run, size=5), Regions)


def test_loss_slice_centre_is_the_current_loss_and_seeded() -> None:
    run = build_model_run(
        {"name": "blobs", "features": 3}, {"kind": "mlp", "hidden": [6]}, {}, {"steps": 5}
    )
    run.run()
    before = [p.detach().clone() for p in run.model.parameters()]
    a = loss_slice(run, size=5, seed=1)
    b = loss_slice(run, size=5, seed=1)
    c = loss_slice(run, size=5, seed=2)
    assert a.z[2, 2] == pytest.approx(run.evaluate()["train_loss"], rel=1e-5)
    assert np.array_equal(a.z, b.z) and not np.array_equal(a.z, c.z)
    for p, q in zip(run.model.parameters(), before, strict=True):
        assert torch.equal(p, q)  # the run's parameters are untouched


def test_filter_normalised_directions_match_each_filters_norm() -> None:
    params = {"w": torch.randn(4, 3, 2, 2), "b": torch.randn(4)}
    d = filter_normalized_direction(params, torch.Generator().manual_seed(0))
    assert torch.allclose(d["w"].flatten(1).norm(dim=1), params["w"].flatten(1).norm(dim=1))
    assert torch.equal(d["b"], torch.zeros(4))
