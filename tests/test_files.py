"""read_text_file() and guard_output(): one line for every unusable file, never a hang."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from gdtui import files
from gdtui.files import (
    EXIT_CLOSED_PIPE,
    EXIT_WRITE_FAILED,
    FileInputError,
    OutputError,
    guard_output,
    read_text_file,
)


def refusal(path, **kwargs) -> str:
    with pytest.raises(FileInputError) as info:
        read_text_file(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert "\x1b" not in message
    return message


def test_reads_a_regular_utf8_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('description = "café"\n', encoding="utf-8")
    assert read_text_file(path) == 'description = "café"\n'
    assert read_text_file(str(path)) == 'description = "café"\n'


def test_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[problem]\n")
    assert read_text_file(path) == "[problem]\n"


def test_missing_file(tmp_path):
    assert refusal(tmp_path / "nope.toml") == f"{tmp_path}/nope.toml: no such file"


def test_folder(tmp_path):
    folder = tmp_path / "seed-example"
    folder.mkdir()
    assert refusal(folder) == f"{folder}: is a folder, not a scenario file"
    assert refusal(folder, what="CSV") == f"{folder}: is a folder, not a CSV file"


def _in_thread(fn, timeout: float = 5.0):
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "read_text_file blocked"
    return box


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    box = _in_thread(lambda: read_text_file(fifo))
    assert isinstance(box["error"], FileInputError)
    assert str(box["error"]) == f"{fifo}: is a named pipe (FIFO), not a scenario file"


def test_fifo_swapped_in_after_the_check_is_refused_without_blocking(tmp_path, monkeypatch):
    # The file was regular when stat()ed, a FIFO when opened: the non-blocking open and the
    # second check on the open descriptor still refuse it.
    regular = tmp_path / "r.toml"
    regular.write_text("")
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(files.os, "stat", lambda p, *a, **k: real_stat(regular))
    box = _in_thread(lambda: read_text_file(fifo))
    assert str(box["error"]) == f"{fifo}: is a named pipe (FIFO), not a scenario file"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_unread(device):
    assert refusal(device) == f"{device}: is a device, not a scenario file"


def test_too_large_by_size(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * 2049)
    assert refusal(path, max_bytes=2048) == (
        f"{path}: scenario file is too large (2.0 KiB; at most 2.0 KiB)"
    )
    path.write_bytes(b"#" * 2048)
    assert read_text_file(path, max_bytes=2048) == "#" * 2048


def test_default_cap_is_4_mib(tmp_path):
    path = tmp_path / "huge.toml"
    with open(path, "wb") as handle:
        handle.truncate(4 * 1024 * 1024 + 1)
    assert refusal(path) == f"{path}: scenario file is too large (4.0 MiB; at most 4.0 MiB)"


def test_size_lies_then_at_most_cap_plus_one_bytes_are_read(monkeypatch):
    # /proc files say size 0 but have content: the read itself is capped.
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd, n):
        data = real_read(fd, n)
        reads.append(len(data))
        return data

    monkeypatch.setattr(files.os, "read", counting_read)
    message = refusal("/proc/self/maps", max_bytes=16)
    assert message == "/proc/self/maps: scenario file is too large (at most 16 bytes)"
    assert sum(reads) == 17


def test_non_utf8_names_line_column_and_offset(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'a = 1\nname = "caf\xe9"\n')
    assert refusal(path) == (
        f"{path}: not a UTF-8 text scenario file: byte 0xe9 at line 2, column 12 (byte offset 17)"
    )


def test_non_utf8_after_bom_counts_the_bom_in_the_offset(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf\xff")
    assert refusal(path) == (
        f"{path}: not a UTF-8 text scenario file: byte 0xff at line 1, column 1 (byte offset 3)"
    )


def test_unknown_user():
    assert refusal("~nosuchuser_gdtui/x.toml") == (
        "~nosuchuser_gdtui/x.toml: no user named 'nosuchuser_gdtui'"
    )


def test_home_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "h.toml").write_text("x")
    assert read_text_file("~/h.toml") == "x"


def test_symlink_loop_is_not_called_missing(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.symlink_to(b)
    b.symlink_to(a)
    assert refusal(a) == f"{a}: symlink loop"
    own = tmp_path / "self.toml"
    own.symlink_to(own)
    assert refusal(own) == f"{own}: symlink loop"


def test_broken_symlink(tmp_path):
    link = tmp_path / "dangling.toml"
    link.symlink_to(tmp_path / "gone.toml")
    assert refusal(link) == f"{link}: broken symlink (its target does not exist)"


def test_symlink_to_a_file_is_read(tmp_path):
    target = tmp_path / "t.toml"
    target.write_text("ok")
    link = tmp_path / "l.toml"
    link.symlink_to(target)
    assert read_text_file(link) == "ok"


def test_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "secret.toml"
    path.write_text("x")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    # Tests may run as root, where chmod 000 does not stop a read.
    monkeypatch.setattr(files.os, "open", denied)
    assert refusal(path) == f"{path}: permission denied"


def test_part_of_the_path_is_a_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("")
    assert refusal(path / "x.toml") == (
        f"{path}/x.toml: no such file (a part of the path is not a folder)"
    )


def test_name_with_escapes_is_shown_visibly(tmp_path):
    path = tmp_path / "x\x1b]0;owned\x07\n.toml"
    assert refusal(path) == f"{tmp_path}/x\\x1b]0;owned\\x07\\n.toml: no such file"


def test_huge_name_is_cut(tmp_path):
    message = refusal("q" * 1_000_000)
    assert message.endswith("… (1000000 characters): file name too long")
    assert len(message) < 200


def test_nul_and_empty_names():
    assert refusal("a\x00b.toml") == "a\\x00b.toml: a file name cannot contain a NUL character"
    assert refusal("") == "no scenario file named (the name is empty)"


# -- guard_output ---------------------------------------------------------------------------


class FailingStream(io.StringIO):
    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def flush(self) -> None:
        raise self.error


def test_full_disk_is_one_line_and_exit_1():
    stream = FailingStream(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(OutputError) as info, guard_output(stream):
        stream.write("data")
    assert info.value.message == "cannot write output: No space left on device"
    assert info.value.exit_code == EXIT_WRITE_FAILED == 1


def test_closed_pipe_is_quiet_exit_0():
    stream = FailingStream(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    with pytest.raises(OutputError) as info, guard_output(stream):
        stream.write("data")
    assert info.value.message == ""
    assert info.value.exit_code == EXIT_CLOSED_PIPE == 0


def test_other_errors_pass_through():
    with pytest.raises(FileNotFoundError), guard_output(io.StringIO()):
        raise FileNotFoundError(errno.ENOENT, "nope")
    with pytest.raises(KeyError), guard_output(io.StringIO()):
        raise KeyError("x")


# The pattern documented in guard_output(), run as a real process with real file descriptors.
_SCRIPT = textwrap.dedent(
    """
    import sys
    from gdtui.files import OutputError, guard_output

    def command():
        for i in range(int(sys.argv[1])):
            print(f"line {i} " + "x" * 60)
        return 0

    try:
        with guard_output():
            code = command()
    except OutputError as err:
        if err.message:
            print(f"gdtui: error: {err.message}", file=sys.stderr)
        code = err.exit_code
    sys.exit(code)
    """
)


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "printer.py"
    path.write_text(_SCRIPT)
    return path


def _env(buffered: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("lines", [1, 100_000])
def test_dev_full_in_a_real_process(tmp_path, lines, buffered):
    # Buffered, one short line fails only when flushed: guard_output() must flush itself.
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, str(_script(tmp_path)), str(lines)],
            env=_env(buffered),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.stderr == "gdtui: error: cannot write output: No space left on device\n"
    assert done.returncode == 1


@pytest.mark.parametrize("buffered", [True, False])
def test_closed_pipe_in_a_real_process(tmp_path, buffered):
    shell = f'"{sys.executable}" "{_script(tmp_path)}" 100000 | head -n 1; exit ${{PIPESTATUS[0]}}'
    done = subprocess.run(
        ["bash", "-c", shell], env=_env(buffered), capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "line 0 " + "x" * 60 + "\n"
    assert done.stderr == ""
    assert done.returncode == 0


# -- open_input_file: the same checks, for inputs read as a stream ---------------------------


def test_open_input_file_reads_a_regular_file(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"step": 1}\n{"step": 2}\n')
    with files.open_input_file(path) as handle:
        assert handle.readlines() == [b'{"step": 1}\n', b'{"step": 2}\n']


def test_open_input_file_refuses_like_read_text_file(tmp_path):
    fifo = tmp_path / "run.jsonl"
    os.mkfifo(fifo)
    box = _in_thread(lambda: files.open_input_file(fifo))
    assert str(box["error"]) == f"{fifo}: is a named pipe (FIFO), not a record file"
    with pytest.raises(FileInputError, match="is a device, not a record file"):
        files.open_input_file("/dev/zero")
    with pytest.raises(FileInputError, match="no such file"):
        files.open_input_file(tmp_path / "missing.jsonl")
