"""Snapshot tests of the race screen (pytest-textual-snapshot), at 80×24 and 120×40.

Each race takes a fixed number of seeded rounds before the picture; toasts, cursor blink and
animation are off (``deterministic=True``), and no timing is shown.
"""

from __future__ import annotations

import asyncio

import pytest

from gdtui.scenario import builtin_dir
from gdtui.ui.app import GdtuiApp
from gdtui.ui.screens.race import RaceScreen
from gdtui.ui.widgets.race_paths import RacePaths

SIZES = [(80, 24), (120, 40)]


async def until(predicate, timeout: float = 60.0) -> None:
    """Wait until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the race was not drawn")
        await asyncio.sleep(0.01)


def race_before(name: str, steps: int):
    """Open the built-in race ``name`` (its file) after ``steps`` rounds; wait until drawn."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until(lambda: app.main_screen.snapshot is not None)
        screen = RaceScreen(builtin_dir() / f"{name}.toml", initial_steps=steps, deterministic=True)
        await app.push_screen(screen)
        await settle(pilot, screen, steps)

    return run_before


async def settle(pilot, screen: RaceScreen, steps: int) -> None:
    """Draw until a redraw changes nothing: the first picture sets the table's height, which
    moves the paths widget, whose landscape is then sampled again at its new size (a picture
    taken between the two showed the old grid: CI failed 1 run in ~50)."""
    paths = screen.query_one(RacePaths)
    for _ in range(10):
        await until(lambda: screen.drawn(steps))
        grid = paths.grid_size()
        screen.request_redraw()
        await pilot.pause()
        if paths.grid_size() == grid and screen.drawn(steps):
            return
    raise TimeoutError("the race screen did not settle")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_adam_vs_sgd_on_rosenbrock(snap_compare, size) -> None:
    """Four runs after 300 rounds: Adam ahead, SGD 0.004 diverged, the table says so."""
    app = GdtuiApp("seed-example", deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=race_before("adam-vs-sgd", 300))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_momentum_vs_plain_in_the_ravine(snap_compare, size) -> None:
    """The ravine after 60 rounds: plain SGD zig-zags, momentum rolls through."""
    app = GdtuiApp("seed-example", deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=race_before("momentum-vs-plain", 60))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_adding_a_contender_with_a_bad_rate(snap_compare, size) -> None:
    """The add form with ``-1`` typed as the rate: the reason under it, the race unchanged."""

    async def run_before(pilot) -> None:
        await race_before("adam-vs-sgd", 20)(pilot)
        screen = pilot.app.screen
        await pilot.press("a", "minus", "1")
        await until(lambda: screen.add_error != "")
        await settle(pilot, screen, 20)  # the form took rows: the map is sampled again

    app = GdtuiApp("seed-example", deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
