"""A 64-rate × 1,000-step learning-rate sweep on Rosenbrock: vectorised ÷ 64 plain loops.

The vectorised side is :func:`gdtui.engine.sweep.sweep` (one batch, one optimizer, with its
bookkeeping: statuses, edge, λmax). The plain side is what a person writes by hand: one
``torch.optim`` loop per rate, ``zero_grad``, the same compiled loss, ``backward``, ``step``, run
one after another in this process. Both in float64 on the CPU, one thread, interleaved in rounds
(this machine is shared and noisy); each side reports its best round.

    python benchmarks/sweep_speed.py [--rates 64] [--steps 1000] [--rounds 3]

The last line is a JSON object with ``speedup_sgd``, ``speedup_momentum`` and ``speedup_adam``.
Targets: ≥ 10× for SGD and momentum, ≥ 3× for Adam.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gdtui.engine import get_problem, make_optimizer
from gdtui.engine.sweep import sweep

# Rates that span slow descent to close to the edge (some of the largest diverge for momentum).
CASES = {
    "sgd": (1e-5, 2e-3),
    "momentum": (1e-6, 5e-4),
    "adam": (1e-4, 1e-1),
}


def plain_seconds(optimizer: str, lrs: list[float], steps: int) -> float:
    """Seconds for one plain torch loop per rate, one after another."""
    problem = get_problem("rosenbrock")
    loss_fn = problem.loss
    start = time.perf_counter()
    for lr in lrs:
        params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
        opt = make_optimizer(optimizer, params, lr)
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(*params).backward()
            opt.step()
    return time.perf_counter() - start


def sweep_seconds(optimizer: str, lrs: list[float], steps: int) -> float:
    """Seconds for the vectorised sweep over the same rates."""
    start = time.perf_counter()
    result = sweep(get_problem("rosenbrock"), optimizer, lrs, steps=steps)
    elapsed = time.perf_counter() - start
    assert result.steps_done == steps and result.mode in ("gradient", "update"), result.mode
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out: dict[str, object] = {"benchmark": "sweep_speed", "rates": args.rates, "steps": args.steps}
    for optimizer, (lo, hi) in CASES.items():
        lrs = [float(v) for v in np.geomspace(lo, hi, args.rates)]
        sweep_seconds(optimizer, lrs[:4], 50)  # warm-up
        plain_seconds(optimizer, lrs[:4], 50)
        plain, vec = [], []
        for _ in range(args.rounds):
            vec.append(sweep_seconds(optimizer, lrs, args.steps))
            plain.append(plain_seconds(optimizer, lrs, args.steps))
        speedup = min(plain) / min(vec)
        print(
            f"{optimizer:9s} plain {min(plain):7.3f} s  vectorised {min(vec):6.3f} s  "
            f"speed-up {speedup:5.1f}×"
        )
        out[f"plain_s_{optimizer}"] = round(min(plain), 4)
        out[f"sweep_s_{optimizer}"] = round(min(vec), 4)
        out[f"speedup_{optimizer}"] = round(speedup, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
