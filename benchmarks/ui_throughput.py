"""Steps/s of a live run inside the app at full speed ÷ the headless engine's steps/s.

Same scenario, same settings, same process: the engine alone (``Run.step()`` in a loop), then
the app under ``App.run_test`` (headless, 120x40) running as fast as it goes for ``--seconds``
while it draws 3 updates a second, then the engine again; rates are steps over wall time, the
engine's is the better of its two rounds. Target: ratio ≥ 0.75.

    python benchmarks/ui_throughput.py [--seconds 5]

The last line is JSON with the rates per case and ``ratio`` (the worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from gdtui.scenario import resolve_scenario
from gdtui.ui.app import GdtuiApp
from gdtui.ui.screenshot import wait_drawn

# Runs that keep going for the whole window (tiny learning rates, huge step budgets).
CASES = [
    ("seed-example", {"lr": "0.000001", "steps": 10**9, "tolerance": 0.0}),
    ("adam-rosenbrock", {"lr": "0.00001", "steps": 10**9, "tolerance": 0.0}),
]


def engine_rate(name: str, overrides: dict, seconds: float) -> float:
    """Steps/s of the engine alone."""
    run = resolve_scenario(name, overrides).build_run()
    step = run.step
    start = time.perf_counter()
    deadline = start + seconds
    count = 0
    while time.perf_counter() < deadline:
        for _ in range(256):
            step()
        count += 256
    return count / (time.perf_counter() - start)


async def app_rate(name: str, overrides: dict, seconds: float) -> float:
    """Steps/s inside the app, measured from the step counts the app itself received."""
    app = GdtuiApp(scenario=resolve_scenario(name, overrides), deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_drawn(app, 0)
        main = app.main_screen

        def step_count() -> int:
            return main.snapshot.step if main.snapshot is not None else 0

        await pilot.press("space")
        while step_count() == 0:
            await asyncio.sleep(0.01)
        first_step, first_time = step_count(), time.perf_counter()
        await asyncio.sleep(seconds)
        while step_count() <= first_step:
            await asyncio.sleep(0.01)
        last_step, last_time = step_count(), time.perf_counter()
        await pilot.press("space")
    return (last_step - first_step) / (last_time - first_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    cases = {}
    for name, overrides in CASES:
        before = engine_rate(name, overrides, args.seconds)
        inside = asyncio.run(app_rate(name, overrides, args.seconds))
        after = engine_rate(name, overrides, args.seconds)
        engine = max(before, after)
        cases[name] = {
            "engine_steps_per_s": round(engine),
            "app_steps_per_s": round(inside),
            "ratio": round(inside / engine, 3),
        }
        print(
            f"{name:18s} engine {engine:8.0f}/s  in the app {inside:8.0f}/s  ratio {inside / engine:.3f}"
        )
    worst = min(c["ratio"] for c in cases.values())
    print(json.dumps({"benchmark": "ui_throughput", "ratio": worst, "cases": cases}))


if __name__ == "__main__":
    main()
