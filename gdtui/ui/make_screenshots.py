"""Make the README's pictures in ``screenshots/`` (``make screenshots``); deterministic."""

from __future__ import annotations

from pathlib import Path

from gdtui.scenario import resolve_scenario
from gdtui.ui.screenshot import save_screenshot

SHOTS = [
    ("seed-example", 1, (120, 40), [], "seed-example-step1-120x40.svg"),
    ("seed-example", 1, (80, 24), [], "seed-example-step1-80x24.svg"),
    ("adam-rosenbrock", 300, (120, 40), [], "adam-rosenbrock-120x40.svg"),
    ("momentum-ravine", 60, (120, 40), [], "momentum-ravine-120x40.svg"),
    ("lr-too-large", 200, (120, 40), ["l"], "lr-too-large-diverged-120x40.svg"),
    ("himmelblau-four-minima", 40, (80, 24), [], "himmelblau-80x24.svg"),
]


def main(folder: str = "screenshots") -> None:
    """Write every picture; print each path."""
    out = Path(folder)
    for name, steps, size, press, filename in SHOTS:
        path = save_screenshot(resolve_scenario(name, {}), steps, size, out / filename, press)
        print(path)


if __name__ == "__main__":
    main()
