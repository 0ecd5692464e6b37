"""Steps/s of ``Run.step()`` with full recording ÷ a plain torch loop, same problem and optimizer.

Both run in this process, interleaved in rounds (this machine is shared and noisy), and each side
reports its best round. The raw loop is what a person writes by hand: ``zero_grad``, a
hand-written loss, ``backward``, ``step``, reading nothing.

    python benchmarks/engine_overhead.py [--steps 4000] [--rounds 5]

The last line is a JSON object: per case, both rates and ``ratio`` (engine ÷ raw); ``ratio`` at the
top level is the worst case. Target: ≥ 0.85.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gdtui.engine import Run, get_problem, make_optimizer


def seed_loss(w: torch.Tensor) -> torch.Tensor:
    """The worked example, written by hand."""
    return (w - 2) ** 2


def rosenbrock_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Rosenbrock with a=1, b=100, written by hand."""
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


CASES = [
    ("quadratic", seed_loss, "sgd", 1e-3),
    ("quadratic", seed_loss, "adam", 1e-3),
    ("rosenbrock", rosenbrock_loss, "sgd", 1e-4),
    ("rosenbrock", rosenbrock_loss, "adam", 1e-3),
]


def raw_rate(problem_name: str, loss_fn, optimizer: str, lr: float, steps: int) -> float:
    """Steps/s of the plain loop."""
    problem = get_problem(problem_name)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in problem.init]
    opt = make_optimizer(optimizer, params, lr)
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(*params)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def engine_rate(problem_name: str, optimizer: str, lr: float, steps: int) -> float:
    """Steps/s of ``Run.step()``, recording everything."""
    run = Run(get_problem(problem_name), optimizer, lr, tolerance=0.0)
    step = run.step
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    assert run.step_count == steps, run.reason
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for problem_name, loss_fn, optimizer, lr in CASES:
        raw, eng = [], []
        raw_rate(problem_name, loss_fn, optimizer, lr, 500)  # warm-up
        engine_rate(problem_name, optimizer, lr, 500)
        for _ in range(args.rounds):
            raw.append(raw_rate(problem_name, loss_fn, optimizer, lr, args.steps))
            eng.append(engine_rate(problem_name, optimizer, lr, args.steps))
        key = f"{problem_name}/{optimizer}"
        results[key] = {
            "raw_steps_per_s": round(max(raw)),
            "engine_steps_per_s": round(max(eng)),
            "ratio": round(max(eng) / max(raw), 3),
        }
        print(
            f"{key:20s} raw {max(raw):8.0f}/s  engine {max(eng):8.0f}/s  ratio {max(eng) / max(raw):.3f}"
        )
    worst = min(r["ratio"] for r in results.values())
    print(json.dumps({"benchmark": "engine_overhead", "ratio": worst, "cases": results}))


if __name__ == "__main__":
    main()
