"""Steps/s of ``ModelRun`` with full recording ÷ a plain torch loop training the same model.

Cases: the moons MLP full-batch and with batch 32, and the digits CNN with batch 64. Both sides
run in this process, interleaved in rounds (this machine is shared and noisy), and each side
reports its best round. The raw loop is what a person writes by hand: shuffle each epoch,
``zero_grad``, forward, the loss, ``backward``, ``step``, reading nothing.

    python benchmarks/model_overhead.py [--steps 300] [--rounds 3] [--device cpu] [--layer-every 1]

The last line is a JSON object: per case both rates and ``ratio`` (engine ÷ raw); ``ratio`` at the
top level is the worst case. Target: ≥ 0.85.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gdtui.engine.model_run import build_model_run

CASES = [
    ("moons-mlp/full", {"name": "moons"}, {"kind": "mlp"}, "full"),
    ("moons-mlp/32", {"name": "moons"}, {"kind": "mlp"}, 32),
    ("digits-cnn/64", {"name": "digits"}, {"kind": "cnn"}, 64),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_rate(data, model, batch_size, steps: int, device: str) -> float:
    """Steps/s of the plain loop on the engine's own model, data and optimizer settings."""
    run = build_model_run(data, model, {}, {"batch_size": batch_size, "device": device}, "adam")
    net, opt, loss_fn = run.model, run.optimizer, run.loss_fn
    x, t = run.x_train, run.t_train
    generator = torch.Generator().manual_seed(0)
    n = len(t)
    dev = run.device
    _sync(dev)
    start = time.perf_counter()
    taken = 0
    while taken < steps:
        if batch_size == "full":
            batches = [None]
        else:
            batches = torch.randperm(n, generator=generator).to(dev).split(batch_size)
        for index in batches:
            if taken == steps:
                break
            xb, tb = (x, t) if index is None else (x[index], t[index])
            opt.zero_grad()
            loss = loss_fn(net(xb), tb)
            loss.backward()
            opt.step()
            taken += 1
    _sync(dev)
    return steps / (time.perf_counter() - start)


def engine_rate(data, model, batch_size, steps: int, device: str, layer_every: int) -> float:
    """Steps/s of ``ModelRun.steps()``, recording everything (records drained at the end)."""
    run = build_model_run(
        data,
        model,
        {},
        {"batch_size": batch_size, "device": device, "steps": steps},
        "adam",
        layer_every=layer_every,
    )
    _sync(run.device)
    start = time.perf_counter()
    count = sum(1 for _ in run.steps())
    elapsed = time.perf_counter() - start
    assert count == steps, run.reason
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layer-every", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for key, data, model, batch in CASES:
        raw, eng = [], []
        raw_rate(data, model, batch, 30, args.device)  # warm-up
        engine_rate(data, model, batch, 30, args.device, args.layer_every)
        for _ in range(args.rounds):
            raw.append(raw_rate(data, model, batch, args.steps, args.device))
            eng.append(engine_rate(data, model, batch, args.steps, args.device, args.layer_every))
        results[key] = {
            "raw_steps_per_s": round(max(raw)),
            "engine_steps_per_s": round(max(eng)),
            "ratio": round(max(eng) / max(raw), 3),
        }
        print(
            f"{key:16s} raw {max(raw):8.0f}/s  engine {max(eng):8.0f}/s  "
            f"ratio {max(eng) / max(raw):.3f}"
        )
    worst = min(r["ratio"] for r in results.values())
    print(
        json.dumps(
            {
                "benchmark": "model_overhead",
                "device": args.device,
                "layer_every": args.layer_every,
                "ratio": worst,
                "cases": results,
            }
        )
    )


if __name__ == "__main__":
    main()
