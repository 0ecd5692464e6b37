"""``gdtui screenshot``: the app, headless, after N steps, saved as a deterministic SVG."""

from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path
from typing import Any

from gdtui.safetext import visible

_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_EXTRA_KEYS = frozenset({"enter", "space", "tab", "backspace", "delete", "escape"})


def _is_key_name(key: str) -> bool:
    from textual.keys import KEY_NAME_REPLACEMENTS, Keys

    *modifiers, name = key.split("+") if len(key) > 1 else [key]
    if not name or any(m not in _MODIFIERS for m in modifiers):
        return False
    if len(name) == 1:
        return name.isprintable()
    if name in _EXTRA_KEYS or key in {k.value for k in Keys} or name in {k.value for k in Keys}:
        return True
    if name in KEY_NAME_REPLACEMENTS.values():
        return True
    try:  # Textual names a character key after its Unicode name: question_mark, full_stop
        unicodedata.lookup(name.replace("_", " "))
    except KeyError:
        return False
    return True


def unknown_key(keys: list[str]) -> str | None:
    """One line naming the first of ``keys`` that Textual does not know (None: all known).

    Keys are Textual's names: ``n``, ``space``, ``question_mark``, ``ctrl+p``, ``up``, …
    """
    for key in keys:
        if not _is_key_name(key):
            return (
                f"--press {visible(key, 60)}: not a key name "
                "(examples: n, space, question_mark, ctrl+p, up, enter)"
            )
    return None


async def wait_drawn(app: Any, step: int, timeout: float = 30.0) -> None:
    """Wait until the main screen shows the run at ``step``, drawn at its size, then draw it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not app.main_screen.drawn(step):
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await asyncio.sleep(0.01)
    app.main_screen.request_redraw()
    await asyncio.sleep(0)


async def _shoot(
    scenario: Any, steps: int, size: tuple[int, int], press: list[str], title: str, ascii: bool
) -> str:
    from gdtui.ui.app import GdtuiApp

    app = GdtuiApp(scenario=scenario, initial_steps=steps, deterministic=True, ascii=ascii)
    async with app.run_test(size=size) as pilot:
        await wait_drawn(app, steps)
        for key in press:
            await pilot.press(key)
            await pilot.pause()
        app.main_screen.request_redraw()
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
    *,
    ascii: bool = False,
) -> Path:
    """Run ``scenario`` for ``steps`` steps at ``size`` and write the screen to ``out`` (SVG).

    ``ascii``: as ``gdtui launch --ascii`` draws it (no braille, box or block characters).

    Raises:
        ValueError: a key of ``press`` is not a key name (see :func:`unknown_key`).
    """
    problem = unknown_key(list(press or []))
    if problem is not None:
        raise ValueError(problem)
    path = Path(out)
    title = f"gdtui · {getattr(scenario, 'name', scenario)}"
    svg = asyncio.run(_shoot(scenario, steps, size, list(press or []), title, ascii))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path


async def _shoot_attach(record: Path, size: tuple[int, int], press: list[str], title: str) -> str:
    from gdtui.ui.app import GdtuiApp

    app = GdtuiApp(attach=record, deterministic=True)
    async with app.run_test(size=size) as pilot:
        screen = app.attach_screen
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while screen.followed is None or (screen.followed.end is None and not screen.problem):
            if loop.time() > deadline:
                raise TimeoutError(f"{record} was not read to its end")
            await asyncio.sleep(0.01)
        for key in press:
            await pilot.press(key)
            await pilot.pause()
        screen.redraw()
        await pilot.pause()
        return app.export_screenshot(title=title)


def save_attach_screenshot(
    record: str | Path, size: tuple[int, int], out: str | Path, press: list[str] | None = None
) -> Path:
    """``gdtui attach`` on a finished record file at ``size``, written to ``out`` (SVG).

    The file must have ended (its end line read), so that no clock is in the picture.
    """
    path = Path(out)
    svg = asyncio.run(
        _shoot_attach(Path(record), size, list(press or []), f"gdtui attach {Path(record).name}")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg, encoding="utf-8")
    return path
