"""Hardening of the app (issue 10): keys pressed too fast, a library bug in the palette, escape
sequences from files, tiny terminals, storms of resizes and keys, NO_COLOR, ``--ascii``, signals
and the ``--record`` file.
"""

from __future__ import annotations

import asyncio
import json
import random
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


# -- 2. signals: the terminal restored, the exit code says which ------------------------------


def launch_in_pty(args: list[str], env: dict[str, str] | None = None, size=(100, 30)):
    """Start ``python ARGS`` (e.g. ``-m gdtui launch``) in a pseudo-terminal; return (pid, fd)."""
    import fcntl
    import os
    import pty
    import struct
    import sys
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of its own
        os.environ.update(
            {"TERM": "xterm-256color", "COLUMNS": str(size[0]), "LINES": str(size[1])}
        )
        os.environ.pop("NO_COLOR", None)
        os.environ.update(env or {})
        os.execv(sys.executable, [sys.executable, *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    return pid, fd


def read_pty(fd: int, until: Callable[[bytes], bool], seen: bytearray, timeout: float) -> bool:
    """Append what the program writes to ``seen`` until ``until(seen)`` or EOF or timeout."""
    import os
    import select
    import time

    deadline = time.monotonic() + timeout
    while not until(bytes(seen)):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready_fds, _, _ = select.select([fd], [], [], min(left, 0.1))
        if ready_fds:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child has gone and closed the terminal
                return until(bytes(seen))
            if not chunk:
                return until(bytes(seen))
            seen.extend(chunk)
    return True


def wait_exit(pid: int, timeout: float = 20) -> int:
    """The child's exit code (it is killed after ``timeout`` seconds)."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the app did not exit after the signal")


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_restores_the_terminal_and_sets_the_exit_code(tmp_path, signame) -> None:
    """kill -TERM / -HUP / -INT on ``gdtui launch``: the alternate screen is left, mouse reporting
    is off, the cursor is shown, and the exit code is 128 + the signal (130 for SIGINT)."""
    import os
    import signal

    sig = getattr(signal, signame)
    pid, fd = launch_in_pty(
        ["-m", "gdtui", "launch", "seed-example", "--log", str(tmp_path / "log")]
    )
    seen = bytearray()
    try:
        # The status line shows the loaded run: the app is mounted and torch has loaded.
        assert read_pty(fd, lambda b: b"step 0/200" in b, seen, 60), bytes(seen[-400:])
        assert read_pty(fd, lambda b: False, seen, 1.0) is False  # let it settle
        assert b"\x1b[?1049h" in seen and b"\x1b[?1000h" in seen  # it did take the terminal
        os.kill(pid, sig)
        read_pty(fd, lambda b: False, seen, 15)  # to EOF
        code = wait_exit(pid)
    finally:
        os.close(fd)
    tail = bytes(seen[seen.rfind(b"\x1b[?1049h") :])
    assert b"\x1b[?1049l" in tail, tail[-400:]
    assert tail.rfind(b"\x1b[?1000l") > tail.rfind(b"\x1b[?1000h"), tail[-400:]
    assert tail.rfind(b"\x1b[?25h") > tail.rfind(b"\x1b[?25l"), tail[-400:]
    assert code == 128 + int(sig)


class _Tty:
    """A stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty_in", "tty_out", "term", "refused_with"),
    [
        (True, True, "xterm-256color", None),
        (True, True, "dumb", "TERM=dumb"),
        (True, True, "", "TERM is not set"),
        (True, True, None, "TERM is not set"),
        (False, True, "xterm", "needs a terminal (stdin and stdout)"),
        (True, False, "xterm", "needs a terminal (stdin and stdout)"),
    ],
)
def test_check_terminal(tty_in, tty_out, term, refused_with) -> None:
    """TERM=dumb, no TERM or no terminal: one line that points at ``gdtui run``."""
    from gdtui.ui.terminal import check_terminal

    env = {} if term is None else {"TERM": term}
    line = check_terminal(_Tty(tty_in), _Tty(tty_out), env)
    if refused_with is None:
        assert line is None
    else:
        assert line is not None and refused_with in line and "gdtui run" in line
        assert "\n" not in line


def test_check_terminal_accepts_textual_serve() -> None:
    """A process driven by ``gdtui serve`` has pipes, not a terminal, and is accepted."""
    from gdtui.serve import _WEB_DRIVER
    from gdtui.ui.terminal import check_terminal

    assert check_terminal(_Tty(False), _Tty(False), {"TEXTUAL_DRIVER": _WEB_DRIVER}) is None


def test_check_terminal_imports_neither_torch_nor_textual() -> None:
    """The CLI calls it before anything heavy loads."""
    import subprocess
    import sys

    code = (
        "import sys, gdtui.ui.terminal; "
        "print(sorted(m for m in ('torch', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- 5. --record: every step, as it happens ---------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file, each one asserted to be complete JSON."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a half-written last line"
    return [json.loads(line) for line in text.splitlines()]


def cli_jsonl(capsys, scenario: str) -> list[dict]:
    """What ``gdtui run SCENARIO --format jsonl`` prints, parsed."""
    from gdtui.cli import main

    capsys.readouterr()
    assert main(["run", scenario, "--format", "jsonl"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("scenario", ["seed-example", "lr-too-large"])
def test_step_recorder_writes_what_gdtui_run_prints(tmp_path, capsys, scenario) -> None:
    """A Run stepped to its end through the recorder: the file is ``gdtui run --format jsonl``
    line for line, the last (diverged) status and reason included."""
    from gdtui.scenario import load_scenario
    from gdtui.ui.recorder import RecordAppender, StepRecorder

    path = tmp_path / "rec.jsonl"
    recorder = StepRecorder(RecordAppender(path))
    run = load_scenario(scenario).build_run()
    recorder.attach(run)
    for _ in run.steps():
        pass
    recorder.close()
    expected = cli_jsonl(capsys, scenario)
    assert len(expected) > 10
    assert read_jsonl(path) == expected


def test_appender_writes_within_the_flush_interval(tmp_path) -> None:
    """Lines reach the file within the interval, without a close, and are whole."""
    import time

    from gdtui.ui.recorder import RecordAppender

    path = tmp_path / "rec.jsonl"
    appender = RecordAppender(path, flush_interval=0.2)
    try:
        for step in range(1, 4):
            appender.write({"step": step})
        assert path.read_bytes() == b""  # kept in memory until the flush thread writes
        deadline = time.monotonic() + 0.5
        while path.read_bytes().count(b"\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert read_jsonl(path) == [{"step": 1}, {"step": 2}, {"step": 3}]
    finally:
        appender.close()
    appender.write({"step": 4})  # after close: dropped, no error
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}, {"step": 3}]


def test_appender_appends_and_keeps_lines_whole_across_threads(tmp_path) -> None:
    """Eight threads × 2000 lines into a file that already holds one: every line whole, in
    each thread's order."""
    import threading

    from gdtui.ui.recorder import RecordAppender

    path = tmp_path / "rec.jsonl"
    path.write_text('{"before": true}\n')
    appender = RecordAppender(path, flush_interval=0.01)

    def writer(k: int) -> None:
        for i in range(2000):
            appender.write({"thread": k, "i": i, "pad": "x" * (i % 50)})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    appender.close()
    rows = read_jsonl(path)
    assert rows[0] == {"before": True}
    assert len(rows) == 1 + 8 * 2000
    for k in range(8):
        assert [r["i"] for r in rows[1:] if r["thread"] == k] == list(range(2000))


def test_appender_refuses_a_folder_and_reports_a_full_disk(tmp_path) -> None:
    """A folder or a missing folder: RecordError (one line); a full disk: one line, once."""
    from gdtui.ui.recorder import RecordAppender, RecordError

    with pytest.raises(RecordError, match="is a folder"):
        RecordAppender(tmp_path)
    with pytest.raises(RecordError, match="No such file"):
        RecordAppender(tmp_path / "missing" / "rec.jsonl")
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    errors: list[str] = []
    appender = RecordAppender("/dev/full", on_error=errors.append)
    appender.write({"step": 1})
    appender.flush()
    appender.write({"step": 2})
    appender.close()
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert "\n" not in errors[0]
    assert appender.error == errors[0]


RECORDING_APP = """
import sys
from gdtui.ui.app import GdtuiApp
from gdtui.ui.recorder import RecordAppender

app = GdtuiApp("adam-rosenbrock", {"steps": 100000}, autostart=True, speed=100.0,
               record=RecordAppender(sys.argv[1]))
app.run()
sys.exit(app.return_code or 0)
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_leaves_a_record_file_with_every_completed_step(tmp_path, signame) -> None:
    """The app records at 100 steps/s; kill it: the file holds steps 1…N, whole lines, the same
    records a plain Run computes, and N is at least the step the screen last showed."""
    import os
    import re
    import signal

    from gdtui.scenario import resolve_scenario

    sig = getattr(signal, signame)
    path = tmp_path / "rec.jsonl"
    path.write_text("")
    pid, fd = launch_in_pty(["-c", RECORDING_APP, str(path)])
    seen = bytearray()
    try:
        assert read_pty(fd, lambda b: re.search(rb"step [1-9]\d\d+/", b), seen, 60), bytes(
            seen[-300:]
        )
        shown = max(int(m) for m in re.findall(rb"step (\d+)/", bytes(seen)))
        os.kill(pid, sig)
        read_pty(fd, lambda b: False, seen, 15)
        code = wait_exit(pid)
    finally:
        os.close(fd)
    assert code == 128 + int(sig)
    rows = read_jsonl(path)
    assert len(rows) >= shown >= 100
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))
    run = resolve_scenario("adam-rosenbrock", {"steps": 100000}).build_run()
    names = run.param_names
    for row in rows:
        assert row == run.step().to_dict(names)


# -- 4. terminals: tiny, resized, hammered, NO_COLOR, --ascii ---------------------------------


def outside_ascii_glyphs(text: str) -> set[str]:
    """The braille, box-drawing, block and shape characters in ``text``."""
    return {
        ch
        for ch in text
        if 0x2500 <= ord(ch) <= 0x25FF or 0x2800 <= ord(ch) <= 0x28FF or ord(ch) >= 0x1FB00
    }


async def test_ascii_draws_no_braille_box_or_block_characters(make_app) -> None:
    """``--ascii``: Rosenbrock after 300 steps (bands, path, shading, borders), the help and
    the picker, in plain characters; without it the same screen uses them."""
    for flag in (False, True):
        app = make_app("adam-rosenbrock", initial_steps=300, ascii=flag)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(app)
            texts = [screen_text(app)]
            for key in ("question_mark", "escape", "o", "escape", "ctrl+p"):
                await pilot.press(key)
                await pilot.pause()
                texts.append(screen_text(app))
            glyphs = outside_ascii_glyphs("".join(texts))
            if flag:
                assert glyphs == set(), glyphs
                assert "+" in texts[0] and "|" in texts[0]  # the borders are still drawn
            else:
                assert {"─", "╭"} <= glyphs and any(0x2800 < ord(g) < 0x2900 for g in glyphs)


@pytest.mark.parametrize("size", [(20, 5), (1, 1), (59, 40), (200, 15)])
async def test_a_tiny_terminal_shows_the_notice(make_app, size) -> None:
    """Below 60×16 the panels give way to one notice; the app keeps running and steps."""
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await ready(app)
        assert app.main_screen.has_class("-too-small")
        if size[0] * size[1] >= 100:
            assert "too small" in screen_text(app).replace("\n", " ")
        await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 1)
        for key in ("question_mark", "escape", "o", "escape", "ctrl+p", "escape"):
            await pilot.press(key)  # the modals open and close at this size too
        await until(app, lambda: len(app.screen_stack) == 1)
        await pilot.resize_terminal(100, 30)
        await until(app, lambda: not app.main_screen.has_class("-too-small"))
        await until(app, lambda: "step 1/200" in screen_text(app))


async def test_a_storm_of_resizes_leaves_a_correct_layout(make_app) -> None:
    """60 random sizes from 1×1 to 220×70, then 100×30: the full layout, and ``n`` steps."""
    rng = random.Random(10)
    app = make_app("adam-rosenbrock")
    async with app.run_test(size=SMALL) as pilot:
        await ready(app)
        for _ in range(60):
            await pilot.resize_terminal(rng.randint(1, 220), rng.randint(1, 70))
            if rng.random() < 0.3:
                await pilot.pause()
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.return_code is None
        await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 1)
        await until(app, lambda: "step 1/" in screen_text(app))
        main = app.main_screen
        assert not main.has_class("-too-small")
        landscape = main.query_one("#landscape")
        assert landscape.size.width > 10 and landscape.size.height > 5
        assert main.query_one("#loss").size.width > 10


STORM_KEYS = [
    *"nrlfscgbo",
    "space",
    "plus",
    "minus",
    "escape",
    "enter",
    "up",
    "down",
    "left",
    "right",
    "tab",
    "shift+tab",
    "question_mark",
    "ctrl+p",
    "pagedown",
    "pageup",
    "backspace",
    "e",
    "ctrl+s",
    *"0123456789.x",
]


async def test_a_storm_of_random_keys_leaves_a_responsive_app(make_app) -> None:
    """400 seeded keys from the app's bindings (and some typing), without waiting between them:
    the app survives, closes its modals on esc, and then opens a scenario and steps."""
    rng = random.Random(7)
    app = make_app("adam-rosenbrock")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app)
        for i in range(400):
            app.post_message(events.Key(rng.choice(STORM_KEYS), None))
            if i % 25 == 0:
                await pilot.pause()
        await pilot.pause()
        for _ in range(6):
            await pilot.press("escape")
        await until(app, lambda: len(app.screen_stack) == 1)
        assert app.return_code is None
        generation = app.main_screen.info.generation
        app.open_scenario("seed-example")
        await until(app, lambda: app.main_screen.info.generation > generation)
        await until(  # the snapshot is None between RunStarted and the first Progress
            app,
            lambda: (
                (shot := app.main_screen.snapshot) is not None
                and shot.generation == app.main_screen.info.generation
            ),
        )
        app.set_focus(None)
        await pilot.press("n")
        await until(app, lambda: app.main_screen.snapshot.step == 1)
        await until(app, lambda: "step 1/200" in screen_text(app))


async def test_no_color_draws_in_greys_only(make_app, monkeypatch) -> None:
    """``NO_COLOR``: every colour on the screen (plots, shading, panels) is a grey."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app("adam-rosenbrock", initial_steps=300)
    async with app.run_test(size=(120, 40)):
        await ready(app)
        colours = set()
        for strip in app.screen._compositor.render_strips():
            for segment in strip:
                style = segment.style
                for colour in (style.color, style.bgcolor) if style else ():
                    if colour is not None and colour.triplet is not None:
                        colours.add(tuple(colour.triplet))
        assert len(colours) > 3  # the shading is still there, in shades of grey
        assert all(r == g == b for r, g, b in colours), sorted(colours)[:5]


@pytest.mark.parametrize("key", ["n", "space", "question_mark", "ctrl+p", "shift+tab", "+", "f1"])
def test_screenshot_press_accepts_key_names(key) -> None:
    """Textual's key names pass."""
    from gdtui.ui.screenshot import unknown_key

    assert unknown_key(["n", key]) is None


@pytest.mark.parametrize("key", ["frobnicate", "ctrl+frob", "foo+n", "", "\x1b[2J"])
def test_screenshot_press_refuses_unknown_keys(key, tmp_path) -> None:
    """``screenshot --press frobnicate``: one line, before the app starts."""
    from gdtui.ui.screenshot import save_screenshot, unknown_key

    line = unknown_key(["n", key])
    assert line is not None and line.startswith("--press ") and "not a key name" in line
    assert no_controls(line)
    with pytest.raises(ValueError, match="not a key name"):
        save_screenshot("seed-example", 0, (80, 24), tmp_path / "x.svg", press=[key])
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.parametrize("modal_key", ["o", "question_mark", "ctrl+p"])
async def test_resizes_with_a_modal_open(make_app, modal_key) -> None:
    """The picker, the help and the palette through 20 random sizes down to 1×1 (the picker's
    list once crashed on a width of 0), then closed: the app steps."""
    rng = random.Random(3)
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await ready(app)
        await pilot.press(modal_key)
        await until(app, lambda: len(app.screen_stack) == 2)
        for size in [(1, 1), (2, 2), (5, 3)] + [
            (rng.randint(1, 150), rng.randint(1, 50)) for _ in range(17)
        ]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        await pilot.resize_terminal(100, 30)
        await pilot.press("escape")
        await until(app, lambda: len(app.screen_stack) == 1)
        await pilot.press("n")
        await until(app, lambda: "step 1/200" in screen_text(app))


def test_screenshot_ascii(tmp_path) -> None:
    """``save_screenshot(..., ascii=True)``: the SVG holds no box-drawing or braille glyph."""
    from gdtui.ui.screenshot import save_screenshot

    plain = save_screenshot("adam-rosenbrock", 50, (80, 24), tmp_path / "plain.svg")
    ascii_svg = save_screenshot("adam-rosenbrock", 50, (80, 24), tmp_path / "a.svg", ascii=True)
    assert outside_ascii_glyphs(plain.read_text(encoding="utf-8"))
    assert outside_ascii_glyphs(ascii_svg.read_text(encoding="utf-8")) == set()


def test_a_dropped_terminal_leaves_a_record_file_with_every_completed_step(tmp_path) -> None:
    """The terminal goes away (an SSH link drops: the kernel sends SIGHUP and writes fail):
    the app exits 129 and the file holds every step up to the last, whole lines."""
    import os
    import re

    path = tmp_path / "rec.jsonl"
    pid, fd = launch_in_pty(["-c", RECORDING_APP, str(path)])
    seen = bytearray()
    try:
        assert read_pty(fd, lambda b: re.search(rb"step [1-9]\d\d+/", b), seen, 60)
    finally:
        os.close(fd)  # the session's controlling terminal hangs up
    code = wait_exit(pid)
    assert code == 129
    rows = read_jsonl(path)
    assert len(rows) >= 100
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))


# -- the CLI wiring (append to tests/test_app_hardening.py once ui-harden-cli.patch is in) -----


@pytest.mark.parametrize("term", ["dumb", ""])
def test_launch_refuses_a_dumb_terminal(tmp_path, term) -> None:
    """``TERM=dumb gdtui launch`` in a real terminal: exit 2, one line pointing at gdtui run,
    and the alternate screen never entered."""
    pid, fd = launch_in_pty(["-m", "gdtui", "launch", "seed-example"], env={"TERM": term})
    seen = bytearray()
    try:
        read_pty(fd, lambda b: False, seen, 20)
        code = wait_exit(pid)
    finally:
        import os

        os.close(fd)
    text = bytes(seen).decode()
    assert code == 2
    assert "\x1b[?1049h" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "gdtui run" in lines[0] and "full-screen terminal" in lines[0]


def test_launch_record_then_sigterm(tmp_path) -> None:
    """``gdtui launch --record F`` killed with SIGTERM: exit 143, "interrupted" on the terminal,
    and F holds steps 1…N of the run, the same records as ``gdtui run``."""
    import os
    import re
    import signal

    from gdtui.scenario import resolve_scenario

    path = tmp_path / "rec.jsonl"
    args = ["-m", "gdtui", "launch", "adam-rosenbrock", "--steps", "100000", "--record", str(path)]
    pid, fd = launch_in_pty(args)
    seen = bytearray()
    try:
        assert read_pty(fd, lambda b: b"step 0/" in b, seen, 60), bytes(seen[-300:])
        os.write(fd, b" ")  # run
        assert read_pty(fd, lambda b: re.search(rb"step [1-9]\d\d+/", b), seen, 60)
        os.kill(pid, signal.SIGTERM)
        read_pty(fd, lambda b: False, seen, 15)
        code = wait_exit(pid)
    finally:
        os.close(fd)
    assert code == 143
    assert b"gdtui: interrupted (SIGTERM)" in seen
    rows = read_jsonl(path)
    assert len(rows) >= 100
    assert [r["step"] for r in rows] == list(range(1, len(rows) + 1))
    run = resolve_scenario("adam-rosenbrock", {"steps": 100000}).build_run()
    for row in rows[:200]:
        assert row == run.step().to_dict(run.param_names)


def test_launch_record_refuses_a_folder(tmp_path) -> None:
    """``--record FOLDER``: exit 2 and one line, before the app takes the terminal."""
    import os

    pid, fd = launch_in_pty(["-m", "gdtui", "launch", "seed-example", "--record", str(tmp_path)])
    seen = bytearray()
    try:
        read_pty(fd, lambda b: False, seen, 20)
        code = wait_exit(pid)
    finally:
        os.close(fd)
    text = bytes(seen).decode()
    assert code == 2 and "\x1b[?1049h" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "--record" in lines[0] and "is a folder" in lines[0]


def test_screenshot_refuses_an_unknown_key(tmp_path, capsys) -> None:
    """``gdtui screenshot --press frobnicate``: exit 2, one line."""
    from gdtui.cli import main

    code = main(
        ["screenshot", "seed-example", "--out", str(tmp_path / "x.svg"), "--press", "frobnicate"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--press 'frobnicate' is not a key" in err
