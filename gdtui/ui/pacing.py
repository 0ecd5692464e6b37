"""The pace of a worker that steps at a chosen speed (steps per second), shared by the main
descent loop and the race loop."""

from __future__ import annotations

import time

MAX_DUE = 1000
"""At most this many steps are owed at once."""


class Pacer:
    """When the next step is due at ``speed`` steps/s (``None``: as fast as it goes)."""

    def __init__(self) -> None:
        self.next_due = 0.0

    def restart(self, now: float | None = None) -> None:
        """The next step is due now (play pressed, speed changed)."""
        self.next_due = time.perf_counter() if now is None else now

    def wait(self, playing: bool, speed: float | None) -> float:
        """Seconds the loop may wait for a command before it must step again."""
        if not playing:
            return 0.5
        if speed is None:
            return 0.0
        return max(0.0, self.next_due - time.perf_counter())

    def due(self, now: float, speed: float) -> int:
        """Steps owed at ``now``; a loop that fell more than 1 s behind does not catch up."""
        interval = 1.0 / speed
        due = 0
        while self.next_due <= now and due < MAX_DUE:
            self.next_due += interval
            due += 1
        if self.next_due < now - 1.0:  # fell far behind: don't try to catch up
            self.next_due = now + interval
        return due
