"""Snapshot tests of the hardened app: a tiny terminal, ``NO_COLOR`` and ``--ascii``.

Seeded steps before the picture; toasts, cursor blink and animation off (``deterministic``).
"""

from __future__ import annotations

import pytest
from waiting import settled

from gdtui.ui.app import GdtuiApp


async def settle(pilot) -> None:
    """Wait until the run, its history view and its landscape are drawn."""
    await settled(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", [(20, 5), (40, 12)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_tiny_terminal_notice(snap_compare, size) -> None:
    """Below 60×16: one notice that says the size it needs and how to quit."""
    app = GdtuiApp(scenario="seed-example", initial_steps=1, deterministic=True)
    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_no_color(snap_compare, monkeypatch) -> None:
    """``NO_COLOR=1``: Adam on Rosenbrock in greys; the path, the minimum, the loss line and
    its band still differ by glyph."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = GdtuiApp(scenario="adam-rosenbrock", initial_steps=300, deterministic=True)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_ascii(snap_compare) -> None:
    """``--ascii``: the same screen without braille, box-drawing or block characters."""
    app = GdtuiApp(scenario="adam-rosenbrock", initial_steps=300, deterministic=True, ascii=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_ascii_no_color(snap_compare, monkeypatch) -> None:
    """``--ascii`` and ``NO_COLOR`` together (a bare serial console)."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = GdtuiApp(scenario="adam-rosenbrock", initial_steps=300, deterministic=True, ascii=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)
