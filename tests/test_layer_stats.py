"""Per-tensor step summaries (gdtui.engine.layer_stats) against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdtui.engine.layer_stats import SUMMARY_FIELDS, DeviceChunks, LayerStats


def _step(optimizer_cls, **kw):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.double()
    params = list(model.parameters())
    opt = optimizer_cls(params, **kw)
    x = torch.randn(8, 3, dtype=torch.float64)
    y = torch.randn(8, 2, dtype=torch.float64)
    stats = LayerStats(params)
    rows = None
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        grads = [p.grad.clone() for p in params]
        before = stats.snapshot()
        by_hand_before = [b.clone() for b in before]
        opt.step()
        rows = stats.summarize([p.grad for p in params], before).numpy()
    return params, grads, by_hand_before, rows


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (torch.optim.SGD, {"lr": 0.1}),
        (torch.optim.Adam, {"lr": 0.01}),
        (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    ],
)
def test_summaries_equal_hand_computation(cls, kw):
    params, grads, before, rows = _step(cls, **kw)
    assert rows.shape == (len(params), len(SUMMARY_FIELDS))
    for row, p, g, b in zip(rows, params, grads, before, strict=True):
        theta = p.detach().numpy().ravel()
        grad = g.numpy().ravel()
        delta = theta - b.numpy().ravel()
        got = dict(zip(SUMMARY_FIELDS, row, strict=True))
        assert got["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-12)
        assert got["param_norm"] == pytest.approx(np.linalg.norm(theta), rel=1e-12)
        assert got["update_norm"] == pytest.approx(np.linalg.norm(delta), rel=1e-12)
        assert got["ratio"] == pytest.approx(
            np.linalg.norm(delta) / np.linalg.norm(theta), rel=1e-12
        )
        cos = -grad @ delta / (np.linalg.norm(grad) * np.linalg.norm(delta))
        assert got["cos"] == pytest.approx(cos, rel=1e-9)
        eff = np.abs(delta) / np.abs(grad)
        for q, name in ((50, "eff_lr_median"), (10, "eff_lr_p10"), (90, "eff_lr_p90")):
            assert got[name] == pytest.approx(np.percentile(eff, q), rel=1e-9)


def test_plain_sgd_effective_lr_is_lr_everywhere():
    *_, rows = _step(torch.optim.SGD, lr=0.1)
    for row in rows:
        got = dict(zip(SUMMARY_FIELDS, row, strict=True))
        assert got["cos"] == pytest.approx(1.0)
        for name in ("eff_lr_median", "eff_lr_p10", "eff_lr_p90"):
            assert got[name] == pytest.approx(0.1, rel=1e-9)


def test_sample_is_bounded_seeded_and_zero_gradients_are_undefined():
    big = torch.zeros(10_000, requires_grad=True)
    stats = LayerStats([big], sample=100, seed=3)
    again = LayerStats([big], sample=100, seed=3)
    assert stats.samples[0] is not None and stats.samples[0].numel() == 100
    assert torch.equal(stats.samples[0], again.samples[0])
    grad = torch.zeros(10_000)
    before = stats.snapshot()
    with torch.no_grad():
        big.add_(1.0)
    row = dict(zip(SUMMARY_FIELDS, stats.summarize([grad], before)[0].tolist(), strict=True))
    assert row["grad_norm"] == 0.0
    assert row["update_norm"] == pytest.approx(100.0)
    assert math.isnan(row["cos"]) and math.isnan(row["eff_lr_median"])


def test_device_chunks_on_cpu_return_rows_in_order():
    chunks: DeviceChunks[int] = DeviceChunks(torch.device("cpu"))
    for step in range(1, 4):
        chunks.push(step, torch.full((2, 8), float(step)))
    got = chunks.poll(wait=True)
    assert [m for m, _ in got] == [1, 2, 3]
    assert got[2][1].shape == (2, 8) and got[2][1][0, 0] == 3.0
    assert chunks.pending == 0
