"""Hardening of the app (issue 10): keys pressed too fast, a library bug in the palette, escape
sequences from files, tiny terminals, storms of resizes and keys, NO_COLOR, ``--ascii``, signals
and the ``--record`` file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.command import CommandPalette
from waiting import settled, wait_until

from gdtui.ui.app import GdtuiApp
from gdtui.ui.screens.open_scenario import OpenScenarioScreen

SMALL = (80, 24)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., GdtuiApp]:
    """A deterministic app that exports into (and lists .toml files of) the test's folder."""

    def build(scenario: Any = "seed-example", **kw: Any) -> GdtuiApp:
        kw.setdefault("deterministic", True)
        kw.setdefault("export_dir", tmp_path)
        return GdtuiApp(scenario=scenario, **kw)

    return build


async def until(app: GdtuiApp, predicate: Callable[[], Any], timeout: float = 30) -> None:
    """Wait until ``predicate()`` holds; fail at once if the app died."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if app.return_code is not None:
            raise AssertionError(f"the app exited (return code {app.return_code})")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.01)
    await wait_until(app, lambda: True)


async def ready(app: GdtuiApp) -> None:
    """The engine has loaded and the first run is drawn."""
    await until(app, lambda: app.catalog is not None and app.main_screen.snapshot is not None)
    await settled(app, timeout=10)


# -- 1. keys pressed faster than screens open and close ---------------------------------------


async def test_enter_twice_in_the_picker_dismisses_it_once(make_app) -> None:
    """``o`` then Enter Enter: the second Enter reaches the picker while it is closing."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await ready(app)
        await pilot.press("o")
        await until(app, lambda: isinstance(app.screen, OpenScenarioScreen))
        for _ in range(3):  # posted at once: each reaches the picker before it has closed
            app.post_message(events.Key("enter", "\r"))
        await pilot.pause()
        await until(app, lambda: not isinstance(app.screen, OpenScenarioScreen))
        assert app.return_code is None
        assert len(app.screen_stack) == 1


async def test_page_down_while_the_palette_opens_keeps_the_app(make_app) -> None:
    """ctrl+p then PageDown at once: Textual's OptionList raises KeyError; the app lives on."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await ready(app)
        for _ in range(3):
            for key in ("ctrl+p", "pagedown", "pagedown", "down", "pageup", "pagedown"):
                app.post_message(events.Key(key, None))  # all before the palette has drawn
            await pilot.pause()
            await until(app, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press("escape")
            await until(app, lambda: not isinstance(app.screen, CommandPalette))
        await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 1)
