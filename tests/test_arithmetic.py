"""The arithmetic of a step, written from a record, equals the update torch applied."""

from __future__ import annotations

import dataclasses

import pytest

from gdtui.engine import Run, get_problem
from gdtui.engine.arithmetic import (
    EXPLAINED,
    StepArithmeticError,
    explain_step,
    fmt,
)

RATES = {
    "manual": (0.1, 1e-3),
    "sgd": (0.1, 1e-3),
    "momentum": (0.05, 1e-4),
    "nesterov": (0.05, 1e-4),
    "adagrad": (0.5, 0.05),
    "rmsprop": (0.01, 1e-3),
    "adam": (0.1, 0.01),
    "adamw": (0.1, 0.01),
}


@pytest.mark.parametrize("problem_name", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("optimizer", EXPLAINED)
def test_written_step_equals_torchs_update_for_100_steps(problem_name, optimizer):
    lr = RATES[optimizer][0 if problem_name == "quadratic" else 1]
    run = Run(get_problem(problem_name), optimizer, lr, max_steps=100, tolerance=0.0)
    records = list(run.steps())
    assert len(records) == 100, run.reason
    previous = None
    for record in records:
        with_previous = explain_step(optimizer, record, previous=previous, names=run.param_names)
        alone = explain_step(optimizer, record, names=run.param_names)
        for written in (with_previous, alone):
            assert written.matches, (record.step, written.lines)
            assert written.worst < 1e-9
            assert not any("mismatch" in line for line in written.lines)
            assert written.actual == record.params
        previous = record


@pytest.mark.parametrize(
    ("optimizer", "hyper"),
    [
        ("sgd", {"weight_decay": 0.1}),
        ("momentum", {"dampening": 0.5}),
        ("momentum", {"maximize": True}),
        ("adagrad", {"lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.5}),
        ("rmsprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.01}),
        ("adam", {"amsgrad": True, "weight_decay": 0.1}),
        ("adamw", {"weight_decay": 0.5}),
    ],
)
def test_other_settings_are_written_right_too(optimizer, hyper):
    run = Run(get_problem("quadratic"), optimizer, 0.01, hyper, max_steps=100, tolerance=0.0)
    previous = None
    for record in run.steps():
        written = explain_step(optimizer, record, hyper, previous=previous)
        assert written.matches, (record.step, written.lines)
        previous = record


def test_the_worked_example_reads_as_in_the_text():
    run = Run(get_problem("quadratic"), "manual", 0.1)
    record = run.step()
    written = explain_step("manual", record, names=run.param_names)
    assert written.lines == ("w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4",)
    assert written.predicted == pytest.approx((4.4,))
    assert written.matches
    sgd = explain_step("sgd", Run(get_problem("quadratic"), "sgd", 0.1).step())
    assert sgd.lines == ("w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4",)


def test_adam_shows_the_bias_corrected_moments():
    run = Run(get_problem("quadratic"), "adam", 0.1)
    first = run.step()
    second = run.step()
    written = explain_step("adam", second, previous=first)
    text = "\n".join(written.lines)
    assert "m ← β1·m + (1−β1)·∇ = 0.9 × 0.6 + 0.1 × " in text
    assert "m̂ = m/(1−β1^t)" in text and "v̂ = v/(1−β2^t)" in text
    assert "lr·m̂/(√v̂ + ε)" in text
    assert written.matches


def test_a_mismatch_is_shown_not_hidden():
    run = Run(get_problem("quadratic"), "adam", 0.1)
    first = run.step()
    second = run.step()
    tampered = dataclasses.replace(second, params=(second.params[0] + 1e-6,))
    written = explain_step("adam", tampered, previous=first)
    assert not written.matches
    assert any(line.startswith("✗ mismatch") for line in written.lines)
    # A state torch did not keep is caught too, even when the parameter agrees.
    state = dict(second.state)
    state["exp_avg"] = (state["exp_avg"][0] * 1.001,)
    written = explain_step("adam", dataclasses.replace(second, state=state), previous=first)
    assert not written.matches
    # The wrong hyper-parameters do not describe torch's step.
    written = explain_step("adam", second, {"betas": (0.8, 0.999)}, previous=first)
    assert not written.matches


def test_unsupported_optimizer_is_one_line():
    record = Run(get_problem("quadratic"), "rprop", 0.1).step()
    with pytest.raises(StepArithmeticError, match="not for rprop"):
        explain_step("rprop", record)


def test_numbers_read_plainly():
    assert [fmt(5.0), fmt(0.1), fmt(4.4), fmt(-6.0), fmt(1e-8), fmt(0.0)] == [
        "5.0",
        "0.1",
        "4.4",
        "-6.0",
        "1e-08",
        "0",
    ]
