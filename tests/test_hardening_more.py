"""Hardening, the rest of issue 10: CSV data and record files read like scenario files (no FIFO
hang, no device read, one line), a FIFO scenario at launch and in the picker, device faults during
a run (CUDA out of memory, a device-side assert), and escape sequences from files on every surface
that shows them.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from waiting import settled, wait_until

from gdtui import cli, files
from gdtui.engine import data as data_module
from gdtui.engine.data import DataError, load_data
from gdtui.engine.run import Run
from gdtui.faults import device_fault
from gdtui.recordfile import RecordFile, RecordFileError, follow, format_attach, read_records
from gdtui.scenario import Scenario, ScenarioError
from gdtui.ui.app import GdtuiApp
from gdtui.ui.descent import _load
from gdtui.ui.screens.open_scenario import OpenScenarioScreen

ROOT = Path(__file__).parent.parent
SEED = (ROOT / "scenarios" / "seed-example.toml").read_text(encoding="utf-8")
PWNED = "\x1b]0;pwned\x07"
PWNED_SHOWN = "\\x1b]0;pwned\\x07"
WIDE = (120, 40)


def has_controls(text: str) -> bool:
    """Any C0 control (ESC, BEL, a newline) or DEL in ``text``."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def in_thread(fn: Callable[[], Any], timeout: float = 5.0) -> dict[str, Any]:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the tests) if it blocks."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # the test looks at it
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked (a FIFO opened for reading waits for a writer)"
    return box


def unblock(fifo: Path) -> None:
    """Open ``fifo`` for writing and close it: a reader stuck opening it gets end-of-file."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as err:
        assert err.errno == errno.ENXIO  # nobody is reading it: nothing to unblock
    time.sleep(0.2)


def gdtui(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. CSV data: read through gdtui.files ----------------------------------------------------


def csv_error(path: Path | str, target: str = "y", task: str = "regression") -> str:
    box = in_thread(lambda: load_data({"path": str(path), "target": target}, task=task))
    assert "error" in box, f"accepted: {box.get('value')}"
    err = box["error"]
    assert isinstance(err, DataError), repr(err)
    assert "\n" not in str(err)
    return str(err)


def test_csv_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    assert csv_error(fifo) == f"{fifo}: is a named pipe (FIFO), not a CSV file"


def test_csv_device_is_not_read() -> None:
    assert csv_error("/dev/zero") == "/dev/zero: is a device, not a CSV file"


def test_csv_folder_and_symlink_loop(tmp_path: Path) -> None:
    folder = tmp_path / "d.csv"
    folder.mkdir()
    assert csv_error(folder) == f"{folder}: is a folder, not a CSV file"
    loop = tmp_path / "loop.csv"
    os.symlink(loop, loop)
    assert csv_error(loop) == f"{loop}: symlink loop"


def test_csv_data_cap_is_64_mib_and_a_bigger_file_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert files.MAX_DATA_BYTES == 64 * 1024 * 1024
    path = tmp_path / "big.csv"
    path.write_text("a,y\n" + "1,2\n" * 300)
    monkeypatch.setattr(data_module, "MAX_DATA_BYTES", 1024)
    assert csv_error(path) == (f"{path}: CSV file is too large (1.2 KiB; at most 1.0 KiB)")


def test_csv_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n1,2\ncaf\xe9,3\n")
    assert csv_error(path) == (
        f"{path}: not a UTF-8 text CSV file: byte 0xe9 at line 3, column 4 (byte offset 11)"
    )


def test_csv_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """The BOM is not part of the first column's name: target 'y' is found."""
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbfy,a\n1,2\n3,4\n5,7\n")
    data = load_data({"path": str(path), "target": "y", "validation": 0.0}, task="regression")
    assert data.feature_names == ("a",)
    assert sorted(data.y_train.tolist()) == [1.0, 3.0, 5.0]


def test_csv_field_over_the_csv_limit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,2\n" + "3," + '"' + "x" * 200_000 + '"\n')
    message = csv_error(path)
    assert message.startswith(f"{path}, line 3: not valid CSV: field larger than field limit")


def test_csv_names_with_escapes_are_made_visible(tmp_path: Path) -> None:
    """Column names, class labels and the file's name reach the app as the data set's names:
    their escapes are shown, not sent; error lines show them visibly too."""
    path = tmp_path / f"d{PWNED}.csv"
    path.write_text(f"f{PWNED},y\n1,cat{PWNED}\n2,dog\n3,dog\n4,cat{PWNED}\n")
    data = load_data({"path": str(path), "target": "y", "validation": 0.0}, task="classification")
    assert data.feature_names == (f"f{PWNED_SHOWN}",)
    assert data.class_names == (f"cat{PWNED_SHOWN}", "dog")
    assert data.name == f"d{PWNED_SHOWN}.csv"
    assert np.bincount(data.y_train).tolist() == [2, 2]  # the labels still tell apart
    message = csv_error(path, target=f"z{PWNED}", task="classification")
    assert f"no column 'z{PWNED_SHOWN}'" in message and f"columns: f{PWNED_SHOWN}, y" in message
    assert not has_controls(message)


def test_csv_fifo_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    box = in_thread(
        lambda: gdtui(capsys, "run", "csv-example", "--data", str(fifo), "--target", "score"),
        timeout=60,
    )
    code, out, err = box["value"]
    assert (code, out) == (2, "")
    assert (
        err
        == f"gdtui: error: built-in csv-example: {fifo}: is a named pipe (FIFO), not a CSV file\n"
    )


# -- 2. record files: opened through gdtui.files ----------------------------------------------

HEADER = {
    "format": "gdtui-watch",
    "version": 1,
    "params": [{"name": "w", "shape": [2], "group": 0}],
    "optimizer": "SGD",
    "hyper": {"lr": [0.1]},
    "device": "cpu",
    "rank": 0,
}


def test_record_poll_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    """Before, poll() saw a FIFO's size 0 and waited forever: "no step yet" with no reason."""
    fifo = tmp_path / "run.jsonl"
    os.mkfifo(fifo)
    for read in (lambda: RecordFile(fifo).poll(), lambda: follow(fifo)):
        box = in_thread(read)
        assert isinstance(box.get("error"), RecordFileError), box
        assert str(box["error"]) == f"{fifo}: is a named pipe (FIFO), not a record file"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_record_poll_refuses_a_device(device: str) -> None:
    box = in_thread(lambda: follow(device))
    assert str(box["error"]) == f"{device}: is a device, not a record file"


def test_record_poll_refuses_a_folder_and_a_loop(tmp_path: Path) -> None:
    with pytest.raises(RecordFileError) as err:
        read_records(tmp_path)
    assert str(err.value) == f"{tmp_path}: is a folder, not a record file"
    loop = tmp_path / "loop.jsonl"
    os.symlink(loop, loop)
    with pytest.raises(RecordFileError) as err:
        read_records(loop)
    assert str(err.value) == f"{loop}: symlink loop"


def test_record_file_replaced_by_a_fifo_while_followed(tmp_path: Path) -> None:
    """attach follows a growing file; one swapped for a FIFO is refused, not waited on."""
    path = tmp_path / "run.jsonl"
    path.write_text(json.dumps(HEADER) + "\n")
    record = follow(path)
    assert record.header is not None
    path.unlink()
    os.mkfifo(path)
    box = in_thread(record.poll)
    assert str(box["error"]) == f"{path}: is a named pipe (FIFO), not a record file"


def test_a_large_record_file_is_read_a_bounded_chunk_per_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory per poll stays bounded (READ_BYTES); read_records still reads every step."""
    from gdtui import recordfile

    path = tmp_path / "run.jsonl"
    write_record(path, "w")
    first_step = json.loads(path.read_text().splitlines()[1])
    with path.open("a") as out:
        for n in range(2, 41):
            out.write(json.dumps({**first_step, "step": n}) + "\n")
    monkeypatch.setattr(recordfile, "READ_BYTES", 1500)
    partial = RecordFile(path)
    partial.poll()
    assert partial.behind and 0 < partial.count < 40 and partial.offset <= 1500
    record = read_records(path)
    assert record.count == 40 and not record.behind
    assert record.step.tolist() == list(range(1, 41))
    monkeypatch.setattr(recordfile, "READ_BYTES", 50)  # the header line alone is longer
    with pytest.raises(RecordFileError) as err:
        read_records(path)
    assert str(err.value).startswith(f"{path}: line 1 is longer than ")


def write_record(path: Path, name: str, optimizer: str = "SGD", scalar: str = "loss") -> None:
    header = {**HEADER, "params": [{"name": name, "shape": [2], "group": 0}]}
    header["optimizer"] = optimizer
    step = {
        "step": 1,
        "time": 1.0,
        "lr": [0.1],
        "scalars": {scalar: 0.5},
        "params": {
            name: dict.fromkeys(
                (
                    "grad_norm",
                    "param_norm",
                    "update_norm",
                    "ratio",
                    "cos",
                    "eff_lr_median",
                    "eff_lr_p10",
                    "eff_lr_p90",
                ),
                0.25,
            )
        },
    }
    path.write_text(json.dumps(header) + "\n" + json.dumps(step) + "\n")


def test_record_names_from_the_file_are_shown_visibly(tmp_path: Path) -> None:
    path = tmp_path / f"r{PWNED}.jsonl"
    write_record(path, f"w{PWNED}", optimizer=f"SGD{PWNED}", scalar=f"loss{PWNED}")
    record = read_records(path)
    assert record.names == (f"w{PWNED_SHOWN}",)
    assert record.last(f"w{PWNED_SHOWN}")["grad_norm"] == 0.25  # still matched to its steps
    assert list(record.scalars) == [f"loss{PWNED_SHOWN}"]
    for fmt in ("summary", "table"):
        text = format_attach(record, fmt)
        assert PWNED_SHOWN in text
        assert not any(has_controls(line) for line in text.splitlines()), fmt


def test_attach_summary_on_the_command_line_shows_escapes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "r.jsonl"
    write_record(path, f"w{PWNED}", optimizer=f"SGD{PWNED}")
    code, out, err = gdtui(capsys, "attach", str(path), "--format", "summary")
    assert (code, err) == (0, "")
    assert f"SGD{PWNED_SHOWN} on cpu" in out and f"w{PWNED_SHOWN}" in out
    assert "\x1b" not in out and "\x07" not in out


async def test_attach_screen_shows_names_from_the_file_visibly(tmp_path: Path) -> None:
    """The live view: the optimizer, device and parameter names of a record file and its own
    name reach the status line, the titles and the layer panel with escapes made visible."""
    from gdtui.ui.screens.attach import AttachScreen
    from gdtui.ui.widgets.attach_status import AttachStatus

    path = tmp_path / f"r{PWNED}.jsonl"
    write_record(path, f"w{PWNED}", optimizer=f"SGD{PWNED}")
    header, step = path.read_text().splitlines()
    header_obj = json.loads(header)
    header_obj["device"] = f"cuda{PWNED}"
    path.write_text(json.dumps(header_obj) + "\n" + step + "\n")
    app = GdtuiApp(attach=path, deterministic=True)
    async with app.run_test(size=WIDE) as pilot:
        screen = app.attach_screen
        assert isinstance(screen, AttachScreen)
        deadline = time.monotonic() + 30
        while screen.followed is None or not len(screen.followed.step):
            assert time.monotonic() < deadline, "the record was not read"
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        status = screen.query_one(AttachStatus).text
        assert f"SGD{PWNED_SHOWN}" in status and f"cuda{PWNED_SHOWN}" in status, status
        text = "\n".join(
            "".join(segment.text for segment in strip)
            for strip in app.screen._compositor.render_strips()
        )
        assert f"w{PWNED_SHOWN}" in text
        assert not any(has_controls(row) for row in text.splitlines())


def test_launch_attach_error_line_is_visible(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """launch_attach prints the reader's refusal visibly, whatever text the reader gives."""
    from gdtui import recordfile
    from gdtui.ui.app import launch_attach

    def refuse(path: object) -> None:
        raise RecordFileError(f"n{PWNED}.jsonl: not a gdtui record file")

    monkeypatch.setattr(recordfile, "follow", refuse)
    assert launch_attach(tmp_path / "n.jsonl") == 2
    err = capsys.readouterr().err
    assert err == f"gdtui: error: n{PWNED_SHOWN}.jsonl: not a gdtui record file\n"


# -- 3. a FIFO named *.toml: at launch, through the fallback, in the picker --------------------


def test_the_model_fallback_does_not_open_a_fifo(tmp_path: Path) -> None:
    """load_scenario refused the FIFO; the app's fallback for [data] files read it blocking."""
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    box = in_thread(lambda: _load(str(fifo)))
    assert isinstance(box.get("error"), ScenarioError), box
    assert str(box["error"]) == f"{fifo}: is a named pipe (FIFO), not a scenario file"


def test_launch_with_a_fifo_exits_2_at_once(tmp_path: Path) -> None:
    """``mkfifo p.toml; gdtui launch p.toml``: was "loading torch…" forever, and neither q,
    ctrl+q nor Ctrl+C (nor SIGTERM) ended it. Now one line and exit 2."""
    from test_app_hardening import launch_in_pty, read_pty, wait_exit

    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    pid, fd = launch_in_pty(["-m", "gdtui", "launch", str(fifo)])
    seen = bytearray()
    try:
        read_pty(fd, lambda b: b"named pipe" in b, seen, timeout=60)
        code = wait_exit(pid, timeout=30)
    finally:
        os.close(fd)
    assert code == 2
    assert f"gdtui: error: {fifo}: is a named pipe (FIFO), not a scenario file".encode() in seen


STUCK_WORKER = """
import threading, sys
from gdtui import cli
from gdtui.ui.descent import DescentLoop
def stuck(self):
    threading.Event().wait()  # a system call that never returns (a FIFO, a hung device)
DescentLoop._start = stuck
sys.exit(cli.main(["launch", "seed-example"]))
"""


@pytest.mark.parametrize("key", [b"q", b"\x11"], ids=["q", "ctrl+q"])
def test_q_ends_the_app_even_when_the_descent_thread_is_stuck(key: bytes) -> None:
    """Whatever blocks the descent thread, q and ctrl+q end the process (asyncio used to wait
    for the thread forever): after STUCK_EXIT_S, with one line; the terminal is restored."""
    from test_app_hardening import launch_in_pty, read_pty, wait_exit

    from gdtui.ui.app import STUCK_EXIT_S

    pid, fd = launch_in_pty(["-c", STUCK_WORKER])
    seen = bytearray()
    try:
        assert read_pty(fd, lambda b: b"loading torch" in b, seen, timeout=60), bytes(seen[-300:])
        read_pty(fd, lambda b: False, seen, 1.0)
        os.write(fd, key)
        start = time.monotonic()
        read_pty(fd, lambda b: b"exiting without it" in b, seen, timeout=STUCK_EXIT_S + 20)
        code = wait_exit(pid, timeout=10)
    finally:
        os.close(fd)
    assert code == 0
    assert time.monotonic() - start < STUCK_EXIT_S + 15
    assert b"gdtui: the descent thread is stuck in a blocking call; exiting without it" in seen
    tail = bytes(seen[seen.rfind(b"\x1b[?1049h") :])
    assert b"\x1b[?1049l" in tail  # the alternate screen was left


async def test_the_picker_leaves_out_a_fifo_and_opening_one_keeps_the_app(
    tmp_path: Path,
) -> None:
    """``o`` with a FIFO named *.toml in the folder: not listed (it is no scenario file).
    Opening it anyway (a path from the palette) is one notice; the run stays, q still quits."""
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    (tmp_path / "real.toml").write_text(SEED)
    app = GdtuiApp("seed-example", deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(app, lambda: app.catalog is not None)
        await settled(app)
        await pilot.press("o")
        await wait_until(app, lambda: isinstance(app.screen, OpenScenarioScreen))
        ids = [o.id for o in app.screen.query_one("OptionList")._options]
        assert f"file:{tmp_path / 'real.toml'}" in ids
        assert not any("fifo.toml" in (i or "") for i in ids)
        await pilot.press("escape")
        app.last_notice = None
        app.open_scenario(str(fifo))
        try:
            await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        finally:
            unblock(fifo)  # were the worker stuck opening it, the test would hang, not fail
        assert app.last_notice == f"{fifo}: is a named pipe (FIFO), not a scenario file"
        assert app.main_screen.info.scenario == "seed-example"
        await pilot.press("n")  # the worker is not stuck: it still steps
        await wait_until(app, lambda: app.main_screen.snapshot.step == 1, timeout=10)
        await pilot.press("q")
        await wait_until(app, lambda: app.return_code is not None, timeout=10)
    assert app.return_code == 0


# -- 4. device faults during a run --------------------------------------------------------------

OOM = torch.cuda.OutOfMemoryError(
    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total capacity; "
    "70.00 GiB already allocated)\nSee documentation for Memory Management"
)
ASSERT = RuntimeError(
    "CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously "
    "reported at some other API call"
)


def test_device_fault_lines() -> None:
    assert device_fault(OOM) == (
        "out of memory on cuda: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 "
        "GiB total capacity; 70.00 GiB already allocated); try a smaller batch size or model, "
        "or --device cpu"
    )
    assert device_fault(ASSERT) == (
        "cuda device error: CUDA error: device-side assert triggered; the GPU may be unusable "
        "until gdtui restarts: try --device cpu (CUDA_LAUNCH_BLOCKING=1 names the failing call)"
    )
    cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
    )
    assert device_fault(cpu).startswith("out of memory on cpu: ")
    assert (
        device_fault(MemoryError())
        == "out of memory on cpu: MemoryError; try a smaller batch size or model"
    )
    # Not faults of the machine: bugs and bad input keep their own paths.
    assert device_fault(RuntimeError("boom")) is None
    assert device_fault(ValueError("CUDA out of memory")) is None
    assert device_fault(KeyError("cuda")) is None


def test_device_fault_line_shows_escapes_and_is_cut() -> None:
    line = device_fault(RuntimeError(f"CUDA error: {PWNED}" + "x" * 10_000))
    assert PWNED_SHOWN in line and not has_controls(line) and len(line) < 400


def failing_step(err: BaseException, after: int) -> Callable[[Run], Any]:
    real = Run.step

    def step(self: Run) -> Any:
        if self.step_count >= after:
            raise err
        return real(self)

    return step


@pytest.mark.parametrize(
    ("err", "line"),
    [
        (
            OOM,
            "gdtui: error: out of memory on cuda: CUDA out of memory. Tried to allocate 2.00 GiB",
        ),
        (ASSERT, "gdtui: error: cuda device error: CUDA error: device-side assert triggered;"),
    ],
    ids=["oom", "device-assert"],
)
def test_run_device_fault_is_one_line_exit_1_and_valid_json(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    err: BaseException,
    line: str,
) -> None:
    monkeypatch.setattr(Run, "step", failing_step(err, after=3))
    log, record = tmp_path / "gdtui.log", tmp_path / "run.jsonl"
    code, out, stderr = gdtui(
        capsys,
        "run",
        "seed-example",
        "--steps",
        "10",
        "--format",
        "json",
        "--log",
        str(log),
        "--record",
        str(record),
    )
    assert code == 1  # a fault of the machine: not bad input (2), not success
    assert stderr.count("\n") == 1 and stderr.startswith(line), stderr
    assert stderr.endswith(f"(traceback written to {log})\n")
    assert "Traceback" not in stderr
    steps = json.loads(out)  # the array is closed, every completed step is in it
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps[0]["grad"] == {"w": 6.0} and steps[0]["params"] == {"w": 4.4}
    assert "Traceback (most recent call last)" in log.read_text()
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert [x.get("step") for x in lines[1:-1]] == [1, 2, 3]
    assert lines[-1]["end"] is True and lines[-1]["error"] == type(err).__name__


def test_race_device_fault_keeps_every_completed_round(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Out of memory in the 4th round of a 4-run race: the 3 rounds before are all written
    (valid JSON, and the record file ends with the fault), one line, exit 1."""
    monkeypatch.setattr(Run, "step", failing_step(OOM, after=3))
    log, record = tmp_path / "gdtui.log", tmp_path / "race.jsonl"
    code, out, stderr = gdtui(
        capsys, "run", "adam-vs-sgd", "--steps", "10", "--format", "json",
        "--log", str(log), "--record", str(record),
    )  # fmt: skip
    assert code == 1
    assert stderr.startswith("gdtui: error: out of memory on cuda: ") and stderr.count("\n") == 1
    steps = json.loads(out)
    labels = {s["run"] for s in steps}
    assert len(labels) == 4
    assert sorted((s["run"], s["step"]) for s in steps) == sorted(
        (label, k) for label in labels for k in (1, 2, 3)
    )
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert len(lines[1:-1]) == 12
    assert lines[-1]["end"] is True and lines[-1]["error"] == "OutOfMemoryError"


def test_a_bug_is_still_called_an_internal_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(Run, "step", failing_step(RuntimeError(f"boom{PWNED}"), after=0))
    log = tmp_path / "gdtui.log"
    code, _, stderr = gdtui(capsys, "run", "seed-example", "--log", str(log))
    assert code == 1
    assert stderr == (
        f"gdtui: internal error: RuntimeError: boom{PWNED_SHOWN} (traceback written to {log})\n"
    )


async def test_app_device_fault_is_a_notice_with_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "gdtui.log"
    app = GdtuiApp("seed-example", export_dir=tmp_path, log_path=log)  # toasts on
    async with app.run_test(size=WIDE) as pilot:
        await settled(app)
        monkeypatch.setattr(Run, "step", failing_step(OOM, after=0))
        app.last_notice = None
        await pilot.press("n")
        await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        expected = f"{device_fault(OOM)} (traceback in {log})"
        assert app.last_notice == expected
        assert (expected, "error") in [(n.message, n.severity) for n in app._notifications]
        text = log.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" in text and "OutOfMemoryError" in text
        # The app keeps running, and so does the run once the device copes again.
        assert app.return_code is None and app.internal_error is None
        monkeypatch.undo()
        await pilot.press("n")
        await wait_until(app, lambda: app.main_screen.snapshot.step == 1, timeout=10)


async def test_app_device_fault_while_playing_pauses_and_keeps_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = GdtuiApp("seed-example", deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await settled(app)
        monkeypatch.setattr(Run, "step", failing_step(ASSERT, after=5))
        app.last_notice = None
        await pilot.press("space")
        await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        assert app.last_notice.startswith("cuda device error: CUDA error: device-side assert")
        await wait_until(app, lambda: not app.main_screen.snapshot.playing, timeout=10)
        assert app.main_screen.snapshot.step == 5  # the steps before the fault are kept
        assert app.return_code is None


async def test_app_device_fault_at_start_is_named_not_called_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory while the first run is built: exit 1, and the line `gdtui launch` prints
    is the fault's (``error: out of memory on cuda: …``), not "internal error"."""

    def no_memory(self: Any, **kw: Any) -> Any:
        raise OOM

    monkeypatch.setattr(Scenario, "build_run", no_memory)
    app = GdtuiApp("seed-example", deterministic=True, log_path=tmp_path / "gdtui.log")
    async with app.run_test(size=WIDE):
        await wait_until(app, lambda: app.return_code is not None, timeout=30)
    assert app.return_code == 1
    assert app.internal_error == device_fault(OOM)
    assert app.internal_error_is_fault is True


async def test_race_device_fault_is_named_and_the_race_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gdtui.engine.race import Race
    from gdtui.scenario import builtin_dir
    from gdtui.ui.screens.race import RaceScreen

    app = GdtuiApp("seed-example", deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await settled(app)
        screen = RaceScreen(builtin_dir() / "adam-vs-sgd.toml", initial_steps=3, deterministic=True)
        await app.push_screen(screen)
        await wait_until(app, lambda: screen.drawn(3), timeout=30)
        monkeypatch.setattr(Race, "step", lambda self: (_ for _ in ()).throw(OOM))
        app.last_notice = None
        await pilot.press("n")
        await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        assert app.last_notice == device_fault(OOM)
        assert app.return_code is None and screen.snapshot.step == 3


# -- 5. escapes from files on the app's and the CLI's surfaces ---------------------------------


async def test_run_titles_show_escapes_visibly(tmp_path: Path) -> None:
    """_show_run_titles: the problem name and the formula go through safetext.visible."""
    app = GdtuiApp("seed-example", deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=WIDE):
        await settled(app)
        main = app.main_screen
        info = dataclasses.replace(
            main.info, problem=f"p{PWNED}", expression=f"(w - 2)**2 {PWNED}\n"
        )
        main._show_run_titles(info)
        subtitle = str(main._loss().border_subtitle)
        title = str(main._landscape().border_title)
        assert subtitle == f"p{PWNED_SHOWN} · {info.optimizer}"
        assert title == f"landscape · (w - 2)**2 {PWNED_SHOWN}\\n"


async def test_model_titles_show_escapes_visibly(tmp_path: Path) -> None:
    app = GdtuiApp("linear-regression", deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=WIDE):
        await wait_until(app, lambda: app.main_screen.info is not None, timeout=60)
        main = app.main_screen
        model = dataclasses.replace(main.info.model, dataset=f"d{PWNED}.csv")
        main._show_model_titles(dataclasses.replace(main.info, model=model))
        subtitle = str(main._loss().border_subtitle)
        assert subtitle.startswith(f"d{PWNED_SHOWN}.csv · ") and not has_controls(subtitle)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_cli_summaries_show_a_scenario_name_visibly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    path = tmp_path / f"e{PWNED}.toml"
    path.write_text(SEED)
    extra = ["--format", "summary"] if command == "run" else ["--num", "3"]
    code, out, err = gdtui(capsys, command, str(path), "--steps", "3", *extra)
    assert (code, err) == (0, "")
    assert f"scenario   e{PWNED_SHOWN} ({tmp_path}/e{PWNED_SHOWN}.toml)" in out
    assert "\x1b" not in out and "\x07" not in out


def test_race_summary_shows_names_and_labels_visibly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = (ROOT / "scenarios" / "momentum-vs-plain.toml").read_text(encoding="utf-8")
    path = tmp_path / f"r{PWNED}.toml"
    path.write_text(source.replace('label = "plain lr=0.02"', 'label = "plain\\u001b]0;x\\u0007"'))
    code, out, err = gdtui(capsys, "run", str(path), "--steps", "3", "--format", "summary")
    assert (code, err) == (0, "")
    assert f"scenario   r{PWNED_SHOWN}" in out and "plain\\x1b]0;x\\x07" in out
    assert "\x1b" not in out and "\x07" not in out


async def test_sweep_screen_title_shows_a_scenario_name_visibly(tmp_path: Path) -> None:
    from gdtui.ui.screens.sweep import SweepScreen

    path = tmp_path / f"e{PWNED}.toml"
    path.write_text(SEED)
    app = GdtuiApp(str(path), deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await settled(app)
        await pilot.press("w")
        await wait_until(app, lambda: isinstance(app.screen, SweepScreen), timeout=10)
        title = app.screen._title().plain
        assert f"e{PWNED_SHOWN}" in title and not has_controls(title)


@pytest.mark.parametrize("fault", [False, True], ids=["bug", "device-fault"])
def test_launch_internal_error_line_is_visible(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fault: bool
) -> None:
    """The line ``gdtui launch`` prints after a fatal bug quotes the error visibly; a device
    fault at start is called an error, not an internal one."""

    class FakeApp:
        stopped_by_signal = None
        startup_error = None
        internal_error = f"gdtui could not start: KeyError: '{PWNED}'"
        internal_error_is_fault = fault
        return_code = 1

        def __init__(self, **kwargs: Any) -> None:
            pass

        def run(self) -> None:
            pass

    import gdtui.ui.app as app_module
    import gdtui.ui.terminal as terminal

    monkeypatch.setattr(app_module, "GdtuiApp", FakeApp)
    monkeypatch.setattr(terminal, "check_terminal", lambda: None)
    log = tmp_path / "gdtui.log"
    code, _, err = gdtui(capsys, "launch", "--log", str(log))
    assert code == 1
    kind = "error" if fault else "internal error"
    assert err == (
        f"gdtui: {kind}: gdtui could not start: KeyError: '{PWNED_SHOWN}' "
        f"(traceback written to {log})\n"
    )


# -- 6. found by trying: the ones that had no test of their own --------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [("nan", "nan"), ("inf", "inf"), ("1e400", "inf")], ids=str
)
async def test_a_non_finite_hyperparameter_in_the_app_is_refused(
    tmp_path: Path, value: str, shown: str
) -> None:
    """``momentum = nan`` typed in the app's field: refused in one line, the run kept (it was
    accepted, then "diverged at step 1" with advice to lower the learning rate)."""
    from textual.widgets import Input

    app = GdtuiApp(
        "seed-example",
        deterministic=True,
        export_dir=tmp_path,
        initial_steps=2,
        overrides={"hyper": {"momentum": 0.5}},
    )
    async with app.run_test(size=WIDE) as pilot:
        await settled(app)
        generation = app.main_screen.info.generation
        fields = {f.name: f for f in app.query(".hyper-input").results(Input)}
        field = fields["momentum"]
        field.focus()
        await pilot.pause()
        field.value = value
        app.last_notice = None
        await pilot.press("enter")
        await wait_until(app, lambda: app.last_notice is not None, timeout=10)
        assert app.last_notice == f"sgd: momentum must be a finite number, got {shown}"
        await pilot.pause(0.3)
        assert app.main_screen.info.generation == generation
        assert app.main_screen.info.hyper["momentum"] == 0.5
        assert app.main_screen.snapshot.step == 2


def test_run_dev_zero_in_a_real_process_is_refused_quickly() -> None:
    """``gdtui run /dev/zero`` read until memory ran out; now one line, at once."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gdtui", "run", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "gdtui: error: /dev/zero: is a device, not a scenario file\n"
    assert time.monotonic() - start < 60
