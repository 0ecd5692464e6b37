"""What the plotext-drawn widgets share: the figure lock, figure set-up, centred messages."""

from __future__ import annotations

import threading

import plotext as plt

__all__ = ["PLOTEXT_LOCK", "centered", "message_lines", "new_figure"]

PLOTEXT_LOCK = threading.RLock()
"""plotext draws on one global figure: hold this lock around any use of ``plotext``."""


def new_figure(width: int, height: int, theme: str = "pro") -> None:
    """Start a clean plotext figure of ``width`` × ``height`` cells (hold :data:`PLOTEXT_LOCK`).

    The ``pro`` theme uses the default colours everywhere, so the plot blends into Textual's
    background.
    """
    plt.clear_figure()
    plt.limit_size(False, False)  # else plotext clips the size to the real terminal
    plt.plotsize(width, height)
    plt.theme(theme)


def centered(message: str, width: int) -> str:
    """``message`` centred in ``width`` cells (cut when it is longer)."""
    if len(message) >= width:
        return message[:width]
    return " " * ((width - len(message)) // 2) + message


def message_lines(message: str, width: int, height: int, row: int | None = None) -> list[str]:
    """``height`` lines, empty but for ``message`` centred on ``row`` (default: the middle)."""
    lines = [""] * height
    lines[height // 2 if row is None else row] = centered(message, width)
    return lines
