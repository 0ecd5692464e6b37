"""Bytes per second that ``gdtui launch`` writes to a terminal during a long live run.

Measured in a pty (as an SSH link carries them) with ../shared/tools/ptybytes.py at 120x40, after
a warm-up, while a 2-parameter run steps as fast as it goes and the loss curve updates 3×/s. The
baseline, measured in the same run, is a naive textual-plotext app that redraws one plot whole at
the same rate (benchmarks/naive_plot_app.py). Target: ≤ 10 KB/s for gdtui.

    python benchmarks/terminal_bytes.py [--seconds 10] [--size 120x40]

The last line is JSON with both rates and ``ratio`` (gdtui ÷ naive).
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import REPO, gdtui_command, ptybytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    common = ["--size", args.size, "--warmup", str(args.warmup), "--seconds", str(args.seconds)]
    # A run that keeps going for the whole window: Adam on Rosenbrock with a small rate.
    run = ["launch", "adam-rosenbrock", "--lr", "0.00001", "--steps", "100000000"]
    gdtui = ptybytes([*common, "--keys", " "], [*gdtui_command(), *run])
    naive = ptybytes(common, [sys.executable, str(REPO / "benchmarks" / "naive_plot_app.py")])
    rate, base = gdtui["steady_bytes_per_s"], naive["steady_bytes_per_s"]
    print(f"gdtui launch (live run, 3 updates/s)  {rate / 1000:6.1f} KB/s")
    print(f"naive textual-plotext at 3 redraws/s  {base / 1000:6.1f} KB/s")
    print(
        json.dumps(
            {
                "benchmark": "terminal_bytes",
                "size": args.size,
                "gdtui_bytes_per_s": rate,
                "naive_bytes_per_s": base,
                "ratio": round(rate / base, 3) if base else None,
                "target_bytes_per_s": 10_000,
            }
        )
    )


if __name__ == "__main__":
    main()
