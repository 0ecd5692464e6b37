"""A bug in the descent worker: a one-line toast for the user, the traceback in the log."""

from __future__ import annotations

from pathlib import Path

import pytest
from waiting import settled, wait_until

from gdtui.ui import partial_update
from gdtui.ui.app import GdtuiApp
from gdtui.ui.descent import DescentLoop

WIDE = (120, 40)


def boom(self: DescentLoop, count: int) -> None:
    raise RuntimeError("injected failure\nsecond line of it")


async def test_a_bug_is_a_toast_and_a_logged_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "gdtui.log"
    app = GdtuiApp("seed-example", export_dir=tmp_path, log_path=log)  # toasts on
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(app, lambda: app.main_screen.snapshot is not None)
        await settled(app)
        monkeypatch.setattr(DescentLoop, "_step", boom)
        await pilot.press("n")
        await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        line = f"Step failed: RuntimeError: injected failure (traceback in {log})"
        assert app.last_notice == line
        toasts = [(n.message, n.severity) for n in app._notifications]
        assert (line, "error") in toasts
        text = log.read_text(encoding="utf-8")
        assert "Step failed: RuntimeError: injected failure" in text
        assert "Traceback (most recent call last)" in text
        assert "in boom" in text and "second line of it" in text
        # The app and the run go on.
        assert app.return_code is None and app.internal_error is None
        monkeypatch.undo()
        await pilot.press("n")
        await wait_until(app, lambda: app.main_screen.snapshot.step == 1, timeout=10)


async def test_a_bug_at_startup_exits_1_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: DescentLoop, scenario: object) -> None:
        raise KeyError("no such thing")

    monkeypatch.setattr(DescentLoop, "_new_run", broken)
    log = tmp_path / "gdtui.log"
    app = GdtuiApp("seed-example", deterministic=True, log_path=log)
    async with app.run_test(size=WIDE):
        await wait_until(app, lambda: app.return_code is not None, timeout=30)
    assert app.return_code == 1
    assert app.startup_error is None
    assert app.internal_error == "gdtui could not start: KeyError: 'no such thing'"
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in broken" in text


async def test_without_a_log_file_the_toast_names_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    app = GdtuiApp("seed-example", deterministic=True)
    async with app.run_test(size=WIDE) as pilot:
        await settled(app)
        monkeypatch.setattr(DescentLoop, "_step", boom)
        await pilot.press("n")
        await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        assert app.last_notice == "Step failed: RuntimeError: injected failure"


async def test_the_app_logs_when_the_textual_patch_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partial_update, "PATCHED_VERSION", "0.0.0")
    log = tmp_path / "gdtui.log"
    app = GdtuiApp("seed-example", deterministic=True, log_path=log)
    async with app.run_test(size=WIDE):
        await settled(app)
    assert "partial-update patch is off" in log.read_text(encoding="utf-8")
