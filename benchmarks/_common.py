"""Helpers shared by the benchmarks (not a test module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ptybytes_tool() -> Path:
    """The shared pty byte counter (../shared/tools/ptybytes.py next to the repository)."""
    candidates = [
        os.environ.get("GDTUI_PTYBYTES", ""),
        str(REPO.parent / "shared" / "tools" / "ptybytes.py"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    sys.exit("ptybytes.py not found: set GDTUI_PTYBYTES to its path")


def ptybytes(args: list[str], command: list[str]) -> dict:
    """Run ptybytes.py and return its JSON result."""
    out = subprocess.run(
        [sys.executable, str(ptybytes_tool()), *args, "--", *command],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def gdtui_command() -> list[str]:
    """The installed console script next to this Python, else ``python -m gdtui``."""
    script = Path(sys.executable).with_name("gdtui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gdtui"]
