"""Waiting for the app in tests: until a condition holds, or until the run is drawn.

These used to be methods of the App; only tests (and ``gdtui screenshot``, with its own
:func:`gdtui.ui.screenshot.wait_drawn`) need them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gdtui.ui.app import GdtuiApp


async def wait_until(app: GdtuiApp, predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    """Wait until ``predicate()`` holds, then redraw the main screen now."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.01)
    app.main_screen.request_redraw()
    await asyncio.sleep(0)


async def settled(app: GdtuiApp, step: int | None = None, timeout: float = 30.0) -> None:
    """Wait for the run (at ``step``, default the initial steps) and its landscape, drawn."""
    target = app.initial_steps if step is None else step
    await wait_until(app, lambda: app.main_screen.drawn(target), timeout)
