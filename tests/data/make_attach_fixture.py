"""Write ``attach_run.jsonl``: the fixed record file the attach snapshots and screenshot show.

A seeded two-layer MLP learns a seeded three-class problem for 60 Adam steps under
``gdtui.watch`` (two param groups with their own lr, and one parameter that never gets a
gradient). Only the wall-clock times are then replaced by fixed ones (a step every 50 ms from
a fixed start), so that steps/s and the pictures do not depend on the machine's speed; every
other number is what gdtui.watch recorded. Run from the repository root::

    .venv/bin/python tests/data/make_attach_fixture.py
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

import gdtui

OUT = Path(__file__).with_name("attach_run.jsonl")
START = 1_700_000_000.0
STEPS = 60


def main() -> None:
    """Train, record, then fix the times."""
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 0.8).long()
    model = nn.Sequential(OrderedDict(hidden=nn.Linear(4, 16), act=nn.Tanh(), out=nn.Linear(16, 3)))
    model.register_parameter("unused", nn.Parameter(torch.zeros(2)))  # never gets a gradient
    optimizer = torch.optim.Adam(
        [
            {"params": [*model.hidden.parameters(), model.unused], "lr": 1e-2},
            {"params": model.out.parameters(), "lr": 3e-3},
        ]
    )
    loss_fn = nn.CrossEntropyLoss()
    raw = OUT.with_suffix(".tmp")
    with gdtui.watch(model, optimizer, raw) as w:
        for step in range(STEPS):
            batch = slice((step * 32) % 256, (step * 32) % 256 + 32)
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            w.log(loss=loss)
    lines = []
    for line in raw.read_text().splitlines():
        obj = json.loads(line)
        if "format" in obj:
            obj["started"] = START
            obj["torch"] = "2.x"  # not shown; fixed so the file does not change with torch
        elif obj.get("end"):
            obj["time"] = START + 0.05 * STEPS
        else:
            obj["time"] = START + 0.05 * obj["step"]
        lines.append(json.dumps(obj, separators=(",", ":")))
    OUT.write_text("\n".join(lines) + "\n")
    raw.unlink()
    print(f"wrote {OUT} ({len(lines)} lines)")


if __name__ == "__main__":
    main()
