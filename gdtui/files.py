"""Reading input files and writing output without tracebacks or hangs.

:func:`read_text_file` is the one way gdtui reads a file a user named (scenarios, CSV data,
record files). It refuses, in one :class:`FileInputError` line that names the path (with control
characters made visible), everything that is not a readable, reasonably small UTF-8 regular file:
a missing file, a folder, a FIFO or device (checked before opening, and opened non-blocking, so
``mkfifo p.toml`` never hangs and ``/dev/zero`` is never read), a symlink loop, a file that is
too large, bytes that are not UTF-8. A UTF-8 byte-order mark is accepted and dropped.

:func:`guard_output` wraps a command's printing: a closed pipe (``gdtui list | head -1``) ends it
quietly with exit 0, and a failed write (``>/dev/full``) becomes :class:`OutputError`, one line and
exit 1. Imports nothing heavy: the CLI uses it before torch loads.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from gdtui.safetext import visible

__all__ = [
    "EXIT_CLOSED_PIPE",
    "EXIT_WRITE_FAILED",
    "MAX_DATA_BYTES",
    "MAX_SCENARIO_BYTES",
    "FileInputError",
    "OutputError",
    "expand_path",
    "guard_output",
    "open_input_file",
    "read_text_file",
]

MAX_SCENARIO_BYTES = 4 * 1024 * 1024
"""Largest scenario file read (4 MiB; a real one is under 2 KB)."""
MAX_DATA_BYTES = 64 * 1024 * 1024
"""Largest CSV data file read (64 MiB: about 3 million rows of a few numeric columns, more than a
terminal explorer trains on interactively). Record files are read as a stream, poll by poll,
through :func:`open_input_file`, and have no cap."""

EXIT_CLOSED_PIPE = 0
"""Exit code when the reader of our output went away (``| head``): not an error, like ``cat``."""
EXIT_WRITE_FAILED = 1
"""Exit code when output could not be written (full disk): a failure, but not bad input (2)."""

_PATH_LIMIT = 120
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1024 * 1024

# Errors of a write that mean "the output is gone", other than a closed pipe.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


class FileInputError(ValueError):
    """A file that cannot be used as input; ``str(err)`` is one line naming the path."""


class OutputError(Exception):
    """Writing the output failed.

    Attributes:
        message: the one line to print on stderr, or ``""`` when nothing should be said (the
            reader closed the pipe).
        exit_code: :data:`EXIT_CLOSED_PIPE` or :data:`EXIT_WRITE_FAILED`.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _shown(path: object) -> str:
    return visible(os.fspath(path) if isinstance(path, os.PathLike) else str(path), _PATH_LIMIT)


def expand_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; an unknown user is one line."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise FileInputError(f"{_shown(text)}: file names must be text")
    if "\x00" in text:
        raise FileInputError(f"{_shown(text)}: a file name cannot contain a NUL character")
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text[1:].split("/", 1)[0]
        if user:
            raise FileInputError(f"{_shown(text)}: no user named '{visible(user, 40)}'") from None
        raise FileInputError(f"{_shown(text)}: cannot find the home folder") from None


def _os_error(shown: str, err: OSError, path: Path) -> FileInputError:
    code = err.errno
    if code == errno.ENOENT:
        if os.path.islink(path):
            return FileInputError(f"{shown}: broken symlink (its target does not exist)")
        return FileInputError(f"{shown}: no such file")
    if code == errno.ELOOP:
        return FileInputError(f"{shown}: symlink loop")
    if code in (errno.EACCES, errno.EPERM):
        return FileInputError(f"{shown}: permission denied")
    if code == errno.ENOTDIR:
        return FileInputError(f"{shown}: no such file (a part of the path is not a folder)")
    if code == errno.ENAMETOOLONG:
        return FileInputError(f"{shown}: file name too long")
    if code == errno.EISDIR:
        return FileInputError(f"{shown}: is a folder, not a file")
    reason = err.strerror or type(err).__name__
    return FileInputError(f"{shown}: cannot read: {reason}")


def _kind_error(shown: str, mode: int, what: str) -> FileInputError | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return FileInputError(f"{shown}: is a folder, not a {what} file")
    if stat.S_ISFIFO(mode):
        return FileInputError(f"{shown}: is a named pipe (FIFO), not a {what} file")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return FileInputError(f"{shown}: is a device, not a {what} file")
    if stat.S_ISSOCK(mode):
        return FileInputError(f"{shown}: is a socket, not a {what} file")
    return FileInputError(f"{shown}: is not a regular file")


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def _too_large(shown: str, what: str, max_bytes: int, size: int | None) -> FileInputError:
    actual = f"{_size_text(size)}; " if size is not None else ""
    return FileInputError(
        f"{shown}: {what} file is too large ({actual}at most {_size_text(max_bytes)})"
    )


def _read_capped(fd: int, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of ``fd``: one more than allowed tells "too large"."""
    chunks: list[bytes] = []
    left = max_bytes + 1
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _decode(shown: str, data: bytes, what: str) -> str:
    skipped = 0
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
        skipped = len(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        start = err.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        byte = data[start]
        raise FileInputError(
            f"{shown}: not a UTF-8 text {what} file: byte 0x{byte:02x} at line {line}, "
            f"column {column} (byte offset {start + skipped})"
        ) from None


def _open_checked(path: str | os.PathLike[str], what: str, max_bytes: int | None) -> int:
    """A read-only descriptor of a regular file, checked before and after opening."""
    shown = _shown(path)
    if os.fspath(path) == "":
        raise FileInputError(f"no {what} file named (the name is empty)")
    full = expand_path(path)
    try:
        info = os.stat(full)
    except OSError as err:
        raise _os_error(shown, err, full) from None
    except ValueError as err:  # e.g. a name too odd for the OS
        raise FileInputError(f"{shown}: {err}") from None
    problem = _kind_error(shown, info.st_mode, what)
    if problem is not None:
        raise problem
    if max_bytes is not None and info.st_size > max_bytes:
        raise _too_large(shown, what, max_bytes, info.st_size)
    # O_NONBLOCK: a FIFO swapped in after the check must not block the open.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(full, flags)
    except OSError as err:
        raise _os_error(shown, err, full) from None
    try:
        problem = _kind_error(shown, os.fstat(fd).st_mode, what)
        if problem is not None:
            raise problem
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_text_file(
    path: str | os.PathLike[str], *, what: str = "scenario", max_bytes: int = MAX_SCENARIO_BYTES
) -> str:
    """The UTF-8 text of a regular file, or one :class:`FileInputError` line saying why not.

    Args:
        path: the file; ``~`` and ``~user`` are expanded.
        what: what the file should be, for messages ("scenario", "CSV", "record").
        max_bytes: largest accepted size; at most ``max_bytes + 1`` bytes are ever read.

    Never blocks on a FIFO and never reads a device: the file's type is checked before it is
    opened, and it is opened non-blocking and checked again (it may have been swapped).
    """
    shown = _shown(path)
    fd = _open_checked(path, what, max_bytes)
    try:
        data = _read_capped(fd, max_bytes)
    except OSError as err:
        raise _os_error(shown, err, Path(os.fspath(path))) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _too_large(shown, what, max_bytes, None)
    return _decode(shown, data, what)


def open_input_file(path: str | os.PathLike[str], *, what: str = "record") -> BinaryIO:
    """A regular file opened for reading in binary, with the checks of :func:`read_text_file`.

    For inputs read as a stream (a long record file): no size cap and no decoding here; the
    caller reads lines and reports bad ones. Never blocks on a FIFO, never opens a device.
    """
    return os.fdopen(_open_checked(path, what, None), "rb")


def _silence(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at /dev/null so later flushes (at exit) succeed."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


@contextmanager
def guard_output(stream: TextIO | None = None) -> Iterator[None]:
    """Run a command's printing; turn a closed pipe or a failed write into :class:`OutputError`.

    The stream (default ``sys.stdout``, looked up when the block ends) is flushed at the end of
    the block so that a full disk is seen here and not, as a traceback, at interpreter exit.
    After a failure the stream's descriptor points at /dev/null, so nothing is reported twice.

    - closed pipe (``BrokenPipeError``): ``OutputError("", EXIT_CLOSED_PIPE)``, print nothing;
    - full disk, quota, I/O error: ``OutputError("cannot write output: No space left on device",
      EXIT_WRITE_FAILED)``.

    Other exceptions pass through unchanged. Use::

        try:
            with guard_output():
                code = handler(args)
        except OutputError as err:
            if err.message:
                print(f"gdtui: error: {err.message}", file=sys.stderr)
            code = err.exit_code
    """
    try:
        yield
        target = stream if stream is not None else sys.stdout
        if target is not None:
            target.flush()
    except BrokenPipeError:
        _silence(stream if stream is not None else sys.stdout)
        raise OutputError("", EXIT_CLOSED_PIPE) from None
    except OSError as err:
        if err.errno not in _WRITE_ERRNOS:
            raise
        _silence(stream if stream is not None else sys.stdout)
        reason = err.strerror or os.strerror(err.errno or 0)
        raise OutputError(f"cannot write output: {reason}", EXIT_WRITE_FAILED) from None
