"""Tests for gdtui.cli: ``gdtui run | list`` output formats, overrides, bad input and exit codes.

Most cases call :func:`gdtui.cli.main` in-process (fast); a handful run ``python -m gdtui`` in a
subprocess for what only a real process shows: exit codes, stderr without a traceback, a pipe
closed early.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gdtui import __version__, cli
from gdtui.engine import OPTIMIZERS, PROBLEMS, Run
from gdtui.scenario import builtin_names, load_scenario

REPO = Path(__file__).resolve().parent.parent
FORMATS = ("table", "csv", "json", "jsonl", "summary")
JSONL_KEYS = {"step", "loss", "params", "grad", "update", "lr", "status"}


def gdtui(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``gdtui ARGS`` in-process; return (exit code, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = gdtui(capsys, "run", *args, "--format", "json")
    assert code == 0, err
    assert err == ""
    records = json.loads(out)
    assert isinstance(records, list)
    return records


def run_jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = gdtui(capsys, "run", *args, "--format", "jsonl")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def assert_bad_input(code: int, out: str, err: str) -> str:
    """Exit 2, nothing on stdout, exactly one 'gdtui: error:' line on stderr; returns it."""
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gdtui: error:"), err
    return lines[0]


# -- the worked example -------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", [None, "manual", "sgd"])
def test_seed_example_one_step_json(capsys: pytest.CaptureFixture[str], optimizer: str | None):
    extra = ["--optimizer", optimizer] if optimizer else []
    records = run_json(capsys, "seed-example", "--steps", "1", *extra)
    assert len(records) == 1
    (rec,) = records
    assert rec["step"] == 1
    assert rec["loss"] == 9.0
    assert rec["grad"] == {"w": 6.0}
    assert rec["params"] == {"w": pytest.approx(4.4, abs=1e-12)}
    assert rec["params_before"] == {"w": 5.0}
    assert rec["update"]["w"] == pytest.approx(-0.6, abs=1e-12)
    assert rec["lr"] == 0.1
    assert rec["status"] == "finished"
    assert rec["state"] == {}


def test_manual_and_sgd_walk_the_same_path(capsys: pytest.CaptureFixture[str]) -> None:
    manual = run_json(capsys, "seed-example", "--steps", "20", "--optimizer", "manual")
    sgd = run_json(capsys, "seed-example", "--steps", "20", "--optimizer", "sgd")
    assert [r["params"] for r in manual] == [r["params"] for r in sgd]
    assert [r["grad"] for r in manual] == [r["grad"] for r in sgd]


# -- every format, every built-in ---------------------------------------------------------------


def _check_csv(out: str) -> None:
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5
    header = list(rows[0])
    assert header[:2] == ["step", "loss"]
    for prefix in ("param_", "grad_", "update_"):
        assert any(col.startswith(prefix) for col in header), (prefix, header)
    names = [col.removeprefix("param_") for col in header if col.startswith("param_")]
    for name in names:
        assert f"grad_{name}" in header and f"update_{name}" in header
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        assert math.isfinite(float(r["loss"]))


def _check_jsonl(out: str) -> None:
    lines = out.splitlines()
    assert len(lines) == 5
    records = [json.loads(line) for line in lines]
    for i, rec in enumerate(records, start=1):
        assert isinstance(rec, dict)
        assert rec.keys() >= JSONL_KEYS, rec.keys()
        assert rec["step"] == i
        assert set(rec["params"]) == set(rec["grad"]) == set(rec["update"])
    # Every built-in takes more than 5 steps to converge or diverge: 5 steps finish the budget.
    assert [rec["status"] for rec in records] == ["running"] * 4 + ["finished"]


def _check_table(out: str) -> None:
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:2] == ["step", "loss"]
    rows = [line.split() for line in lines[1:6]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    assert any(line.startswith("status") for line in lines)


def _check_summary(out: str) -> None:
    lines = out.splitlines()
    status = [line for line in lines if line.startswith("status")]
    params = [line for line in lines if line.startswith("params")]
    assert len(status) == 1 and len(params) == 1
    assert "steps      5" in out
    # No per-step rows: no table header, no record, no CSV header.
    assert not any(line.split()[:2] == ["step", "loss"] for line in lines if line.strip())
    assert not any(line.lstrip().startswith(("{", "[", "step,")) for line in lines)
    assert not any(line.split()[0].isdigit() for line in lines if line.strip())


CHECKS = {
    "csv": _check_csv,
    "json": lambda out: _check_jsonl("\n".join(json.dumps(r) for r in json.loads(out))),
    "jsonl": _check_jsonl,
    "table": _check_table,
    "summary": _check_summary,
}


# Races ([[race]]) print labelled records and a race table: tests/test_race_scenarios.py.
FORMULA_BUILTINS = [
    n for n in builtin_names() if not load_scenario(n).is_model and not load_scenario(n).race
]
MODEL_BUILTINS = [
    n for n in builtin_names() if load_scenario(n).is_model and not load_scenario(n).race
]


def _check_model(fmt: str, out: str) -> None:
    """A model run's 5 records: step and loss always; per-scalar or per-layer columns."""
    if fmt == "summary":
        assert "steps      5" in out
        assert [line for line in out.splitlines() if line.startswith("now ")]
        assert "validation loss" in out
        return
    if fmt == "table":
        lines = out.splitlines()
        assert lines[0].split()[:2] == ["step", "loss"] and "epoch" in lines[0]
        assert [int(line.split()[0]) for line in lines[1:6]] == [1, 2, 3, 4, 5]
        return
    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(out)))
        assert {"step", "loss", "lr", "epoch", "val_loss", "status"} <= set(records[0])
    else:
        records = json.loads(out) if fmt == "json" else [json.loads(x) for x in out.splitlines()]
        assert all(("params" in r) != ("layers" in r) for r in records)
    assert [int(r["step"]) for r in records] == [1, 2, 3, 4, 5]
    assert all(math.isfinite(float(r["loss"])) for r in records)
    assert [r["status"] for r in records] == ["running"] * 4 + ["finished"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scenario", MODEL_BUILTINS)
def test_every_format_for_every_model_builtin(
    capsys: pytest.CaptureFixture[str], scenario: str, fmt: str
) -> None:
    code, out, err = gdtui(capsys, "run", scenario, "--steps", "5", "--format", fmt)
    assert code == 0, err
    assert err == ""
    _check_model(fmt, out)


def test_big_model_records_have_layer_summaries(capsys: pytest.CaptureFixture[str]) -> None:
    records = run_json(capsys, "full-batch-vs-sgd", "--steps", "11")
    first = records[0]
    assert "params" not in first
    assert set(first["layers"]) == {
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    }
    from gdtui.engine.layer_stats import SUMMARY_FIELDS
    from gdtui.report import LAYER_FIELDS

    assert LAYER_FIELDS == SUMMARY_FIELDS
    assert set(first["layers"]["0.weight"]) == set(SUMMARY_FIELDS)
    # 10 steps an epoch (batches of 32 over 320 rows): step 10 closes epoch 1 with evaluations
    assert [r.get("epoch") for r in records] == [None] * 9 + [1, None]
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy"} <= set(records[9])
    code, out, err = gdtui(capsys, "run", "full-batch-vs-sgd", "--steps", "11", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert float(rows[0]["0.weight.grad_norm"]) == pytest.approx(
        first["layers"]["0.weight"]["grad_norm"]
    )
    assert rows[9]["epoch"] == "1" and float(rows[9]["val_accuracy"]) == records[9]["val_accuracy"]


def test_linear_regression_matches_a_plain_torch_loop(capsys: pytest.CaptureFixture[str]):
    """--data regression --model linear with full batch: the records equal a plain loop of
    torch.nn.Linear + F.mse_loss + SGD on the same rows."""
    from gdtui.engine import build_model_run

    records = run_json(capsys, "linear-regression", "--steps", "4")
    run = build_model_run(
        {"name": "regression", "samples": 200, "noise": 0.5, "validation": 0.2,
         "standardize": True},
        {"kind": "linear"}, {"fn": "mse"}, {"steps": 4, "seed": 0},
        optimizer="sgd", lr=0.1,
    )  # fmt: skip
    x, y = run.x_train, run.t_train
    model = torch.nn.Linear(1, 1).to(x.dtype)
    torch.manual_seed(0)
    with torch.no_grad():
        model.weight.copy_(run.model[0].weight)
        model.bias.copy_(run.model[0].bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for record in records:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).reshape(y.shape), y)
        loss.backward()
        assert record["loss"] == pytest.approx(loss.item(), rel=1e-6)
        assert record["grad"]["weight"] == pytest.approx(model.weight.grad.item(), rel=1e-5)
        opt.step()
        assert record["params"]["weight"] == pytest.approx(model.weight.item(), rel=1e-6)
        assert record["params"]["bias"] == pytest.approx(model.bias.item(), rel=1e-6)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "moonz"], "unknown data set 'moonz' (did you mean 'moons'?)"),
        (["--data", "x.csv"], "--data FILE.csv needs --target COLUMN"),
        (["--data", "moons", "--hidden", "8,x"], "--hidden expects whole numbers"),
        (["--data", "moons", "--loss-fn", "mse2"], "unknown loss function 'mse2'"),
        (["--data", "moons", "--model", "cnnn"], "unknown model kind 'cnnn'"),
        (["--data", "moons", "--batch-size", "0"], 'batch_size must be "full" or a whole number'),
        (["--hidden", "3"], "--model and --hidden are for a scenario with data"),
        (["--target", "y"], "--target is for a scenario with data"),
        (["--noise", "-1"], "--noise must be a finite number ≥ 0, got -1"),
        (["--noise", "nan"], "--noise must be a finite number ≥ 0, got nan"),
        (["linear-regression", "--noise", "1"], "[problem] noise is for a formula"),
        (["linear-regression", "--schedule", "cosinus"], "unknown schedule 'cosinus'"),
    ],
)
def test_model_options_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    line = assert_bad_input(*gdtui(capsys, "run", *argv))
    assert message in line


def test_data_options_make_a_model_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(
        capsys, "run", "--data", "moons", "--model", "mlp", "--hidden", "8", "--loss-fn",
        "cross_entropy", "--batch-size", "32", "--steps", "10", "--format", "summary",
    )  # fmt: skip
    assert code == 0, err
    assert "data       moons: 320 training and 80 validation rows, 2 features" in out
    assert "loss cross_entropy; batches of 32" in out
    assert "epochs     1 (10 steps each)" in out


def test_csv_data_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = REPO / "scenarios" / "points.csv"
    a = run_json(capsys, "--data", str(csv_path), "--target", "score", "--steps", "3")
    b = run_json(capsys, "csv-example", "--steps", "3")
    assert [r["loss"] for r in a] == [r["loss"] for r in b]


def test_noise_on_a_formula(capsys: pytest.CaptureFixture[str]) -> None:
    """--noise σ: the recorded gradient is ∇f + ξ with ξ from a generator seeded by --seed."""
    records = run_json(capsys, "--noise", "0.5", "--steps", "3")
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    for record in records:
        xi = torch.randn(1, generator=gen, dtype=torch.float64)
        expected = 2 * (w.item() - 2) + 0.5 * xi.item()
        assert record["grad"]["w"] == pytest.approx(expected, rel=1e-12)
        w = torch.tensor(record["params"]["w"], dtype=torch.float64)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scenario", FORMULA_BUILTINS)
def test_every_format_for_every_builtin(
    capsys: pytest.CaptureFixture[str], scenario: str, fmt: str
) -> None:
    code, out, err = gdtui(capsys, "run", scenario, "--steps", "5", "--format", fmt)
    assert code == 0, err
    assert err == ""
    CHECKS[fmt](out)


def test_json_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    """No NaN or Infinity tokens, even in a run that blows up."""
    code, out, _ = gdtui(capsys, "run", "lr-too-large", "--format", "json")
    assert code == 0

    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    json.loads(out, parse_constant=reject)


# -- divergence ---------------------------------------------------------------------------------


def test_lr_too_large_diverges_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    records = run_jsonl(capsys, "lr-too-large")
    assert len(records) > 1
    last = records[-1]
    assert last["status"] == "diverged"
    assert "step" in last["reason"] and any(ch.isdigit() for ch in last["reason"])
    assert all(r["status"] == "running" for r in records[:-1])
    for r in records:
        assert r["loss"] is not None and math.isfinite(r["loss"])
        assert all(v is not None and math.isfinite(v) for v in r["params"].values())
    # Overshoot: the weight alternates around the minimum at 2 and each step lands farther away.
    distances = [r["params"]["w"] - 2 for r in records]
    assert all(a * b < 0 for a, b in itertools.pairwise(distances))
    assert all(abs(b) > abs(a) for a, b in itertools.pairwise(distances))


def test_lr_too_large_summary_says_diverged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = gdtui(capsys, "run", "lr-too-large", "--format", "summary")
    assert code == 0
    assert "status     diverged" in out


# -- overrides ----------------------------------------------------------------------------------


def test_override_loss(capsys: pytest.CaptureFixture[str]) -> None:
    (rec,) = run_json(capsys, "seed-example", "--loss", "rosenbrock", "--steps", "1")
    assert set(rec["params"]) == {"x", "y"}
    # The old start point (w = 5) is dropped: Rosenbrock starts at its own default.
    assert rec["params_before"] == {"x": -1.5, "y": 2.0}


def test_override_expression_and_init(capsys: pytest.CaptureFixture[str]) -> None:
    (rec,) = run_json(
        capsys,
        "seed-example",
        "--expression",
        "x**2 + 10*y**2",
        "--init",
        "x=1,y=-2",
        "--steps",
        "1",
    )
    assert rec["params_before"] == {"x": 1.0, "y": -2.0}
    assert rec["loss"] == pytest.approx(41.0)
    assert rec["grad"] == {"x": pytest.approx(2.0), "y": pytest.approx(-40.0)}


def test_override_init_only(capsys: pytest.CaptureFixture[str]) -> None:
    (rec,) = run_json(capsys, "seed-example", "--init", "w=3", "--steps", "1")
    assert rec["params_before"] == {"w": 3.0}
    assert rec["grad"] == {"w": 2.0}


def test_override_optimizer(capsys: pytest.CaptureFixture[str]) -> None:
    records = run_json(capsys, "seed-example", "--optimizer", "adam", "--steps", "2")
    assert {"exp_avg", "exp_avg_sq"} <= records[0]["state"].keys()
    # Adam's first step has size lr whatever the gradient.
    assert records[0]["update"]["w"] == pytest.approx(-0.1, rel=1e-6)


def test_override_lr(capsys: pytest.CaptureFixture[str]) -> None:
    (rec,) = run_json(capsys, "seed-example", "--lr", "0.25", "--steps", "1")
    assert rec["lr"] == 0.25
    assert rec["params"]["w"] == pytest.approx(3.5)


def test_override_steps(capsys: pytest.CaptureFixture[str]) -> None:
    records = run_json(capsys, "lr-too-small", "--steps", "7")
    assert [r["step"] for r in records] == list(range(1, 8))
    assert records[-1]["status"] == "finished"


def test_override_seed(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, "seed-example", "--seed", "123", "--steps", "3")
    b = run_json(capsys, "seed-example", "--steps", "3")
    # The worked example has no randomness: the seed is accepted and changes nothing.
    assert a == b
    scenario = cli.resolve_scenario("seed-example", {"seed": 123})
    assert scenario.seed == 123


def test_override_dtype_float32(capsys: pytest.CaptureFixture[str]) -> None:
    (rec,) = run_json(capsys, "seed-example", "--dtype", "float32", "--steps", "1")
    w = rec["params"]["w"]
    assert w != 4.4  # 4.4 is not a float32
    assert w == pytest.approx(4.4, rel=1e-6)
    code, out, _ = gdtui(capsys, "run", "seed-example", "--dtype", "float32", "--format", "summary")
    assert code == 0
    assert "float32" in out


def test_override_device_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(
        capsys, "run", "seed-example", "--device", "cpu", "--steps", "2", "--format", "summary"
    )
    assert code == 0, err
    assert "device     cpu" in out


def test_set_momentum(capsys: pytest.CaptureFixture[str]) -> None:
    plain = run_json(capsys, "seed-example", "--steps", "3")
    heavy = run_json(capsys, "seed-example", "--set", "momentum=0.5", "--steps", "3")
    assert "momentum_buffer" in heavy[0]["state"]
    assert plain[0]["params"] == heavy[0]["params"]  # step 1 of heavy ball is plain SGD
    assert plain[1]["params"] != heavy[1]["params"]
    # v2 = 0.5 * 6 + 4.8 = 7.8; w2 = 4.4 - 0.1 * 7.8
    assert heavy[1]["params"]["w"] == pytest.approx(4.4 - 0.78)


def test_set_betas(capsys: pytest.CaptureFixture[str]) -> None:
    default = run_json(capsys, "adam-rosenbrock", "--steps", "5")
    changed = run_json(capsys, "adam-rosenbrock", "--set", "betas=0.8,0.99", "--steps", "5")
    assert default[0]["params"] == pytest.approx(changed[0]["params"])  # Adam's step 1: ±lr
    assert default[-1]["params"] != changed[-1]["params"]
    scenario = cli.resolve_scenario("adam-rosenbrock", {"hyper": {"betas": (0.8, 0.99)}})
    assert scenario.build_run().optimizer.param_groups[0]["betas"] == (0.8, 0.99)


def test_set_merges_with_scenario_hyper(capsys: pytest.CaptureFixture[str]) -> None:
    """--set adds to the scenario's hyper-parameters instead of replacing them all."""
    scenario = cli.resolve_scenario("momentum-ravine", {"hyper": {"nesterov": True}})
    group = scenario.build_run().optimizer.param_groups[0]
    assert group["momentum"] == 0.9
    assert group["nesterov"] is True


def test_summary_names_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = gdtui(
        capsys,
        "run",
        "seed-example",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--set",
        "momentum=0.5",
        "--format",
        "summary",
    )
    assert code == 0
    assert "optimizer  momentum, lr 0.05, momentum 0.5" in out


# -- bad input ----------------------------------------------------------------------------------

BAD_INPUTS = {
    "lr-abc": ["run", "seed-example", "--lr", "abc"],
    "lr-negative": ["run", "seed-example", "--lr", "-1"],
    "lr-nan": ["run", "seed-example", "--lr", "nan"],
    "lr-inf": ["run", "seed-example", "--lr", "inf"],
    "lr-zero": ["run", "seed-example", "--lr", "0"],
    "optimizer-typo": ["run", "seed-example", "--optimizer", "adamm"],
    "loss-unknown": ["run", "seed-example", "--loss", "nope"],
    "scenario-unknown": ["run", "no-such-scenario"],
    "toml-missing": ["run", "definitely/not/here.toml"],
    "directory": ["run", str(REPO / "scenarios")],
    "steps-zero": ["run", "seed-example", "--steps", "0"],
    "steps-abc": ["run", "seed-example", "--steps", "abc"],
    "steps-fraction": ["run", "seed-example", "--steps", "1.5"],
    "seed-negative": ["run", "seed-example", "--seed", "-1"],
    "set-unknown": ["run", "seed-example", "--set", "foo=1"],
    "set-no-value": ["run", "seed-example", "--set", "momentum"],
    "set-bad-value": ["run", "seed-example", "--set", "momentum=abc"],
    "set-lr": ["run", "seed-example", "--set", "lr=0.5"],
    "expression-import": ["run", "seed-example", "--expression", "__import__('os')"],
    "expression-attribute": ["run", "seed-example", "--expression", "x.real"],
    "expression-syntax": ["run", "seed-example", "--expression", "(x - 2"],
    "expression-constant": ["run", "seed-example", "--expression", "2"],
    "init-abc": ["run", "seed-example", "--init", "x=abc"],
    "init-unknown-param": ["run", "seed-example", "--init", "x=1"],
    "init-nan": ["run", "seed-example", "--init", "w=nan"],
    "init-no-value": ["run", "seed-example", "--init", "w"],
    "device-cuda": ["run", "seed-example", "--device", "cuda"],
    "device-tpu": ["run", "seed-example", "--device", "tpu"],
    "dtype-float16": ["run", "seed-example", "--dtype", "float16"],
    "format-unknown": ["run", "seed-example", "--format", "xml"],
    "unknown-flag": ["run", "seed-example", "--bogus"],
    "list-bogus": ["list", "bogus"],
    "launch-lr-abc": ["launch", "--lr", "abc"],
    "launch-lr-zero": ["launch", "seed-example", "--lr", "0"],
    "screenshot-no-out": ["screenshot", "seed-example"],
    "screenshot-bad-size": ["screenshot", "--size", "5x5", "--out", "x.svg"],
}


@pytest.mark.parametrize("argv", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]):
    assert_bad_input(*gdtui(capsys, *argv))


def test_bad_input_messages_are_helpful(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*gdtui(capsys, "run", "seed-example", "--optimizer", "adamm"))
    assert "'adam'" in line
    line = assert_bad_input(*gdtui(capsys, "run", "seed-example", "--loss", "rosenbrok"))
    assert "'rosenbrock'" in line
    line = assert_bad_input(*gdtui(capsys, "run", "seed-exampel"))
    assert "'seed-example'" in line
    line = assert_bad_input(*gdtui(capsys, "run", "seed-example", "--lr", "abc"))
    assert "abc" in line and "learning rate" in line
    line = assert_bad_input(*gdtui(capsys, "run", "seed-example", "--set", "momentun=0.5"))
    assert "'momentum'" in line
    line = assert_bad_input(*gdtui(capsys, "run", "definitely/not/here.toml"))
    assert "definitely/not/here.toml" in line


def test_bad_input_in_a_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[optimizer]\nname = "sgd"\nlr = "fast"\n', encoding="utf-8")
    line = assert_bad_input(*gdtui(capsys, "run", str(path)))
    assert str(path) in line and "lr" in line


# Hyper-parameter values that torch's constructor accepts but that fail (or make torch fail) only
# when the optimizer steps, and implementation switches that are not offered: all must be refused
# like every other bad value (exit 2, one line, no traceback), before any output.
LATE_FAILING_HYPER = {
    "adam-betas-one-value": ["--optimizer", "adam", "--set", "betas=0.8,"],
    "adam-capturable-on-cpu": ["--optimizer", "adam", "--set", "capturable=true"],
    "sgd-differentiable": ["--set", "differentiable=true"],
    "sgd-fused": ["--set", "fused=true"],
    "sgd-foreach": ["--set", "foreach=true"],
    "rprop-step-sizes-scalar": ["--optimizer", "rprop", "--set", "step_sizes=1"],
    "asgd-t0-string": ["--optimizer", "asgd", "--set", "t0=abc"],
    "adafactor-eps-scalar": ["--optimizer", "adafactor", "--set", "eps=0.1"],
}


@pytest.mark.parametrize("extra", list(LATE_FAILING_HYPER.values()), ids=list(LATE_FAILING_HYPER))
@pytest.mark.parametrize("fmt", ["json", "table"])
def test_hyper_values_that_fail_late_are_bad_input(
    capsys: pytest.CaptureFixture[str], extra: list[str], fmt: str
) -> None:
    assert_bad_input(*gdtui(capsys, "run", "seed-example", "--steps", "2", "--format", fmt, *extra))


# -- help and version ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["launch", "run", "list", "screenshot", "--version"]),
        (["run"], ["--format", "--lr", "--steps", "--optimizer", "--loss", "--set", "--device"]),
        (["list"], ["problems", "optimizers", "scenarios"]),
        (["launch"], ["--lr", "--optimizer", "--loss", "--device", "--expression"]),
        (["screenshot"], ["--out", "--size", "--steps", "--press", "--lr"]),
    ],
    ids=["gdtui", "run", "list", "launch", "screenshot"],
)
def test_help(capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("usage: gdtui")
    for word in expected:
        assert word in out, word


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    out, _ = capsys.readouterr()
    assert out.strip() == f"gdtui {__version__}"


# -- list ---------------------------------------------------------------------------------------


def _listed(out: str) -> set[str]:
    return {line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.strip()}


@pytest.mark.parametrize(
    ("what", "names"),
    [
        ("problems", list(PROBLEMS)),
        ("optimizers", list(OPTIMIZERS)),
        ("scenarios", builtin_names()),
    ],
)
def test_list_one_kind(capsys: pytest.CaptureFixture[str], what: str, names: list[str]) -> None:
    code, out, err = gdtui(capsys, "list", what)
    assert code == 0 and err == ""
    assert set(names) <= _listed(out)


def test_list_everything(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(capsys, "list")
    assert code == 0 and err == ""
    listed = _listed(out)
    for names in (PROBLEMS, OPTIMIZERS, builtin_names()):
        assert set(names) <= listed
    assert len(builtin_names()) >= 7


# -- interrupts ---------------------------------------------------------------------------------


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    """Make Run.step raise KeyboardInterrupt on its ``calls``-th call, as Ctrl-C would."""
    original = Run.step
    count = 0

    def step(self: Run):
        nonlocal count
        count += 1
        if count >= calls:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Run, "step", step)


def test_keyboard_interrupt_in_a_handler(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.HANDLERS, "run", handler)
    code, out, err = gdtui(capsys, "run", "seed-example")
    assert code == 130
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("fmt", FORMATS)
def test_interrupted_run_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    _interrupt_after(monkeypatch, 5)
    code, _out, err = gdtui(capsys, "run", "lr-too-small", "--format", fmt)
    assert code == 130
    assert len(err.splitlines()) == 1 and "interrupt" in err
    assert "Traceback" not in err


def test_interrupted_json_is_still_a_valid_array(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 5)
    code, out, _ = gdtui(capsys, "run", "lr-too-small", "--format", "json")
    assert code == 130
    records = json.loads(out)
    assert isinstance(records, list) and records
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))


def test_interrupted_json_before_any_record(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 1)
    code, out, _ = gdtui(capsys, "run", "seed-example", "--format", "json")
    assert code == 130
    assert json.loads(out) == []


def test_interrupted_jsonl_has_only_whole_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, 6)
    code, out, _ = gdtui(capsys, "run", "lr-too-small", "--format", "jsonl")
    assert code == 130
    assert out.endswith("\n")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))


# -- end to end, in a real process ---------------------------------------------------------------


def _python_m_gdtui(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "gdtui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
        check=False,
        **kwargs,
    )


def test_subprocess_run_json() -> None:
    proc = _python_m_gdtui("run", "seed-example", "--steps", "1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (rec,) = json.loads(proc.stdout)
    assert rec["grad"] == {"w": 6.0}
    assert rec["params"]["w"] == pytest.approx(4.4)


def test_subprocess_bad_input_exit_2_without_traceback() -> None:
    proc = _python_m_gdtui("run", "seed-example", "--lr", "abc")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["gdtui: error: learning rate must be a number, got 'abc'"]


def test_subprocess_closed_pipe_is_not_an_error() -> None:
    """``gdtui run … | head -1``: the reader goes away; no traceback, no BrokenPipe noise."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdtui", "run", "lr-too-small", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # 500 records (~200 kB) do not fit in a pipe buffer
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(first)["step"] == 1
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    assert code == 0, err


# -- papercuts: values that start with "-", problem options, run without a scenario ---------------


# argparse takes "-x**2" (no space) for an option unless the CLI says it is --expression's value.
@pytest.mark.parametrize(
    "argv",
    [
        ["--expression", "-x**2+3*y**2"],
        ["--expression=-x**2+3*y**2"],
        ["--expression", "-x**2 + 3*y**2"],
    ],
)
def test_expression_starting_with_minus(capsys: pytest.CaptureFixture[str], argv: list[str]):
    (rec,) = run_json(capsys, *argv, "--init", "x=0.5,y=-1", "--steps", "1")
    # -x**2 + 3*y**2 at (0.5, -1) = -0.25 + 3; its gradient is (-2x, 6y) = (-1, -6).
    assert rec["loss"] == -0.25 + 3.0
    assert rec["grad"] == {"x": -1.0, "y": -6.0}


def test_launch_expression_starting_with_minus(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.build_parser().parse_args(cli._split_argv(["--expression", "-x**2", "--lr", "-1"]))
    assert (args.command, args.expression, args.lr) == ("launch", "-x**2", "-1")


def test_negative_lr_gets_the_settings_message(capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*gdtui(capsys, "run", "--lr", "-1e-3"))
    assert line == "gdtui: error: learning rate must be above 0, got -0.001"
    line = assert_bad_input(*gdtui(capsys, "--lr", "-1", "--steps", "3"))  # launch
    assert line == "gdtui: error: learning rate must be above 0, got -1"


def test_a_value_option_does_not_swallow_the_next_option(capsys: pytest.CaptureFixture[str]):
    line = assert_bad_input(*gdtui(capsys, "run", "--lr", "--steps", "3"))
    assert "--lr" in line and "expected one argument" in line


@pytest.mark.parametrize("argv", [["--option", "l2=50"], ["--option", "l1=1,l2=50"]])
def test_problem_option(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    (rec,) = run_json(capsys, "momentum-ravine", *argv, "--steps", "1")
    # 0.5*(l1*x**2 + l2*y**2) at the scenario's start (-4, 1.5) with l1 = 1, l2 = 50.
    assert rec["loss"] == 0.5 * (16.0 + 50.0 * 2.25)
    assert rec["grad"] == {"x": -4.0, "y": 75.0}


def test_problem_options_repeat_and_merge(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(
        capsys, "run", "--loss", "rosenbrock", "--option", "a=2", "--option", "b=10", "--steps", "1"
    )
    assert code == 0, err
    assert "[a=2, b=10]" in out
    scenario = cli.resolve_scenario("momentum-ravine", {"options": {"l2": 50}})
    assert scenario.options == {"l1": 1.0, "l2": 50.0}  # l1 kept from the file


@pytest.mark.parametrize(
    ("value", "toml", "message"),
    [
        ("abc", '"abc"', "option 'l2' must be a number, got 'abc'"),
        ("nan", "nan", "option 'l2' must be finite, got nan"),
        ("true", "true", "option 'l2' must be a number, got True"),
    ],
)
def test_problem_option_checked_like_the_scenario_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, toml: str, message: str
) -> None:
    line = assert_bad_input(*gdtui(capsys, "run", "momentum-ravine", "--option", f"l2={value}"))
    assert line == f"gdtui: error: {message}"
    path = tmp_path / "bad.toml"
    path.write_text(f'[problem]\nloss = "ill-conditioned"\nl2 = {toml}\n', encoding="utf-8")
    line = assert_bad_input(*gdtui(capsys, "run", str(path)))
    assert line == f"gdtui: error: {path}: [problem] {message}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--option", "l22=1"], "'ill-conditioned' has no option 'l22' (did you mean 'l2'?)"),
        (["--option", "l2"], "--option expects NAME=VALUE pairs, got 'l2'"),
        (["--expression", "x**2", "--option", "l2=1"], "option 'l2' is for a built-in loss"),
    ],
)
def test_bad_problem_option(capsys: pytest.CaptureFixture[str], argv: list[str], message: str):
    line = assert_bad_input(*gdtui(capsys, "run", "momentum-ravine", *argv))
    assert line.startswith(f"gdtui: error: {message}")


def test_run_without_a_scenario_runs_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "--steps", "3") == run_json(capsys, "seed-example", "--steps", "3")
    (rec,) = run_json(capsys, "--expression", "x**2 + y**2", "--steps", "1")
    assert rec["params_before"] == {"x": 1.0, "y": 1.0}
    assert rec["grad"] == {"x": 2.0, "y": 2.0}


# -- internal errors: exit 1 and a log, not a traceback on the screen ---------------------------


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom")


def test_internal_error_exit_1_with_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gdtui.scenario import Scenario

    monkeypatch.setattr(Scenario, "build_run", _boom)
    log = tmp_path / "gdtui.log"
    code, out, err = gdtui(capsys, "run", "--log", str(log))
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"gdtui: internal error: RuntimeError: boom (traceback written to {log})"
    ]
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "_boom" in text and "RuntimeError: boom" in text
    # A second error is appended, not written over the first.
    gdtui(capsys, "run", "--log", str(log))
    assert log.read_text(encoding="utf-8").count("RuntimeError: boom") == 2


def test_internal_error_without_log_goes_to_a_temp_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    from gdtui.scenario import Scenario

    monkeypatch.setattr(Scenario, "build_run", _boom)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = gdtui(capsys, "run")
    log = tmp_path / f"gdtui-{os.getpid()}.log"
    assert code == 1
    assert err.splitlines() == [
        f"gdtui: internal error: RuntimeError: boom (traceback written to {log})"
    ]
    assert "RuntimeError: boom" in log.read_text(encoding="utf-8")


def test_log_in_a_missing_folder_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    line = assert_bad_input(*gdtui(capsys, "run", "--log", str(tmp_path / "no" / "x.log")))
    assert "no such folder" in line


def test_subprocess_internal_error_exit_1_without_traceback(tmp_path: Path) -> None:
    log = tmp_path / "gdtui.log"
    code = (
        "import sys; from gdtui import cli; from gdtui.scenario import Scenario\n"
        "def boom(*a, **k): raise RuntimeError('boom')\n"
        "Scenario.build_run = boom\n"
        f"sys.exit(cli.main(['run', '--log', {str(log)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        f"gdtui: internal error: RuntimeError: boom (traceback written to {log})"
    ]
    assert "Traceback" in log.read_text(encoding="utf-8")


class _FakeApp:
    """Stands in for GdtuiApp: records what the CLI passed, runs nothing."""

    made: list[dict] = []
    startup_error = None
    internal_error: str | None = None
    internal_error_is_fault = False
    stopped_by_signal: int | None = None
    return_code = 0

    def __init__(self, **kwargs: object) -> None:
        _FakeApp.made.append(kwargs)

    def run(self) -> None:
        """Nothing to run."""


@pytest.mark.parametrize("with_log", [True, False])
def test_launch_passes_a_log_path(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    with_log: bool,
) -> None:
    """--log FILE, or a temp file that the last line names if the app hits a bug."""
    from gdtui.ui import app as app_module

    monkeypatch.setattr(app_module, "GdtuiApp", _FakeApp)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli.tempfile, "gettempdir", lambda: str(tmp_path))
    _FakeApp.made.clear()
    log = tmp_path / "app.log"
    argv = ["launch", "saddle", "--lr", "0.5", *(["--log", str(log)] if with_log else [])]
    code, _, err = gdtui(capsys, *argv)
    assert code == 0, err
    (kwargs,) = _FakeApp.made
    expected_log = log if with_log else tmp_path / f"gdtui-{os.getpid()}.log"
    assert kwargs == {
        "scenario": "saddle",
        "overrides": kwargs["overrides"],
        "log_path": expected_log,
        "ascii": False,
        "record": None,
    }

    # The app stopped on a bug: exit 1 and one line that names the log.
    monkeypatch.setattr(_FakeApp, "internal_error", "RuntimeError: boom")
    code, out, err = gdtui(capsys, *argv)
    assert (code, out) == (1, "")
    assert (
        err == f"gdtui: internal error: RuntimeError: boom (traceback written to {expected_log})\n"
    )
    assert kwargs["overrides"]["lr"] == 0.5


# -- serve ----------------------------------------------------------------------------------------


def test_serve_passes_host_port_and_launch_arguments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdtui import serve as serve_module

    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda *a: calls.append(a) or 0)
    code, out, err = gdtui(
        capsys, "serve", "adam-rosenbrock", "--port", "8123", "--lr", "0.01", "--host", "::1"
    )
    assert (code, out, err) == (0, "", "")
    ((host, port, public, command),) = calls
    assert (host, port, public) == ("::1", 8123, False)
    assert command == serve_module.launch_command(["adam-rosenbrock", "--lr=0.01"])


def test_serve_defaults_and_public(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdtui import serve as serve_module

    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda *a: calls.append(a) or 0)
    assert gdtui(capsys, "serve")[0] == 0
    assert gdtui(capsys, "serve", "--host", "0.0.0.0", "--public")[0] == 0
    assert [c[:3] for c in calls] == [("127.0.0.1", 8000, False), ("0.0.0.0", 8000, True)]
    assert calls[0][3] == serve_module.launch_command([])


def test_serve_checks_the_scenario_before_serving(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdtui import serve as serve_module

    monkeypatch.setattr(serve_module, "serve", lambda *a: pytest.fail("served a bad scenario"))
    code, out, err = gdtui(capsys, "serve", "--lr", "-1")
    assert_bad_input(code, out, err)
    assert "learning rate must be above 0, got -1" in err


def test_subprocess_serve_http_200_on_loopback() -> None:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdtui", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 200
    assert code == 0


# -- sweep, schedules, curvature ------------------------------------------------------------------


def test_sweep_json_matches_the_closed_form(capsys: pytest.CaptureFixture[str]) -> None:
    """SGD on (w - 2)**2 from w = 5: after N steps the loss is 9·(1 - 2·lr)^(2N); λmax = 2."""
    code, out, err = gdtui(
        capsys, "sweep", "--num", "5", "--lr-min", "0.01", "--lr-max", "1.5", "--steps", "20",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert len(result["lrs"]) == 5
    for lr, final, status in zip(
        result["lrs"], result["final_loss"], result["status"], strict=True
    ):
        expected = 9.0 * (1.0 - 2.0 * lr) ** 40
        if status == "diverged":
            assert abs(1 - 2 * lr) > 1
        else:
            assert final == pytest.approx(expected, rel=1e-9, abs=1e-25)
    assert result["lambda_max"] == pytest.approx(2.0)
    assert result["bound"] == pytest.approx(1.0)
    assert result["suggested"] in result["lrs"] and result["rule"]
    assert set(result) >= {"lrs", "final_loss", "best_loss", "status", "edge", "bound"}


def test_sweep_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(capsys, "sweep", "lr-too-large", "--num", "4", "--steps", "50")
    assert code == 0, err
    assert "edge " in out and "bound " in out and "suggested " in out
    assert len([line for line in out.splitlines() if line.endswith(("converged", "diverged",
                "descending", "oscillating"))]) == 4  # fmt: skip


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr-min", "1", "--lr-max", "0.1"], "--lr-min (1) must be below --lr-max (0.1)"),
        (["--lr-min", "-1"], "--lr-min: learning rate must be above 0, got -1"),
        (["--num", "1"], "--num must be a whole number ≥ 2, got '1'"),
        (["--format", "csv"], "invalid choice: 'csv'"),
    ],
)
def test_sweep_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    line = assert_bad_input(*gdtui(capsys, "sweep", *argv))
    assert message in line


def test_schedule_lr_is_the_lr_each_step_used(capsys: pytest.CaptureFixture[str]) -> None:
    """--schedule cosine: the records' lr equal a plain loop with CosineAnnealingLR."""
    records = run_json(
        capsys, "--schedule", "cosine", "--schedule-arg", "T_max=4", "--steps", "6",
        "--optimizer", "momentum",
    )  # fmt: skip
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    expected = []
    for _ in range(6):
        opt.zero_grad()
        loss = (w - 2) ** 2
        loss.backward()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        expected.append((lr, w.item()))
    assert [(r["lr"], r["params"]["w"]) for r in records] == expected


def test_schedule_none_drops_the_scenarios(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[optimizer]\nlr = 0.1\n[schedule]\nname = "exponential"\ngamma = 0.5\n[run]\nsteps = 3\n'
    )
    assert [r["lr"] for r in run_json(capsys, str(path))] == [0.1, 0.05, 0.025]
    assert [r["lr"] for r in run_json(capsys, str(path), "--schedule", "none")] == [0.1] * 3
    # --schedule-arg alone merges into the scenario's arguments
    rows = run_json(capsys, str(path), "--schedule-arg", "gamma=0.1")
    assert [r["lr"] for r in rows] == pytest.approx([0.1, 0.01, 0.001])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--schedule", "cosin"], "unknown schedule 'cosin' (did you mean 'cosine'?)"),
        (
            ["--schedule", "cosine", "--schedule-arg", "T_maxx=3"],
            "schedule 'cosine' has no argument 'T_maxx' (did you mean 'T_max'?)",
        ),
        (["--schedule-arg", "T_max=3"], "schedule arguments given without a schedule name"),
        (["--schedule", ""], "--schedule is empty"),
        (["--curvature-every", "-1"], "--curvature-every must be a whole number ≥ 0, got -1"),
        (["--curvature-every", "x"], "--curvature-every must be a whole number ≥ 0, got 'x'"),
    ],
)
def test_schedule_and_curvature_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    line = assert_bad_input(*gdtui(capsys, "run", *argv))
    assert message in line


def test_curvature_every_records_lambda_max(capsys: pytest.CaptureFixture[str]) -> None:
    """x² + 10y²: the Hessian is diag(2, 20), so λmax = 20 at every point."""
    records = run_json(
        capsys, "--expression", "x**2 + 10*y**2", "--lr", "0.01", "--steps", "7",
        "--curvature-every", "3",
    )  # fmt: skip
    measured = {r["step"]: r["lambda_max"] for r in records if r.get("lambda_max") is not None}
    assert set(measured) == {3, 6}
    assert all(v == pytest.approx(20.0, rel=1e-9) for v in measured.values())
    code, out, err = gdtui(
        capsys, "run", "--expression", "x**2 + 10*y**2", "--steps", "2", "--curvature-every", "1",
        "--format", "csv",
    )  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["lambda_max"]) for r in rows] == pytest.approx([20.0, 20.0])


def test_no_curvature_no_lambda_max_key(capsys: pytest.CaptureFixture[str]) -> None:
    (record,) = run_json(capsys, "--steps", "1")
    assert record["lambda_max"] is None


# -- attach -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A record file of a plain training loop watched by gdtui.watch() (5 SGD steps)."""
    import gdtui as package

    path = tmp_path_factory.mktemp("watch") / "run.jsonl"
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(32, 3)
    y = x.sum(1, keepdim=True)
    with package.watch(model, opt, path) as watch:
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            watch.log(loss=loss.item())
    return path


def test_attach_formats(capsys: pytest.CaptureFixture[str], record_file: Path) -> None:
    from gdtui.recordfile import format_attach, read_records

    for fmt in ("summary", "table", "json"):
        code, out, err = gdtui(capsys, "attach", str(record_file), "--format", fmt)
        assert (code, err) == (0, "")
        expected = format_attach(read_records(record_file), fmt)
        assert out.rstrip("\n") == expected.rstrip("\n")
    code, out, _ = gdtui(capsys, "attach", str(record_file), "--format", "json")
    document = json.loads(out)
    assert document["header"]["optimizer"] == "SGD"
    assert len(document["steps"]) == 5
    assert "5 recorded" in gdtui(capsys, "attach", str(record_file), "--format", "summary")[1]


def test_attach_rank_zero_is_the_file(capsys: pytest.CaptureFixture[str], record_file: Path):
    a = gdtui(capsys, "attach", str(record_file), "--rank", "0", "--format", "table")
    b = gdtui(capsys, "attach", str(record_file), "--format", "table")
    assert a == b and a[0] == 0


def test_attach_live_view_needs_a_terminal(
    capsys: pytest.CaptureFixture[str], record_file: Path
) -> None:
    """Without --format, attach opens the app; with no terminal that is one line, exit 2."""
    code, out, err = gdtui(capsys, "attach", str(record_file))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "gdtui attach needs a terminal" in err
    assert "--format summary" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rank", "x"], "--rank must be a whole number ≥ 0, got 'x'"),
        (["--rank", "3"], "no record file for rank 3 (ranks found: 0)"),
        (["--format", "csv"], "invalid choice: 'csv'"),
    ],
)
def test_attach_bad_options(
    capsys: pytest.CaptureFixture[str], record_file: Path, argv: list[str], message: str
) -> None:
    line = assert_bad_input(*gdtui(capsys, "attach", str(record_file), *argv))
    assert message in line
