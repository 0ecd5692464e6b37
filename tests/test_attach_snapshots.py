"""Snapshot tests of ``gdtui attach`` at 80×24 and 120×40 (pytest-textual-snapshot).

The file is the fixed record fixture ``tests/data/attach_run.jsonl`` (a seeded run under
gdtui.watch with fixed times, see ``tests/data/make_attach_fixture.py``); it has ended, so no
clock is in the picture ("no new step for N s" is never shown for a finished run).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gdtui.ui.app import GdtuiApp

FIXTURE = Path(__file__).parent / "data" / "attach_run.jsonl"
SIZES = [(80, 24), (120, 40)]


def make() -> GdtuiApp:
    """The app as ``launch_attach`` builds it, with toasts, blink and animation off."""
    return GdtuiApp(attach=FIXTURE, deterministic=True, clock=lambda: 1_700_000_000.0)


async def read_to_the_end(pilot) -> None:
    """Wait until the whole file is read and drawn."""
    deadline = time.monotonic() + 30
    screen = pilot.app.attach_screen
    while screen.followed is None or screen.followed.end is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the record file was not read")
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_attach_finished_run(snap_compare, size) -> None:
    """Loss curve, the first layer's curves, the per-layer table and the end notice."""
    assert snap_compare(make(), terminal_size=size, run_before=read_to_the_end)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_attach_layer_chosen(snap_compare, size) -> None:
    """After ↓ ↓ from hidden.weight: out.weight's ‖Δ‖/‖θ‖ and ‖∇‖ over the run."""

    async def choose(pilot) -> None:
        await read_to_the_end(pilot)
        await pilot.press("down", "down")
        await pilot.pause()

    assert snap_compare(make(), terminal_size=size, run_before=choose)
