"""``gdtui screenshot``: the app, headless, after N steps, saved as a deterministic SVG."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


async def _shoot(
    scenario: Any, steps: int, size: tuple[int, int], press: list[str], title: str
) -> str:
    from gdtui.ui.app import GdtuiApp

    app = GdtuiApp(scenario=scenario, initial_steps=steps, deterministic=True)
    async with app.run_test(size=size) as pilot:
        await app.settled(steps)
        for key in press:
            await pilot.press(key)
            await pilot.pause()
        await app.wait_until(lambda: True)
        await pilot.pause()
        if app.startup_error:
            raise ValueError(app.startup_error)
        return app.export_screenshot(title=title)


def save_screenshot(
    scenario: Any,
    steps: int,
    size: tuple[int, int],
    out: str | Path,
    press: list[str] | None = None,
) -> Path:
    """Run ``scenario`` for ``steps`` steps at ``size`` and write the screen to ``out`` (SVG)."""
    path = Path(out)
    title = f"gdtui · {getattr(scenario, 'name', scenario)}"
    svg = asyncio.run(_shoot(scenario, steps, size, list(press or []), title))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path
