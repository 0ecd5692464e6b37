"""Memory of a long headless run: resident memory at 1e5, 1e6 and 1e7 steps of ``Run.step()``.

The run is the seed quadratic ``(w - 2)**2`` from w = 5 with torch.optim.SGD at lr = 1.0, where
each step maps w to 4 - w exactly: w alternates 5, -1, 5, … and the loss stays 9, so the run
neither converges nor diverges and every one of the 1e7 steps does the full work (forward,
backward, optimizer step, a StepRecord into the History). A long run must not grow: the History
is a fixed-capacity buffer, and nothing else may keep per-step objects.

    python benchmarks/long_run_memory.py [--steps-max 10000000]

At each checkpoint (1e3, 1e4, 1e5, 1e6, 1e7 up to ``--steps-max``) the current resident set size
is read from /proc/self/statm after ``gc.collect()``; the peak (VmHWM) is reported too, but a
peak never goes down, so the comparison uses current RSS. The last line is a JSON object;
``ratio`` is RSS at the last checkpoint ÷ RSS at 1e5 steps. Target: ≤ 1.10. 1e7 steps take
about 15-20 minutes on one core.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

import torch

from gdtui.engine import Run, Status, get_problem

CHECKPOINTS = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
BASELINE = 100_000
TARGET = 1.10
PAGE = os.sysconf("SC_PAGE_SIZE")


def current_rss() -> int:
    """Resident bytes now (second field of /proc/self/statm), after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def peak_rss() -> int:
    """Highest resident bytes so far (VmHWM of /proc/self/status)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def mib(value: int) -> float:
    return round(value / (1024 * 1024), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-max", type=float, default=1e7, help="last checkpoint (1e7)")
    args = parser.parse_args()
    steps_max = int(args.steps_max)
    checkpoints = [c for c in CHECKPOINTS if c <= steps_max]
    if BASELINE not in checkpoints:
        sys.exit(f"--steps-max must be at least {BASELINE:g}, the baseline checkpoint")
    torch.set_num_threads(1)
    run = Run(get_problem("quadratic"), "sgd", lr=1.0, tolerance=0.0)
    step = run.step
    rss: dict[str, float] = {}
    rates: dict[str, float] = {}
    done = 0
    start = time.perf_counter()
    for checkpoint in checkpoints:
        leg_start = time.perf_counter()
        for _ in range(checkpoint - done):
            step()
        leg = time.perf_counter() - leg_start
        assert run.status is Status.RUNNING and run.step_count == checkpoint, run.reason
        rates[str(checkpoint)] = round((checkpoint - done) / leg)
        done = checkpoint
        rss[str(checkpoint)] = mib(current_rss())
        print(
            f"{checkpoint:>10,} steps  rss {rss[str(checkpoint)]:8.2f} MiB  "
            f"{rates[str(checkpoint)]:>7,} steps/s  {time.perf_counter() - start:7.1f} s",
            file=sys.stderr,
            flush=True,
        )
    # The oscillation is exact: w is 5 after an even number of steps.
    assert run.current == (5.0,) and run.last_record is not None and run.last_record.loss == 9.0
    last = str(checkpoints[-1])
    ratio = rss[last] / rss[str(BASELINE)]
    print(
        json.dumps(
            {
                "benchmark": "long_run_memory",
                "problem": "quadratic",
                "optimizer": "sgd",
                "lr": 1.0,
                "steps": done,
                "rss_mib": rss,
                "peak_rss_mib": mib(peak_rss()),
                "steps_per_s": rates,
                "seconds": round(time.perf_counter() - start, 1),
                "ratio": round(ratio, 4),
                "target": TARGET,
                "ok": ratio <= TARGET,
            }
        )
    )


if __name__ == "__main__":
    main()
