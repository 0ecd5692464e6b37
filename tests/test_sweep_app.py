"""The sweep screen, the arithmetic and curvature renderers, and the sweep plot.

The screen is driven with Textual's Pilot on the app as the CLI builds it; what it shows is
compared with the engine's own :func:`gdtui.engine.sweep.sweep` run on the same settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Input, ProgressBar, Static
from waiting import settled

from gdtui.engine import Run, get_problem
from gdtui.engine.arithmetic import EXPLAINED, explain_step
from gdtui.engine.curvature import stability_bound
from gdtui.engine.sweep import SweepResult, sweep
from gdtui.scenario import load_scenario
from gdtui.ui.app import GdtuiApp, GdtuiCommands
from gdtui.ui.arithmetic_view import curvature_bound, step_arithmetic
from gdtui.ui.format import num
from gdtui.ui.screens.help import KEYS
from gdtui.ui.screens.main import MainScreen
from gdtui.ui.screens.sweep import (
    MAX_RATES,
    SweepScreen,
    SweepSettings,
    check_settings,
    default_settings,
)
from gdtui.ui.widgets.arithmetic import (
    AGREES,
    ArithmeticView,
    arithmetic_lines,
    curvature_line,
    wrap_at_equals,
)
from gdtui.ui.widgets.sweep_plot import (
    BOUND_MARK,
    EDGE_MARK,
    MARKERS,
    SUGGESTED_MARK,
    render_sweep,
)

SIZE = (100, 32)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# -- helpers ----------------------------------------------------------------------------------


async def until(app: GdtuiApp, predicate: Callable[[], Any], timeout: float = 60) -> None:
    """Wait until ``predicate()`` holds (fail at once if the app died)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if app.return_code is not None:
            raise AssertionError(f"the app exited (return code {app.return_code})")
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.02)


async def open_sweep(pilot, settings: SweepSettings | None = None) -> SweepScreen:
    """Settle the main run, then open the sweep (``w``, or with ``settings`` pushed directly)."""
    app = pilot.app
    await settled(app)
    if settings is None:
        await pilot.press("w")
    else:
        app.push_screen(SweepScreen(app.loop.scenario, settings, deterministic=True))
    await until(app, lambda: isinstance(app.screen, SweepScreen))
    screen = app.screen
    assert isinstance(screen, SweepScreen)
    await until(app, lambda: screen.worker is not None)  # mounted, its first sweep started
    return screen


async def finished(pilot, screen: SweepScreen) -> SweepResult:
    """Wait for the sweep's result (fail on an error) and its drawing."""
    await until(pilot.app, lambda: screen.result is not None or screen.error)
    assert not screen.error, screen.error
    await pilot.pause()
    assert screen.result is not None
    return screen.result


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text."""
    return str(widget.render())


def engine_sweep(scenario_name: str, settings: SweepSettings) -> SweepResult:
    """The engine's sweep of a scenario, outside the app."""
    scenario = load_scenario(scenario_name)
    return sweep(
        scenario.problem(),
        scenario.optimizer,
        lr_min=settings.lr_min,
        lr_max=settings.lr_max,
        num=settings.num,
        steps=settings.steps,
        hyper=scenario.hyper,
        dtype=scenario.dtype,
        device="cpu",
    )


# -- the screen ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["seed-example", "momentum-ravine"])
async def test_sweep_screen_shows_the_engines_result(scenario) -> None:
    """``w`` sweeps the scenario; edge, bound and suggestion on screen are the engine's."""
    app = GdtuiApp(scenario, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot)
        result = await finished(pilot, screen)
        settings = default_settings(load_scenario(scenario))
        assert screen.settings == settings
        expected = engine_sweep(scenario, settings)
        assert result.lrs == expected.lrs
        assert result.status == expected.status
        assert result.final_loss == expected.final_loss
        assert (result.edge, result.bound, result.suggested) == (
            expected.edge,
            expected.bound,
            expected.suggested,
        )
        assert expected.edge is not None and expected.suggested is not None
        summary = text_of(screen.query_one("#sweep-summary", Static))
        assert f"{EDGE_MARK} edge      {num(expected.edge)} —" in summary
        assert f"{BOUND_MARK} bound     {num(expected.bound)} —" in summary
        assert expected.bound_formula in summary.replace("\n", " ")
        assert f"{SUGGESTED_MARK} suggested {num(expected.suggested)} — {expected.rule}" in (
            summary.replace("\n", " ")
        )
        bar = screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (settings.steps, settings.steps)
        plot = "\n".join(screen.query_one("#sweep-plot").plain_lines)
        for status in set(expected.status):
            assert MARKERS[status] in plot
        assert EDGE_MARK in plot and SUGGESTED_MARK in plot


async def test_sweep_screen_on_a_model_trains_one_run_per_rate() -> None:
    """``w`` on a data scenario: 16 rates, each a real training run from the same start; the
    screen shows the engine's model sweep, and ``a`` applies its suggestion to the live run."""
    from gdtui.engine.sweep import sweep_model

    app = GdtuiApp("linear-regression", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot)
        result = await finished(pilot, screen)
        settings = default_settings(load_scenario("linear-regression"))
        assert screen.settings == settings and settings.num == 16
        base = load_scenario("linear-regression").build_run(max_steps=settings.steps)
        expected = sweep_model(
            base,
            lr_min=settings.lr_min,
            lr_max=settings.lr_max,
            num=settings.num,
            steps=settings.steps,
        )
        assert result.mode == "separate runs"
        assert result.final_loss == expected.final_loss and result.status == expected.status
        assert (result.edge, result.bound, result.suggested) == (
            expected.edge,
            expected.bound,
            expected.suggested,
        )
        assert expected.suggested is not None and "converged" in expected.status
        summary = text_of(screen.query_one("#sweep-summary", Static)).replace("\n", " ")
        assert f"{SUGGESTED_MARK} suggested {num(expected.suggested)} — {expected.rule}" in summary
        await pilot.press("a")
        await until(app, lambda: not isinstance(app.screen, SweepScreen))
        await until(app, lambda: app.loop.run_obj.lr == pytest.approx(expected.suggested))


async def test_ravine_bound_is_the_momentum_formula() -> None:
    """On the ill-conditioned quadratic (λmax 20, β 0.9) the bound is (2 + 2β)/λmax = 0.19,
    and the measured edge is the engine's, within 5 % of it."""
    app = GdtuiApp("momentum-ravine", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot, SweepSettings(0.01, 1.0, 96, 400))
        result = await finished(pilot, screen)
        assert result.bound == pytest.approx(3.8 / 20, rel=1e-9)
        assert result.edge is not None and abs(result.edge / result.bound - 1) < 0.05
        assert "lr < (2 + 2β)/λmax, β = 0.9" in text_of(screen.query_one("#sweep-summary"))


async def test_escape_cancels_a_running_sweep_and_closes() -> None:
    """A sweep of a million steps (minutes) stops within seconds of esc (the engine's
    ``cancelled()``); its progress reached the bar before."""
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        steps = 1_000_000
        screen = await open_sweep(pilot, SweepSettings(1e-3, 1.0, 16, steps))
        bar = screen.query_one(ProgressBar)
        await until(app, lambda: (bar.progress or 0) > 0)
        await pilot.press("escape")
        await until(app, lambda: isinstance(app.screen, MainScreen))
        await until(app, lambda: screen.ended is not None, timeout=20)
        _number, done, asked = screen.ended
        assert asked == steps and 0 < done < steps
        assert screen.result is None


async def test_q_closes_too() -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot, SweepSettings(1e-3, 1.0, 8, 20))
        await finished(pilot, screen)
        await pilot.press("q")
        await until(app, lambda: isinstance(app.screen, MainScreen))
        assert app.return_code is None  # q left the sweep, not the app


async def test_applying_the_suggested_rate_sets_the_main_runs_lr() -> None:
    app = GdtuiApp("lr-too-large", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot)
        result = await finished(pilot, screen)
        assert result.suggested is not None and result.suggested != 1.1
        await pilot.press("a")
        await until(app, lambda: isinstance(app.screen, MainScreen))
        main = app.main_screen
        await until(app, lambda: main.snapshot is not None and main.snapshot.lr == result.suggested)
        assert app.loop.scenario.lr == result.suggested  # a reset keeps it
        assert app.last_notice is not None and result.rule in app.last_notice
        await pilot.press("n")
        await until(app, lambda: main.snapshot.step == 1)
        assert main.snapshot.record.lr == result.suggested


async def test_bad_inputs_are_refused_inline() -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sweep(pilot, SweepSettings(1e-3, 1.0, 8, 20))
        first = await finished(pilot, screen)
        error = screen.query_one("#sweep-error", Static)
        assert not error.display
        field = screen.query_one("#lr-min", Input)
        field.focus()
        field.value = ""
        await pilot.press("a", "b", "c")
        await pilot.pause()
        assert error.display
        assert text_of(error) == "lr min: learning rate must be a number, got 'abc'"
        assert field.has_class("-invalid")
        await pilot.press("enter")  # refused: the shown sweep stays
        await pilot.pause(0.2)
        assert screen.result is first and screen.ended[0] == 1
        field.value = "2"
        await pilot.pause()
        assert text_of(error) == "lr min (2) must be below lr max (1)"
        field.value = "0.01"
        steps = screen.query_one("#steps", Input)
        steps.value = "0"
        await pilot.pause()
        assert text_of(error) == "steps must be a whole number ≥ 1, got 0"
        assert steps.has_class("-invalid") and not field.has_class("-invalid")
        steps.value = "30"
        await pilot.pause()
        assert not error.display
        await pilot.press("enter")
        second = await finished(pilot, screen)
        assert second is not first
        assert screen.settings == SweepSettings(0.01, 1.0, 8, 30)
        assert second.lrs[0] == pytest.approx(0.01) and second.steps == 30


async def test_a_sweep_that_cannot_run_says_why() -> None:
    """A start point where the loss is not finite: one line in the plot, nothing to apply."""
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app)
        broken = dataclasses.replace(app.loop.scenario, expression="log(w - 6)", loss=None)
        app.push_screen(SweepScreen(broken, SweepSettings(1e-3, 1.0, 8, 20)))
        await until(app, lambda: isinstance(app.screen, SweepScreen) and app.screen.error)
        screen = app.screen
        assert screen.error == "the loss at the start point is nan: nothing to sweep"
        await pilot.pause()
        assert screen.error in "\n".join(screen.query_one("#sweep-plot").plain_lines)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, SweepScreen)  # nothing applied, still here
        assert "nothing to apply" in text_of(screen.query_one("#sweep-state", Static))


async def test_a_device_fault_in_the_sweep_is_named_with_the_way_out(monkeypatch) -> None:
    """Out of memory inside the sweep: the fault's own line (not "the sweep failed: …") in the
    plot and as the app's notice; the app keeps running."""
    import torch

    import gdtui.engine.sweep as sweep_module
    from gdtui.faults import device_fault

    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise oom

    monkeypatch.setattr(sweep_module, "sweep", no_memory)
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=SIZE):
        await settled(app)
        app.push_screen(SweepScreen(app.loop.scenario, SweepSettings(1e-3, 1.0, 8, 20)))
        await until(app, lambda: isinstance(app.screen, SweepScreen) and app.screen.error)
        assert app.screen.error == device_fault(oom)
        assert app.screen.error.startswith("out of memory on cuda: ")
        await until(app, lambda: app.last_notice is not None)
        assert app.last_notice == device_fault(oom)
        assert app.return_code is None


def test_check_settings() -> None:
    ok, problems = check_settings({"lr-min": "1e-4", "lr-max": "1", "num": "64", "steps": "200"})
    assert ok == SweepSettings(1e-4, 1.0, 64, 200) and problems == {}
    none, problems = check_settings({"lr-min": "-1", "lr-max": "inf", "num": "1", "steps": "2.5"})
    assert none is None
    assert problems == {
        "lr-min": "lr min: learning rate must be above 0, got -1",
        "lr-max": "lr max: learning rate must be finite, got inf",
        "num": f"rates must be a whole number from 2 to {MAX_RATES}, got 1",
        "steps": "steps must be a whole number ≥ 1, got 2.5",
    }
    _, problems = check_settings({"lr-min": "1", "lr-max": "2", "num": "257", "steps": "x"})
    assert problems == {
        "num": f"rates must be a whole number from 2 to {MAX_RATES}, got 257",
        "steps": "steps must be a whole number ≥ 1, got 'x'",
    }


def test_default_range_holds_the_scenarios_rate() -> None:
    for name, lr in (("seed-example", 0.1), ("lr-too-large", 1.1), ("lr-too-small", 0.001)):
        settings = default_settings(load_scenario(name))
        assert settings.lr_min <= lr / 100 and settings.lr_max >= lr * 10
        assert settings.lr_min <= 1e-4 and settings.lr_max >= 1.0


async def test_the_key_is_listed_and_in_the_palette() -> None:
    assert any(key == "w" and "sweep" in what for key, what in KEYS)
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app)
        commands = {title: key for title, _, key in GdtuiCommands(app.screen)._commands()}
        assert commands["Learning-rate sweep of this scenario…"] == "w"
        await pilot.press("question_mark")
        await pilot.press("w")  # not over the help screen
        await pilot.pause()
        assert not isinstance(app.screen, SweepScreen)


# -- the sweep plot -----------------------------------------------------------------------------


def _result(**changes: Any) -> SweepResult:
    """A small, fixed sweep result with every status in it."""
    base = SweepResult(
        problem="quadratic",
        optimizer="sgd",
        hyper={},
        steps=10,
        mode="gradient",
        lrs=[0.001, 0.01, 0.1, 0.5, 1.0, 2.0],
        initial_loss=9.0,
        final_loss=[8.0, 3.0, 1e-12, 0.0, 9.0, 5e9],
        best_loss=[8.0, 3.0, 1e-12, 0.0, 9.0, 9.0],
        status=["descending", "descending", "converged", "converged", "oscillating", "diverged"],
        diverged_at=[None, None, None, None, None, 7],
        edge=1.0,
        suggested=0.5,
        rule="the largest rate that converged at no more than half the edge (1)",
        bound=1.0,
        bound_formula="lr < 2/λmax",
        lambda_max=2.0,
        steps_done=10,
        losses=None,  # type: ignore[arg-type]
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("size", [(60, 12), (80, 14), (120, 30)])
def test_sweep_plot_marks_every_status_and_fits(size) -> None:
    width, height = size
    rows = _ANSI.sub("", render_sweep(_result(), width, height, 0.0)).split("\n")
    assert len(rows) == height
    assert all(len(row) <= width for row in rows)
    body = "\n".join(rows[1:])
    for mark in (*MARKERS.values(), EDGE_MARK, SUGGESTED_MARK):
        assert mark in body, mark
    assert "≤1e" in body  # the exact minimum (loss 0) sits on the labelled floor
    assert "1e-3" in body and "1" in rows[-1]


def test_sweep_plot_draws_the_bound_apart_from_the_edge() -> None:
    rows = _ANSI.sub("", render_sweep(_result(bound=0.2), 80, 14, 0.0)).split("\n")
    body = "\n".join(rows[1:])
    assert BOUND_MARK in body and EDGE_MARK in body
    # The bound outside the swept range is not drawn (the summary says so).
    body = _ANSI.sub("", render_sweep(_result(bound=50.0), 80, 14, 0.0))
    assert BOUND_MARK not in body


def test_sweep_plot_falls_back_to_a_linear_axis_below_zero() -> None:
    """A loss that goes below 0 with no known minimum: a linear loss axis, no log labels."""
    result = _result(final_loss=[-1.0, -2.0, -5.0, -9.0, 1.0, 3.0], initial_loss=0.5)
    rows = _ANSI.sub("", render_sweep(result, 80, 14, None)).split("\n")
    assert "log lr axis" in rows[0]
    assert "1e" not in "".join(r[:8] for r in rows[1:-1])  # y labels; the x axis has 1e-3


# -- the arithmetic of a step ------------------------------------------------------------------


def test_the_worked_example_reads_exactly() -> None:
    run = Run(get_problem("quadratic"), "sgd", 0.1, max_steps=5)
    run.step()
    written = step_arithmetic(run)
    assert written is not None and written.matches
    text = arithmetic_lines(written, 80)
    assert text.plain == f"w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4  {AGREES}"
    assert (
        arithmetic_lines(written, 80, verdict=False).plain == "w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4"
    )


def test_a_mismatch_is_shown_in_red_and_in_words() -> None:
    run = Run(get_problem("quadratic"), "sgd", 0.1, max_steps=5)
    record = run.step()
    wrong = dataclasses.replace(record, params=(4.5,), update=(-0.5,))
    written = explain_step("sgd", wrong, names=run.param_names)
    assert not written.matches
    text = arithmetic_lines(written, 80)
    lines = text.plain.split("\n")
    assert lines[0] == "w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4"
    assert AGREES not in text.plain
    marked = [line for line in lines if line.startswith("✗")]
    assert any("torch has w after the step = 4.5" in line for line in marked)
    assert any(line.startswith("✗ differs from torch's update") for line in marked)
    red = [
        text.plain[span.start : span.end]
        for span in text.spans
        if "red" in str(span.style) and "bold" in str(span.style)
    ]
    assert all(any(line in piece for piece in red) for line in marked)


@pytest.mark.parametrize("optimizer", EXPLAINED)
@pytest.mark.parametrize("width", [80, 60])
def test_every_written_optimizer_fits_the_width(optimizer, width) -> None:
    run = Run(get_problem("rosenbrock"), optimizer, 1e-3, max_steps=30, tolerance=0.0)
    for _ in range(30):
        run.step()
        written = step_arithmetic(run)
        assert written is not None and written.matches, written
        text = arithmetic_lines(written, width)
        assert all(Text(line).cell_len <= width for line in text.plain.split("\n"))
        joined = " ".join(text.plain.split())
        for line in written.lines:  # wrapping only moves text, it never drops any
            assert " ".join(line.replace(";  ", " ").split()) in joined


def test_wrap_breaks_before_equals_signs() -> None:
    line = "x ← x − lr·m̂/(√v̂ + ε) = -1.49 − 0.01 × (-141.947)/(143.132 + 1e-08) = -1.49 − (-0.0099) = -1.48"
    rows = wrap_at_equals(line, 50)
    assert rows[0] == "x ← x − lr·m̂/(√v̂ + ε)"
    assert all(row.startswith("    = ") for row in rows[1:])
    assert wrap_at_equals("short = 1", 50) == ["short = 1"]


async def test_the_arithmetic_view_draws_at_its_width() -> None:
    from textual.app import App

    run = Run(get_problem("quadratic"), "sgd", 0.1, max_steps=5)
    run.step()
    view = ArithmeticView()

    class Host(App[None]):
        def compose(self):
            yield view

    async with Host().run_test(size=(60, 5)) as pilot:
        view.show(None, "no step yet")
        await pilot.pause()
        assert view.text.strip() == "no step yet"
        view.show(step_arithmetic(run))
        await pilot.pause()
        assert view.text.splitlines()[0] == f"w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4  {AGREES}"


def test_no_arithmetic_for_optimizers_without_a_short_rule() -> None:
    run = Run(get_problem("quadratic"), "adadelta", 1.0, max_steps=5)
    run.step()
    assert step_arithmetic(run) is None
    assert step_arithmetic(Run(get_problem("quadratic"), "sgd", 0.1)) is None


# -- curvature beside the learning rate ---------------------------------------------------------


def test_curvature_line_under_and_over_the_bound() -> None:
    under = curvature_line(20.0, stability_bound(20.0, "sgd"), 0.05)
    assert under.plain == "λmax 20.0 · lr < 2/λmax = 0.1 · now 0.05 ✓"
    over = curvature_line(20.0, stability_bound(20.0, "sgd"), 0.15)
    assert over.plain == "λmax 20.0 · lr < 2/λmax = 0.1 · now 0.15 ✗ above the bound"
    assert any("red" in str(span.style) for span in over.spans)
    heavy = curvature_line(20.0, stability_bound(20.0, "momentum", {"momentum": 0.9}), 0.15)
    assert heavy.plain == "λmax 20.0 · lr < (2 + 2β)/λmax = 0.19 (β = 0.9) · now 0.15 ✓"
    adam = curvature_line(20.0, stability_bound(20.0, "adam"), 0.01)
    assert adam.plain == "λmax 20.0 · no closed-form bound for adam (adaptive steps) · now 0.01"
    assert curvature_line(None, None, 0.1).plain == "λmax not measured · now 0.1"


def test_curvature_bound_from_the_run() -> None:
    """The worker-side helper: the newest measured λmax (every k steps) and its bound."""
    problem = get_problem("ill-conditioned")
    run = Run(problem, "momentum", 0.01, {"momentum": 0.9}, max_steps=10, curvature_every=3)
    run.run(2)
    assert curvature_bound(run) == (None, None)
    run.run(2)  # step 3 measured, step 4 did not: the newest measured value is kept
    lam, bound = curvature_bound(run)
    assert lam == pytest.approx(20.0, rel=1e-9)
    assert bound is not None and bound.lr == pytest.approx(3.8 / 20, rel=1e-9)
