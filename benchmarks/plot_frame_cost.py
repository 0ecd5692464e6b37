"""Frame cost of the loss plot with 1e3 vs 1e6 steps of history: it must not grow with the run.

A frame is what the app does per update: the engine's ``History.view(width)`` (a bucketed view
sized to the plot, never the raw history) and the plot's ``render_text`` at 120x40's plot size.
Histories are filled with synthetic records (no torch steps needed for a million rows).
Target: ≤ 1.5× apart, each under 30 ms.

The last line is JSON with both frame times (median ms) and ``ratio`` (1e6 ÷ 1e3).
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import time

from gdtui.engine import History, StepRecord
from gdtui.ui.widgets.loss_plot import Series, render_text

WIDTH, HEIGHT = 43, 26  # the loss plot's content size in the 120x40 layout


def filled(steps: int) -> History:
    """A history of ``steps`` synthetic records of a noisy, decaying loss with one spike."""
    history = History(("x", "y"))
    for i in range(1, steps + 1):
        loss = 9.0 * math.exp(-i / (steps / 5)) * (1 + 0.1 * math.sin(i)) + 1e-3
        if i == steps // 3:
            loss *= 50
        history.append(
            StepRecord(i, loss, (1.0, 2.0), (0.1, 0.2), 0.22, (0.9, 1.8), (-0.1, -0.2), 0.22, 0.01)
        )
    return history


def frame_ms(history: History, repeats: int = 40) -> float:
    """Median milliseconds of one frame (view + render)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        view = history.view(WIDTH - 8)
        render_text(
            [Series("adam", view.step, view.loss, view.loss_min, view.loss_max, "cyan+")],
            WIDTH,
            HEIGHT,
        )
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    small, large = filled(1_000), filled(1_000_000)
    gc.collect()
    small_runs, large_runs = [], []
    for _ in range(5):  # interleaved, so that machine noise hits both alike
        small_runs.append(frame_ms(small))
        large_runs.append(frame_ms(large))
    small_ms, large_ms = min(small_runs), min(large_runs)
    print(f"1e3 steps of history: {small_ms:6.2f} ms per frame ({len(small)} rows held)")
    print(f"1e6 steps of history: {large_ms:6.2f} ms per frame ({len(large)} rows held)")
    print(
        json.dumps(
            {
                "benchmark": "plot_frame_cost",
                "frame_ms_1e3": round(small_ms, 3),
                "frame_ms_1e6": round(large_ms, 3),
                "ratio": round(large_ms / small_ms, 3),
                "target_ratio": 1.5,
                "target_ms": 30,
            }
        )
    )


if __name__ == "__main__":
    main()
