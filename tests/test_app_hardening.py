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


# -- 3. text from files never reaches the terminal raw ----------------------------------------

TITLE_ESCAPE = "\x1b]0;x\x07"  # retitles the terminal
CLEAR_ESCAPE = "\x1b[2J"  # clears the screen


def no_controls(text: str) -> bool:
    """No C0 control character but the ones a screen is built of (none here: not even \\n)."""
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def screen_text(app: GdtuiApp) -> str:
    """Every character on the screen, row by row (what the terminal would be sent as text)."""
    return "\n".join(
        "".join(segment.text for segment in strip)
        for strip in app.screen._compositor.render_strips()
    )


async def test_picker_shows_file_names_with_escapes_made_visible(make_app, tmp_path) -> None:
    """A .toml named with ESC ] 0 ; x BEL and a newline: one line, the escapes shown as text."""
    source = (Path(__file__).parent.parent / "scenarios" / "seed-example.toml").read_text()
    (tmp_path / f"evil{TITLE_ESCAPE}\nname.toml").write_text(source)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(app)
        await pilot.press("o")
        await until(app, lambda: isinstance(app.screen, OpenScenarioScreen))
        await pilot.pause()
        text = screen_text(app)
        rows = [row for row in text.splitlines() if "evil" in row]
        assert len(rows) == 1, text
        assert "evil\\x1b]0;x\\x07\\nname.toml" in rows[0]
        assert all(no_controls(row) for row in text.splitlines())


async def test_help_shows_a_description_with_escapes_made_visible(make_app, tmp_path) -> None:
    """A scenario whose description holds ESC [ 2 J: the help screen shows ``\\x1b[2J``."""
    source = (Path(__file__).parent.parent / "scenarios" / "seed-example.toml").read_text()
    path = tmp_path / "clear.toml"
    path.write_text(
        source.replace('title = "', 'title = "T\\u001b]0;x\\u0007 ', 1).replace(
            'description = """\n', 'description = """\nbefore \\u001b[2J after ', 1
        )
    )
    app = make_app(str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app)
        assert CLEAR_ESCAPE in app.main_screen.info.description  # the file's text, raw
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        assert "before \\x1b[2J after" in text
        assert "T\\x1b]0;x\\x07" in text
        assert all(no_controls(row) for row in text.splitlines())


async def test_error_notices_show_escapes_made_visible(make_app) -> None:
    """An unknown scenario name holding escapes and a newline: the notice is one visible line."""
    app = make_app()
    async with app.run_test(size=SMALL):
        await ready(app)
        app.last_notice = None
        app.open_scenario(f"no{TITLE_ESCAPE}such{CLEAR_ESCAPE}\nscenario")
        await until(app, lambda: app.last_notice is not None)
        notice = app.last_notice
        assert "no\\x1b]0;x\\x07such\\x1b[2J\\nscenario" in notice, notice
        assert no_controls(notice)


def test_notice_text_is_cut(make_app) -> None:
    """A 1 MB name in an error line is cut to a few hundred characters that say how long it was."""
    app = make_app()
    app.notify_line("x" * 1_000_000, "error")
    assert app.last_notice is not None
    assert len(app.last_notice) < 500
    assert app.last_notice.endswith("(1000000 characters)")
