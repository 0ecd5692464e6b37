"""Pilot tests of the live explorer: every key binding, and the rules of DESIGN.md.

Each test builds the app the way the CLI does (``GdtuiApp(...)``), drives it with Textual's Pilot
and reads the state the descent thread sends back (``app.main_screen.info``, ``.snapshot``) and
what the widgets show. ``deterministic=True`` turns toasts off; ``app.last_notice`` keeps the last
message.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static
from waiting import settled, wait_until

from gdtui.settings import SettingError, parse_lr
from gdtui.ui.app import GdtuiApp, GdtuiCommands
from gdtui.ui.screens.help import HelpScreen
from gdtui.ui.screens.open_scenario import OpenScenarioScreen
from gdtui.ui.widgets.backprop_panel import BackpropPanel
from gdtui.ui.widgets.controls import SPEEDS
from gdtui.ui.widgets.landscape import Landscape
from gdtui.ui.widgets.loss_plot import LossPlot
from gdtui.ui.widgets.optimizer_panel import OptimizerPanel
from gdtui.ui.widgets.status_line import StatusLine

WIDE = (120, 40)
SMALL = (80, 24)
QUIET = 0.3  # seconds to watch a paused run for steps that should not happen

# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., GdtuiApp]:
    """Build a deterministic app that exports into the test's temporary folder."""

    def build(scenario: Any = "seed-example", overrides: dict[str, Any] | None = None, **kw: Any):
        kw.setdefault("deterministic", True)
        kw.setdefault("export_dir", tmp_path)
        return GdtuiApp(scenario=scenario, overrides=overrides, **kw)

    return build


def snap(app: GdtuiApp):
    """The newest snapshot (asserted present)."""
    snapshot = app.main_screen.snapshot
    assert snapshot is not None
    return snapshot


def info(app: GdtuiApp):
    """The current RunInfo (asserted present)."""
    run_info = app.main_screen.info
    assert run_info is not None
    return run_info


def has_run(app: GdtuiApp) -> bool:
    """The first run and its first snapshot have arrived."""
    return app.main_screen.info is not None and app.main_screen.snapshot is not None


def placing(app: GdtuiApp) -> tuple[float, ...] | None:
    """The start being placed on the landscape (None: not placing)."""
    return app.query_one("#landscape", Landscape).placing


async def until(app: GdtuiApp, predicate: Callable[[], Any], timeout: float = 30) -> None:
    """Wait until ``predicate()`` holds, then let the app redraw; fail at once if the app died."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if app.return_code is not None:
            raise AssertionError(f"the app exited (return code {app.return_code})")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.01)
    await wait_until(app, lambda: True)


async def settle(app: GdtuiApp) -> None:
    """Wait for the engine, the first run and its landscape (``waiting.settled``)."""
    await until(app, lambda: app.startup_error or has_run(app), 30)
    await settled(app, timeout=10)


async def at_step(app: GdtuiApp, step: int, generation: int | None = None) -> None:
    """Wait until the current run's snapshot reads ``step``."""

    def ready() -> bool:
        s, i = app.main_screen.snapshot, app.main_screen.info
        if s is None or i is None or s.step != step:
            return False
        return generation is None or i.generation == generation

    await until(app, ready, timeout=10)


async def new_run(app: GdtuiApp, old_generation: int) -> None:
    """Wait for a fresh run (a later generation) and its first snapshot."""
    await until(
        app,
        lambda: (
            has_run(app)
            and info(app).generation > old_generation
            and snap(app).generation == info(app).generation
        ),
        timeout=10,
    )


async def steps(pilot: Pilot, app: GdtuiApp, count: int) -> None:
    """Press ``n`` ``count`` times and wait for the last step."""
    target = snap(app).step + count
    for _ in range(count):
        await pilot.press("n")
    await at_step(app, target)


async def stays_at(app: GdtuiApp, step: int, seconds: float = QUIET) -> None:
    """Watch for ``seconds``: the run must not move from ``step``."""
    await asyncio.sleep(seconds)
    await until(app, lambda: True)
    assert snap(app).step == step


async def notice(app: GdtuiApp, contains: str = "") -> str:
    """Wait for the next one-line notice (clear ``app.last_notice`` before acting)."""
    await until(app, lambda: app.last_notice is not None and contains in app.last_notice, 30)
    text = app.last_notice
    assert text is not None
    assert "\n" not in text, f"notice is not one line: {text!r}"
    return text


def label_text(app: GdtuiApp, selector: str) -> str:
    """The text of a Label (or any Static): the error lines under the fields."""
    return str(app.query_one(selector, Static).content)


def plain(renderable: Any, width: int = 120) -> str:
    """A Rich renderable as plain text."""
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


async def focus_and_submit(pilot: Pilot, app: GdtuiApp, selector: str | Input, value: str) -> Input:
    """Put ``value`` in a focused Input and press enter in it."""
    field = app.query_one(selector, Input) if isinstance(selector, str) else selector
    field.focus()
    await pilot.pause()
    field.value = value
    await pilot.pause()
    assert app.focused is field
    await pilot.press("enter")
    await pilot.pause()
    return field


# -- space: run / pause -----------------------------------------------------------------------


async def test_space_runs_and_pauses(make_app) -> None:
    app = make_app("lr-too-small")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert not snap(app).playing
        for _ in range(3):  # 100 steps/s: the 500-step budget lasts 5 s
            await pilot.press("f")
        await until(app, lambda: app.loop.speed == 100.0, 30)
        await pilot.press("space")
        await until(app, lambda: snap(app).playing and snap(app).step >= 10, 30)
        assert "running" in app.query_one(StatusLine).text
        await pilot.press("space")
        await until(app, lambda: not snap(app).playing, 30)
        assert snap(app).status == "running"
        assert "paused" in app.query_one(StatusLine).text
        await stays_at(app, snap(app).step)


# -- n: one step ------------------------------------------------------------------------------


async def test_n_takes_the_worked_example_step(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert snap(app).step == 0 and snap(app).record is None
        await pilot.press("n")
        await at_step(app, 1)
        record = snap(app).record
        assert record.step == 1
        assert record.loss == 9.0
        assert record.params_before == (5.0,)
        assert record.grad == (6.0,)
        assert record.params == pytest.approx((4.4,))
        assert record.update == pytest.approx((-0.6,))
        assert record.lr == 0.1
        assert not snap(app).playing
        backprop = app.query_one(BackpropPanel).text
        assert "6.0" in backprop
        assert "PowBackward0 ← SubBackward0 ← w" in backprop
        optimizer = app.query_one(OptimizerPanel).text
        assert "5.0 → 4.4" in optimizer
        assert "−0.6" in optimizer  # U+2212
        assert "step 1" in app.query_one(StatusLine).text
        await stays_at(app, 1)


# -- r: reset ---------------------------------------------------------------------------------


async def test_r_resets_to_the_start(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        first = info(app).generation
        await steps(pilot, app, 3)
        assert snap(app).current[0] != 5.0
        await pilot.press("r")
        await new_run(app, first)
        assert snap(app).step == 0
        assert snap(app).current == (5.0,)
        assert snap(app).record is None
        assert info(app).init == (5.0,)
        assert info(app).lr == 0.1 and snap(app).lr == 0.1
        assert info(app).scenario == "seed-example"
        await pilot.press("n")
        await at_step(app, 1)
        assert snap(app).record.grad == (6.0,)


# -- + / -: scale the learning rate -----------------------------------------------------------


async def test_plus_minus_scale_the_lr_without_reset(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await steps(pilot, app, 2)
        before = snap(app).current
        await pilot.press("plus")
        await until(app, lambda: snap(app).lr == pytest.approx(0.2), 30)
        assert snap(app).step == 2
        assert info(app).generation == generation
        assert app.query_one("#lr", Input).value == "0.2"
        await steps(pilot, app, 1)
        record = snap(app).record
        assert record.step == 3
        assert record.lr == pytest.approx(0.2)
        assert record.params_before == pytest.approx(before)  # the path goes on
        assert record.update[0] == pytest.approx(-0.2 * record.grad[0])
        await pilot.press("minus")
        await pilot.press("minus")
        await until(app, lambda: snap(app).lr == pytest.approx(0.05), 30)
        assert snap(app).step == 3 and info(app).generation == generation
        await steps(pilot, app, 1)
        assert snap(app).record.lr == pytest.approx(0.05)
        # A reset keeps the learning rate last chosen.
        await pilot.press("r")
        await new_run(app, generation)
        assert snap(app).lr == pytest.approx(0.05) and snap(app).step == 0


# -- l: log scale -----------------------------------------------------------------------------


async def test_l_toggles_the_log_scale(make_app) -> None:
    app = make_app(initial_steps=5)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        plot = app.query_one("#loss", LossPlot)
        assert plot.log_scale is False
        await pilot.press("l")
        await until(app, lambda: plot.log_scale)
        text = "\n".join(plot.plain_lines)
        assert "1e" in text
        assert "log10" in text
        await pilot.press("l")
        await until(app, lambda: not plot.log_scale)
        assert "log10" not in "\n".join(plot.plain_lines)


# -- e: export --------------------------------------------------------------------------------


async def test_e_exports_jsonl_and_csv(make_app, tmp_path: Path) -> None:
    app = make_app(initial_steps=3)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        app.last_notice = None
        await pilot.press("e")
        text = await notice(app, "exported")
        files = list(tmp_path.glob("*.jsonl"))
        assert len(files) == 1
        assert str(files[0]) in text
        lines = files[0].read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        assert len(rows) == 3 == snap(app).step
        assert [row["step"] for row in rows] == [1, 2, 3]
        assert rows[0]["grad"] == {"w": 6.0}
        assert rows[0]["params"]["w"] == pytest.approx(4.4)

        app.last_notice = None
        app.action_export("csv")
        await notice(app, "exported")
        files = list(tmp_path.glob("*.csv"))
        assert len(files) == 1
        with files[0].open(encoding="utf-8", newline="") as handle:
            table = list(csv.DictReader(handle))
        assert len(table) == 3
        assert table[0]["step"] == "1"


async def test_export_to_a_missing_folder_is_one_line(make_app, tmp_path: Path) -> None:
    app = make_app(initial_steps=2, export_dir=tmp_path / "missing")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        app.last_notice = None
        await pilot.press("e")
        text = await notice(app, "could not export")
        assert "missing" in text
        await steps(pilot, app, 1)  # the run is intact


# -- ctrl+s: screenshot -----------------------------------------------------------------------


async def test_ctrl_s_saves_an_svg(make_app, tmp_path: Path) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        app.last_notice = None
        await pilot.press("ctrl+s")
        text = await notice(app, "screenshot saved")
        files = list(tmp_path.glob("*.svg"))
        assert len(files) == 1
        assert files[0].name == "gdtui-seed-example-step2.svg"
        assert files[0].read_text(encoding="utf-8").lstrip().startswith("<svg")
        assert str(files[0]) in text


# -- ?: help ----------------------------------------------------------------------------------


async def test_question_mark_opens_help_and_escape_closes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.press("question_mark")
        await until(app, lambda: isinstance(app.screen, HelpScreen))
        shown = "\n".join(plain(static.content) for static in app.screen.query(Static))
        keys = {line.split()[0] for line in shown.splitlines() if line.strip()}
        for key in ("space", "n", "r", "+", "l", "e", "q", "?", "ctrl+s", "s", "o", "f", "c"):
            assert key in keys, f"help does not list {key!r}"
        assert "−" in shown  # the halve key, next to +
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("n")  # the keys work again
        await at_step(app, 1)


# -- o: open a scenario -----------------------------------------------------------------------


async def test_o_opens_a_builtin_scenario(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await pilot.press("o")
        await until(app, lambda: isinstance(app.screen, OpenScenarioScreen))
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        for name in ("seed-example", "saddle", "himmelblau-four-minima", "lr-too-large"):
            assert f"builtin:{name}" in ids
        options.focus()
        options.highlighted = ids.index("builtin:saddle")
        await pilot.pause()
        await pilot.press("enter")
        await new_run(app, generation)
        assert not isinstance(app.screen, OpenScenarioScreen)
        assert info(app).scenario == "saddle"
        assert info(app).problem == "saddle"
        assert info(app).param_names == ("x", "y")
        assert snap(app).step == 0


async def test_o_escape_keeps_the_run(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await pilot.press("o")
        await until(app, lambda: isinstance(app.screen, OpenScenarioScreen))
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, OpenScenarioScreen))
        await stays_at(app, 2)
        assert info(app).generation == generation


async def test_o_lists_toml_files_in_the_export_folder(make_app, tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        '[problem]\nloss = "quadratic"\ninit = { w = 3.0 }\n', encoding="utf-8"
    )
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await pilot.press("o")
        await until(app, lambda: isinstance(app.screen, OpenScenarioScreen))
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert f"file:{tmp_path / 'mine.toml'}" in ids
        options.focus()
        options.highlighted = ids.index(f"file:{tmp_path / 'mine.toml'}")
        await pilot.pause()
        await pilot.press("enter")
        await new_run(app, generation)
        assert info(app).init == (3.0,)


# -- c / g / b: panels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "panel", "selector"),
    [("c", "controls", "#controls"), ("g", "landscape", "#landscape"), ("b", "panels", "#panels")],
)
async def test_panel_keys_hide_and_show(make_app, key: str, panel: str, selector: str) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        widget = app.query_one(selector)
        assert widget.display and not app.screen.has_class(f"-hide-{panel}")
        await pilot.press(key)
        await pilot.pause()
        assert app.screen.has_class(f"-hide-{panel}")
        assert not widget.display
        await pilot.press(key)
        await pilot.pause()
        assert not app.screen.has_class(f"-hide-{panel}")
        assert widget.display
        await pilot.press("n")  # the run is untouched
        await at_step(app, 1)


# -- f: speed ---------------------------------------------------------------------------------


async def test_f_cycles_the_speed(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        speed = app.query_one("#speed", Select)
        assert speed.value == len(SPEEDS) - 1 and app.loop.speed is None
        for expected in [0, 1, 2, 3, 0]:
            await pilot.press("f")
            await until(app, lambda e=expected: app.loop.speed == SPEEDS[e][1], 30)
            assert speed.value == expected
            assert app.main_screen.speed_index == expected


async def test_speed_argument_is_kept(make_app) -> None:
    app = make_app(speed=10.0)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.pause()
        await asyncio.sleep(0.2)
        assert app.main_screen.speed_index == 1
        assert app.query_one("#speed", Select).value == 1
        assert app.loop.speed == 10.0


# -- s: place the start -----------------------------------------------------------------------


async def test_s_places_the_start_and_starts_afresh(make_app) -> None:
    app = make_app("himmelblau-four-minima", initial_steps=3)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        assert info(app).init == (0.0, 0.0)
        (x_lo, x_hi), (y_lo, y_hi) = info(app).domain
        current = snap(app).current
        await pilot.press("s")
        await pilot.pause()
        assert placing(app) == pytest.approx(current)
        assert app.focused is None
        for key in ("right", "right", "right", "up", "up"):
            await pilot.press(key)
        await pilot.pause()
        expected = (current[0] + 0.06 * (x_hi - x_lo), current[1] + 0.04 * (y_hi - y_lo))
        assert placing(app) == pytest.approx(expected)
        await pilot.press("enter")
        await new_run(app, generation)
        assert placing(app) is None
        assert info(app).init == pytest.approx(expected)
        assert snap(app).step == 0
        assert info(app).scenario == "himmelblau-four-minima"
        await pilot.press("n")
        await at_step(app, 1)
        assert snap(app).record.params_before == pytest.approx(expected)


async def test_s_escape_cancels(make_app) -> None:
    app = make_app("himmelblau-four-minima", initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await pilot.press("s")
        await pilot.press("left")
        await pilot.pause()
        assert placing(app) is not None
        app.last_notice = None
        await pilot.press("escape")
        await notice(app, "start unchanged")
        assert placing(app) is None
        await pilot.press("enter")  # enter no longer applies anything
        await stays_at(app, 2)
        assert info(app).generation == generation
        assert info(app).init == (0.0, 0.0)


async def test_s_on_a_many_parameter_problem_says_why(make_app) -> None:
    app = make_app(overrides={"expression": "x**2 + y**2 + z**2"})
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        app.last_notice = None
        await pilot.press("s")
        await notice(app, "1- and 2-parameter")
        assert placing(app) is None


async def test_s_on_a_one_parameter_problem(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        ((lo, hi),) = info(app).domain
        current = snap(app).current
        await pilot.press("s")
        await pilot.press("left")
        await pilot.press("up")  # no second axis: ignored
        await pilot.pause()
        expected = (current[0] - 0.02 * (hi - lo),)
        assert placing(app) == pytest.approx(expected)
        await pilot.press("enter")
        await new_run(app, generation)
        assert info(app).init == pytest.approx(expected)
        assert snap(app).step == 0


# -- buttons ----------------------------------------------------------------------------------


async def laid_out(app: GdtuiApp, pilot: Any, selector: str) -> None:
    """Wait until the widget stays put over three refreshes (a click computes its place once;
    on a loaded machine the controls can still be filling in below the buttons' column)."""
    seen: list[Any] = []
    while len(seen) < 3 or len(set(seen[-3:])) != 1:
        await pilot.pause()
        seen.append(app.query_one(selector).region)
        assert len(seen) < 500, seen[-3:]


async def test_buttons_step_run_and_reset(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await laid_out(app, pilot, "#step")
        await pilot.click("#step")
        await at_step(app, 1)
        await pilot.click("#toggle")
        await until(app, lambda: snap(app).status != "running" or snap(app).step > 1, 30)
        await pilot.click("#reset")
        await new_run(app, generation)
        assert snap(app).step == 0 and not snap(app).playing


# -- q: quit ----------------------------------------------------------------------------------


async def test_q_quits(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert app.return_code is None  # only App.exit() sets it; leaving run_test does not
        await pilot.press("q")
        deadline = asyncio.get_running_loop().time() + 10
        while app.return_code is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert app.return_code == 0, "q did not exit the app"
    assert app.return_code == 0
    assert app.startup_error is None and app.internal_error is None


# -- the command palette ----------------------------------------------------------------------


async def test_command_palette_lists_and_runs_commands(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        app.action_command_palette()
        await until(app, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, CommandPalette))
        await pilot.press("ctrl+p")
        await until(app, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, CommandPalette))

        commands = {title: callback for title, callback, _ in GdtuiCommands(app.screen)._commands()}
        for title in (
            "Problem: rosenbrock",
            "Optimizer: adam",
            "Scenario: saddle",
            "Run / pause",
            "Export records as CSV",
            "Help: keys",
        ):
            assert title in commands, f"palette lacks {title!r}"
        hits = [hit async for hit in GdtuiCommands(app.screen).search("adam")]
        assert any("Optimizer: adam" in str(hit.text) for hit in hits)

        generation = info(app).generation
        commands["Optimizer: adam"]()
        await new_run(app, generation)
        assert info(app).optimizer == "adam"
        assert info(app).problem == "quadratic"
        assert app.query_one("Controls #optimizer", Select).value == "adam"

        generation = info(app).generation
        commands["Problem: himmelblau"]()
        await new_run(app, generation)
        assert info(app).problem == "himmelblau"
        assert info(app).optimizer == "adam"

        generation = info(app).generation
        commands["Scenario: saddle"]()
        await new_run(app, generation)
        assert info(app).scenario == "saddle"


@pytest.mark.parametrize(
    ("scenario", "how"),
    [("adam-rosenbrock", "reset"), ("momentum-ravine", "reset"), ("seed-example", "rosenbrock")],
)
async def test_problems_with_brackets_in_the_expression(make_app, scenario: str, how: str) -> None:
    """'[a=1, b=100]' in a landscape title is text, not Textual markup (it used to crash)."""
    app = make_app(scenario)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        if how == "reset":
            await pilot.press("r")
        else:
            app.configure({"loss": "rosenbrock"})
        await new_run(app, generation)
        await pilot.press("n")
        await at_step(app, 1)


# -- bad input leaves the state intact --------------------------------------------------------


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "0", "inf", ""])
async def test_bad_lr_is_refused_and_nothing_changes(make_app, text: str) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        app.last_notice = None
        field = await focus_and_submit(pilot, app, "#lr", text)
        message = await notice(app)
        # The field says exactly what the CLI and a scenario file say (tests/test_settings.py).
        with pytest.raises(SettingError) as expected:
            parse_lr(text)
        assert message == str(expected.value)
        assert label_text(app, "#lr-error") == message
        assert field.has_class("-invalid")
        await stays_at(app, 2)
        assert snap(app).lr == 0.1
        assert info(app).generation == generation
        await pilot.press("escape")  # leave the field; the keys step again
        await pilot.pause()
        assert app.focused is None
        await pilot.press("n")
        await at_step(app, 3)
        assert snap(app).record.lr == 0.1


async def test_lr_error_shows_while_typing(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        field = app.query_one("#lr", Input)
        field.focus()
        await pilot.pause()
        field.value = "abc"
        await pilot.pause()
        assert label_text(app, "#lr-error")
        field.value = "0.3"
        await pilot.pause()
        assert label_text(app, "#lr-error") == ""
        assert not field.has_class("-invalid")
        assert snap(app).lr == 0.1  # not applied before enter


async def test_good_lr_applies_at_once_without_reset(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        before = snap(app).current
        await focus_and_submit(pilot, app, "#lr", "0.05")
        await until(app, lambda: snap(app).lr == 0.05, 30)
        assert snap(app).step == 2
        assert info(app).generation == generation
        assert label_text(app, "#lr-error") == ""
        await pilot.press("escape")
        await pilot.press("n")
        await at_step(app, 3)
        record = snap(app).record
        assert record.lr == 0.05
        assert record.params_before == pytest.approx(before)


async def test_keys_typed_into_the_lr_field_do_not_step(make_app) -> None:
    app = make_app(initial_steps=1)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        field = app.query_one("#lr", Input)
        field.focus()
        await pilot.pause()
        field.value = ""
        for key in ("n", "space", "r", "plus", "minus", "l", "e", "q", "s", "c"):
            await pilot.press(key)
        await pilot.pause()
        assert field.value == "n r+-leqsc"
        await stays_at(app, 1)
        assert not snap(app).playing
        assert snap(app).lr == 0.1
        assert placing(app) is None
        assert not app.query_one("#loss", LossPlot).log_scale
        assert app.is_running


async def test_bad_expression_is_refused(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await focus_and_submit(pilot, app, "#expression", "__import__('os')")
        await until(app, lambda: label_text(app, "#expression-error") != "")
        assert "\n" not in label_text(app, "#expression-error")
        await stays_at(app, 2)
        assert info(app).generation == generation
        assert info(app).problem == "quadratic"


async def test_the_formula_is_compiled_in_the_worker_not_on_the_ui_thread(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import gdtui.engine

    compiled_on: list[str] = []
    real = gdtui.engine.compile_expression

    def recording(text: str, *args: Any, **kwargs: Any) -> Any:
        compiled_on.append(threading.current_thread().name)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(gdtui.engine, "compile_expression", recording)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await focus_and_submit(pilot, app, "#expression", "x**2 + y**2")
        await new_run(app, generation)
    assert compiled_on, "the formula was not compiled through gdtui.engine"
    assert threading.main_thread().name not in compiled_on


async def test_good_expression_starts_a_new_run(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        await focus_and_submit(pilot, app, "#expression", "x**2 + 10*y**2")
        await new_run(app, generation)
        assert info(app).param_names == ("x", "y")
        assert info(app).is_expression
        assert snap(app).step == 0
        assert label_text(app, "#expression-error") == ""
        await pilot.press("escape")
        await pilot.press("n")
        await at_step(app, 1)
        assert len(snap(app).record.grad) == 2


async def test_choosing_an_optimizer_starts_afresh(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        app.query_one("Controls #optimizer", Select).value = "adam"
        await new_run(app, generation)
        assert info(app).optimizer == "adam"
        assert info(app).torch_name
        assert snap(app).step == 0
        assert info(app).problem == "quadratic"
        await pilot.press("n")
        await at_step(app, 1)
        assert "adam" in app.query_one(OptimizerPanel).text


async def test_choosing_a_problem_starts_afresh(make_app) -> None:
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE):
        await settle(app)
        generation = info(app).generation
        app.query_one("#problem", Select).value = "himmelblau"
        await new_run(app, generation)
        assert info(app).problem == "himmelblau"
        assert info(app).optimizer == "sgd"
        assert snap(app).step == 0


@pytest.mark.parametrize(
    ("content", "contains"),
    [
        ("[optimizer]\nname = 'adamm'\n", "adam"),
        ("[problem\nloss = 1\n", "broken.toml"),
        ("[problem]\nloss = 'quadratic'\ncolour = 'red'\n", "colour"),
    ],
    ids=["unknown-optimizer", "bad-toml", "unknown-field"],
)
async def test_broken_scenario_file_keeps_the_run(
    make_app, tmp_path: Path, content: str, contains: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(content, encoding="utf-8")
    app = make_app(initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        app.last_notice = None
        app.open_scenario(str(path))
        message = await notice(app)
        assert contains in message
        assert "Traceback" not in message
        await stays_at(app, 2)
        assert info(app).generation == generation
        assert info(app).scenario == "seed-example"
        await pilot.press("n")
        await at_step(app, 3)


async def test_missing_scenario_file_keeps_the_run(make_app, tmp_path: Path) -> None:
    app = make_app(initial_steps=1)
    async with app.run_test(size=WIDE):
        await settle(app)
        generation = info(app).generation
        app.last_notice = None
        app.open_scenario(str(tmp_path / "absent.toml"))
        assert "no such file" in await notice(app)
        await stays_at(app, 1)
        assert info(app).generation == generation


async def test_bad_hyperparameter_keeps_the_run(make_app) -> None:
    app = make_app(overrides={"optimizer": "adam"}, initial_steps=2)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        generation = info(app).generation
        fields = list(app.query(".hyper-input").results(Input))
        assert fields, "adam shows its hyper-parameters"
        app.last_notice = None
        await focus_and_submit(pilot, app, fields[0], "oops, -3")
        message = await notice(app)
        assert message
        await stays_at(app, 2)
        assert info(app).generation == generation


# -- startup errors ---------------------------------------------------------------------------


async def _startup_failure(app: GdtuiApp) -> None:
    async with app.run_test(size=WIDE):
        deadline = asyncio.get_running_loop().time() + 30
        while app.return_code is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
    assert app.return_code == 2
    assert app.startup_error is not None
    assert "\n" not in app.startup_error
    assert "Traceback" not in app.startup_error


async def test_unknown_scenario_exits_with_code_2(make_app) -> None:
    app = make_app("nope")
    await _startup_failure(app)
    assert "nope" in app.startup_error


async def test_unknown_optimizer_exits_with_code_2(make_app) -> None:
    app = make_app(overrides={"optimizer": "adamm"})
    await _startup_failure(app)
    assert "adamm" in app.startup_error


async def test_bad_lr_override_exits_with_code_2(make_app) -> None:
    app = make_app(overrides={"lr": "abc"})
    await _startup_failure(app)
    assert "abc" in app.startup_error


# -- divergence -------------------------------------------------------------------------------


async def test_divergence_stops_and_explains(make_app) -> None:
    app = make_app("lr-too-large")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.press("space")
        await until(app, lambda: snap(app).status != "running", 20)
        s = snap(app)
        assert s.status == "diverged"
        assert not s.playing
        assert s.record is not None and math.isfinite(s.record.loss)
        status = app.query_one(StatusLine).text
        assert "diverged" in status
        assert "lower the learning rate" in status
        stopped = s.step
        app.last_notice = None
        await pilot.press("space")
        assert "press r to reset" in await notice(app)
        await stays_at(app, stopped)
        assert not snap(app).playing
        app.last_notice = None
        await pilot.press("n")
        assert "reset" in await notice(app)
        await stays_at(app, stopped)
        # Lower the rate and reset: it converges.
        generation = info(app).generation
        await pilot.press("minus")
        await until(app, lambda: snap(app).lr == pytest.approx(0.55), 30)
        await pilot.press("r")
        await new_run(app, generation)
        await pilot.press("space")
        await until(app, lambda: snap(app).status != "running", 20)
        assert snap(app).status == "converged"


# -- terminal size and layout -----------------------------------------------------------------


async def test_tiny_terminal_says_so(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(40, 10)) as pilot:
        await until(app, lambda: has_run(app), 30)
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        message = app.query_one("#too-small", Static)
        assert message.display
        text = str(message.content)
        assert "terminal too small" in text
        assert "\n" not in text
        assert not app.query_one("#main").display
        await pilot.press("n")  # keys still work
        await at_step(app, 1)
        assert snap(app).record.grad == (6.0,)


async def test_tiny_terminal_recovers_after_a_resize(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(40, 10)) as pilot:
        await until(app, lambda: has_run(app), 30)
        await pilot.press("n")
        await at_step(app, 1)
        generation = info(app).generation
        message = app.query_one("#too-small", Static)
        assert message.display

        await pilot.resize_terminal(*WIDE)
        await until(app, lambda: not app.screen.has_class("-too-small"), timeout=2)
        await pilot.pause()
        assert not message.display
        assert app.query_one("#main").display
        assert app.query_one("#controls").display
        assert info(app).generation == generation
        assert snap(app).step == 1
        assert "5.0 → 4.4" in app.query_one(OptimizerPanel).text
        await pilot.press("n")
        await at_step(app, 2, generation)


async def test_resize_to_narrow_hides_the_controls(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        assert app.query_one("#controls").display
        await pilot.resize_terminal(100, 30)
        await until(app, lambda: app.screen.has_class("-hide-controls"), timeout=2)


async def test_settled_returns_in_a_tiny_terminal(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(40, 10)):
        await until(app, lambda: has_run(app), 30)
        await settled(app, timeout=2)


async def test_layout_at_80x24(make_app) -> None:
    app = make_app("himmelblau-four-minima")
    async with app.run_test(size=SMALL) as pilot:
        await settle(app)
        await pilot.pause()
        assert app.screen.has_class("-hide-controls")
        assert not app.query_one("#controls").display
        for selector in ("#loss", "#landscape", "#panels", "#status"):
            widget = app.query_one(selector)
            assert widget.display, selector
            assert widget.size.width > 0 and widget.size.height > 0, selector
        await pilot.press("c")  # still there when asked for
        await pilot.pause()
        assert app.query_one("#controls").display


async def test_layout_at_120x40(make_app) -> None:
    app = make_app("himmelblau-four-minima")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        await pilot.pause()
        assert not app.screen.has_class("-hide-controls")
        for selector in ("#controls", "#loss", "#landscape", "#panels", "#status"):
            widget = app.query_one(selector)
            assert widget.display, selector
            assert widget.size.width > 0 and widget.size.height > 0, selector


# -- records reaching the UI ------------------------------------------------------------------


async def test_the_plot_gets_a_downsampled_view(make_app) -> None:
    app = make_app("lr-too-small", overrides={"steps": 100000})
    async with app.run_test(size=WIDE) as pilot:
        await settle(app)
        plot = app.query_one("#loss", LossPlot)
        await pilot.press("space")
        await until(app, lambda: snap(app).step > 4 * plot.size.width, 20)
        await pilot.press("space")
        await until(app, lambda: not snap(app).playing, 30)
        s = snap(app)
        assert s.step > 4 * plot.size.width
        assert 0 < len(s.view) <= plot.size.width
        assert len(s.view.loss) == len(s.view.step) == len(s.view)
        assert s.view.step[-1] == s.step
