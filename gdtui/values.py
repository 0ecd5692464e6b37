"""Hyper-parameter values as people type them, shared by the command line and the app.

Torch-free on purpose: the CLI parses ``--set`` before the app paints.
"""

from __future__ import annotations

from typing import Any


def format_value(value: Any) -> str:
    """A value as typed: ``0.9, 0.999`` for a pair, ``true`` for a flag, ``none`` for None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ", ".join(format_value(v) for v in value)
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_value(text: str) -> Any:
    """The inverse of :func:`format_value`: ``0.5`` → 0.5, ``true`` → True, ``0.8,0.99`` → a
    tuple. Anything else stays text; the optimizer's checks say what was expected."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    if "," in text:
        return tuple(parse_value(part) for part in text.split(",") if part.strip())
    try:
        number = float(low)
    except ValueError:
        return text.strip()
    if number.is_integer() and "." not in low and "e" not in low:
        return int(number)
    return number
