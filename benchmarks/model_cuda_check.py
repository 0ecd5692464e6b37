"""The cuda path of model runs, checked on a GPU (not a test: tests never need one).

Trains each case with ``torch.cuda.set_sync_debug_mode("error")`` around the stepping, so any
synchronisation in the recording (or the step) raises; then drains the records, compares a
float64 cuda run's losses with the same run on the cpu, and times the engine against a plain
loop on cuda (benchmarks/model_overhead.py). Last line: JSON.

    python benchmarks/model_cuda_check.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from gdtui.engine.model_run import build_model_run

CASES = [
    ("regression/small/adam", {"name": "regression"}, {}, {}, "adam", "full"),
    ("moons-mlp/32/adam", {"name": "moons"}, {"kind": "mlp"}, {}, "adam", 32),
    ("moons-mlp/full/sgd", {"name": "moons"}, {"kind": "mlp"}, {}, "sgd", "full"),
    ("blobs-logistic/mse", {"name": "blobs"}, {"kind": "logistic"}, {"fn": "mse"}, "sgd", 16),
    ("digits-cnn/64/adam", {"name": "digits"}, {"kind": "cnn"}, {}, "adam", 64),
]


def main() -> None:
    assert torch.cuda.is_available(), "no GPU"
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cases": {}}
    for key, data, model, loss, opt, batch in CASES:
        run = build_model_run(
            data,
            model,
            loss,
            {"batch_size": batch, "steps": 400, "device": "cuda"},
            opt,
            0.01,
            layer_every=1,
            chunk_interval=0.05,
        )
        # The first step outside the check: LayerStats makes its quantile tensor once, on its
        # first summary, with a host-to-device copy (a one-time synchronisation, not per step).
        landed_while_running = len(run.step())
        torch.cuda.synchronize()
        start = time.perf_counter()
        torch.cuda.set_sync_debug_mode("error")
        try:
            while run.taken < 400:
                landed_while_running += len(run.step())
        finally:
            torch.cuda.set_sync_debug_mode(0)
        rest = run.drain()
        elapsed = time.perf_counter() - start
        last = run.last_record
        out["cases"][key] = {
            "status": str(run.status),
            "records": run.step_count,
            "landed_while_running": landed_while_running,
            "landed_at_drain": len(rest),
            "steps_per_s": round(400 / elapsed),
            "last_loss": last.loss,
            "val_accuracy": run.epochs[-1].val_accuracy if run.epochs else None,
            "has_layers": last.layers is not None,
        }
        print(key, out["cases"][key], flush=True)
    # float64: the cuda run's batch losses match the cpu run's
    losses = {}
    for device in ("cpu", "cuda"):
        run = build_model_run(
            {"name": "moons"},
            {"kind": "mlp"},
            {},
            {"batch_size": 32, "steps": 100, "device": device, "dtype": "float64"},
            "sgd",
            0.1,
        )
        losses[device] = [r.loss for r in run.steps()]
    diff = max(abs(a - b) for a, b in zip(losses["cpu"], losses["cuda"], strict=True))
    out["cpu_vs_cuda_float64_max_loss_diff"] = diff
    print("cpu vs cuda float64 max |Δloss|", diff, flush=True)
    bench = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("model_overhead.py")),
            "--device",
            "cuda",
            "--steps",
            "500",
            "--rounds",
            "3",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(bench.stdout, flush=True)
    out["overhead_cuda_default"] = json.loads(bench.stdout.strip().splitlines()[-1])
    bench = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("model_overhead.py")),
            "--device",
            "cuda",
            "--steps",
            "500",
            "--rounds",
            "3",
            "--layer-every",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(bench.stdout, flush=True)
    out["overhead_cuda_layer_every_1"] = json.loads(bench.stdout.strip().splitlines()[-1])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
