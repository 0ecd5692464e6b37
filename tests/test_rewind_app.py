"""Rewind and branch in the live app, through the Pilot.

``[`` ``]`` (one step) and ``{`` ``}`` (ten) show a step as it was, rebuilt in the worker by
``Run.state_at``; a click on the loss curve picks a step; space, n, a new learning rate or another
optimizer while rewound branch the run there (``Run.branch``). Every expected number comes from a
plain run of the same scenario or from a plain ``torch.optim`` loop; equality is ``==`` on floats.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from textual.widgets import Input, Select
from waiting import settled, wait_until

from gdtui.engine import ModelRecord, ModelRun, Run, decision_regions
from gdtui.engine.records import StepRecord
from gdtui.scenario import Scenario, load_scenario
from gdtui.ui.app import GdtuiApp
from gdtui.ui.commands import ScrubTo
from gdtui.ui.format import num
from gdtui.ui.widgets.backprop_panel import BackpropPanel
from gdtui.ui.widgets.landscape import Landscape
from gdtui.ui.widgets.loss_plot import LossPlot
from gdtui.ui.widgets.optimizer_panel import OptimizerPanel
from gdtui.ui.widgets.status_line import StatusLine

WIDE = (120, 40)
SMALL = (80, 24)


def make_app(scenario: str, initial_steps: int, **kw: Any) -> GdtuiApp:
    """A deterministic app that has taken ``initial_steps`` before its first picture."""
    return GdtuiApp(scenario=scenario, initial_steps=initial_steps, deterministic=True, **kw)


def plain_records(scenario: str, steps: int) -> list[StepRecord]:
    """The records of a plain run of ``scenario`` (no app, no rewind)."""
    run = load_scenario(scenario).build_run()
    records = list(run.steps(steps))
    assert len(records) == steps, run.reason
    return records


def same(a: StepRecord, b: StepRecord) -> None:
    """Two records of the same step are equal in every number."""
    assert a.step == b.step
    assert a.loss == b.loss, (a.step, a.loss, b.loss)
    assert a.params_before == b.params_before, a.step
    assert a.grad == b.grad, a.step
    assert a.params == b.params, a.step
    assert a.update == b.update, a.step
    assert a.lr == b.lr, a.step
    assert a.state == b.state, a.step


async def until(app: GdtuiApp, predicate: Callable[[], Any], timeout: float = 30) -> None:
    """Wait until ``predicate()`` holds (failing at once if the app died), then redraw."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if app.return_code is not None:
            raise AssertionError(f"the app exited (return code {app.return_code})")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.01)
    await wait_until(app, lambda: True)


async def settle(app: GdtuiApp) -> None:
    """The engine, the first run and its initial steps, drawn."""
    await until(app, lambda: app.main_screen.info is not None and app.main_screen.snapshot)
    await settled(app, timeout=30)


def rewound_step(app: GdtuiApp) -> int | None:
    """The step the screen shows as it was (None: the live end)."""
    rewound = app.main_screen.rewound
    return None if rewound is None else rewound.step


async def rewound_at(app: GdtuiApp, step: int | None) -> None:
    await until(app, lambda: rewound_step(app) == step)


def run_records(run: Run, last: int) -> list[StepRecord]:
    """Steps 1 … ``last`` of a run as its history holds them (every step, for short runs)."""
    records = [run.history.record_at(step) for step in range(1, last + 1)]
    assert all(r is not None for r in records)
    return records  # type: ignore[return-value]


def marker_cell(app: GdtuiApp) -> tuple[int, int]:
    """Where the ``◆`` of the step shown sits in the loss plot (content x, y; not the legend)."""
    lines = app.query_one("#loss", LossPlot).plain_lines
    cells = [(line.index("◆"), y) for y, line in enumerate(lines) if y > 0 and "◆" in line]
    assert len(cells) == 1, lines
    return cells[0]


# -- scrubbing shows a step as it was ------------------------------------------------------------


async def test_scrubbing_shows_the_exact_earlier_record() -> None:
    original = plain_records("momentum-ravine", 40)
    app = make_app("momentum-ravine", 40)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert rewound_step(app) is None
        for _ in range(5):
            await pilot.press("left_square_bracket")
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 25)
        expected = original[24]
        screen = app.main_screen
        assert screen.rewound is not None and screen.rewound.record is not None
        same(screen.rewound.record, expected)
        # The panels, the point and the status line show step 25, not step 40.
        shown = screen.shown_snapshot()
        assert shown is not None and shown.record is not None
        same(shown.record, expected)
        assert shown.current == expected.params
        assert app.query_one(Landscape)._current == expected.params
        backprop = app.query_one(BackpropPanel).text
        assert f"loss {num(expected.loss)}" in backprop
        assert num(original[-1].loss) not in backprop
        hiker = app.query_one(OptimizerPanel).text
        assert num(expected.update[0]) in hiker
        status = app.query_one(StatusLine).text
        assert "step 25 of 40 (rewound; esc: live end)" in status
        # The marker on the loss curve, with its legend entry.
        assert "◆◆ step 25" in app.query_one("#loss", LossPlot).plain_lines[0]
        marker_cell(app)
        # The run itself stayed at step 40, paused.
        assert screen.snapshot is not None and screen.snapshot.step == 40
        assert not screen.snapshot.playing and app.loop.run_obj.step_count == 40
        # ] on, { back ten more, then esc: the live end again.
        await pilot.press("right_square_bracket")
        await rewound_at(app, 26)
        same(screen.rewound.record, original[25])
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 16)
        same(screen.rewound.record, original[15])
        await pilot.press("escape")
        await rewound_at(app, None)
        status = app.query_one(StatusLine).text
        assert "rewound" not in status and "step 40" in status
        assert "◆" not in "".join(app.query_one("#loss", LossPlot).plain_lines)
        assert app.query_one(BackpropPanel).text.count(num(original[-1].loss)) >= 1


async def test_right_bracket_past_the_end_returns_to_the_live_end() -> None:
    app = make_app("seed-example", 5)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        await pilot.press("left_square_bracket", "left_square_bracket")
        await rewound_at(app, 3)
        assert "step 3 of 5 (rewound; esc: live end)" in app.query_one(StatusLine).text
        await pilot.press("right_square_bracket")
        await rewound_at(app, 4)
        await pilot.press("right_square_bracket")
        await rewound_at(app, None)
        # { from the live end clamps at step 1; } past the end is the live end.
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 1)
        await pilot.press("right_curly_bracket")
        await rewound_at(app, None)


async def test_scrubbing_pauses_a_running_run() -> None:
    app = make_app("lr-too-small", 0, speed=100.0, autostart=True)
    async with app.run_test(size=WIDE) as pilot:
        await until(app, lambda: (s := app.main_screen.snapshot) and s.playing and s.step >= 10)
        await pilot.press("left_square_bracket")
        await until(app, lambda: rewound_step(app) is not None)
        rewound = app.main_screen.rewound
        assert rewound is not None and rewound.step == rewound.total - 1
        assert not app.loop.playing
        await asyncio.sleep(0.3)
        assert app.loop.run_obj.step_count == rewound.total  # nothing stepped meanwhile
        assert rewound.record == plain_records("lr-too-small", rewound.step)[-1]


async def test_state_at_runs_in_the_worker_never_on_the_ui_thread(monkeypatch) -> None:
    calls: list[threading.Thread] = []
    state_at = Run.state_at

    def spy(self: Run, k: int) -> StepRecord:
        calls.append(threading.current_thread())
        return state_at(self, k)

    monkeypatch.setattr(Run, "state_at", spy)
    app = make_app("momentum-ravine", 30)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        ui_thread = threading.current_thread()  # the Pilot runs the app in the test's loop
        await pilot.press("left_curly_bracket", "left_square_bracket")
        await rewound_at(app, 19)
    assert calls, "state_at was never called"
    assert all(thread is not ui_thread for thread in calls)
    assert all(thread is not threading.main_thread() for thread in calls)


def plain_model_records(scenario: str, steps: int) -> tuple[list[ModelRecord], ModelRun]:
    """The records of a plain model run of ``scenario`` (no app, no rewind), and the run."""
    run = load_scenario(scenario).build_run()
    records = list(run.steps(steps))
    assert len(records) == steps, run.reason
    return records, run


async def test_a_model_run_rewinds_to_the_exact_step_with_its_layers() -> None:
    """Mini-batches of 32 on moons: step 50 as it was (its batch loss, and its own per-layer
    summaries, which the live run only takes every 20th step); n then branches there and walks
    the plain run's path bit for bit."""
    original, plain = plain_model_records("full-batch-vs-sgd", 60)
    app = make_app("full-batch-vs-sgd", 60)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert original[49].layers is None  # not a summarised step live
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 50)
        screen = app.main_screen
        record = screen.rewound.record
        assert record.loss == original[49].loss and record.lr == original[49].lr
        assert record.layers is not None and set(record.layers) == set(plain.layer_names)
        await until(app, lambda: screen._layers().border_subtitle == "step 50")
        # Ten steps an epoch: step 50 ends the 5th, and its evaluation is the one shown.
        status = app.query_one(StatusLine).text
        assert "step 50 of 60 (rewound" in status and "epoch 5 " in status
        assert screen.shown_snapshot().evaluation.step == 50
        await pilot.press("left_square_bracket")
        await rewound_at(app, 49)
        await until(app, lambda: "epoch 4 " in app.query_one(StatusLine).text)
        assert screen.shown_snapshot().evaluation.step == 40
        await pilot.press("right_square_bracket")
        await rewound_at(app, 50)
        # The decision regions as the model drew them at step 50 (a plain run stopped there).
        await until(app, lambda: screen.model_view is not None and screen.model_view.step == 50)
        regions = screen.model_view.regions
        at_50 = load_scenario("full-batch-vs-sgd").build_run()
        at_50.run(50)
        expected = decision_regions(at_50, size=len(regions.xs))
        assert np.array_equal(regions.label, expected.label)
        assert np.array_equal(regions.probability, expected.probability)
        assert not np.array_equal(
            regions.probability, decision_regions(plain, len(regions.xs)).probability
        )
        assert marker_cell(app)  # the ◆ on the batch-loss curve
        await until(app, lambda: app.query_one(Landscape)._regions_note == "step 50")
        # esc: the live end, and the live model's regions again (with its accuracy).
        await pilot.press("escape")
        await until(app, lambda: rewound_step(app) is None and screen.model_view.step == 60)
        await until(app, lambda: "train acc" in app.query_one(Landscape)._regions_note)
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 50)
        old = app.loop.run_obj
        app.last_notice = None
        for _ in range(10):
            await pilot.press("n")
        await until(app, lambda: (s := screen.snapshot) is not None and s.step == 60)
        assert app.last_notice == "branched from step 50"
        branch = app.loop.run_obj
        assert branch is not old and rewound_step(app) is None
        assert [r["loss"] for r in branch.history.rows()] == [r.loss for r in original]
        for a, b in zip(branch.params, plain.params, strict=True):
            assert torch.equal(a, b)


async def test_a_small_model_shows_its_point_as_it_was() -> None:
    original, _ = plain_model_records("linear-regression", 12)
    app = make_app("linear-regression", 12)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        for _ in range(5):
            await pilot.press("left_square_bracket")
        await rewound_at(app, 7)
        shown = app.main_screen.shown_snapshot()
        assert shown.current == original[6].params
        assert shown.record.grad == original[6].grad
        assert shown.record.update == original[6].update
        assert f"loss {num(original[6].loss)}" in app.query_one(BackpropPanel).text


# -- branching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["momentum-ravine", "noisy-gradient-escapes"])
async def test_a_branch_with_unchanged_settings_walks_the_original_path(scenario: str) -> None:
    original = plain_records(scenario, 60)
    app = make_app(scenario, 40)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        old = app.loop.run_obj
        generation = app.main_screen.info.generation
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 30)
        app.last_notice = None
        for _ in range(30):
            await pilot.press("n")
        await until(app, lambda: (s := app.main_screen.snapshot) is not None and s.step == 60)
        assert app.last_notice == "branched from step 30"
        assert app.main_screen.info.generation > generation
        assert rewound_step(app) is None
        branch = app.loop.run_obj
        assert branch is not old and old.step_count == 40
        for record, expected in zip(run_records(branch, 60), original, strict=True):
            same(record, expected)


async def test_space_while_rewound_branches_and_runs_on_bit_for_bit() -> None:
    plain = load_scenario("momentum-ravine").build_run()
    original = list(plain.steps())  # it converges at step 225
    assert plain.status.value == "converged" and len(original) > 200
    app = make_app("momentum-ravine", 200)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        await pilot.press("left_curly_bracket", "left_curly_bracket")
        await rewound_at(app, 180)
        await pilot.press("space")
        await until(app, lambda: (s := app.main_screen.snapshot) and s.status == "converged")
        branch = app.loop.run_obj
        assert branch.step_count == len(original) and branch.reason == plain.reason
        for record, expected in zip(run_records(branch, len(original)), original, strict=True):
            same(record, expected)
        same(branch.last_record, original[-1])


async def test_a_branch_with_a_doubled_lr_equals_a_plain_torch_loop() -> None:
    scenario = load_scenario("adam-rosenbrock")
    app = make_app("adam-rosenbrock", 30)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 20)
        await pilot.press("plus")
        await until(app, lambda: app.last_notice == "branched from step 20")
        await until(app, lambda: app.main_screen.snapshot.step == 20)
        assert app.main_screen.info.lr == 0.1
        # The curve and the path now end at step 20.
        assert app.main_screen.snapshot.view.step[-1] == 20
        assert len(app.main_screen.snapshot.path) == 21  # the start, then 20 steps
        for _ in range(10):
            await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 30)
        branched = run_records(app.loop.run_obj, 30)

    # A plain torch loop: Adam at lr 0.05 for 20 steps, then lr 0.1 with the same state.
    problem = scenario.problem()
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
    optimizer = torch.optim.Adam(params, lr=0.05, betas=(0.9, 0.999))
    after: list[tuple[float, ...]] = []
    for step in range(30):
        if step == 20:
            for group in optimizer.param_groups:
                group["lr"] = 0.1
        optimizer.zero_grad()
        problem.loss(*params).backward()
        optimizer.step()
        after.append(tuple(p.item() for p in params))
    assert [r.params for r in branched] == after
    assert [r.lr for r in branched] == [0.05] * 20 + [0.1] * 10


async def test_another_optimizer_while_rewound_branches_from_that_step() -> None:
    app = make_app("momentum-ravine", 30)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 20)
        app.query_one("#optimizer", Select).value = "adam"
        await until(app, lambda: app.last_notice == "branched from step 20")
        assert app.main_screen.info.optimizer == "adam"
        await until(app, lambda: app.main_screen.snapshot.step == 20)
        for _ in range(5):
            await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 25)
        branched = run_records(app.loop.run_obj, 25)
        # Scrubbed back before the branch, the panels name the optimizer that took that step;
        # after it, the new one.
        for _ in range(10):
            await pilot.press("left_square_bracket")
        await rewound_at(app, 15)
        screen = app.main_screen
        await until(app, lambda: "momentum" in app.query_one(OptimizerPanel).text)
        assert screen.shown_info().optimizer == "momentum"
        assert screen.shown_info().torch_name == "torch.optim.SGD"
        assert "momentum" in app.query_one(StatusLine).text
        for _ in range(8):
            await pilot.press("right_square_bracket")
        await rewound_at(app, 23)
        assert screen.shown_info().optimizer == "adam"

    # Momentum for 20 steps, then a fresh Adam (no state) at the rate in use, 0.02.
    problem = load_scenario("momentum-ravine").problem()
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
    optimizer: torch.optim.Optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.9)
    after: list[tuple[float, ...]] = []
    for step in range(25):
        if step == 20:
            optimizer = torch.optim.Adam(params, lr=0.02)
        optimizer.zero_grad()
        problem.loss(*params).backward()
        optimizer.step()
        after.append(tuple(p.item() for p in params))
    assert [r.params for r in branched] == after
    assert "exp_avg" in branched[-1].state and "momentum_buffer" in branched[19].state


# -- the mouse on the loss curve -----------------------------------------------------------------


@pytest.mark.parametrize("size", [WIDE, SMALL])
async def test_a_click_on_the_loss_curve_selects_the_step_under_it(size: tuple[int, int]) -> None:
    original = plain_records("momentum-ravine", 100)
    app = make_app("momentum-ravine", 100)
    async with app.run_test(size=size) as pilot:
        await settle(app)
        plot = app.query_one("#loss", LossPlot)
        border = plot.content_region.x - plot.region.x, plot.content_region.y - plot.region.y
        top = next(line for line in plot.plain_lines if "┌" in line)
        one_cell = 128 / (top.rindex("┐") - top.index("┌") - 1)  # the x axis runs to 128
        for target in (8, 60, 95):
            # Where plotext drew the step (the ◆ of the step shown): the truth for the click.
            app.send(ScrubTo(target))
            await rewound_at(app, target)
            x, y = marker_cell(app)
            await pilot.press("escape")
            await rewound_at(app, None)
            await pilot.click("#loss", offset=(x + border[0], y + border[1]))
            await until(app, lambda: rewound_step(app) is not None)
            step = rewound_step(app)
            assert step is not None and abs(step - target) <= one_cell, (step, target, one_cell)
            same(app.main_screen.rewound.record, original[step - 1])
            assert marker_cell(app)[0] == x  # its marker sits in the clicked column
            await pilot.press("escape")
            await rewound_at(app, None)
        # A click on the y-axis labels picks nothing.
        await pilot.click("#loss", offset=(border[0], y + border[1]))
        await asyncio.sleep(0.2)
        assert rewound_step(app) is None


async def test_a_hyper_parameter_while_rewound_branches_with_a_fresh_optimizer() -> None:
    original = plain_records("momentum-ravine", 25)
    app = make_app("momentum-ravine", 30)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 20)
        field = momentum_field(app)
        # The value in use: a branch that keeps the optimizer and its state (the original path).
        await submit(pilot, field, field.value)
        await until(app, lambda: app.last_notice == "branched from step 20")
        await pilot.press(*"nnnnn")
        await until(app, lambda: app.main_screen.snapshot.step == 25)
        for record, expected in zip(run_records(app.loop.run_obj, 25), original, strict=True):
            same(record, expected)
        # Momentum 0.5 from step 20: a fresh SGD with no momentum buffer yet.
        await pilot.press(*["left_square_bracket"] * 5)
        await rewound_at(app, 20)
        app.last_notice = None
        await submit(pilot, momentum_field(app), "0.5")  # the branch rebuilt the fields
        await until(app, lambda: app.last_notice == "branched from step 20")
        assert app.main_screen.info.hyper["momentum"] == 0.5
        await pilot.press(*"nnnnn")
        await until(app, lambda: app.main_screen.snapshot.step == 25)
        branched = run_records(app.loop.run_obj, 25)

    problem = load_scenario("momentum-ravine").problem()
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
    optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.9)
    after: list[tuple[float, ...]] = []
    for step in range(25):
        if step == 20:
            optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.5)
        optimizer.zero_grad()
        problem.loss(*params).backward()
        optimizer.step()
        after.append(tuple(p.item() for p in params))
    assert [r.params for r in branched] == after
    assert after[20:] != [r.params for r in original[20:]]  # the change did change the path


async def submit(pilot: Any, field: Input, value: str) -> None:
    """Type ``value`` into ``field`` and press enter there."""
    field.focus()
    await pilot.pause()
    field.value = value
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    field.app.set_focus(None)
    await pilot.pause()


def momentum_field(app: GdtuiApp) -> Input:
    """The controls' momentum field."""
    return next(f for f in app.query(".hyper-input").results(Input) if f.name == "momentum")


async def test_a_step_the_history_no_longer_holds_is_replayed_exactly(monkeypatch) -> None:
    # A small history (4096 rows) and sparse checkpoints, so that step 4501 of 4600 is held by
    # no row: the worker replays it from a checkpoint, noise generator included.
    build_run = Scenario.build_run

    def small_history(self: Scenario, *args: Any, **kwargs: Any) -> Run:
        return build_run(self, *args, history_capacity=4096, checkpoint_every=256, **kwargs)

    monkeypatch.setattr(Scenario, "build_run", small_history)
    scenario = load_scenario("noisy-gradient-escapes").with_overrides(steps=4600)
    original = list(build_run(scenario).steps(4600))
    assert len(original) == 4600
    app = make_app(scenario, 4600)  # type: ignore[arg-type]
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        run = app.loop.run_obj
        assert run.history.record_at(4501) is None and 4501 not in run.checkpoint_steps
        app.send(ScrubTo(4501))
        await rewound_at(app, 4501)
        same(app.main_screen.rewound.record, original[4500])
        await pilot.press("left_square_bracket")
        await rewound_at(app, 4500)
        same(app.main_screen.rewound.record, original[4499])
        # Branching there walks on as the original did.
        await pilot.press(*"nnn")
        await until(app, lambda: app.main_screen.snapshot.step == 4503)
        for step in (4501, 4502, 4503):
            same(app.loop.run_obj.state_at(step), original[step - 1])


async def test_a_typed_lr_while_rewound_branches_and_a_bad_one_changes_nothing() -> None:
    original = plain_records("momentum-ravine", 30)
    app = make_app("momentum-ravine", 30)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.press("left_curly_bracket")
        await rewound_at(app, 20)
        field = app.query_one("#lr", Input)
        assert field.value == f"{original[19].lr:g}"  # the rate of the step shown
        generation = app.main_screen.info.generation
        await submit(pilot, field, "-1")  # refused on the UI thread: still rewound, same run
        await asyncio.sleep(0.2)
        assert rewound_step(app) == 20 and app.main_screen.info.generation == generation
        await submit(pilot, app.query_one("#lr", Input), "0.01")
        await until(app, lambda: app.last_notice == "branched from step 20")
        assert app.main_screen.info.lr == 0.01 and app.loop.run_obj.step_count == 20
        await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 21)
        record = app.loop.run_obj.last_record
        assert record.lr == 0.01 and record.params_before == original[19].params


async def test_rewound_panel_does_not_show_the_live_steps_arithmetic() -> None:
    """The written arithmetic needs the step's optimizer state: while rewound the panel says it is
    the live end's, instead of writing the live step's numbers beside step k's record."""
    app = make_app("seed-example", 5)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert "torch agrees" in app.query_one(OptimizerPanel).text
        await pilot.press("left_square_bracket", "left_square_bracket")
        await rewound_at(app, 3)
        hiker = app.query_one(OptimizerPanel).text
        assert "torch agrees" not in hiker
        assert "arithmetic: at the live end" in hiker
        await pilot.press("escape")
        await rewound_at(app, None)
        assert "torch agrees" in app.query_one(OptimizerPanel).text
