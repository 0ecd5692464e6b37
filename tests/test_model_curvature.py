"""λmax of a model run (``curvature_every``): against the closed form of least squares and
``torch.autograd.functional.hessian``; the path it leaves alone; records and files that carry it;
host reads only on measured steps; the edge-of-stability scenario."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from gdtui.cli import main
from gdtui.engine import RunError
from gdtui.engine.curvature import CurvatureError, top_eigenvalue
from gdtui.engine.data import load_data
from gdtui.engine.model_run import ModelRun, build_model_run
from gdtui.engine.models import Loss, build_model
from gdtui.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread (and the test box is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def regression_run(batch_size="full", steps=12, every=4) -> ModelRun:
    return build_model_run(
        {"name": "regression", "samples": 120, "features": 3},
        {"kind": "linear"},
        {"fn": "mse"},
        {
            "batch_size": batch_size,
            "steps": steps,
            "dtype": "float64",
            "device": "cpu",
            "curvature_every": every,
        },
        "sgd",
        0.05,
    )


def least_squares_lambda_max(run: ModelRun) -> float:
    """The Hessian of mean((Xw + b − y)²) is 2/n·XᵀX with a column of ones for b."""
    x = torch.cat([run.x_train, torch.ones(run.n_train, 1, dtype=torch.float64)], dim=1)
    return float(torch.linalg.eigvalsh(2.0 / run.n_train * x.T @ x)[-1])


# -- against closed forms ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", ["full", 8])
def test_least_squares_lambda_max_is_the_top_eigenvalue_of_2_over_n_xtx(batch_size) -> None:
    """Mini-batches or not, the measure is the full-batch loss's (a batch's Hessian differs)."""
    run = regression_run(batch_size)
    records = list(run.steps())
    expected = least_squares_lambda_max(run)
    measured = {r.step: r.lambda_max for r in records if r.lambda_max is not None}
    assert sorted(measured) == [4, 8, 12]
    assert [r.lambda_max for r in records if r.step % 4] == [None] * 9
    for value in measured.values():
        assert value == pytest.approx(expected, rel=1e-6)
    assert run.lambda_max() == pytest.approx(expected, rel=1e-6)
    column = run.history.column("lambda_max")  # what the loss plot's λmax line reads
    assert [v for v in column if v == v] == [measured[4], measured[8], measured[12]]
    # a batch's own Hessian is not the full one: the test can tell them apart
    batch = run.x_train[:8]
    xb = torch.cat([batch, torch.ones(8, 1, dtype=torch.float64)], dim=1)
    assert abs(float(torch.linalg.eigvalsh(2 / 8 * xb.T @ xb)[-1]) / expected - 1) > 1e-3


def tiny_mlp_run(every: int = 0, optimizer: str = "sgd", batch_size="full") -> ModelRun:
    seed = 3
    data = load_data({"name": "moons", "samples": 60}, seed=seed)
    torch.manual_seed(seed)
    model = build_model("mlp", 2, 2, hidden=[4], activation="tanh")
    return ModelRun(
        data,
        model,
        Loss("cross_entropy", "classification", 2),
        optimizer,
        0.3,
        batch_size=batch_size,
        max_steps=9,
        dtype="float64",
        device="cpu",
        seed=seed,
        layer_every=1,
        curvature_every=every,
    )


def hessian_top_eigenvalue(run: ModelRun) -> float:
    """The full Hessian of the full-batch loss from torch.autograd.functional, eigvalsh."""
    names = [n for n, _ in run.model.named_parameters()]
    shapes = [p.shape for p in run.model.parameters()]
    sizes = [p.numel() for p in run.model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in run.model.parameters()])

    def loss_of(vector: torch.Tensor) -> torch.Tensor:
        parts = torch.split(vector, sizes)
        params = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        return run.loss_fn(functional_call(run.model, params, (run.x_train,)), run.t_train)

    hessian = torch.autograd.functional.hessian(loss_of, flat)
    return float(torch.linalg.eigvalsh(hessian)[-1])


def test_mlp_lambda_max_matches_the_full_hessian() -> None:
    run = tiny_mlp_run(every=3)
    records = list(run.steps())
    assert run.n_scalars == 22  # 2·4 + 4 + 4·2 + 2: a Hessian small enough to form
    assert run.lambda_max() == pytest.approx(hessian_top_eigenvalue(run), rel=1e-6)
    # the value recorded at step 9 is the one at that step's start point
    fresh = tiny_mlp_run()
    for _ in range(8):
        fresh.step()
    assert records[-1].step == 9
    assert records[-1].lambda_max == pytest.approx(hessian_top_eigenvalue(fresh), rel=1e-6)


def test_measuring_leaves_the_path_alone() -> None:
    """Hessian-vector products touch no .grad, optimizer state or generator."""
    plain = tiny_mlp_run(0, "adam", batch_size=16)
    measured = tiny_mlp_run(2, "adam", batch_size=16)
    a = list(plain.steps())
    b = list(measured.steps())
    assert [r.loss for r in a] == [r.loss for r in b]
    for p, q in zip(plain.model.parameters(), measured.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [r.lambda_max is not None for r in b] == [s % 2 == 0 for s in range(1, 10)]
    assert [r.lambda_max for r in a] == [None] * 9


def test_warm_start_converges_in_fewer_products() -> None:
    run = tiny_mlp_run()
    cold = top_eigenvalue(run._full_batch_loss, run.params)
    warm = top_eigenvalue(run._full_batch_loss, run.params, start=cold.vector)
    assert warm.lambda_max == pytest.approx(cold.lambda_max, rel=1e-9)
    assert warm.iterations < cold.iterations / 3


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_bad_curvature_every_is_one_line(value) -> None:
    with pytest.raises(RunError, match="curvature_every must be a whole number ≥ 0"):
        build_model_run({"name": "moons"}, {}, {}, {"curvature_every": value})


def test_a_diverged_point_has_no_lambda_max() -> None:
    run = tiny_mlp_run()
    with torch.no_grad():
        run.params[0].fill_(math.nan)
    with pytest.raises(CurvatureError):
        run.lambda_max()
    assert run._measure_curvature() is None


# -- no host reads unless measured ----------------------------------------------------------------


HOST_READS = ("item", "__float__", "__bool__", "__int__", "__index__", "tolist", "cpu")


def host_reads_per_step(run: ModelRun, steps: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often each step reads a tensor on the host (``numpy()``, the cpu's landing of a row,
    is not counted: on cuda that copy is the chunked, non-blocking one)."""
    counts: Counter[str] = Counter()
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    out = []
    for _ in range(steps):
        counts.clear()
        run._train_step()
        out.append(sum(counts.values()))
    monkeypatch.undo()
    return out


@pytest.mark.parametrize("schedule", [None, "cosine", "one-cycle"])
def test_no_curvature_means_no_host_read_in_a_step(schedule, monkeypatch) -> None:
    run = build_model_run(
        {"name": "moons", "samples": 80},
        {"kind": "mlp", "hidden": [8]},
        {},
        {"steps": 50, "batch_size": 16, "device": "cpu"},
        "sgd",
        0.1,
        schedule=schedule,
    )
    run.step()  # the first step sets up the optimizer's state
    assert host_reads_per_step(run, 6, monkeypatch) == [0] * 6


def test_host_reads_only_on_measured_steps(monkeypatch) -> None:
    run = build_model_run(
        {"name": "moons", "samples": 80},
        {"kind": "mlp", "hidden": [8]},
        {},
        {"steps": 50, "batch_size": 16, "device": "cpu", "curvature_every": 3},
        "sgd",
        0.1,
    )
    run.step()
    reads = host_reads_per_step(run, 6, monkeypatch)  # steps 2 … 7: 3 and 6 are measured
    assert [n > 0 for n in reads] == [False, True, False, False, True, False]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a cuda device")
def test_cuda_steps_without_curvature_never_synchronise() -> None:
    run = build_model_run(
        {"name": "moons", "samples": 400},
        {"kind": "mlp", "hidden": [64]},
        {},
        {"steps": 40, "batch_size": 32, "device": "cuda"},
        "sgd",
        0.1,
        schedule="cosine",
    )
    for _ in range(3):  # the first steps allocate and copy constants
        run._train_step()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(10):
            run._train_step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert len(run.drain()) == 13


# -- records and files ------------------------------------------------------------------------------


def gdtui(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_big_model_records_carry_lambda_max_and_lr_in_jsonl_and_csv(capsys) -> None:
    code, out, err = gdtui(
        capsys, "run", "edge-of-stability", "--steps", "20", "--format", "jsonl", "--device", "cpu"
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 21))
    assert all(r["lr"] == 1.5 for r in rows)
    measured = {r["step"]: r["lambda_max"] for r in rows if r["lambda_max"] is not None}
    assert sorted(measured) == [10, 20]
    # early in the run, before progressive sharpening: well under 2/lr = 1.33
    assert all(0.2 < v < 2 / 1.5 for v in measured.values())
    code, out, err = gdtui(
        capsys, "run", "edge-of-stability", "--steps", "20", "--format", "csv", "--device", "cpu"
    )
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["lr"]) for r in table] == [1.5] * 20
    from_csv = {int(r["step"]): float(r["lambda_max"]) for r in table if r["lambda_max"]}
    assert from_csv == pytest.approx(measured, rel=1e-12)


def test_small_model_csv_carries_lambda_max(capsys) -> None:
    code, out, err = gdtui(
        capsys, "run", "linear-regression", "--steps", "4", "--curvature-every", "2",
        "--dtype", "float64", "--format", "csv",
    )  # fmt: skip
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["lambda_max"] != "" for r in table] == [False, True, False, True]
    run = load_scenario("linear-regression").with_overrides(dtype="float64").build_run()
    assert float(table[1]["lambda_max"]) == pytest.approx(least_squares_lambda_max(run), rel=1e-6)


# -- the edge of stability ----------------------------------------------------------------------------


def test_edge_of_stability_scenario_loads_and_measures() -> None:
    scenario = load_scenario("edge-of-stability")
    assert scenario.is_model and scenario.optimizer == "sgd" and scenario.effective_lr == 1.5
    assert scenario.curvature_every == 10 and scenario.steps == 2000
    assert scenario.loss_fn == "mse" and scenario.model["activation"] == "tanh"
    assert "2/lr" in scenario.description
    run = scenario.build_run(20)
    assert run.batch_size is None  # full batch: plain gradient descent
    records = [r for r in run.steps()]
    assert [r.step for r in records if r.lambda_max is not None] == [10, 20]
    cold = top_eigenvalue(run._full_batch_loss, run.params, iters=1000, tol=1e-7)
    assert run.lambda_max() == pytest.approx(cold.lambda_max, rel=1e-4)  # warm-started
