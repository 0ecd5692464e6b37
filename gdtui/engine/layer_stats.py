"""Per-tensor summaries of one step: backprop's half and the optimizer's half for each layer.

For a model of many parameters a record keeps, per parameter tensor (each layer's weight and
bias), eight numbers — whatever the tensor's size:

- ``grad_norm``   ‖∇‖, what ``backward()`` left in ``.grad``;
- ``param_norm``  ‖θ‖ after the step;
- ``update_norm`` ‖Δ‖ with Δ = θ after − θ before, what the optimizer actually did;
- ``ratio``       ‖Δ‖/‖θ‖, the update-to-weight ratio practitioners watch (~1e-3 healthy);
- ``cos``         cos(−∇, Δ): 1 when the step goes straight downhill;
- ``eff_lr_p10``, ``eff_lr_median``, ``eff_lr_p90``: the spread of the effective per-element
  learning rate |Δ|/|∇| over a fixed, seeded sample of at most :data:`SAMPLE_LIMIT` elements
  (exactly lr everywhere for plain SGD; Adam's per-parameter rates show as a spread).

Everything is computed on the parameters' device with batched ops and never read back per step:
:class:`LayerStats.summarize` returns one ``(tensors, 8)`` tensor on the device, and
:class:`DeviceChunks` copies such tensors to the host in chunks without a synchronisation.
This module is shared by model runs (:mod:`gdtui.engine`) and :func:`gdtui.watch`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import torch

from gdtui.summaries import SUMMARY_FIELDS as SUMMARY_FIELDS  # re-exported

SAMPLE_LIMIT = 1024
_QUANTILES = (0.5, 0.1, 0.9)  # in SUMMARY_FIELDS order


class LayerStats:
    """Summaries for a fixed list of parameter tensors.

    Usage around an optimizer step::

        stats = LayerStats(params)
        before = stats.snapshot()          # the one transient copy of the parameters
        optimizer.step()
        rows = stats.summarize(grads, before)   # (len(params), 8) on the device, no sync

    ``grads`` are the gradients the step used (``p.grad`` before the step), in ``params`` order.
    ``snapshot()`` is consumed by ``summarize`` (it becomes −Δ in place), so each step costs one
    copy of the parameters and no more.
    """

    def __init__(
        self, params: Sequence[torch.Tensor], *, sample: int = SAMPLE_LIMIT, seed: int = 0
    ):
        if not params:
            raise ValueError("LayerStats needs at least one parameter tensor")
        self.params = list(params)
        device = self.params[0].device
        dtype = self.params[0].dtype
        generator = torch.Generator().manual_seed(seed)
        self.samples: list[torch.Tensor | None] = []
        lengths = []
        for p in self.params:
            if p.numel() <= sample:
                self.samples.append(None)
                lengths.append(p.numel())
            else:
                index = torch.randperm(p.numel(), generator=generator)[:sample].sort().values
                self.samples.append(index.to(p.device))
                lengths.append(sample)
        # Every sampled ratio goes into one flat vector with a NaN at its end; row i of the
        # (tensors, longest) gather index picks tensor i's ratios and pads with that NaN. Built
        # once here, so a step copies nothing from the host (no cuda synchronisation).
        total = sum(lengths)
        gather = torch.full((len(lengths), max(lengths)), total, dtype=torch.long)
        offset = 0
        for row, length in enumerate(lengths):
            gather[row, :length] = torch.arange(offset, offset + length)
            offset += length
        self._gather = gather.to(device)
        self._nan = torch.full((1,), math.nan, dtype=dtype, device=device)
        self._q = torch.tensor(_QUANTILES, dtype=dtype).to(device)

    def snapshot(self) -> list[torch.Tensor]:
        """A copy of the parameters now (call just before ``optimizer.step()``)."""
        with torch.no_grad():
            return [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def summarize(self, grads: Sequence[torch.Tensor], before: list[torch.Tensor]) -> torch.Tensor:
        """One row of :data:`SUMMARY_FIELDS` per parameter, on the parameters' device.

        ``before`` (from :meth:`snapshot`) is overwritten with −Δ. Undefined values (cos with a
        zero gradient or update, the ratio of a zero tensor, no element with a gradient) are NaN.
        """
        after = [p.detach() for p in self.params]
        grads = [g.detach() for g in grads]
        torch._foreach_sub_(before, after)  # before − after = −Δ
        minus_delta = before
        grad_norm = torch.stack(torch._foreach_norm(grads))
        param_norm = torch.stack(torch._foreach_norm(after))
        update_norm = torch.stack(torch._foreach_norm(minus_delta))
        # −∇·Δ = ∇·(−Δ)
        dot = torch.stack(
            [
                torch.dot(g.reshape(-1), d.reshape(-1))
                for g, d in zip(grads, minus_delta, strict=True)
            ]
        )
        nan = self._nan.to(grad_norm.dtype)
        denom = grad_norm * update_norm
        cos = torch.where(denom > 0, dot / denom, nan).clamp(-1.0, 1.0)
        ratio = torch.where(param_norm > 0, update_norm / param_norm, nan)
        quantiles = self._effective_lr(grads, minus_delta)
        rows = torch.stack([grad_norm, param_norm, update_norm, ratio, cos], dim=1)
        return torch.cat([rows, quantiles.to(rows.dtype)], dim=1)

    def _effective_lr(
        self, grads: list[torch.Tensor], minus_delta: list[torch.Tensor]
    ) -> torch.Tensor:
        """Median, 10 % and 90 % of |Δ|/|∇| per tensor over its sample (NaN where ∇ = 0).

        All tensors at once: the sampled ratios go into one padded (tensors, longest) matrix.
        torch.nanquantile checks its ``q`` on the host (a synchronisation on cuda), so the
        quantiles are taken here by sorting: NaNs sort last, and the rank of each quantile is
        interpolated linearly between the valid values, as ``nanquantile`` does.
        """
        g_sampled, d_sampled = [], []
        for g, d, index in zip(grads, minus_delta, self.samples, strict=True):
            g, d = g.reshape(-1), d.reshape(-1)
            if index is not None:
                g, d = g.index_select(0, index), d.index_select(0, index)
            g_sampled.append(g)
            d_sampled.append(d)
        ratios = torch._foreach_div(torch._foreach_abs(d_sampled), torch._foreach_abs(g_sampled))
        flat = torch.cat([*ratios, self._nan.to(ratios[0].dtype)])
        # |Δ|/0 is inf (or NaN): where ∇ = 0 the effective rate is undefined.
        padded = flat[self._gather].nan_to_num(nan=math.nan, posinf=math.nan)
        valid = (~padded.isnan()).sum(dim=1, keepdim=True)
        ordered = padded.sort(dim=1).values  # NaN sorts last
        rank = (valid - 1).clamp(min=0).to(padded.dtype) * self._q.to(padded.dtype)
        low = rank.floor().long()
        high = rank.ceil().long()
        frac = rank - low.to(rank.dtype)
        value = torch.lerp(ordered.gather(1, low), ordered.gather(1, high), frac)
        return torch.where(valid > 0, value, self._nan.to(value.dtype))


Meta = TypeVar("Meta")


class DeviceChunks(Generic[Meta]):
    """Rows that stay on their device until copied to the host in chunks, never one per step.

    ``push(meta, rows)`` keeps a device tensor with whatever the caller pairs it with; ``poll()``
    returns ``(meta, numpy rows)`` for every chunk whose copy has landed. On cuda a chunk is
    started at most every ``interval`` seconds (a stack, a non-blocking copy into pinned memory
    and an event), and ``poll`` only looks at the event, so the training loop is never made to
    wait; ``poll(wait=True)`` (at the end) waits for everything. On the cpu rows are ready at once.
    """

    def __init__(self, device: torch.device, interval: float = 0.5):
        self.device = torch.device(device)
        self.interval = interval
        self._pending: list[tuple[Meta, torch.Tensor]] = []
        self._in_flight: list[tuple[list[Meta], torch.Tensor, torch.cuda.Event | None]] = []
        self._last_start = time.monotonic()

    def push(self, meta: Meta, rows: torch.Tensor) -> None:
        """Keep ``rows`` (on the device) until the next chunk."""
        self._pending.append((meta, rows))
        if self.device.type != "cuda" or time.monotonic() - self._last_start >= self.interval:
            self._start()

    def _start(self) -> None:
        if not self._pending:
            return
        metas = [m for m, _ in self._pending]
        stacked = torch.stack([r for _, r in self._pending])
        self._pending = []
        self._last_start = time.monotonic()
        if self.device.type == "cuda":
            host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
            host.copy_(stacked, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._in_flight.append((metas, host, event))
        else:
            self._in_flight.append((metas, stacked, None))

    def poll(self, wait: bool = False) -> list[tuple[Meta, np.ndarray]]:
        """Chunks that have reached the host, oldest first (``wait``: everything, now)."""
        if wait:
            self._start()
        out: list[tuple[Meta, np.ndarray]] = []
        while self._in_flight:
            metas, host, event = self._in_flight[0]
            if event is not None:
                if wait:
                    event.synchronize()
                elif not event.query():
                    break
            self._in_flight.pop(0)
            array = host.double().numpy() if host.dtype != torch.float64 else host.numpy()
            out.extend(zip(metas, array, strict=True))
        return out

    @property
    def pending(self) -> int:
        """Rows not yet returned by :meth:`poll`."""
        return len(self._pending) + sum(len(m) for m, _, _ in self._in_flight)
