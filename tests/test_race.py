"""Races: each contender walks exactly the path it walks alone; the table comes from the records."""

from __future__ import annotations

import json
import math

import pytest

from gdtui.engine import (
    MAX_CONTENDERS,
    USER_ERRORS,
    Race,
    RaceError,
    Run,
    Status,
    expression_problem,
    get_problem,
)
from gdtui.engine.records import StepRecord


def alone(problem, optimizer: str, lr: float, steps: int, **kwargs) -> list[StepRecord]:
    run = Run(problem, optimizer, lr=lr, **kwargs)
    return list(run.steps(steps))


def test_sgd_vs_adam_on_rosenbrock_walk_their_own_paths() -> None:
    problem = get_problem("rosenbrock")
    race = Race([("sgd", Run(problem, "sgd", lr=1e-3)), ("adam", Run(problem, "adam", lr=0.02))])
    got: dict[str, list[StepRecord]] = {"sgd": [], "adam": []}
    for _ in range(400):
        out = race.step()
        assert [label for label, _ in out] == ["sgd", "adam"]  # stepped together, in order
        for label, record in out:
            got[label].append(record)
    for label, optimizer, lr in (("sgd", "sgd", 1e-3), ("adam", "adam", 0.02)):
        expected = alone(problem, optimizer, lr, 400)
        assert [(r.loss, r.params, r.grad, r.state) for r in got[label]] == [
            (r.loss, r.params, r.grad, r.state) for r in expected
        ]


def test_table_numbers_come_from_the_records() -> None:
    problem = get_problem("rosenbrock")
    race = Race.from_entries(
        problem,
        [{"optimizer": "sgd", "lr": 1e-3}, {"optimizer": "adam", "lr": 0.05}],
        max_steps=3000,
        tolerance=1e-4,
    )
    assert race.labels == ("sgd lr=0.001", "adam lr=0.05")
    records: dict[str, list[StepRecord]] = {label: [] for label in race.labels}
    for label, record in race.steps():
        records[label].append(record)
    assert race.finished
    assert race.criterion == "first step with loss − 0 ≤ 0.0001"
    rows = {row.label: row for row in race.table()}
    for label, recs in records.items():
        row = rows[label]
        reached = [r.step for r in recs if r.loss - 0.0 <= 1e-4]
        assert row.steps_to_tolerance == (reached[0] if reached else None)
        assert row.final_loss == recs[-1].loss
        assert row.best_loss == min(r.loss for r in recs)
        assert row.steps == recs[-1].step == len(recs)
        assert row.status == str(race[label].status) and row.reason == race[label].reason
    # Adam gets there, SGD at this rate does not within the budget: the table tells them apart.
    assert rows["adam lr=0.05"].steps_to_tolerance is not None
    assert rows["sgd lr=0.001"].steps_to_tolerance is None
    assert rows["sgd lr=0.001"].status == "finished"
    data = json.loads(json.dumps([row.to_dict() for row in race.table()], allow_nan=False))
    assert data[1]["run"] == "adam lr=0.05" and data[1]["steps_to_tolerance"] is not None


def test_steps_to_tolerance_by_hand_on_the_worked_example() -> None:
    # (w − 2)² from w = 5 with lr = 0.1: the loss at the start of step k is 9·0.64^(k−1).
    race = Race([("gd", Run(get_problem("quadratic"), "sgd", lr=0.1))], tolerance=1e-6)
    race.run(100)
    expected = 1 + math.ceil(math.log(1e-6 / 9) / math.log(0.64))
    assert 9 * 0.64 ** (expected - 1) <= 1e-6 < 9 * 0.64 ** (expected - 2)
    (row,) = race.table()
    assert row.steps_to_tolerance == expected


def test_without_a_known_minimum_the_gradient_norm_counts() -> None:
    problem = expression_problem("(w - 2)**2 + 1")
    assert problem.min_value is None
    race = Race([("gd", Run(problem, "sgd", lr=0.1))], tolerance=1e-3)
    records = [r for _, r in race.steps(60)]
    (row,) = race.table()
    assert race.criterion == "first step with ‖∇‖ ≤ 0.001"
    assert row.steps_to_tolerance == next(r.step for r in records if r.grad_norm <= 1e-3)
    # A target given by hand is used instead.
    race = Race([("gd", Run(problem, "sgd", lr=0.1))], tolerance=1e-3, target=1.0)
    records = [r for _, r in race.steps(60)]
    (row,) = race.table()
    assert row.steps_to_tolerance == next(r.step for r in records if r.loss - 1.0 <= 1e-3)


def test_finished_runs_wait_while_the_others_go_on() -> None:
    problem = get_problem("quadratic")
    race = Race(
        [("short", Run(problem, "sgd", lr=0.1, max_steps=5)), ("long", Run(problem, "sgd"))]
    )
    labels = [label for label, _ in race.steps(8)]
    assert labels.count("short") == 5 and labels.count("long") == 8
    assert race["short"].status is Status.FINISHED and not race.finished


def test_records_carry_the_run_label() -> None:
    race = Race.from_entries(
        get_problem("rosenbrock"), [{"label": "plain", "optimizer": "sgd", "lr": 1e-3}]
    )
    ((label, record),) = race.step()
    row = race.record_dict(label, record)
    assert row["run"] == "plain" and next(iter(row)) == "run"
    assert row["params"] == record.to_dict(("x", "y"))["params"]
    json.dumps(row, allow_nan=False)


def test_at_most_six_contenders() -> None:
    problem = get_problem("quadratic")
    assert MAX_CONTENDERS == 6
    race = Race([(f"r{i}", Run(problem, "sgd", lr=0.01 * (i + 1))) for i in range(6)])
    with pytest.raises(RaceError) as err:
        race.add("r7", Run(problem, "sgd"))
    assert "at most 6" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RaceError):
        Race.from_entries(problem, [{"lr": 0.01 * (i + 1)} for i in range(7)])
    race.remove("r3")
    race.add("r7", Run(problem, "adam"))
    assert race.labels == ("r0", "r1", "r2", "r4", "r5", "r7")
    assert RaceError in USER_ERRORS


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda r, p: r.add("a", Run(p, "sgd")), "labelled 'a'"),
        (lambda r, p: r.add("  ", Run(p, "sgd")), "label"),
        (lambda r, p: r.add("q", Run(get_problem("quadratic"), "sgd")), "one problem"),
        (lambda r, p: r.remove("nobody"), "no run labelled 'nobody'"),
    ],
)
def test_bad_contenders(make, needle: str) -> None:
    problem = get_problem("rosenbrock")
    race = Race([("a", Run(problem, "sgd"))])
    with pytest.raises(RaceError) as err:
        make(race, problem)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"optimiser": "sgd"}, RaceError),
        ({"optimizer": "adamm"}, ValueError),
        ({"lr": "abc"}, ValueError),
        ({"hyper": {"momentum": "x"}, "optimizer": "momentum"}, ValueError),
        ("sgd", RaceError),
    ],
)
def test_bad_entries_are_one_line_user_errors(entry, error) -> None:
    with pytest.raises(error) as err:
        Race.from_entries(get_problem("rosenbrock"), [entry])
    assert isinstance(err.value, USER_ERRORS) and "\n" not in str(err.value)


def test_default_labels_are_unique() -> None:
    race = Race.from_entries(get_problem("quadratic"), [{"lr": 0.1}, {"lr": 0.1}, {}])
    assert race.labels == ("sgd lr=0.1", "sgd lr=0.1 #2", "sgd lr=0.001")  # 0.001: its default
