"""The arithmetic of a step, λmax beside the rate, schedules and the plot under the loss, in the
live app (issue 9): each number on screen is checked against a plain PyTorch loop, a closed form
or the engine's own function.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from textual.widgets import Input, Select, Static
from waiting import settled, wait_until

from gdtui.engine import Run
from gdtui.engine.arithmetic import explain_step, fmt
from gdtui.scenario import load_scenario
from gdtui.ui.app import GdtuiApp
from gdtui.ui.screens.help import HelpScreen
from gdtui.ui.widgets.controls import parse_schedule_args
from gdtui.ui.widgets.loss_plot import LossPlot
from gdtui.ui.widgets.optimizer_panel import OptimizerPanel

WIDE = (120, 40)
SMALL = (80, 24)


def build(scenario: Any = "seed-example", **kw: Any) -> GdtuiApp:
    kw.setdefault("deterministic", True)
    return GdtuiApp(scenario=scenario, **kw)


async def ready(app: GdtuiApp) -> None:
    await wait_until(app, lambda: app.main_screen.snapshot is not None or app.startup_error)
    await settled(app, timeout=30)


async def at_step(app: GdtuiApp, step: int) -> None:
    screen = app.main_screen
    await wait_until(app, lambda: screen.snapshot is not None and screen.snapshot.step == step)


def panel(app: GdtuiApp) -> str:
    return app.query_one(OptimizerPanel).text


def joined(text: str) -> str:
    """The panel's rows as one line (the arithmetic wraps at ``=`` signs)."""
    return " ".join(text.split())


# -- the arithmetic of a step --------------------------------------------------------------------


async def test_the_worked_example_step_is_written_out_and_equals_torch() -> None:
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1)
    ((w - 2) ** 2).backward()
    optimizer.step()
    app = build()
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        await pilot.press("n")
        await at_step(app, 1)
        arithmetic = app.main_screen.snapshot.arithmetic
        assert arithmetic is not None and arithmetic.matches
        assert arithmetic.predicted == (w.item(),)
        text = panel(app)
        assert "w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4" in text
        assert "✓ torch agrees" in text
        assert fmt(w.item()) == "4.4"


@pytest.mark.parametrize("size", [WIDE, SMALL])
async def test_adam_steps_written_out_equal_a_plain_torch_loop(size) -> None:
    scenario = load_scenario("adam-rosenbrock")
    hyper = scenario.hyper
    run = scenario.build_run()
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in run.problem.init]
    optimizer = torch.optim.Adam(params, lr=scenario.effective_lr, **hyper)
    for _ in range(3):
        optimizer.zero_grad()
        run.problem.loss(*params).backward()
        optimizer.step()
    app = build("adam-rosenbrock")
    async with app.run_test(size=size) as pilot:
        await ready(app)
        await pilot.press("n", "n", "n")
        await at_step(app, 3)
        arithmetic = app.main_screen.snapshot.arithmetic
        assert arithmetic is not None and arithmetic.matches
        for written, torch_value in zip(arithmetic.predicted, params, strict=True):
            assert written == pytest.approx(torch_value.item(), rel=1e-12, abs=1e-15)
        text = joined(panel(app))
        # Each parameter's update line ends in the value torch left (the short form at 80x24).
        for name, value in zip(("x", "y"), params, strict=True):
            if size == WIDE:
                assert f"= {fmt(value.item())}" in text
            assert f"{name} ← {name} − lr·m̂/(√v̂ + ε)" in text or size == SMALL
        assert "x ← x − lr·m̂/(√v̂ + ε)" in text
        if size == WIDE:
            assert "✓ torch agrees" in text


@pytest.mark.parametrize("size", [WIDE, SMALL])
async def test_a_mismatch_with_torch_is_shown_never_hidden(size) -> None:
    app = build("adam-rosenbrock")
    async with app.run_test(size=size) as pilot:
        await ready(app)
        await pilot.press("n", "n")
        await at_step(app, 2)
        screen = app.main_screen
        snapshot, info = screen.snapshot, screen.info
        wrong_record = dataclasses.replace(snapshot.record, params=(-1.4, 2.1))
        wrong = explain_step("adam", wrong_record, info.hyper, names=info.param_names)
        assert not wrong.matches
        app.query_one(OptimizerPanel).show(info, dataclasses.replace(snapshot, arithmetic=wrong))
        await pilot.pause()
        text = panel(app)
        assert "✗" in text and "torch" in text
        assert "✓ torch agrees" not in text


async def test_a_float32_run_says_why_there_is_no_arithmetic(tmp_path: Path) -> None:
    scenario = load_scenario("seed-example").with_overrides(dtype="float32")
    app = build(scenario)
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        await pilot.press("n")
        await at_step(app, 1)
        snapshot = app.main_screen.snapshot
        assert snapshot.arithmetic is None
        assert "float32" in snapshot.arithmetic_note
        assert "arithmetic in float64 only (float32)" in panel(app)


# -- λmax beside the learning rate ---------------------------------------------------------------


async def test_k_measures_lambda_max_in_the_worker_and_shows_the_bound(monkeypatch) -> None:
    threads: list[str] = []
    measure = Run.lambda_max

    def spy(self: Run) -> float:
        threads.append(threading.current_thread().name)
        return measure(self)

    monkeypatch.setattr(Run, "lambda_max", spy)
    a = 3.0  # loss a·(w − 2)²: the Hessian is 2a everywhere
    app = build(None, overrides={"expression": f"{a}*(w - 2)**2", "lr": 0.1})
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        assert app.main_screen.snapshot.lambda_max is None
        assert "k: λmax" in panel(app)
        await pilot.press("n", "k")
        await wait_until(app, lambda: app.main_screen.snapshot.lambda_max is not None)
        snapshot = app.main_screen.snapshot
        assert snapshot.lambda_max == pytest.approx(2 * a, rel=1e-10)
        assert snapshot.bound is not None
        assert snapshot.bound.lr == pytest.approx(2 / (2 * a), rel=1e-10)
        assert threads and threading.main_thread().name not in threads
        text = panel(app)
        assert "λmax 6.0 · lr < 2/λmax = 0.3333 ✓" in text  # the rate is on the line above


async def test_momentum_bound_and_curvature_every_measure_without_a_key(tmp_path: Path) -> None:
    path = tmp_path / "ravine.toml"
    path.write_text(
        'title = "ravine"\n[problem]\nloss = "ill-conditioned"\n'
        '[optimizer]\nname = "momentum"\nlr = 0.05\nmomentum = 0.9\n'
        "[run]\nsteps = 200\ncurvature_every = 5\n",
        encoding="utf-8",
    )
    app = build(str(path), initial_steps=20)
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        await pilot.pause()
        snapshot = app.main_screen.snapshot
        lam = load_scenario(str(path)).build_run().lambda_max()  # constant Hessian
        assert snapshot.lambda_max == pytest.approx(lam, rel=1e-9)
        assert snapshot.lambda_at == 20
        assert snapshot.bound.lr == pytest.approx((2 + 2 * 0.9) / lam, rel=1e-9)
        assert "(2 + 2β)/λmax" in panel(app)
        rates = snapshot.rates
        assert list(rates.lambda_step) == [5, 10, 15, 20]
        assert rates.edge_label == "(2 + 2β)/lr"
        assert rates.edge == pytest.approx([(2 + 2 * 0.9) / 0.05] * len(rates.step))
        plot = app.query_one(LossPlot)
        assert plot.lower_shown == "sharpness"
        assert "λmax" in "\n".join(plot.plain_lines) and "(2 + 2β)/lr" in "\n".join(
            plot.plain_lines
        )


# -- schedules -------------------------------------------------------------------------------------


def test_schedule_arguments_as_typed() -> None:
    assert parse_schedule_args("T_max=200 eta_min=0.001") == {"T_max": 200, "eta_min": 0.001}
    assert parse_schedule_args("step_size = 5; gamma=0.5") == {"step_size": 5, "gamma": 0.5}
    assert parse_schedule_args("milestones=10, 20") == {"milestones": (10, 20)}
    assert parse_schedule_args("  ") == {}
    with pytest.raises(ValueError, match="name=value"):
        parse_schedule_args("step_size")


async def choose_schedule(app: GdtuiApp, pilot: Any, name: str, args: str = "") -> None:
    app.query_one("#schedule", Select).value = name
    await pilot.pause()
    if args:
        field = app.query_one("#schedule-args", Input)
        field.focus()
        field.value = args
        await pilot.press("enter")
        await pilot.press("escape")


async def test_a_schedule_chosen_in_the_app_plots_the_schedulers_rates() -> None:
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    expected = []
    for _ in range(12):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        ((w - 2) ** 2).backward()
        optimizer.step()
        scheduler.step()
    app = build()
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        generation = app.main_screen.info.generation
        await choose_schedule(app, pilot, "step")
        await wait_until(app, lambda: app.main_screen.info.generation > generation)
        generation = app.main_screen.info.generation
        await choose_schedule(app, pilot, "step", "step_size=4 gamma=0.5")
        await wait_until(app, lambda: app.main_screen.info.generation > generation)
        info = app.main_screen.info
        assert info.schedule == "step" and info.schedule_args == {"step_size": 4, "gamma": 0.5}
        for _ in range(12):
            await pilot.press("n")
        await at_step(app, 12)
        rates = app.main_screen.snapshot.rates
        assert rates is not None and rates.varies
        assert list(rates.step) == list(range(1, 13))
        assert list(rates.lr) == expected
        assert app.main_screen.snapshot.record.params == (w.item(),)
        plot = app.query_one(LossPlot)
        assert plot.lower_shown == "lr"
        assert "learning rate" in "\n".join(plot.plain_lines)
        # K cycles what is under the loss: lr, sharpness, none, auto.
        await pilot.press("K")
        assert plot.lower == "lr"
        await pilot.press("K", "K")
        await pilot.pause()
        assert plot.lower == "off" and plot.lower_shown == ""
        assert "learning rate" not in "\n".join(plot.plain_lines)


async def test_bad_schedule_arguments_are_refused_inline_and_the_run_kept() -> None:
    app = build("seed-example", initial_steps=3)
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        before = app.main_screen.snapshot
        generation = app.main_screen.info.generation
        await choose_schedule(app, pilot, "cosine")
        await wait_until(app, lambda: app.main_screen.info.generation > generation)
        generation = app.main_screen.info.generation
        await pilot.press("n", "n")
        await at_step(app, 2)
        await choose_schedule(app, pilot, "cosine", "bogus=1")
        error = app.query_one("#schedule-error", Static)
        await wait_until(app, lambda: "bogus" in str(error.render()))
        assert "no argument 'bogus'" in str(error.render())
        assert app.main_screen.info.generation == generation
        assert app.main_screen.snapshot.step == 2
        assert app.main_screen.info.schedule == "cosine"
        assert app.query_one("#schedule", Select).value == "cosine"
        # A form the panel cannot read is refused before it reaches the worker.
        await choose_schedule(app, pilot, "cosine", "T_max")
        await pilot.pause()
        assert "name=value" in str(error.render())
        assert app.main_screen.info.generation == generation
        assert before.step == 3


async def test_help_lists_the_new_keys() -> None:
    app = build()
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        keys = dict(screen.keys)
        assert "race" in keys["R"]
        assert "λmax" in keys["k"]
        assert "2/lr" in keys["K"]
        assert "rewind / forward one step" in keys["[  ]"]
        assert any("branch from that step" in what for what in keys.values())


# -- what the worker sends for the plot under the loss ------------------------------------------


def test_rate_curves_of_a_model_run_follow_the_rate_each_step_used() -> None:
    from gdtui.ui.arithmetic_view import rate_curves

    run = load_scenario("linear-regression").build_run()
    assert rate_curves(run, 80) is None  # no step yet
    run.run(5)
    assert rate_curves(run, 80) is None  # a constant rate and no λmax: nothing to plot
    run.set_lr(0.05)
    run.run(5)
    rates = rate_curves(run, 80, varied=True)
    assert rates is not None and rates.varies
    assert list(rates.step) == list(range(1, 11))
    assert list(rates.lr) == [0.1] * 5 + [0.05] * 5
    assert rates.edge == pytest.approx([2 / 0.1] * 5 + [2 / 0.05] * 5)
    assert rates.edge_label == "2/lr" and not len(rates.lambda_step)


def test_rate_curves_thin_to_the_width_and_take_weight_decay_off_the_edge() -> None:
    from gdtui.engine import get_problem
    from gdtui.engine.curvature import stability_bound
    from gdtui.ui.arithmetic_view import rate_curves

    run = Run(
        get_problem("ill-conditioned"),
        "sgd",
        0.01,
        {"weight_decay": 0.5},
        max_steps=400,
        tolerance=0.0,
        schedule="cosine",
        curvature_every=7,
    )
    run.run(400)
    rates = rate_curves(run, 50, [(401, 3.0)])
    assert rates is not None and len(rates.step) <= 50 and len(rates.lambda_step) <= 50
    assert rates.lambda_step[-1] == 401 and rates.lambda_max[-1] == 3.0
    lr = rates.lr[10]
    # At the edge the rate is exactly the bound: c/(λ + weight_decay) = lr.
    assert stability_bound(rates.edge[10], "sgd", {"weight_decay": 0.5}).lr == pytest.approx(lr)
    assert rates.edge_label == "2/lr − weight_decay"


async def test_a_schedule_chosen_for_a_model_run_is_the_engines() -> None:
    """The schedule field works for a model on data too: the rates each step used are
    StepLR's, and the parameters equal a ModelRun built with the same schedule."""
    scenario = load_scenario("linear-regression").with_overrides(
        schedule="step", schedule_args={"step_size": 4, "gamma": 0.5}
    )
    plain = scenario.build_run()
    records = [r for _ in range(12) for r in plain.step()]
    assert [r.step for r in records] == list(range(1, 13))
    app = build("linear-regression", initial_steps=0)
    async with app.run_test(size=WIDE) as pilot:
        await ready(app)
        generation = app.main_screen.info.generation
        await choose_schedule(app, pilot, "step", "step_size=4 gamma=0.5")
        await wait_until(app, lambda: app.main_screen.info.generation > generation)
        info = app.main_screen.info
        assert info.model is not None
        assert info.schedule == "step" and info.schedule_args == {"step_size": 4, "gamma": 0.5}
        for _ in range(12):
            await pilot.press("n")
        await at_step(app, 12)
        rates = app.main_screen.snapshot.rates
        assert rates is not None and rates.varies
        assert list(rates.lr) == [0.1] * 4 + [0.05] * 4 + [0.025] * 4
        assert list(rates.lr) == [r.lr for r in records]
        assert app.loop.run_obj.current == plain.current
