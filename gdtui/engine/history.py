"""History: a run's records in numpy columns, bounded in memory however long the run.

The first ``head`` steps are kept exactly. After that, when the columns are full, neighbouring
rows of the tail are merged in pairs and the stride doubles, so a run of any length keeps at most
``capacity`` rows spread over all of it. A merged row keeps the later step's values and the min
and max loss of every step it covers, so a spike is never averaged away; its ``lambda_max`` is the
latest one measured among the steps it covers (nan if none was).

Plots never read the rows directly: :meth:`History.view` returns at most ``width`` buckets
(last value, min and max per bucket), so drawing cost depends on the plot's width, not on the
number of steps.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdtui.engine.records import Status, StepRecord, finite_or_none

_SCALARS = ("loss", "loss_min", "loss_max", "grad_norm", "update_norm", "lr", "lambda_max")
_VECTORS = ("params_before", "grad", "params", "update")


@dataclass(frozen=True)
class HistoryView:
    """A downsampled view for a plot: one entry per bucket, at most the width asked for."""

    step: np.ndarray
    loss: np.ndarray
    loss_min: np.ndarray
    loss_max: np.ndarray
    grad_norm: np.ndarray

    def __len__(self) -> int:
        return len(self.step)


class History:
    """Columnar, bounded record of a run (see the module docstring)."""

    def __init__(
        self, param_names: Sequence[str], capacity: int = 1 << 16, head: int = 1024
    ) -> None:
        if capacity < 2 * head + 4:
            raise ValueError("capacity must leave room for a tail at least as big as the head")
        self.param_names = tuple(param_names)
        self.capacity = capacity
        self.head = head
        self.stride = 1
        self.total_steps = 0
        self._n = 0
        self._provisional = 0  # 1 when row _n holds the steps of a bucket not yet complete
        self._pending: list[StepRecord] = []
        n = len(self.param_names)
        self._step = np.zeros(capacity, dtype=np.int64)
        self._scalars = {k: np.zeros(capacity) for k in _SCALARS}
        self._vectors = {k: np.zeros((capacity, n)) for k in _VECTORS}
        self._state: dict[str, np.ndarray] = {}

    # -- writing -----------------------------------------------------------------------------

    def append(self, record: StepRecord) -> None:
        """Add one step; cheap (columns are filled in blocks)."""
        self._pending.append(record)
        self.total_steps = record.step
        if len(self._pending) >= 256:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        k = len(pending)
        n = len(self.param_names)
        # One numpy conversion for the whole block: scalars first, then the four vectors.
        table = np.array(
            [
                (r.step, r.loss, r.grad_norm, r.update_norm, r.lr, r.lambda_max)
                + r.params_before
                + r.grad
                + r.params
                + r.update
                for r in pending
            ],
            dtype=float,
        )
        steps = table[:, 0].astype(np.int64)
        loss = table[:, 1]
        block = {
            "loss": loss,
            "grad_norm": table[:, 2],
            "update_norm": table[:, 3],
            "lr": table[:, 4],
        }
        curvature = table[:, 5]  # nan where not measured
        vectors = {key: table[:, 6 + i * n : 6 + (i + 1) * n] for i, key in enumerate(_VECTORS)}
        state = {}
        # Keys in the order they first appear, so exports have the same columns every time.
        keys = dict.fromkeys(key for r in pending for key in r.state)
        for key in keys:
            empty = (None,) * n
            state[key] = np.array([r.state.get(key, empty) for r in pending], dtype=float)
            if key not in self._state:
                self._state[key] = np.full((self.capacity, n), np.nan)
        self._provisional = 0
        start = 0
        while start < k:
            g = self.stride
            rows = min((k - start) // g, self.capacity - self._n)
            if rows == 0:
                if k - start < g:
                    break
                self._compact()
                continue
            stop = start + rows * g
            last = slice(start + g - 1, stop, g)
            dst = slice(self._n, self._n + rows)
            self._step[dst] = steps[last]
            for key in ("loss", "grad_norm", "update_norm", "lr"):
                self._scalars[key][dst] = block[key][last]
            shaped = loss[start:stop].reshape(rows, g)
            self._scalars["loss_min"][dst] = shaped.min(axis=1)
            self._scalars["loss_max"][dst] = shaped.max(axis=1)
            self._scalars["lambda_max"][dst] = _last_measured(
                curvature[start:stop].reshape(rows, g)
            )
            for key in _VECTORS:
                self._vectors[key][dst] = vectors[key][last]
            for key, col in state.items():
                self._state[key][dst] = col[last]
            self._n += rows
            start = stop
        self._pending = pending[start:]
        if start < k:
            # Steps that don't fill a bucket yet still show, in a provisional row that the next
            # flush rewrites: the steps just before a divergence must not be hidden.
            if self._n >= self.capacity:
                self._compact()
            i = self._n
            self._step[i] = steps[k - 1]
            for key in ("loss", "grad_norm", "update_norm", "lr"):
                self._scalars[key][i] = block[key][k - 1]
            self._scalars["loss_min"][i] = loss[start:].min()
            self._scalars["loss_max"][i] = loss[start:].max()
            self._scalars["lambda_max"][i] = _last_measured(curvature[start:].reshape(1, -1))[0]
            for key in _VECTORS:
                self._vectors[key][i] = vectors[key][k - 1]
            for key, col in state.items():
                self._state[key][i] = col[k - 1]
            self._provisional = 1

    def _compact(self) -> None:
        """Merge the tail's rows in pairs and double the stride: memory stays bounded."""
        h, n = self.head, self._n
        pairs = (n - h) // 2
        odd = (n - h) % 2
        new_n = h + pairs + odd

        def merge_last(col: np.ndarray) -> None:
            tail = col[h : h + 2 * pairs]
            merged = tail[1::2].copy()
            if odd:
                col[h + pairs] = col[n - 1]
            col[h : h + pairs] = merged

        merge_last(self._step)
        for key in ("loss", "grad_norm", "update_norm", "lr"):
            merge_last(self._scalars[key])
        for key in _VECTORS:
            merge_last(self._vectors[key])
        for col in self._state.values():
            merge_last(col)
        col = self._scalars["lambda_max"]
        tail = col[h : h + 2 * pairs]
        merged = np.where(np.isnan(tail[1::2]), tail[0::2], tail[1::2])
        if odd:
            col[h + pairs] = col[n - 1]
        col[h : h + pairs] = merged
        for key, reduce in (("loss_min", np.minimum), ("loss_max", np.maximum)):
            col = self._scalars[key]
            tail = col[h : h + 2 * pairs]
            merged = reduce(tail[0::2], tail[1::2])
            if odd:
                col[h + pairs] = col[n - 1]
            col[h : h + pairs] = merged
        self._n = new_n
        self.stride *= 2

    # -- reading -----------------------------------------------------------------------------

    def _rows(self) -> int:
        self._flush()
        return self._n + self._provisional

    def __len__(self) -> int:
        """How many rows are held (at most ``capacity``), not how many steps were taken."""
        return self._rows()

    @property
    def nbytes(self) -> int:
        """Memory held by the columns, for checking that it stays bounded."""
        arrays = [
            self._step,
            *self._scalars.values(),
            *self._vectors.values(),
            *self._state.values(),
        ]
        return sum(a.nbytes for a in arrays)

    def column(self, name: str) -> np.ndarray:
        """A read-only copy of one held column (``step``, ``loss``, ``params``, a state key…)."""
        self._flush()
        if name == "step":
            col = self._step
        elif name in self._scalars:
            col = self._scalars[name]
        elif name in self._vectors:
            col = self._vectors[name]
        elif name in self._state:
            col = self._state[name]
        else:
            raise KeyError(name)
        return col[: self._rows()].copy()

    def view(self, width: int) -> HistoryView:
        """At most ``width`` buckets over the steps taken: last value, min and max of the loss.

        Buckets span a power-of-two number of steps, aligned to multiples of that span, so a
        finished bucket never changes as the run goes on (a live plot then only redraws its
        right edge). Cost is O(rows held), never O(steps taken).
        """
        n = self._rows()
        steps = self._step[:n]
        loss = self._scalars["loss"][:n]
        lo_col = self._scalars["loss_min"][:n]
        hi_col = self._scalars["loss_max"][:n]
        grad_norm = self._scalars["grad_norm"][:n]
        if n == 0 or width <= 0:
            empty = np.zeros(0)
            return HistoryView(np.zeros(0, dtype=np.int64), empty, empty, empty, empty)
        span = 1
        while int(steps[-1]) > span * width:
            span *= 2
        if span == 1:
            return HistoryView(
                steps.copy(), loss.copy(), lo_col.copy(), hi_col.copy(), grad_norm.copy()
            )
        keys = (steps - 1) // span
        starts = np.flatnonzero(np.diff(keys, prepend=-1))
        ends = np.append(starts[1:], n) - 1
        with np.errstate(invalid="ignore"):
            lo = np.minimum.reduceat(lo_col, starts)
            hi = np.maximum.reduceat(hi_col, starts)
        return HistoryView(steps[ends].copy(), loss[ends].copy(), lo, hi, grad_norm[ends].copy())

    def path(self, max_points: int = 2000) -> np.ndarray:
        """Parameters after the held steps, thinned to at most ``max_points`` (+ the last).

        Thinning keeps every k-th row, k a power of two, so the points kept stay the same as the
        run goes on (a live drawing of the path then only changes at its end). The start point
        (the first row's ``params_before``) comes first; shape ``(points + 1, n_params)``.
        """
        n = self._rows()
        if n == 0:
            return np.zeros((0, len(self.param_names)))
        params = self._vectors["params"][:n]
        start = self._vectors["params_before"][:1]
        stride = 1
        while n / stride > max_points:
            stride *= 2
        if stride > 1:
            idx = np.arange(stride - 1, n, stride)
            if idx[-1] != n - 1:
                idx = np.append(idx, n - 1)
            params = params[idx]
        return np.concatenate([start, params])

    def record_at(self, step: int) -> StepRecord | None:
        """The record of ``step`` when a held row is exactly that step (the first ``head`` steps
        always are), else None. Its status says ``running`` (the run knows how it ended); its
        ``lambda_max`` is the latest measured among the steps its row covers."""
        self._flush()
        for record in self._pending:
            if record.step == step:
                held = copy.copy(record)
                held.status, held.reason = Status.RUNNING, None
                return held
        n = self._n  # the provisional row (if any) is the last pending record, seen above
        i = int(np.searchsorted(self._step[:n], step))
        if i >= n or int(self._step[i]) != step:
            return None
        vec = {key: tuple(col[i].tolist()) for key, col in self._vectors.items()}
        sc = {key: float(col[i]) for key, col in self._scalars.items()}
        state = {
            key: tuple(None if v != v else v for v in col[i].tolist())
            for key, col in self._state.items()
        }
        return StepRecord(
            step,
            sc["loss"],
            vec["params_before"],
            vec["grad"],
            sc["grad_norm"],
            vec["params"],
            vec["update"],
            sc["update_norm"],
            sc["lr"],
            {k: v for k, v in state.items() if any(x is not None for x in v)},
            lambda_max=_measured(sc["lambda_max"]),
        )

    def prefix(self, step: int) -> History:
        """A copy that holds only the steps up to ``step``, to go on from there (a branch).

        Rows are copied as they are; when ``step`` falls inside a merged row, the steps between
        the last row kept and ``step`` are not held (at most one stride of them).
        """
        self._flush()
        out = History(self.param_names, self.capacity, self.head)
        keep = int(np.searchsorted(self._step[: self._n], step, side="right"))
        out._n = keep
        out.stride = self.stride if keep > self.head else 1
        out._step[:keep] = self._step[:keep]
        for key, col in self._scalars.items():
            out._scalars[key][:keep] = col[:keep]
        for key, col in self._vectors.items():
            out._vectors[key][:keep] = col[:keep]
        for key, col in self._state.items():
            out._state[key] = col.copy()
            out._state[key][keep:] = np.nan
        out._pending = [r for r in self._pending if r.step <= step] if keep == self._n else []
        last = out._pending[-1].step if out._pending else (int(out._step[keep - 1]) if keep else 0)
        out.total_steps = last
        return out

    def rows(self) -> Iterator[dict[str, Any]]:
        """The held rows as record dicts: ``StepRecord.to_dict`` plus ``loss_min``/``loss_max``.

        Status and reason are not kept per row (the run knows them); rows say ``running``.
        """
        n = self._rows()
        names = self.param_names
        vectors = {key: col[:n].tolist() for key, col in self._vectors.items()}
        scalars = {key: col[:n].tolist() for key, col in self._scalars.items()}
        state = {key: col[:n].tolist() for key, col in self._state.items()}
        steps = self._step[:n].tolist()
        for i in range(n):
            record = StepRecord(
                steps[i],
                scalars["loss"][i],
                tuple(vectors["params_before"][i]),
                tuple(vectors["grad"][i]),
                scalars["grad_norm"][i],
                tuple(vectors["params"][i]),
                tuple(vectors["update"][i]),
                scalars["update_norm"][i],
                scalars["lr"][i],
                {key: tuple(None if v != v else v for v in col[i]) for key, col in state.items()},
                lambda_max=_measured(scalars["lambda_max"][i]),
            )
            row = record.to_dict(names)
            row["loss_min"] = finite_or_none(scalars["loss_min"][i])
            row["loss_max"] = finite_or_none(scalars["loss_max"][i])
            yield row


def _measured(value: float) -> float | None:
    """A held ``lambda_max`` (nan where not measured) as a record's value (None)."""
    return None if value != value else value


def _last_measured(block: np.ndarray) -> np.ndarray:
    """Per row of ``block``, the last value that is not nan (nan if all are)."""
    measured = ~np.isnan(block)
    last = block.shape[1] - 1 - np.argmax(measured[:, ::-1], axis=1)
    return block[np.arange(block.shape[0]), last]
