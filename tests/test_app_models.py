"""Pilot tests of the app on model runs: the numbers on screen are the engine's, the model
settings start afresh or are refused inline, and landscapes are computed in the worker.

The scenarios are the built-ins with ``[data]``, read through
:func:`gdtui.scenario.load_scenario`; the engine's own run of the same scenario (same
seed, same batches) is the reference.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from textual.widgets import Input, Select, Static
from waiting import wait_until

import gdtui.engine as engine
from gdtui.engine.layer_stats import SUMMARY_FIELDS
from gdtui.scenario import Scenario, load_scenario
from gdtui.ui.app import GdtuiApp
from gdtui.ui.format import num
from gdtui.ui.widgets.landscape import Landscape
from gdtui.ui.widgets.layer_panel import LayerPanel
from gdtui.ui.widgets.loss_plot import LossPlot
from gdtui.ui.widgets.status_line import StatusLine

WIDE = (120, 40)


def scenario(name: str, **changes: Any) -> Scenario:
    """A built-in model scenario, with changes."""
    return load_scenario(name).with_overrides(**changes)


def build(sc: Scenario, **kw: Any) -> GdtuiApp:
    """The app as tests build it: deterministic, no toasts."""
    kw.setdefault("deterministic", True)
    return GdtuiApp(scenario=sc, **kw)


async def until(app: GdtuiApp, predicate: Callable[[], Any], timeout: float = 30) -> None:
    """Wait until ``predicate()`` holds (fail at once if the app died), then redraw."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if app.return_code is not None:
            raise AssertionError(f"the app exited: {app.startup_error or app.internal_error}")
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.01)
    await wait_until(app, lambda: True)


async def drawn(app: GdtuiApp, step: int) -> None:
    """The run is at ``step``, drawn, its landscape included."""
    await until(app, lambda: app.main_screen.drawn(step))


def engine_records(sc: Scenario, count: int) -> list:
    """The engine's own records of the same scenario."""
    return list(sc.build_run().steps(count))


async def test_stepping_shows_the_engines_numbers() -> None:
    """n steps a model run: batch loss, epoch evaluation and per-layer summaries on screen
    are the engine's record of the same scenario."""
    sc = scenario("full-batch-vs-sgd")
    reference = engine_records(sc, 10)  # 320 training rows / 32: step 10 ends epoch 1
    app = build(sc, initial_steps=9)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 9)
        await pilot.press("n")
        await drawn(app, 10)
        screen = app.main_screen
        snapshot = screen.snapshot
        record = reference[-1]
        assert snapshot.record.loss == record.loss
        assert snapshot.epoch == 1
        assert snapshot.evaluation.epoch == 1
        assert snapshot.evaluation.val_loss == record.val_loss
        assert snapshot.evaluation.val_accuracy == record.val_accuracy
        status = app.query_one(StatusLine).text
        assert "epoch 1" in status
        assert f"val loss {num(record.val_loss, 4)}" in status
        assert f"val acc {record.val_accuracy:.1%}" in status
        # The per-layer panel: the newest summarised step (every 20th from step 1: step 1).
        summarised = next(r for r in reversed(reference) if r.layers is not None)
        assert snapshot.layers_step == summarised.step == 1
        expected = np.array(
            [[row[k] for k in SUMMARY_FIELDS] for row in summarised.layers.values()]
        )
        np.testing.assert_array_equal(snapshot.layers, expected)
        panel = app.query_one(LayerPanel)
        assert panel.display and panel.layer_rows is not None
        assert panel.layer_rows.names == tuple(summarised.layers)
        np.testing.assert_array_equal(panel.layer_rows.values, expected)
        # The loss plot got the batch loss and the train and val epoch curves.
        assert snapshot.view.loss[-1] == record.loss
        assert list(snapshot.epochs.step) == [10]
        plot_text = "\n".join(app.query_one(LossPlot).plain_lines)
        assert "━━ batch" in plot_text and "•• train" in plot_text and "×× val" in plot_text


async def test_small_model_keeps_the_per_scalar_panels() -> None:
    """Linear regression has two scalars: slope and bias keep today's columns, and the map is
    the real full-batch loss surface with the path."""
    sc = scenario("linear-regression")
    reference = engine_records(sc, 3)
    app = build(sc, initial_steps=3)
    async with app.run_test(size=WIDE):
        await drawn(app, 3)
        screen = app.main_screen
        assert screen.info.param_names == ("weight", "bias")
        assert not app.query_one(LayerPanel).display
        assert screen.snapshot.record.grad == reference[-1].grad
        assert screen.snapshot.current == reference[-1].params
        view = screen.model_view
        assert view.kind == "surface" and view.surface.names == ("weight", "bias")
        # The ★ is the least-squares solution of the training rows.
        data = sc.build_run().dataset
        design = np.c_[data.x_train[:, 0], np.ones(data.n_train)]
        solution = np.linalg.lstsq(design, data.y_train, rcond=None)[0]
        np.testing.assert_allclose(view.surface.minima[0], solution)


async def test_batch_size_typed_in_the_app_starts_afresh() -> None:
    sc = scenario("full-batch-vs-sgd")
    app = build(sc, initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 2)
        generation = app.main_screen.info.generation
        field = app.query_one("#batch_size-field", Input)
        field.focus()
        field.value = "8"
        await pilot.press("enter")
        await until(app, lambda: app.main_screen.info.generation > generation)
        model = app.main_screen.info.model
        assert model.batch_size == 8
        assert model.steps_per_epoch == 40  # 320 training rows
        assert app.main_screen.snapshot is None or app.main_screen.snapshot.step == 0
        await pilot.press("escape")  # leave the field: n steps again
        await pilot.press("n")
        await drawn(app, 1)
        reference = engine_records(sc.with_overrides(batch_size=8), 1)
        assert app.main_screen.snapshot.record.loss == reference[0].loss
        assert str(app.query_one("#batch_size-error", Static).content) == ""


async def test_bad_batch_size_is_refused_inline() -> None:
    app = build(scenario("full-batch-vs-sgd"), initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 2)
        generation = app.main_screen.info.generation
        field = app.query_one("#batch_size-field", Input)
        field.focus()
        field.value = "zero"
        await pilot.press("enter")
        error = app.query_one("#batch_size-error", Static)
        await until(app, lambda: str(error.content) != "")
        assert "batch_size must be" in str(error.content)
        assert error.display
        assert app.main_screen.info.generation == generation
        assert app.main_screen.snapshot.step == 2
        assert field.value == "32"  # back to the size in use


async def test_cross_entropy_on_a_regression_target_is_refused_inline() -> None:
    """The loss that does not fit the target: one line under the field, the run untouched."""
    app = build(scenario("linear-regression"), initial_steps=4)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 4)
        generation = app.main_screen.info.generation
        loss_before = app.main_screen.snapshot.record.loss
        app.query_one("#loss_fn-choice", Select).value = "cross_entropy"
        error = app.query_one("#loss_fn-error", Static)
        await until(app, lambda: str(error.content) != "")
        assert "needs class labels" in str(error.content)
        assert "\n" not in str(error.content)
        await pilot.pause()
        assert app.main_screen.info.generation == generation
        assert app.main_screen.info.model.loss_fn == "mse"
        assert app.query_one("#loss_fn-choice", Select).value == "mse"
        assert app.main_screen.snapshot.step == 4
        assert app.main_screen.snapshot.record.loss == loss_before
        # A fitting one is accepted and clears the message.
        app.query_one("#loss_fn-choice", Select).value = "huber"
        await until(app, lambda: app.main_screen.info.generation > generation)
        assert app.main_screen.info.model.loss_fn == "huber"
        await until(app, lambda: str(error.content) == "")


async def test_a_new_data_set_takes_its_loss() -> None:
    """Choosing moons on a regression run: classification, cross-entropy, decision regions."""
    app = build(scenario("linear-regression"), initial_steps=1)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 1)
        generation = app.main_screen.info.generation
        app.query_one("#dataset-choice", Select).value = "moons"
        await until(app, lambda: app.main_screen.info.generation > generation)
        model = app.main_screen.info.model
        assert (model.dataset, model.task, model.loss_fn) == (
            "moons",
            "classification",
            "cross_entropy",
        )
        await pilot.press("n")
        await drawn(app, 1)
        assert app.main_screen.model_view.kind == "regions"
        assert app.query_one(Landscape).showing_regions


async def test_landscapes_are_computed_in_the_worker(monkeypatch) -> None:
    """Decision regions and loss slices come from the descent thread, never the UI thread."""
    threads: list[str] = []
    for name in ("decision_regions", "loss_slice"):
        original = getattr(engine, name)

        def spy(*args, _original=original, **kwargs):
            threads.append(threading.current_thread().name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(engine, name, spy)  # the worker imports them from gdtui.engine
    main = threading.main_thread().name
    app = build(scenario("full-batch-vs-sgd"), initial_steps=3)
    async with app.run_test(size=WIDE):
        await drawn(app, 3)
    regions_calls = list(threads)
    assert regions_calls and main not in regions_calls
    threads.clear()
    digits = scenario("mlp-digits", model={"kind": "mlp", "hidden": [16]})
    app = build(digits, initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 2)
        assert app.main_screen.model_view.kind == "slice"
        count = len(threads)
        await pilot.press("v")
        await until(app, lambda: len(threads) > count)
    assert threads and main not in threads


async def test_the_decision_regions_follow_the_model() -> None:
    """Cells of the drawn regions are the engine's predicted classes at the run's step."""
    sc = scenario("full-batch-vs-sgd")
    app = build(sc, initial_steps=60)
    async with app.run_test(size=WIDE):
        await drawn(app, 60)
        regions = app.main_screen.model_view.regions
        run = sc.build_run()
        run.run(60)
        expected = engine.decision_regions(run, size=len(regions.xs))
        np.testing.assert_array_equal(regions.label, expected.label)
        assert 0 in regions.label and 1 in regions.label
        lines = "\n".join(app.query_one(Landscape).plain_lines)
        assert "o" in lines and "x" in lines  # the points of class 0 and class 1


async def test_placing_a_start_is_refused_for_a_model() -> None:
    app = build(scenario("linear-regression"), initial_steps=1)
    async with app.run_test(size=WIDE) as pilot:
        await drawn(app, 1)
        app.last_notice = None
        await pilot.press("s")
        await until(app, lambda: app.last_notice is not None)
        assert "seeded initialisation" in app.last_notice
        assert app.query_one(Landscape).placing is None


def test_epoch_curves_are_thinned_to_the_plot_width() -> None:
    """A long run's epoch curves reach the UI as at most ~the plot's width of points."""
    from gdtui.ui.descent import DescentLoop

    messages: list = []
    sc = scenario("full-batch-vs-sgd", batch_size=320, steps=300)  # one step per epoch
    loop = DescentLoop(messages.append, sc, initial_steps=300)
    loop.view_width = 8
    assert loop._start()
    snapshot = [m for m in messages if type(m).__name__ == "Progress"][-1].snapshot
    run = loop.run_obj
    assert len(run.epochs) == 30  # evaluated every 10th epoch at one step per epoch
    assert 0 < len(snapshot.epochs) <= 9 < len(run.epochs)
    assert snapshot.epochs.step[-1] == run.epochs[-1].step
    assert snapshot.epochs.val_loss[-1] == run.epochs[-1].val_loss
    assert math.isfinite(snapshot.epochs.train_accuracy[-1])


def test_regions_cells_follow_the_grid_and_the_points() -> None:
    """A hand-made map: class 0 left of x = 0, class 1 right; two points drawn where they lie."""
    from gdtui.engine import Regions
    from gdtui.ui.widgets.regions import CLASS_GLYPHS, class_cells, render_regions

    xs = np.linspace(-1.0, 1.0, 21)
    ys = np.linspace(-1.0, 1.0, 11)
    label = np.broadcast_to((xs > 0).astype(np.int64), (11, 21)).copy()
    probability = np.full((11, 21), 0.9)
    points = np.array([[-1.0, 1.0], [1.0, -1.0]])
    regions = Regions(xs, ys, label, probability, points, np.array([0, 1]), ("a", "b"))
    upper, lower, drawn_points = class_cells(regions, 21, 5)
    assert (upper[:, :10] == 0).all() and (upper[:, 11:] == 1).all()
    assert (lower == upper).all()
    assert drawn_points == {(0, 0): 0, (20, 4): 1}  # top-left and bottom-right cells
    strips = render_regions(regions, 21, 6, note="n")
    assert strips[0].text[0] == CLASS_GLYPHS[0] and strips[4].text[20] == CLASS_GLYPHS[1]
    assert strips[5].text.startswith("n  o 0  x 1")
    # The boundary between x = 0 (class 0) and the next column (class 1), readable uncoloured.
    assert [strip.text[10] for strip in strips[1:4]] == ["·"] * 3
    assert strips[2].text[:10] == "▀" * 10


async def test_from_a_formula_to_a_model_and_back() -> None:
    """o opens a model scenario (the controls show its data set, model, loss and batch size);
    choosing a problem goes back to a formula with the problem list."""
    from gdtui.ui.widgets.controls import Controls

    app = GdtuiApp(scenario="seed-example", deterministic=True)
    async with app.run_test(size=WIDE):
        await drawn(app, 0)
        controls = app.query_one(Controls)
        assert not controls.has_class("-model")
        generation = app.main_screen.info.generation
        app.open_scenario("full-batch-vs-sgd")
        await until(app, lambda: app.main_screen.info.generation > generation)
        await drawn(app, 0)
        assert app.main_screen.info.model.dataset == "moons"
        assert controls.has_class("-model")
        assert not app.query_one("#problem", Select).display
        assert app.query_one("#batch_size-field", Input).value == "32"
        assert app.query_one("#loss_fn-choice", Select).value == "cross_entropy"
        generation = app.main_screen.info.generation
        app.configure({"loss": "quadratic"})
        await until(app, lambda: app.main_screen.info.generation > generation)
        await drawn(app, 0)
        assert app.main_screen.info.model is None
        assert app.main_screen.info.problem == "quadratic"
        assert not controls.has_class("-model")
        assert app.query_one("#problem", Select).display
        assert not app.query_one(LayerPanel).display


def test_export_of_a_model_run_carries_the_epoch_evaluations(tmp_path) -> None:
    """e writes the held records; epoch ends carry the engine's full-set evaluations."""
    import json

    from gdtui.ui import commands as cmd
    from gdtui.ui.descent import DescentLoop

    messages: list = []
    sc = scenario("full-batch-vs-sgd")
    loop = DescentLoop(messages.append, sc, initial_steps=20)
    assert loop._start()
    loop.send(cmd.Export("jsonl", tmp_path))
    loop._handle(loop.commands.get_nowait())
    rows = [json.loads(line) for line in (tmp_path / "gdtui-full-batch-vs-sgd-step20.jsonl").open()]
    assert [row["step"] for row in rows] == list(range(1, 21))
    reference = engine_records(sc, 20)
    ends = [row for row in rows if "epoch" in row]
    assert [row["step"] for row in ends] == [10, 20]
    assert ends[-1]["val_loss"] == reference[-1].val_loss
    assert ends[-1]["val_accuracy"] == reference[-1].val_accuracy
    assert rows[-1]["loss"] == reference[-1].loss
