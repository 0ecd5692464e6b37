"""Tests for packaging: the wheel carries the built-in scenarios and the console script; the README
and CI agree on the two set-up commands."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p.name for p in (REPO / "scenarios").glob("*.toml"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    pytest.importorskip("hatchling", reason="hatchling is not installed: cannot build the wheel")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    (path,) = out.glob("gdtui-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_holds_every_builtin_scenario(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert SCENARIOS
    for scenario in SCENARIOS:
        member = f"gdtui/builtin_scenarios/{scenario}"
        assert member in names, member
        assert wheel.read(member) == (REPO / "scenarios" / scenario).read_bytes()


def test_wheel_holds_the_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in ("gdtui/__init__.py", "gdtui/__main__.py", "gdtui/cli.py", "gdtui/scenario.py"):
        assert module in names, module
    assert any(n.startswith("gdtui/engine/") for n in names)
    assert not any(n.startswith(("tests/", "scenarios/", ".venv/")) for n in names)


def test_wheel_declares_the_console_script(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode("utf-8")
    assert "[console_scripts]" in text
    lines = [line.replace(" ", "") for line in text.splitlines()]
    assert "gdtui=gdtui.cli:entry" in lines


def test_readme_and_ci_use_the_make_targets() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme
    assert "make test" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
