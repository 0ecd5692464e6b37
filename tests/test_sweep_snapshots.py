"""Snapshot tests of the learning-rate sweep screen at 80×24 and 120×40.

The sweep is deterministic (float64 on the CPU, fixed rates and steps: the scenario's defaults,
1e-4 to 11 in 64 rates, 200 steps each on ``lr-too-large``); no timing is shown.
"""

from __future__ import annotations

import asyncio

import pytest
from waiting import settled

from gdtui.ui.app import GdtuiApp
from gdtui.ui.screens.sweep import SweepScreen, SweepSettings

SIZES = [(80, 24), (120, 40)]


async def sweep_finished(pilot, timeout: float = 60) -> None:
    """Wait until the sweep screen shows a finished sweep (or its error), drawn."""
    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (
        isinstance(app.screen, SweepScreen) and (app.screen.result is not None or app.screen.error)
    ):
        if loop.time() > deadline:
            raise TimeoutError("the sweep did not finish")
        await asyncio.sleep(0.02)
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sweep_of_lr_too_large(snap_compare, size) -> None:
    """``w`` on lr-too-large: the edge and the bound 2/λmax at 1, a suggestion near 0.48."""

    async def run_before(pilot) -> None:
        await settled(pilot.app)
        await pilot.press("w")
        await sweep_finished(pilot)

    app = GdtuiApp("lr-too-large", deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sweep_of_the_ravine_with_momentum(snap_compare, size) -> None:
    """momentum-ravine, 0.001 to 1 in 48 rates, 300 steps: the bound (2 + 2β)/λmax = 0.19."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await settled(app)
        settings = SweepSettings(1e-3, 1.0, 48, 300)
        app.push_screen(SweepScreen(app.loop.scenario, settings, deterministic=True))
        await sweep_finished(pilot)

    app = GdtuiApp("momentum-ravine", deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sweep_of_a_model(snap_compare, size) -> None:
    """``w`` on linear-regression: 16 rates, one training run each; the rates above 2/λmax
    (λmax of the full-batch loss = 2) diverge."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await settled(app)
        settings = SweepSettings(1e-3, 3.0, 16, 100)
        app.push_screen(SweepScreen(app.loop.scenario, settings, deterministic=True))
        await sweep_finished(pilot)

    app = GdtuiApp("linear-regression", deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
