"""``[[race]]`` in scenario files: parsing and one-line errors, the one inheritance rule, races
(of formula runs and of model runs) that walk the paths of plain torch loops, and ``gdtui run``
on a race: a ``run`` label on every record in every format, the race table, valid JSON after a
signal. The bad-input rows of docs/bad-input.md for races are checked here."""

from __future__ import annotations

import copy
import csv
import io
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
import torch.nn.functional as F

from gdtui import cli
from gdtui.engine import ModelRun, Race, Run, get_problem
from gdtui.engine.race import ENTRY_KEYS, inherit
from gdtui.scenario import ScenarioError, load_file, load_scenario, parse_scenario

REPO = Path(__file__).resolve().parent.parent

ROSENBROCK = """
title = "two rates"
[problem]
expression = "(1 - x)**2 + 100*(y - x**2)**2"
init = { x = -1.5, y = 2.0 }
[optimizer]
name = "sgd"
lr = 0.001
[run]
steps = 50
"""


def write(tmp_path: Path, text: str, name: str = "race.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def race_file(tmp_path: Path, entries: str, head: str = ROSENBROCK) -> Path:
    return write(tmp_path, head + entries)


def gdtui(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- parsing and the inheritance rule ----------------------------------------------------------


def test_race_entries_parse_and_inherit_by_one_rule(tmp_path: Path) -> None:
    path = race_file(
        tmp_path,
        """
[[race]]
label = "same optimizer"
hyper = { momentum = 0.5 }

[[race]]
optimizer = "adam"

[[race]]
optimizer = "SGD"
lr = 0.002
seed = 3
""",
        head=ROSENBROCK.replace("lr = 0.001", "lr = 0.001\nnesterov = false\nmomentum = 0.9"),
    )
    scenario = load_file(path)
    assert scenario.race == (
        {"label": "same optimizer", "hyper": {"momentum": 0.5}},
        {"optimizer": "adam"},
        {"optimizer": "SGD", "lr": 0.002, "seed": 3},
    )
    same, adam, sgd = (scenario.contender(e, i) for i, e in enumerate(scenario.race, 1))
    # The scenario's optimizer kept: its rate and hyper-parameters too, the entry's merged over.
    assert (same.optimizer, same.lr, dict(same.hyper)) == (
        "sgd",
        0.001,
        {"nesterov": False, "momentum": 0.5},
    )
    # Another optimizer: that optimizer's defaults.
    assert (adam.optimizer, adam.lr, dict(adam.hyper), adam.effective_lr) == (
        "adam",
        None,
        {},
        1e-3,
    )
    # The same optimizer under another spelling is the same optimizer; the entry's rate wins.
    assert (sgd.optimizer, sgd.lr, dict(sgd.hyper), sgd.seed) == (
        "sgd",
        0.002,
        {"nesterov": False, "momentum": 0.9},
        3,
    )
    assert sgd.race == () and scenario.race  # a contender is a plain scenario
    race = scenario.build_race()
    assert race.labels == ("same optimizer", "adam lr=0.001", "sgd lr=0.002")
    # The rule is the engine's, used as it is by the race screen and from_entries.
    assert inherit({"hyper": {"momentum": 0.5}}, "sgd", 0.001, {"momentum": 0.9}) == (
        "sgd",
        0.001,
        {"momentum": 0.5},
    )
    assert inherit({"optimizer": "adam"}, "sgd", 0.001, {"momentum": 0.9}) == ("adam", None, {})


def test_the_race_survives_command_line_overrides_of_the_optimizer(tmp_path: Path) -> None:
    """``--lr`` on a race changes the scenario's rate, which entries that keep its optimizer
    and give no rate inherit; a new problem drops the entries (written for the old one)."""
    path = race_file(tmp_path, '[[race]]\n\n[[race]]\noptimizer = "adam"\nlr = 0.05\n')
    scenario = load_file(path).with_overrides(lr=0.0005)
    assert [scenario.contender(e).effective_lr for e in scenario.race] == [0.0005, 0.05]
    assert load_file(path).with_overrides(loss="quadratic").race == ()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            '[[race]]\noptimiser = "adam"\n',
            "[[race]] 1: unknown field 'optimiser' (did you mean 'optimizer'?); allowed: "
            + ", ".join(ENTRY_KEYS),
        ),
        (
            "[[race]]\n[[race]]\nlr = nan\n",
            "[[race]] 2: learning rate must be finite, got nan",
        ),
        (
            "[[race]]\nlr = inf\n",
            "[[race]] 1: learning rate must be finite, got inf",
        ),
        (
            '[[race]]\noptimizer = "momentum"\nhyper = { momentun = 0.9 }\n',
            "[[race]] 1: 'momentum' has no hyper-parameter 'momentun' (did you mean 'momentum'?)",
        ),
        (
            '[[race]]\noptimizer = "momentum"\nhyper = { momentum = -1.0 }\n',
            "[[race]] 1: momentum: Invalid momentum value: -1.0",
        ),
        (
            '[[race]]\noptimizer = "adamm"\n',
            "[[race]] 1: unknown optimizer 'adamm' (did you mean 'adam'?)",
        ),
        ("[[race]]\nbatch_size = 8\n", "[[race]] 1: batch_size is for a model on [data]"),
        ("[[race]]\nnoise = -1\n", "[[race]] 1: noise must be a finite number ≥ 0, got -1"),
        (
            '[[race]]\nlabel = "a"\n[[race]]\nlabel = "a"\n',
            "[[race]] 2: label 'a' is already entry 1's; labels must differ",
        ),
        ("[race]\nlr = 0.1\n", "race must be an array of tables: write [[race]], not [race]"),
        ('[[race]]\nschedule = "cosine"\nschedule_args = { T_maxx = 5 }\n', "[[race]] 1: "),
        ('[[race]]\nlabel = "two\\nlines"\n', "[[race]] 1: label must be one line of text"),
    ],
)
def test_bad_race_entries_are_one_line_with_the_file_and_entry(
    tmp_path: Path, entries: str, message: str
) -> None:
    path = race_file(tmp_path, entries)
    with pytest.raises(ScenarioError) as err:
        load_file(path)
    text = str(err.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "\n" not in text


def test_seven_entries_are_refused() -> None:
    data = {"problem": {"loss": "quadratic"}, "race": [{"lr": 0.1 * (i + 1)} for i in range(7)]}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "seven", "seven.toml")
    assert str(err.value) == "seven.toml: [[race]] holds at most 6 entries (runs), got 7"
    data["race"].pop()
    assert len(parse_scenario(data, "six", "six.toml").race) == 6


def test_noise_on_a_model_and_batch_size_on_a_model_race(tmp_path: Path) -> None:
    head = MODEL_HEAD
    with pytest.raises(ScenarioError, match=r"\[\[race\]\] 1: noise is for a formula"):
        load_file(race_file(tmp_path, "[[race]]\nnoise = 0.1\n", head))
    with pytest.raises(
        ScenarioError,
        match=r"\[\[race\]\] 2: batch_size must be \"full\" or a whole number ≥ 1, got 0",
    ):
        load_file(race_file(tmp_path, "[[race]]\n[[race]]\nbatch_size = 0\n", head))
    scenario = load_file(race_file(tmp_path, "[[race]]\n[[race]]\nbatch_size = 8\n", head))
    assert [c.batch_size for c in map(scenario.contender, scenario.race)] == [None, 8]


# -- a race walks the paths of plain torch loops ------------------------------------------------


def test_a_race_of_two_sgd_runs_is_two_plain_torch_loops(tmp_path: Path) -> None:
    """float64, bit for bit: every loss and every point of both runs."""
    scenario = load_file(
        race_file(
            tmp_path,
            '[[race]]\nlabel = "a"\n[[race]]\nlabel = "b"\nlr = 0.0005\n'
            "hyper = { momentum = 0.5 }\n",
        )
    )
    race = scenario.build_race()
    seen: dict[str, list] = {"a": [], "b": []}
    for label, record in race.steps():
        seen[label].append(record)

    def plain(lr: float, momentum: float) -> list[tuple[float, tuple[float, float]]]:
        x = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([x, y], lr=lr, momentum=momentum)
        out = []
        for _ in range(50):
            opt.zero_grad()
            loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2
            loss.backward()
            opt.step()
            out.append((loss.item(), (x.item(), y.item())))
        return out

    for label, lr, momentum in (("a", 0.001, 0.0), ("b", 0.0005, 0.5)):
        got = [(r.loss, tuple(r.params)) for r in seen[label]]
        assert got == plain(lr, momentum), label
    assert [row.steps for row in race.table()] == [50, 50]


MODEL_HEAD = """
title = "a small regression raced"
[data]
name = "regression"
samples = 40
features = 2
validation = 0.25
[model]
kind = "linear"
[loss]
fn = "mse"
[optimizer]
name = "sgd"
lr = 0.1
[run]
steps = 30
dtype = "float64"
device = "cpu"
"""


def test_a_race_of_model_runs_is_plain_torch_loops(tmp_path: Path) -> None:
    """Two ModelRuns (SGD, Adam) in one race: the losses and weights of two plain loops over
    the same rows from the same initial weights (float64, full batch, bit for bit)."""
    scenario = load_file(
        race_file(
            tmp_path,
            '[[race]]\nlabel = "sgd"\n[[race]]\nlabel = "adam"\noptimizer = "adam"\nlr = 0.05\n',
            MODEL_HEAD,
        )
    )
    race = scenario.build_race()
    runs = dict(iter(race))
    assert all(isinstance(run, ModelRun) for run in runs.values())
    start = copy.deepcopy(runs["sgd"].model)  # before any step
    data = runs["sgd"].dataset
    seen: dict[str, list] = {"sgd": [], "adam": []}
    for label, record in race.steps():
        seen[label].append(record)
    x = torch.as_tensor(data.x_train, dtype=torch.float64)
    y = torch.as_tensor(data.y_train, dtype=torch.float64)
    torch.manual_seed(0)
    fresh = torch.nn.Linear(2, 1).double()  # the seed's initial weights, built here
    assert torch.equal(fresh.weight, start[0].weight) and torch.equal(fresh.bias, start[0].bias)

    for label, make in (
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.1)),
        ("adam", lambda p: torch.optim.Adam(p, lr=0.05)),
    ):
        model = copy.deepcopy(fresh)
        opt = make(model.parameters())
        losses = []
        for _ in range(30):
            opt.zero_grad()
            loss = F.mse_loss(model(x).squeeze(-1), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert [r.loss for r in seen[label]] == losses, label
        weights = (*model.weight.detach().reshape(-1).tolist(), model.bias.item())
        assert runs[label].current == weights
    assert [(row.label, row.steps, row.status) for row in race.table()] == [
        ("sgd", 30, "finished"),
        ("adam", 30, "finished"),
    ]


def test_a_new_tolerance_recounts_exactly() -> None:
    """Steps-to-tolerance after changing the tolerance = a race run with it from the start."""
    problem = get_problem("quadratic")

    def race(tolerance: float) -> Race:
        r = Race(
            [("a", Run(problem, "sgd", 0.1)), ("b", Run(problem, "sgd", 0.01))], tolerance=tolerance
        )
        r.run(300)
        return r

    late = race(1e-6)
    before = [row.steps_to_tolerance for row in late.table()]
    for tolerance in (1e-2, 1e-9, 0.0, 1e-4):
        late.tolerance = tolerance
        assert late.table() == race(tolerance).table()
    assert late.tolerance == 1e-4 and before != [row.steps_to_tolerance for row in late.table()]


# -- the built-ins ------------------------------------------------------------------------------


def test_the_race_builtins_tell_what_they_show() -> None:
    sgd = load_scenario("adam-vs-sgd")
    assert not sgd.is_model and sgd.loss == "rosenbrock" and len(sgd.race) == 4
    digits = load_scenario("adam-vs-sgd-digits")
    assert digits.is_model and digits.data["name"] == "digits" and digits.model["kind"] == "mlp"
    ravine = load_scenario("momentum-vs-plain")
    assert ravine.loss == "ill-conditioned" and len(ravine.race) == 4
    race = ravine.build_race()
    race.run()
    to_tol = {row.label: row.steps_to_tolerance for row in race.table()}
    assert to_tol["momentum 0.9 lr=0.02"] < to_tol["plain lr=0.02"]
    assert to_tol["momentum 0.5 lr=0.1"] < to_tol["plain lr=0.09"]


def test_adam_beats_sgd_at_the_same_rate_on_the_digits() -> None:
    """What adam-vs-sgd-digits says, after 60 steps (a fifth of its budget)."""
    race = load_scenario("adam-vs-sgd-digits").build_race(max_steps=60)
    race.run()
    final = {row.label: row.final_loss for row in race.table()}
    assert final["adam lr=0.01"] < final["sgd lr=0.1"] < final["sgd lr=0.01"]


# -- gdtui run on a race -------------------------------------------------------------------------


def engine_records(name: str, steps: int) -> list[dict]:
    race = load_scenario(name).build_race(max_steps=steps)
    return [race.record_dict(label, record) for label, record in race.steps()]


def test_run_jsonl_and_json_carry_run_labels_and_the_engines_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = gdtui(capsys, "run", "momentum-vs-plain", "--steps", "5", "--format", "json")
    assert code == 0 and err == ""
    records = json.loads(out)
    expected = engine_records("momentum-vs-plain", 5)
    assert sorted(records, key=lambda r: (r["run"], r["step"])) == sorted(
        expected, key=lambda r: (r["run"], r["step"])
    )
    assert {r["run"] for r in records} == {
        "plain lr=0.02",
        "momentum 0.9 lr=0.02",
        "plain lr=0.09",
        "momentum 0.5 lr=0.1",
    }
    code, out, err = gdtui(capsys, "run", "momentum-vs-plain", "--steps", "5", "--format", "jsonl")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == records


def test_run_csv_has_a_run_column_and_every_optimizers_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = gdtui(capsys, "run", "adam-vs-sgd", "--steps", "3", "--format", "csv")
    assert code == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:3] == ["run", "step", "loss"]
    assert len(rows) == 12 and {r["run"] for r in rows} == {
        "adam lr=0.05",
        "sgd lr=0.001",
        "sgd lr=0.002",
        "sgd lr=0.004",
    }
    assert {"exp_avg_x", "exp_avg_sq_y"} <= set(rows[0])
    expected = {(r["run"], r["step"]): r["loss"] for r in engine_records("adam-vs-sgd", 3)}
    assert {(r["run"], int(r["step"])): float(r["loss"]) for r in rows} == expected
    code, out, _ = gdtui(capsys, "run", "momentum-vs-plain", "--steps", "2", "--format", "csv")
    header = next(csv.reader(io.StringIO(out)))
    assert "momentum_buffer_x" in header  # the first run is plain SGD: the state of the others


def test_run_table_ends_with_the_race_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(capsys, "run", "momentum-vs-plain")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["run", "step", "loss"]
    start = next(i for i, line in enumerate(lines) if line.startswith("race "))
    assert lines[start] == "race       4 runs; to tol = first step with loss − 0 ≤ 1e-06"
    assert lines[start + 1].split() == [
        "run",
        "optimizer",
        "lr",
        "steps",
        "to",
        "tol",
        "final",
        "loss",
        "best",
        "loss",
        "status",
    ]
    race = load_scenario("momentum-vs-plain").build_race()
    race.run()
    table = lines[start + 2 :]
    assert len(table) == 4
    for line, row in zip(table, race.table(), strict=True):
        assert line.startswith(row.label)
        cells = line[len(row.label) :].split()
        assert cells[:4] == [
            row.optimizer,
            f"{row.lr:.3g}",
            str(row.steps),
            str(row.steps_to_tolerance),
        ]
        assert cells[6].rstrip(":") == row.status
    code, out, _ = gdtui(capsys, "run", "momentum-vs-plain", "--format", "summary")
    assert out.splitlines()[-5:] == lines[-5:] and "plain lr=0.02  " not in out.splitlines()[0]


def test_run_a_model_race(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = gdtui(
        capsys, "run", "adam-vs-sgd-digits", "--steps", "3", "--device", "cpu", "--format", "jsonl"
    )
    assert code == 0 and err == ""
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["run"], r["step"]) for r in records[:4]] == [
        ("adam lr=0.01", 1),
        ("sgd lr=0.01", 1),
        ("sgd lr=0.1", 1),
        ("momentum 0.9 lr=0.01", 1),
    ]
    assert len(records) == 12 and all(math.isfinite(r["loss"]) for r in records)
    assert len({r["loss"] for r in records if r["step"] == 1}) == 1  # the same start


def test_run_record_file_labels_every_step(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "race.jsonl"
    code, _, err = gdtui(
        capsys,
        "run",
        "momentum-vs-plain",
        "--steps",
        "4",
        "--format",
        "summary",
        "--record",
        str(path),
    )
    assert code == 0 and err == ""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header, steps, end = lines[0], lines[1:-1], lines[-1]
    assert header["format"] == "gdtui-run" and header["params"] == ["x", "y"]
    assert [r["run"] for r in header["race"]] == [r["run"] for r in steps[:4]]
    assert header["race"][1] == {
        "run": "momentum 0.9 lr=0.02",
        "optimizer": "momentum",
        "lr": 0.02,
        "hyper": {"momentum": "0.9"},
    }
    assert len(steps) == 16 and steps == engine_records("momentum-vs-plain", 4)
    assert end["end"] is True and end["steps"] == 16 and end["signal"] is None
    assert [r["status"] for r in end["runs"]] == ["finished"] * 4


ENDLESS = """
title = "an endless race"
[problem]
expression = "(w - 2)**2"
init = { w = 5.0 }
[optimizer]
name = "sgd"
lr = 1.0
[run]
steps = 100000000
[[race]]
label = "bounce"
[[race]]
label = "also"
seed = 1
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_race_leaves_valid_json(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """lr = 1 on (w − 2)² bounces 5 ↔ −1 for ever: only a signal ends it; the JSON array is
    closed and the record file has its end line."""
    scenario = write(tmp_path, ENDLESS, "endless.toml")
    out_path, record_path = tmp_path / "out.json", tmp_path / "race.jsonl"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    argv = [sys.executable, "-m", "gdtui", "run", str(scenario), "--format", "json"]
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [*argv, "--record", str(record_path)],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if record_path.exists() and record_path.read_text().count("\n") >= 5:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("no step was recorded within 60 s")
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == code, err
    name = "interrupted" if sig == signal.SIGINT else f"stopped by {sig.name}"
    assert err == f"gdtui: {name}\n"
    records = json.loads(out_path.read_text())
    assert records and {r["run"] for r in records} == {"bounce", "also"}
    for label in ("bounce", "also"):
        mine = [r for r in records if r["run"] == label]
        assert [r["step"] for r in mine] == list(range(1, len(mine) + 1))
        assert {r["params"]["w"] for r in mine} <= {5.0, -1.0}
    lines = [json.loads(line) for line in record_path.read_text().splitlines()]
    assert lines[-1]["end"] is True and lines[-1]["signal"] == sig.name
    assert [(r["run"], r["status"]) for r in lines[-1]["runs"]] == [
        ("bounce", "running"),
        ("also", "running"),
    ]
    assert [(s["run"], s["step"]) for s in lines[1:-1]] == [(r["run"], r["step"]) for r in records]


# -- bad input on the command line (docs/bad-input.md) -------------------------------------------


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ("[[race]]\nspeed = 3\n", "[[race]] 1: unknown field 'speed' (did you mean 'seed'?)"),
        ("[[race]]\nlr = nan\n", "[[race]] 1: learning rate must be finite, got nan"),
        ("[[race]]\n" * 7, "[[race]] holds at most 6 entries (runs), got 7"),
        (
            '[[race]]\noptimizer = "adam"\nhyper = { momentum = 0.9 }\n',
            "[[race]] 1: 'adam' has no hyper-parameter 'momentum'",
        ),
    ],
)
def test_gdtui_run_on_a_bad_race_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, entries: str, needle: str
) -> None:
    path = race_file(tmp_path, entries)
    code, out, err = gdtui(capsys, "run", str(path), "--format", "json")
    assert code == 2 and out == ""
    assert err.startswith(f"gdtui: error: {path}: {needle}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_override_that_breaks_an_entry_names_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An entry that keeps the scenario's optimizer and sets its momentum: --optimizer adam
    makes it an Adam with a momentum, which the entry then names."""
    path = race_file(tmp_path, "[[race]]\n[[race]]\nhyper = { momentum = 0.9 }\n")
    code, out, err = gdtui(capsys, "run", str(path), "--optimizer", "adam")
    assert code == 2 and out == ""
    assert err.startswith("gdtui: error: [[race]] 2: 'adam' has no hyper-parameter 'momentum'")


def test_entries_set_their_own_schedule_seed_and_noise(tmp_path: Path) -> None:
    """Each entry's schedule, seed and noise reach its run: the same records as a Run built
    with them by hand (float64, exact)."""
    scenario = load_file(
        race_file(
            tmp_path,
            '[[race]]\nlabel = "cosine"\nschedule = "cosine"\nschedule_args = { T_max = 20 }\n'
            '[[race]]\nlabel = "noisy"\nnoise = 0.5\nseed = 7\n',
        )
    )
    race = scenario.build_race()
    seen: dict[str, list] = {"cosine": [], "noisy": []}
    for label, record in race.steps():
        seen[label].append(record)
    problem = scenario.problem()
    by_hand = {
        "cosine": Run(
            problem, "sgd", 0.001, max_steps=50, schedule="cosine", schedule_args={"T_max": 20}
        ),
        "noisy": Run(problem, "sgd", 0.001, max_steps=50, noise=0.5, seed=7),
    }
    for label, run in by_hand.items():
        mine = [(r.loss, r.params, r.lr) for r in run.steps()]
        assert [(r.loss, r.params, r.lr) for r in seen[label]] == mine, label
    assert seen["cosine"][20].lr == pytest.approx(0.0)  # cosine from 0.001 to 0 in 20 steps
    assert len({r.lr for r in seen["noisy"]}) == 1
