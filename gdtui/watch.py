"""``gdtui.watch``: record both halves of every step of your own PyTorch training loop.

Two added lines::

    with gdtui.watch(model, optimizer, "run.jsonl") as w:
        for x, y in loader:
            ...
            loss.backward()
            optimizer.step()
            w.log(loss=loss)

The optimizer's step hooks take, per parameter tensor, what backprop left in ``.grad`` and what
``step()`` then did to the tensor (:class:`~gdtui.engine.layer_stats.LayerStats`), on the
parameters' device and without a synchronisation; a background thread writes the summaries to a
JSON-lines record file (format in :mod:`gdtui.recordfile`) that ``gdtui attach`` follows live.
The hooks only read: the watched run is bit-identical to the unwatched one.
"""

from __future__ import annotations

import atexit
import json
import math
import numbers
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gdtui.engine.layer_stats import SUMMARY_FIELDS, DeviceChunks, LayerStats
from gdtui.recordfile import FIELDS, FORMAT, VERSION, rank_path

assert tuple(SUMMARY_FIELDS) == FIELDS  # the reader (torch-free) keeps its own copy

# Elements per tensor sampled for the effective-lr quantiles: sorting the sample is the largest
# cost of a recorded step on the cpu, and 1,024 elements put the 10 % and 90 % points within
# about one percentile of the whole tensor's.
SAMPLE = 1024
# A recorded step takes log() values until the next step, or until it has been open this long.
_LOG_GRACE = 2.0
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@dataclass
class _StepMeta:
    """What the host knows of a recorded step when its summaries are pushed to the device queue."""

    step: int
    time: float
    present: tuple[int, ...]


@dataclass
class _Pending:
    """A recorded step being put together by the writer from its parts."""

    meta: _StepMeta | None = None
    rows: Any = None
    host_values: dict | None = None  # set when the step is closed (no more log() for it)
    device_keys: tuple = ()
    device_values: dict = field(default_factory=dict)

    def complete(self) -> bool:
        return (
            self.meta is not None
            and self.host_values is not None
            and len(self.device_values) == len(self.device_keys)
        )


def _jsonable(value: Any) -> Any:
    """A hyper-parameter as JSON data (tuples → lists, one-element tensors → numbers, NaN → null)."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _clean(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


class Watch:
    """Records every ``every``-th step of ``optimizer`` into the record file ``path``.

    ``model`` is an ``nn.Module`` (names from ``named_parameters()``) or a list of
    ``(name, tensor)``; the tensors that ``optimizer`` updates are watched, in that order (frozen
    ones that are not in the optimizer are left out). A parameter without a gradient at a step is
    recorded as null. Use it as a context manager, or call :meth:`close` yourself; normal exit,
    SIGTERM and SIGHUP flush the file too (your own handlers for those signals still run).

    Under ``torch.distributed`` (initialised before ``watch()``), rank 0 writes ``path`` and rank
    r ≥ 1 writes ``STEM.rank{r}SUFFIX`` next to it. An existing file at that path is replaced.
    Signal handlers are installed only when ``watch()`` is called from the main thread. Steps that
    a ``GradScaler`` skips are no optimizer steps and are not counted. The recorded gradient is
    the ``.grad`` that ``step()`` found (torch.optim's optimizers never change it in place).
    """

    def __init__(
        self,
        model: torch.nn.Module | Iterable[tuple[str, torch.Tensor]],
        optimizer: torch.optim.Optimizer,
        path: str | os.PathLike,
        *,
        every: int = 1,
        sample: int = SAMPLE,
        flush_interval: float = 0.5,
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"watch(): every must be an integer ≥ 1, got {every!r}")
        named = model.named_parameters() if isinstance(model, torch.nn.Module) else model
        group_of = {
            id(p): g for g, group in enumerate(optimizer.param_groups) for p in group["params"]
        }
        self.names: list[str] = []
        self.params: list[torch.Tensor] = []
        self.groups: list[int] = []
        seen: set[int] = set()
        for name, tensor in named:
            if id(tensor) in group_of and id(tensor) not in seen:
                seen.add(id(tensor))
                self.names.append(str(name))
                self.params.append(tensor)
                self.groups.append(group_of[id(tensor)])
        if not self.params:
            raise ValueError("watch(): none of the model's parameters is in the optimizer")
        devices = sorted({str(p.device) for p in self.params})
        if len(devices) > 1:
            raise ValueError(f"watch(): parameters on several devices ({', '.join(devices)})")
        self.device = self.params[0].device
        self.optimizer = optimizer
        self.every = every
        self.rank, self.world_size = _distributed()
        self.path = rank_path(path, self.rank)
        self.steps = 0  # optimizer steps seen
        self._in_hook = False  # inside the step hook: a signal waits for its end
        self._pending_signal: tuple[int, Any] | None = None
        self.recorded = 0  # step lines written
        self.closed = False

        self._stats = LayerStats(self.params, sample=sample)
        self._subsets: dict[tuple[int, ...], tuple[LayerStats, torch.Tensor | None]] = {}
        self._nan_rows: torch.Tensor | None = None
        self._chunks: DeviceChunks[_StepMeta] = DeviceChunks(self.device, flush_interval)
        self._value_chunks: dict[torch.device, DeviceChunks[tuple[int, tuple]]] = {}
        # Re-entrant: a SIGTERM handler that flushes may run while the main thread holds them.
        self._chunk_lock = threading.RLock()
        self._open_lock = threading.RLock()
        self._write_lock = threading.RLock()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[int, _Pending] = {}
        self._taking: tuple | None = None  # set by the pre-hook of a recorded step
        # The last recorded step, still taking log(): (step, host values, device keys, opened at).
        self._open: tuple[int, dict, set, float] | None = None
        self._early: dict[tuple, Any] = {}  # log() before the first step: kept for step 1
        self._interval = flush_interval
        self._error: BaseException | None = None
        self._pid = os.getpid()

        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._file.write(json.dumps(self._header(), allow_nan=False) + "\n")
        self._file.flush()

        self._handles = [
            optimizer.register_step_pre_hook(self._pre_hook),
            optimizer.register_step_post_hook(self._post_hook),
        ]
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._writer, name="gdtui-watch", daemon=True)
        self._thread.start()
        self._previous_handlers: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous_handlers[signum] = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------ public

    def log(self, **scalars: Any) -> None:
        """Attach scalars (``loss=loss``, …) to the latest optimizer step.

        Call it after ``optimizer.step()``: the values belong to the step just taken (the loss
        that step's gradient came from). Values logged before the first step are kept for step 1;
        values for a step that is not recorded (``every`` > 1) are dropped, and so are values
        logged more than 2 s after their step when no step came since (the step is written
        then). A tensor stays on its device (no ``.item()``, no synchronisation) and reaches the
        file with the step's chunk.
        """
        values = {("scalar", str(k)): self._value(k, v) for k, v in scalars.items()}
        if self.closed:
            return
        with self._open_lock:
            if self.steps == 0:
                self._early.update(values)
            elif self._open is not None and self._open[0] == self.steps:
                self._add_values(values)

    def close(self, reason: str = "closed") -> None:
        """Record everything still pending, write the end line, remove the hooks; idempotent."""
        if self.closed:
            return
        self.closed = True
        for handle in self._handles:
            handle.remove()
        for signum, previous in self._previous_handlers.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous)
        atexit.unregister(self._at_exit)
        self._stop.set()
        self._wake.set()
        self._thread.join()
        with self._write_lock:
            self._flush(wait=True)
            end = {
                "end": True,
                "time": time.time(),
                "steps": self.steps,
                "recorded": self.recorded,
                "reason": reason,
            }
            try:
                if self._error is None:
                    self._write_lines([json.dumps(end)])
            finally:
                self._file.close()

    def flush(self) -> None:
        """Write every step taken so far (waits for the device's copies; closes the last step)."""
        with self._write_lock:
            self._flush(wait=True)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close("closed" if exc_type is None else f"error: {exc_type.__name__}")

    # ------------------------------------------------------------------ hooks

    def _pre_hook(self, optimizer, args, kwargs) -> None:
        self._close_open_step()
        step = self.steps + 1
        if step % self.every:
            self._taking = None
            return
        present = tuple(i for i, p in enumerate(self.params) if p.grad is not None)
        lrs = [group["lr"] for group in optimizer.param_groups]
        if not present:
            self._taking = (step, present, None, None, None, lrs)
            return
        stats = self._subset(present)[0]
        grads = [self.params[i].grad for i in present]
        self._taking = (step, present, stats, grads, stats.snapshot(), lrs)

    def _post_hook(self, optimizer, args, kwargs) -> None:
        # A signal handled in the middle of this hook would write an end line counting a step
        # whose record was never queued: it waits for the hook's end (microseconds).
        self._in_hook = True
        try:
            self._record_step()
        finally:
            self._in_hook = False
            pending, self._pending_signal = self._pending_signal, None
            if pending is not None:
                self._on_signal(*pending)

    def _record_step(self) -> None:
        self.steps += 1
        taking, self._taking = self._taking, None
        if taking is None or self.closed:
            return
        step, present, stats, grads, before, lrs = taking
        if step != self.steps:
            return
        if present:
            rows = stats.summarize(grads, before)
            _, index = self._subset(present)
            if index is not None:
                rows = self._nan_rows_like(rows).index_copy(0, index, rows)
        else:
            rows = self._nan_rows_like(None)
        with self._chunk_lock:
            self._chunks.push(_StepMeta(step, time.time(), present), rows)
        values: dict[tuple, Any] = {("lr", g): self._value("lr", lr) for g, lr in enumerate(lrs)}
        with self._open_lock:
            self._open = (step, {}, set(), time.monotonic())
            if step == 1 and self._early:
                values.update(self._early)
                self._early = {}
            self._add_values(values)

    def _subset(self, present: tuple[int, ...]) -> tuple[LayerStats, torch.Tensor | None]:
        """LayerStats over the parameters that have a gradient (the same seeded samples)."""
        if len(present) == len(self.params):
            return self._stats, None
        cached = self._subsets.get(present)
        if cached is None:
            subset = [self.params[i] for i in present]
            # no sampling of its own (numel ≤ sample): it takes the full list's samples
            stats = LayerStats(subset, sample=max(p.numel() for p in subset))
            stats.samples = [self._stats.samples[i] for i in present]
            index = torch.tensor(present, dtype=torch.long).to(self.device)
            cached = self._subsets[present] = (stats, index)
        return cached

    def _nan_rows_like(self, rows: torch.Tensor | None) -> torch.Tensor:
        if self._nan_rows is None:
            dtype = rows.dtype if rows is not None else self.params[0].dtype
            if not dtype.is_floating_point:
                dtype = torch.get_default_dtype()
            shape = (len(self.params), len(FIELDS))
            self._nan_rows = torch.full(shape, math.nan, dtype=dtype).to(self.device)
        return self._nan_rows if rows is None else self._nan_rows.to(rows.dtype)

    def _value(self, name: str, value: Any) -> Any:
        """A logged value: a float, or a 0-d tensor kept on its (non-cpu) device."""
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"log(): {name} has {value.numel()} elements; log one number")
            value = value.detach().reshape(())
            if value.device.type == "cpu":
                return float(value)
            dtype = torch.float32 if value.device.type == "mps" else torch.float64
            return value.to(dtype, copy=True)
        if isinstance(value, numbers.Real):
            return float(value)
        raise TypeError(f"log(): {name} is a {type(value).__name__}, not a number or a tensor")

    def _add_values(self, values: dict[tuple, Any]) -> None:
        """(under _open_lock) add values to the open step; device tensors start their copy."""
        assert self._open is not None
        step, host, device_keys, _ = self._open
        for key, value in values.items():
            if not isinstance(value, torch.Tensor):
                host[key] = value
                continue
            with self._chunk_lock:
                chunks = self._value_chunks.get(value.device)
                if chunks is None:
                    chunks = DeviceChunks(value.device, self._interval)
                    self._value_chunks[value.device] = chunks
                chunks.push((step, key), value)
            host.pop(key, None)
            device_keys.add(key)

    def _close_open_step(self, older_than: float | None = None) -> None:
        """No more log() for the last recorded step: hand its values to the writer."""
        with self._open_lock:
            if self._open is None:
                return
            if older_than is not None and time.monotonic() - self._open[3] < older_than:
                return
            step, host, device_keys, _ = self._open
            self._open = None
        self._queue.put((step, host, tuple(device_keys)))

    # ------------------------------------------------------------------ writing

    def _writer(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval / 2)
            self._wake.clear()
            if self._stop.is_set():
                break
            # Never wait for the lock: close() joins this thread while it may hold it.
            if not self._write_lock.acquire(blocking=False):
                continue
            try:
                self._close_open_step(older_than=_LOG_GRACE)
                self._pump(wait=False)
            except Exception as error:  # a full disk must not take the training down
                self._error = error
                print(f"gdtui.watch: recording stopped: {error}", file=sys.stderr)
                return
            finally:
                self._write_lock.release()

    def _flush(self, wait: bool) -> None:
        """(main thread) close the last step and write everything, waiting for the device."""
        if self._error is not None or self._file.closed:
            return
        self._close_open_step()
        self._pump(wait=wait)

    def _pump(self, wait: bool) -> None:
        """Collect what reached the host, put steps together, write the complete ones in order."""
        with self._chunk_lock:
            landed = self._chunks.poll(wait=wait)
            values = [v for chunks in self._value_chunks.values() for v in chunks.poll(wait=wait)]
        for meta, rows in landed:
            entry = self._pending.setdefault(meta.step, _Pending())
            entry.meta, entry.rows = meta, rows
        for (step, key), value in values:
            self._pending.setdefault(step, _Pending()).device_values[key] = float(value)
        while True:
            try:
                step, host, device_keys = self._queue.get_nowait()
            except queue.Empty:
                break
            entry = self._pending.setdefault(step, _Pending())
            entry.host_values, entry.device_keys = host, device_keys
        lines = []
        for step in sorted(self._pending):
            entry = self._pending[step]
            if not entry.complete():
                break
            del self._pending[step]
            lines.append(self._step_line(entry))
        if lines:
            self._write_lines(lines)
            self.recorded += len(lines)

    def _step_line(self, entry: _Pending) -> str:
        meta = entry.meta
        assert meta is not None and entry.host_values is not None
        values = {**entry.host_values, **entry.device_values}
        present = set(meta.present)
        params = {}
        for i, name in enumerate(self.names):
            if i in present:
                params[name] = dict(zip(FIELDS, map(_clean, entry.rows[i].tolist()), strict=True))
            else:
                params[name] = None
        lr = [_clean(values[key]) for key in sorted(k for k in values if k[0] == "lr")]
        scalars = {k[1]: _clean(v) for k, v in values.items() if k[0] == "scalar"}
        line = {"step": meta.step, "time": meta.time, "lr": lr, "scalars": scalars}
        line["params"] = params
        return json.dumps(line, allow_nan=False)

    def _write_lines(self, lines: list[str]) -> None:
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "params": [
                {"name": n, "shape": list(p.shape), "group": g, "dtype": str(p.dtype)[6:]}
                for n, p, g in zip(self.names, self.params, self.groups, strict=True)
            ],
            "optimizer": type(self.optimizer).__name__,
            "hyper": self._hyper(),
            "torch": torch.__version__,
            "device": str(self.device),
            "rank": self.rank,
            "world_size": self.world_size,
            "every": self.every,
            "pid": os.getpid(),
            "started": time.time(),
        }

    def _hyper(self) -> dict[str, list]:
        """Each hyper-parameter with one value per param group, as JSON (null where a group lacks it)."""
        groups = self.optimizer.param_groups
        keys = dict.fromkeys(k for group in groups for k in group if k != "params")
        return {k: [_jsonable(group.get(k)) for group in groups] for k in keys}

    # ------------------------------------------------------------------ exit paths

    def _at_exit(self) -> None:
        if os.getpid() == self._pid:
            self.close("exit")

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._in_hook and os.getpid() == self._pid:
            self._pending_signal = (signum, frame)
            return
        previous = self._previous_handlers.get(signum)
        if os.getpid() != self._pid:
            # A forked child (a DataLoader worker): the file is the parent's, leave it alone.
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        if callable(previous):
            # The user's handler decides whether the process goes on: keep recording.
            self.flush()
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            self.flush()
            return
        # SIG_DFL (or a handler not set from Python): flush, then die of the signal as before.
        self.close(signal.Signals(signum).name)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _distributed() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed process group, else (0, 1)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def watch(
    model: torch.nn.Module | Iterable[tuple[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    path: str | os.PathLike | Path,
    *,
    every: int = 1,
    sample: int = SAMPLE,
) -> Watch:
    """Record every ``every``-th step of ``optimizer`` into ``path`` (see :class:`Watch`).

    ``sample``: elements per tensor (a fixed seeded sample) behind the effective-lr quantiles.
    """
    return Watch(model, optimizer, path, every=every, sample=sample)


class _CallableModule(type(sys)):
    """``gdtui.watch`` is this module once something imported it by name: calling it calls watch()."""

    def __call__(self, *args: Any, **kwargs: Any) -> Watch:
        return watch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
