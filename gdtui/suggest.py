"""``did you mean …?`` for a mistyped name, shared by every layer.

Torch-free on purpose: the CLI, the scenario loader, the engine and the app all use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str]) -> str:
    """A ``did you mean …?`` suffix for a mistyped name, or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
