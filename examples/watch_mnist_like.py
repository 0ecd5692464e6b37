"""Watch your own training: a small CNN on scikit-learn's 8×8 digits, recorded by gdtui.watch().

    python examples/watch_mnist_like.py --steps 500      # writes run.jsonl as it trains
    gdtui attach run.jsonl                               # in another pane: follow it live

Only two things differ from a plain PyTorch loop: the ``with gdtui.watch(...)`` line and
``w.log(loss=loss)``.
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

import gdtui


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 8×8 digit images (scaled to [0, 1]) and their labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("this example needs scikit-learn: pip install scikit-learn")
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return images, torch.tensor(data.target)


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16×4×4
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="optimizer steps (default 500)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--out", default="run.jsonl", help="record file (default run.jsonl)")
    args = parser.parse_args()

    torch.manual_seed(0)
    images, labels = digits()
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    with gdtui.watch(model, opt, args.out) as w:
        for step in range(args.steps):
            batch = torch.randint(len(images), (args.batch,))
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.log(loss=loss)
            if step % 100 == 0:
                print(f"step {step:5d}  loss {loss.item():.4f}")

    accuracy = (model(images).argmax(1) == labels).float().mean().item()
    print(f"trained {args.steps} steps, accuracy on the digits {accuracy:.3f}; record: {args.out}")


if __name__ == "__main__":
    main()
