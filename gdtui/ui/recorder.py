"""``--record FILE.jsonl``: every step the app takes, appended to a file as it happens.

Each line is the JSON of ``gdtui run --format jsonl`` (``StepRecord.to_dict``). Lines are kept
in memory and written, whole, at least every :data:`FLUSH_INTERVAL` seconds by a small thread of
their own, so a process killed even with SIGKILL loses at most that much and never leaves half a
line; a clean exit (``q``, SIGTERM, SIGHUP, SIGINT) writes everything. The file is data (JSON),
never pickle, and it is appended to, never truncated.

* :class:`RecordAppender` — a thread-safe appender of JSON lines with a flush interval (usable by
  ``gdtui run --record`` too).
* :class:`StepRecorder` — ties an appender to the app's runs: :meth:`StepRecorder.attach` makes
  every record of a ``Run`` go to the file. Like ``gdtui run``, it holds the newest record back
  until the next step (or the next flush), so a run that stops on a non-finite loss writes its
  last finite step with the final status and reason.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gdtui.safetext import visible

if TYPE_CHECKING:
    from gdtui.engine.records import StepRecord
    from gdtui.engine.run import Run

__all__ = ["FLUSH_INTERVAL", "RecordAppender", "RecordError", "StepRecorder"]

FLUSH_INTERVAL = 0.25
"""Seconds between writes of the lines kept in memory (the issue asks for at most 0.5 s)."""

MAX_PENDING_BYTES = 1 << 20
"""Write at once when this much is waiting (a very fast run between two flushes)."""


class RecordError(ValueError):
    """The record file cannot be opened or written (one line, for the CLI or a notice)."""


class RecordAppender:
    """Appends JSON lines to a file from any thread; a daemon thread writes them every interval.

    Args:
        path: the file (created if missing, appended to if not).
        flush_interval: seconds between writes.
        on_error: called once, with one line, when a write fails (a full disk); recording then
            stops and nothing else changes.

    Raises:
        RecordError: the file cannot be opened for appending (no such folder, a folder, …).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = FLUSH_INTERVAL,
        on_error: Callable[[str], Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = float(flush_interval)
        self.on_error = on_error
        self.error: str | None = None
        """Why writing stopped (None while it works)."""
        self.lines_written = 0
        try:
            if self.path.is_dir():
                raise IsADirectoryError(21, "is a folder, not a file")
            # O_APPEND: every write lands at the end, whole, even with another writer.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            self._fd: int | None = os.open(self.path, flags, 0o644)
        except OSError as err:
            raise RecordError(
                f"--record {visible(str(path), 120)}: {err.strerror or err}"
            ) from None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._before_flush: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._flush_loop, name="gdtui-record", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (later lines are dropped)."""
        return self._closed.is_set()

    def write(self, row: dict[str, Any]) -> None:
        """Queue one record dict as a JSON line (written within ``flush_interval``)."""
        line = (json.dumps(row, allow_nan=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return
            self._pending.append(line)
            self._pending_bytes += len(line)
            if self._pending_bytes >= MAX_PENDING_BYTES:
                self._write_pending()

    def flush(self) -> None:
        """Write every queued line now."""
        for hook in list(self._before_flush):
            hook()
        with self._lock:
            self._write_pending()

    def close(self) -> None:
        """Write what is queued and close the file (safe to call twice, from any thread)."""
        if self._closed.is_set():
            return
        self.flush()
        with self._lock:
            self._closed.set()
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        atexit.unregister(self.close)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2 * self.flush_interval + 1)

    def _write_pending(self) -> None:
        """Write the queued lines in one ``write`` (the lock is held)."""
        if not self._pending or self._fd is None:
            return
        data = b"".join(self._pending)
        count = len(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            view = memoryview(data)
            while view:
                done = os.write(self._fd, view)
                view = view[done:]
        except OSError as err:
            self._fail(
                f"recording to {visible(str(self.path), 120)} stopped: {err.strerror or err}"
            )
            return
        self.lines_written += count

    def _fail(self, line: str) -> None:
        fd, self._fd = self._fd, None
        self._pending.clear()
        self.error = line
        if fd is not None:
            with contextlib.suppress(OSError):  # already failing; the error line says why
                os.close(fd)
        if self.on_error is not None:
            self.on_error(line)

    def _flush_loop(self) -> None:
        while not self._closed.wait(self.flush_interval):
            self.flush()


class StepRecorder:
    """Writes every record of the attached runs through a :class:`RecordAppender`.

    The newest record is held back until the run takes its next step, stops, or the appender
    flushes: a run that stops on a non-finite loss marks the step before as its last, with the
    reason, and that is what the file gets (as with ``gdtui run --format jsonl``).
    """

    def __init__(self, appender: RecordAppender) -> None:
        self.appender = appender
        self._lock = threading.Lock()
        self._held: tuple[StepRecord, tuple[str, ...]] | None = None
        appender._before_flush.append(self._write_held)

    def attach(self, run: Run) -> None:
        """Record every step of ``run`` from now on (call it in the thread that steps the run).

        ``run.step`` is wrapped on this one object; ``run.steps()`` and every other caller go
        through it.
        """
        step = run.step
        names = tuple(run.param_names)
        self._write_held()  # the previous run's last record, before this run's first

        def recorded_step() -> StepRecord | None:
            record = step()
            # Under the lock: the flush thread writes the held record too, and lines must stay
            # in step order.
            with self._lock:
                held, self._held = self._held, None
                if held is not None:
                    self.appender.write(held[0].to_dict(held[1]))
                if record is not None:
                    self._held = (record, names)
            return record

        run.step = recorded_step  # type: ignore[method-assign]

    def _write_held(self) -> None:
        with self._lock:
            held, self._held = self._held, None
            if held is not None:
                self.appender.write(held[0].to_dict(held[1]))

    def close(self) -> None:
        """Write the held record and everything queued; close the file."""
        self._write_held()
        self.appender.close()
