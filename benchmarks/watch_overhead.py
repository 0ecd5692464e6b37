"""Steps/s of a real training loop with and without ``gdtui.watch(every=1)`` (not a test).

Two loops, each timed plain and watched in the same process, alternating, ``--repeats`` times:
a small CNN on the 8×8 digits (batch 64) and an MLP (64-256-256-10, batch 64), both Adam. The
data are scikit-learn's digits when it is installed, else random images of the same shape (the
speed does not depend on the pixels). Target: watched/plain ≥ 0.9 on the cpu, ≥ 0.95 on cuda.

``--device cuda --sync-debug`` runs each watched loop under
``torch.cuda.set_sync_debug_mode("error")`` and reports whether anything synchronised.
The last line of the output is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import gdtui


def data(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels, source = torch.tensor(digits.target), "sklearn digits"
    except ImportError:
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(1797, 1, 8, 8, generator=generator)
        labels, source = torch.randint(10, (1797,), generator=generator), "random 8x8 images"
    return images.to(device), labels.to(device), source


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def run(model, opt, images, labels, steps: int, batch: int, w=None) -> float:
    """``steps`` optimizer steps; returns steps/s. No .item() and no host sync in the loop."""
    device = images.device
    generator = torch.Generator(device=device).manual_seed(0)
    indices = torch.randint(len(images), (steps, batch), device=device, generator=generator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        x, y = images[indices[i]], labels[indices[i]]
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if w is not None:
            w.log(loss=loss)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def measure(name, build, images, labels, args, folder: Path) -> dict:
    torch.manual_seed(0)
    model = build().to(images.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    run(model, opt, images, labels, 20, args.batch)  # warm-up
    rate = run(model, opt, images, labels, 50, args.batch)
    steps = max(50, int(rate * args.seconds))
    plain, watched, synced = [], [], []
    for repeat in range(args.repeats):
        plain.append(run(model, opt, images, labels, steps, args.batch))
        w = gdtui.watch(model, opt, folder / f"{name}{repeat}.jsonl", every=args.every)
        run(model, opt, images, labels, 2, args.batch, w)  # one-off set-up copies, not timed
        try:
            if args.sync_debug:
                torch.cuda.set_sync_debug_mode("error")
            watched.append(run(model, opt, images, labels, steps, args.batch, w))
        except RuntimeError as error:
            synced.append(str(error).splitlines()[0])
        finally:
            if args.sync_debug:
                torch.cuda.set_sync_debug_mode(0)
            w.close()
    result = {
        "steps_per_run": steps,
        "plain_steps_per_s": round(statistics.median(plain), 1),
        "watched_steps_per_s": round(statistics.median(watched), 1) if watched else None,
        "ratio": round(statistics.median(watched) / statistics.median(plain), 3)
        if watched
        else None,
    }
    if args.sync_debug:
        result["synchronised"] = synced[0] if synced else False
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch cpu threads (0: default)")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--every", type=int, default=1, help="watch(every=N) (default 1)")
    parser.add_argument("--sync-debug", action="store_true", help="cuda: error on any sync")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.sync_debug and device.type != "cuda":
        sys.exit("--sync-debug needs --device cuda")
    images, labels, source = data(device)
    results = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "every": args.every,
        "data": source,
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, build in (("cnn", cnn), ("mlp", mlp)):
            results[name] = measure(name, build, images, labels, args, Path(folder))
            print(f"{name}: {results[name]}", file=sys.stderr)
    results["target"] = 0.95 if device.type == "cuda" else 0.9
    print(json.dumps(results))


if __name__ == "__main__":
    main()
