"""The race screen: stepped in its own worker, its table the engine's numbers, contenders added
and removed inline, a 7th refused, a race file's errors in one line."""

from __future__ import annotations

import asyncio
import re

import pytest

from gdtui.engine import Race, Run, get_problem
from gdtui.scenario import ScenarioError, builtin_dir, load_scenario, race_entry
from gdtui.settings import SettingError, parse_lr
from gdtui.ui.app import GdtuiApp
from gdtui.ui.format import num
from gdtui.ui.race_worker import (
    RaceFileError,
    opening_entries,
    parse_hyper,
)
from gdtui.ui.screens.main import MainScreen
from gdtui.ui.screens.race import RaceScreen
from gdtui.ui.widgets.race_plot import MARKERS
from gdtui.ui.widgets.race_table import row_cells


async def until(predicate, timeout: float = 60.0) -> None:
    """Wait until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the race did not reach the expected state")
        await asyncio.sleep(0.01)


async def open_race(pilot) -> RaceScreen:
    """Press R once torch has loaded; the race screen with its first picture."""
    app = pilot.app
    await until(lambda: app.loop.scenario is not None and app.main_screen.snapshot is not None)
    await pilot.press("R")
    await until(lambda: isinstance(app.screen, RaceScreen) and app.screen.snapshot is not None)
    return app.screen


async def at_step(pilot, screen: RaceScreen, step: int) -> None:
    """Wait until the race is at ``step``, then draw it now."""
    await until(lambda: screen.snapshot is not None and screen.snapshot.step == step)
    screen.request_redraw()
    await pilot.pause()


def alone_race(problem, steps: int, *runs: tuple[str, Run]) -> Race:
    """The same runs raced by the engine alone, stepped ``steps`` rounds."""
    race = Race(list(runs), tolerance=1e-6)
    race.run(steps)
    return race


async def test_R_races_the_current_run_and_the_table_is_the_engines() -> None:
    app = GdtuiApp("adam-rosenbrock", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_race(pilot)
        assert screen.snapshot.step == 0
        for _ in range(25):
            await pilot.press("n")
        await at_step(pilot, screen, 25)
        problem = load_scenario("adam-rosenbrock").problem()
        engine = alone_race(
            problem,
            25,
            ("adam lr=0.05", Run(problem, "adam", 0.05, {"betas": (0.9, 0.999)}, max_steps=2000)),
            ("sgd lr=0.001", Run(problem, "sgd", 0.001, max_steps=2000)),
        )
        rows = list(screen.snapshot.rows)
        assert rows == engine.table()  # every number, bit for bit
        assert [r.steps for r in rows] == [25, 25]
        # And from the records of each run stepped alone, without a race.
        for row, (optimizer, lr) in zip(rows, (("adam", 0.05), ("sgd", 0.001)), strict=True):
            records = list(Run(problem, optimizer, lr, max_steps=2000).steps(25))
            assert row.final_loss == records[-1].loss
            assert row.best_loss == min(r.loss for r in records)
        text = screen.query_one("#race-table").text
        for row in rows:
            line = next(line for line in text.splitlines() if row.label in line)
            assert line.split() == [MARKERS[rows.index(row)], *" ".join(row_cells(row)).split()]
            assert num(row.final_loss, 6) in line and num(row.best_loss, 6) in line
        legend = "\n".join(screen.query_one("#race-loss").plain_lines[:2])
        assert "● adam lr=0.05" in legend and "▲ sgd lr=0.001" in legend
        assert "step 25 · paused · 2 runs" in str(screen.query_one("#race-status").render())
        # space runs the race, space again pauses it: it went on from 25.
        await pilot.press("space")
        await until(lambda: screen.snapshot.step > 25)
        await pilot.press("space")
        await until(lambda: not screen.snapshot.playing)
        # r: both back at the start, same labels.
        await pilot.press("r")
        await until(lambda: screen.snapshot.step == 0)
        assert [r.label for r in screen.snapshot.rows] == ["adam lr=0.05", "sgd lr=0.001"]
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))


async def test_add_and_remove_contenders_inline_with_errors() -> None:
    app = GdtuiApp("adam-rosenbrock", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_race(pilot)
        for _ in range(3):
            await pilot.press("n")
        await at_step(pilot, screen, 3)
        before = list(screen.snapshot.rows)
        await pilot.press("a")
        assert screen.has_class("-adding") and screen.focused.id == "race-lr"
        await pilot.press("a", "b", "c")
        with pytest.raises(SettingError) as expected:
            parse_lr("abc")
        assert screen.add_error == str(expected.value)  # checked as typed, nothing sent
        await pilot.press("enter")
        await pilot.pause()
        assert screen.add_error == str(expected.value)
        assert list(screen.snapshot.rows) == before  # state intact
        # A hyper-parameter the optimizer refuses: the engine's message, inline.
        screen.query_one("#race-optimizer").value = "rmsprop"
        screen.query_one("#race-lr").value = "0.01"
        screen.query_one("#race-hyper").value = "alpha=-1"
        await pilot.press("enter")
        await until(lambda: screen.add_error.startswith("rmsprop:"))
        assert len(screen.snapshot.rows) == 2 and screen.has_class("-adding")
        screen.query_one("#race-hyper").value = "alpha=0.9"
        await pilot.press("enter")
        await until(lambda: len(screen.snapshot.rows) == 3)
        assert screen.add_error == "" and not screen.has_class("-adding")
        added = screen.snapshot.rows[2]
        assert (added.label, added.optimizer, added.lr, added.steps) == (
            "rmsprop lr=0.01",
            "rmsprop",
            0.01,
            0,
        )
        # Stepped together from now on: the newcomer counts its own steps.
        await pilot.press("n")
        await until(lambda: screen.snapshot.rows[2].steps == 1)
        assert [r.steps for r in screen.snapshot.rows] == [4, 4, 1]
        # Remove the selected (the second) contender.
        await pilot.press("down", "d")
        await until(lambda: len(screen.snapshot.rows) == 2)
        assert [r.label for r in screen.snapshot.rows] == ["adam lr=0.05", "rmsprop lr=0.01"]
        # Its colour and marker stay with each run.
        assert [c.slot for c in screen.snapshot.contenders] == [0, 2]


async def test_a_seventh_contender_is_refused_inline() -> None:
    app = GdtuiApp("adam-rosenbrock", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_race(pilot)
        for i in range(4):
            await pilot.press("a")
            screen.query_one("#race-optimizer").value = "sgd"
            screen.query_one("#race-lr").value = f"0.000{i + 1}"
            await pilot.press("enter")
            await until(lambda i=i: len(screen.snapshot.rows) == 3 + i)
        assert len(screen.snapshot.rows) == 6
        await pilot.press("a")
        screen.query_one("#race-optimizer").value = "adagrad"
        await pilot.press("enter")
        await until(lambda: screen.add_error != "")
        assert screen.add_error == "a race holds at most 6 runs; remove one first"
        assert "a race holds at most 6 runs" in str(screen.query_one("#race-error").render())
        assert len(screen.snapshot.rows) == 6 and screen.has_class("-adding")
        await pilot.press("escape")  # leaves the form, not the screen
        assert not screen.has_class("-adding") and app.screen is screen


async def test_a_race_file_runs_as_the_engine_races_its_entries() -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(120, 40)):
        await until(lambda: app.main_screen.snapshot is not None)
        path = builtin_dir() / "momentum-vs-plain.toml"
        screen = RaceScreen(path, initial_steps=400, deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.snapshot is not None)
        rows = {r.label: r for r in screen.snapshot.rows}
        problem = get_problem("ill-conditioned", {"l1": 1.0, "l2": 20.0}, {"x": -4.0, "y": 1.5})

        def run(optimizer: str, lr: float, momentum: float | None = None) -> Run:
            hyper = {} if momentum is None else {"momentum": momentum}
            return Run(problem, optimizer, lr, hyper, max_steps=400)

        engine = alone_race(
            problem,
            400,
            ("plain lr=0.02", run("sgd", 0.02)),
            ("momentum 0.9 lr=0.02", run("momentum", 0.02, 0.9)),
            ("plain lr=0.09", run("sgd", 0.09)),
            ("momentum 0.5 lr=0.1", run("momentum", 0.1, 0.5)),
        )
        assert list(rows.values()) == engine.table()
        # What the file's description says, read off the table.
        to_tol = {label: r.steps_to_tolerance for label, r in rows.items()}
        assert to_tol["momentum 0.9 lr=0.02"] < to_tol["plain lr=0.02"]
        assert to_tol["momentum 0.5 lr=0.1"] < to_tol["plain lr=0.09"]


async def test_a_bad_race_file_says_why_in_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[problem]\nloss = "rosenbrock"\n[[race]]\noptimizer = "sgd"\nspeed = 3\n')
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.main_screen.snapshot is not None)
        screen = RaceScreen(bad, deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.failure is not None)
        assert screen.failure == (
            f"{bad}: [[race]] 1: unknown field 'speed' (did you mean 'seed'?); allowed: label, "
            "optimizer, lr, hyper, batch_size, schedule, schedule_args, seed, noise"
        )
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))


# -- the [[race]] built-ins and entries ----------------------------------------------------------


def test_the_race_builtins_have_their_entries() -> None:
    for name, count in (("adam-vs-sgd", 4), ("momentum-vs-plain", 4), ("adam-vs-sgd-digits", 4)):
        scenario = load_scenario(name)
        assert len(scenario.race) == count and all("label" in e for e in scenario.race)
        assert scenario.description.strip()


def test_race_entry_tables_are_checked_in_one_line() -> None:
    cases = [
        (3, "[[race]] 1: an entry must be a table, got 3"),
        ({"lr": -1}, "[[race]] 1: learning rate must be above 0, got -1"),
        ({"lr": "0.1"}, "[[race]] 1: learning rate must be a number, got '0.1'"),
        ({"label": ""}, "[[race]] 1: label must be one line of text, got ''"),
        ({"hyper": 0.9}, "[[race]] 1: hyper must be a table, got 0.9"),
        ({"optimizer": 1}, "[[race]] 1: optimizer must be text, got 1"),
        ({"seed": -1}, "[[race]] 1: seed must be a whole number from 0 to 2**63 - 1"),
    ]
    for entry, message in cases:
        with pytest.raises(ScenarioError) as err:
            race_entry(entry, 1)
        assert str(err.value).startswith(message), str(err.value)
    assert race_entry({"lr": 1, "label": " x "}) == {"lr": 1.0, "label": "x"}


def test_hyper_text_and_the_opening_race() -> None:
    assert parse_hyper("momentum=0.9 betas=0.9,0.99; nesterov=true") == {
        "momentum": 0.9,
        "betas": (0.9, 0.99),
        "nesterov": True,
    }
    with pytest.raises(RaceFileError, match="name=value, got 'momentum'"):
        parse_hyper("momentum")
    assert opening_entries("adam", 0.05, {"eps": 1e-8}) == [
        {"optimizer": "adam", "hyper": {"eps": 1e-8}, "lr": 0.05},
        {"optimizer": "sgd"},
    ]
    assert opening_entries("sgd", 0.02, {}) == [
        {"optimizer": "sgd", "hyper": {}, "lr": 0.02},
        {"optimizer": "momentum", "lr": 0.02},
    ]


async def test_the_palette_opens_the_race_on_the_current_sgd_run() -> None:
    from gdtui.ui.app import GdtuiCommands

    app = GdtuiApp("momentum-ravine", {"optimizer": "sgd"}, deterministic=True)
    async with app.run_test(size=(80, 24)):
        await until(lambda: app.loop.scenario is not None and app.main_screen.snapshot is not None)
        commands = {title: call for title, call, _ in GdtuiCommands(app.screen)._commands()}
        commands["Race: this run against others"]()
        await until(lambda: isinstance(app.screen, RaceScreen) and app.screen.snapshot is not None)
        rows = app.screen.snapshot.rows
        # The current run (plain SGD at the scenario's 0.02) first, heavy-ball at the same rate.
        assert [(r.label, r.optimizer, r.lr) for r in rows] == [
            ("sgd lr=0.02", "sgd", 0.02),
            ("momentum lr=0.02", "momentum", 0.02),
        ]


async def test_a_one_parameter_race_marks_each_run_on_the_curve() -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(120, 40)):
        await until(lambda: app.main_screen.snapshot is not None)
        entries = [{"optimizer": "sgd", "lr": 0.1}, {"optimizer": "sgd", "lr": 0.01}]
        screen = RaceScreen(app.loop.scenario, entries, initial_steps=5, deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.drawn(5))
        screen.request_redraw()
        await until(
            lambda: any("●" in line for line in screen.query_one("#race-paths").plain_lines)
        )
        text = "\n".join(screen.query_one("#race-paths").plain_lines)
        assert "●" in text and "▲" in text and "★" in text
        # w after 5 steps from 5 on (w − 2)²: 2 + 3·0.8⁵ and 2 + 3·0.98⁵ (by hand).
        currents = [c.current[0] for c in screen.snapshot.contenders]
        assert currents == pytest.approx([2 + 3 * 0.8**5, 2 + 3 * 0.98**5], rel=1e-12)


async def test_help_on_the_race_screen_tells_the_race_and_its_keys() -> None:
    from gdtui.ui.screens.help import HelpScreen

    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.main_screen.snapshot is not None)
        screen = RaceScreen(load_scenario("adam-vs-sgd"), deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.info is not None)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        title, words = app.screen.about
        assert title == "Race · Adam against SGD in Rosenbrock's banana valley"
        assert words.startswith("The same start, the same valley") and "d remove" in words
        await pilot.press("escape")
        await until(lambda: app.screen is screen)


# -- the pure renderers ---------------------------------------------------------------------------


def test_the_race_plot_draws_log10_of_the_loss_with_a_marker_per_run() -> None:
    import numpy as np

    from gdtui.ui.widgets.race_plot import Curve, render_race_text, sticky_ylim

    steps = np.arange(1, 9)
    curves = [
        Curve("low", 0, steps, np.full(8, 1e-3)),
        Curve("high", 1, steps, np.full(8, 10.0)),
    ]
    lines, ylim = render_race_text(curves, 60, 16, log_offset=0.0)
    assert ylim == (-3.0, 1.0, True)  # whole decades around log10 of the data
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    assert plain[0].startswith("log10(loss − L*)   ● low   ▲ high")
    low_row = next(line for line in plain if line.lstrip().startswith("1e-3"))
    high_row = next(line for line in plain if line.lstrip().startswith("1e1"))
    assert "●" in low_row and "▲" not in low_row
    assert "▲" in high_row and "●" not in high_row
    # Sticky: kept while the data stays inside and fills a quarter; re-fitted when it leaves.
    assert sticky_ylim(-2.5, 0.5, True, (-3.0, 1.0)) == (-3.0, 1.0)
    assert sticky_ylim(-4.5, 0.5, True, (-3.0, 1.0)) == (-5.0, 1.0)
    # No loss above L*: the loss itself on a linear axis, said in the title.
    lines, ylim = render_race_text([Curve("x", 0, steps, -np.ones(8))], 60, 16, 0.0)
    assert lines[0].startswith("\x1b[1mloss") and ylim[2] is False


# -- races of models, the tolerance, a scenario's own race ----------------------------------------


async def test_a_model_race_shows_the_engines_losses_without_a_landscape() -> None:
    """adam-vs-sgd-digits on the race screen: four ModelRuns, the table the engine's own race of
    the same scenario after 5 rounds, the loss curves drawn, the landscape panel hidden."""
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.main_screen.snapshot is not None)
        scenario = load_scenario("adam-vs-sgd-digits")
        screen = RaceScreen(scenario, initial_steps=5, deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.drawn(5))
        screen.request_redraw()
        await pilot.pause()
        assert screen.failure is None and screen.info.is_model
        engine = scenario.build_race()
        engine.run(5)
        assert list(screen.snapshot.rows) == engine.table()
        assert [r.final_loss for r in engine.table()] == [
            c.view.loss[-1] for c in screen.snapshot.contenders
        ]
        assert not screen.query_one("#race-paths").display
        plot = "\n".join(screen.query_one("#race-loss").plain_lines)
        assert all(label in plot for label in engine.labels)
        assert "digits" in str(screen.query_one("#race-loss").border_subtitle)


async def test_t_sets_the_tolerance_with_an_inline_error_for_a_bad_one() -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.main_screen.snapshot is not None)
        scenario = load_scenario("momentum-vs-plain")
        screen = RaceScreen(scenario, initial_steps=200, deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.drawn(200))
        await pilot.press("t")
        field = screen.query_one("#race-tolerance")
        assert screen.has_class("-tolerance") and field.has_focus and field.value == "1e-06"
        field.value = "-1"
        await pilot.press("enter")
        assert screen.query_one("#race-error").display
        assert str(screen.query_one("#race-error").render()) == (
            "tolerance must be a finite number ≥ 0, got -1"
        )
        assert screen.has_class("-tolerance")  # still open, the race unchanged
        field.value = "0.01"
        await pilot.press("enter")
        await until(lambda: screen.snapshot.criterion.endswith("≤ 0.01"))
        assert not screen.has_class("-tolerance") and not screen.query_one("#race-error").display
        engine = scenario.build_race(tolerance=0.01)
        engine.run(200)
        assert list(screen.snapshot.rows) == engine.table()
        before = scenario.build_race()  # the default 1e-6: later steps
        before.run(200)
        assert [r.steps_to_tolerance for r in before.table()] != [
            r.steps_to_tolerance for r in engine.table()
        ]


async def test_R_on_a_race_scenario_opens_its_own_race() -> None:
    app = GdtuiApp("momentum-vs-plain", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_race(pilot)
        assert [r.label for r in screen.snapshot.rows] == [
            "plain lr=0.02",
            "momentum 0.9 lr=0.02",
            "plain lr=0.09",
            "momentum 0.5 lr=0.1",
        ]


async def test_a_model_race_adds_a_contender_with_its_own_batch_size() -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.main_screen.snapshot is not None)
        scenario = load_scenario("adam-vs-sgd-digits")
        entries = [{"label": "adam"}]
        screen = RaceScreen(scenario, entries, initial_steps=2, deterministic=True)
        await app.push_screen(screen)
        await until(lambda: screen.drawn(2))
        await pilot.press("a")
        assert screen.query_one("#race-batch").display
        screen.query_one("#race-optimizer").value = "sgd"
        screen.query_one("#race-lr").value = "0.1"
        screen.query_one("#race-batch").value = "0"
        await pilot.press("enter")
        await until(lambda: screen.add_error != "")
        assert screen.add_error == 'batch_size must be "full" or a whole number ≥ 1, got 0'
        screen.query_one("#race-batch").value = "full"
        await pilot.press("enter")
        await until(lambda: len(screen.snapshot.rows) == 2)
        row = screen.snapshot.rows[1]
        assert (row.label, row.optimizer, row.lr) == ("sgd lr=0.1", "sgd", 0.1)
        assert screen.loop.race["sgd lr=0.1"].batch_size is None  # full batch
        assert screen.loop.race["adam"].batch_size == 64  # the scenario's
