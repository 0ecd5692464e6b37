"""The app and its terminal: refuse terminals it cannot draw on, leave cleanly on signals.

Torch-free and Textual-free at import, so the CLI can call :func:`check_terminal` before it
loads anything.

* :func:`check_terminal` — ``TERM=dumb``, ``TERM`` unset or no terminal on stdin/stdout: one line
  that points at ``gdtui run`` (None when the app can draw).
* :func:`install_exit_signals` — SIGTERM, SIGHUP (a dropped SSH link) and SIGINT make the app
  exit through its normal path, so Textual restores the terminal (leaves the alternate screen,
  turns mouse reporting off, shows the cursor) and the record file is closed. The app's return
  code is then ``128 + signal`` (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

__all__ = [
    "EXIT_SIGNALS",
    "check_terminal",
    "exit_code_for_signal",
    "install_exit_signals",
    "signal_name",
]

EXIT_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)
"""The signals that end the app cleanly (the terminal restored, records flushed)."""

_DUMB_TERMS = frozenset({"", "dumb", "unknown"})


def check_terminal(
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Why the full-screen app cannot run here (one line), or None when it can.

    Refused: stdin or stdout not a terminal, ``TERM`` unset, ``dumb`` or ``unknown``. A process
    started by ``gdtui serve`` (textual-serve drives it over pipes) is always accepted.
    """
    from gdtui.serve import _WEB_DRIVER  # light: no textual-serve import

    env = os.environ if environ is None else environ
    if env.get("TEXTUAL_DRIVER", "") == _WEB_DRIVER:
        return None
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    if not (_isatty(stdin) and _isatty(stdout)):
        return (
            "gdtui launch needs a terminal (stdin and stdout); for scripts use: gdtui run SCENARIO"
        )
    term = env.get("TERM", "").strip().lower()
    if term in _DUMB_TERMS:
        shown = f"TERM={term}" if term else "TERM is not set"
        return (
            f"gdtui launch needs a full-screen terminal ({shown}); "
            "for plain text use: gdtui run SCENARIO"
        )
    return None


def _isatty(stream: IO[Any] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # a closed stream
        return False


def exit_code_for_signal(signum: int) -> int:
    """The shell's convention: ``128 + signal number`` (130 for SIGINT)."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def install_exit_signals(
    on_signal: Callable[[int], None], loop: asyncio.AbstractEventLoop | None = None
) -> list[int]:
    """Call ``on_signal(signum)`` on the event loop when one of :data:`EXIT_SIGNALS` arrives.

    Uses ``loop.add_signal_handler`` (the loop wakes at once, and the callback runs as a normal
    callback, not inside the signal handler). Returns the signals installed: none where the loop
    cannot take handlers (not the main thread, or Windows). The handlers go when the loop closes.
    """
    loop = loop or asyncio.get_running_loop()
    installed: list[int] = []
    for sig in EXIT_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, int(sig))
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(int(sig))
    return installed
