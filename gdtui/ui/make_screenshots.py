"""Make the README's pictures in ``screenshots/`` (``make screenshots``); deterministic."""

from __future__ import annotations

from pathlib import Path

from gdtui.scenario import resolve_scenario
from gdtui.ui.screenshot import save_attach_screenshot, save_screenshot

SHOTS = [
    ("seed-example", 1, (120, 40), [], "seed-example-step1-120x40.svg"),
    ("seed-example", 1, (80, 24), [], "seed-example-step1-80x24.svg"),
    ("adam-rosenbrock", 300, (120, 40), [], "adam-rosenbrock-120x40.svg"),
    ("momentum-ravine", 60, (120, 40), [], "momentum-ravine-120x40.svg"),
    ("lr-too-large", 200, (120, 40), ["l"], "lr-too-large-diverged-120x40.svg"),
    ("himmelblau-four-minima", 40, (80, 24), [], "himmelblau-80x24.svg"),
    ("edge-of-stability", 1000, (120, 40), [], "edge-of-stability-120x40.svg"),
    ("momentum-ravine", 30, (120, 40), ["left_curly_bracket"], "rewound-120x40.svg"),
]
# gdtui attach on the fixed record file of tests/data (a seeded watched run, fixed times).
ATTACH_SHOTS = [
    ("tests/data/attach_run.jsonl", (120, 40), ["down", "down"], "attach-120x40.svg"),
]


def main(folder: str = "screenshots") -> None:
    """Write every picture; print each path."""
    out = Path(folder)
    for name, steps, size, press, filename in SHOTS:
        path = save_screenshot(resolve_scenario(name, {}), steps, size, out / filename, press)
        print(path)
    for record, size, press, filename in ATTACH_SHOTS:
        print(save_attach_screenshot(record, size, out / filename, press))


if __name__ == "__main__":
    main()
