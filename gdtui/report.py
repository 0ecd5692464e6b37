"""Records as text: table, CSV, JSON, JSON lines and a final summary.

A run of a formula, or of a model with at most 8 scalars, has per-parameter columns. A bigger
model's records have per-tensor summaries instead (``layers``: for each parameter tensor,
:data:`LAYER_FIELDS`), and every model record may carry the epoch-end evaluations
(:data:`EPOCH_KEYS`).

Shared by ``gdtui run`` (streaming, one record at a time) and the app's export. Numbers are
written as they are in the record (``repr`` precision in CSV and JSON); only the table rounds.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from gdtui.summaries import SUMMARY_FIELDS

FORMATS = ("table", "csv", "json", "jsonl", "summary")
OPTIONAL_KEYS = ("lambda_max",)
"""Record keys that a run fills only where it measures them (``[run] curvature_every``)."""
EPOCH_KEYS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
"""Keys a model's record carries at an evaluated epoch end."""
LAYER_FIELDS = SUMMARY_FIELDS
"""Per-tensor summary fields of a big model's record (``layers``), as the engine names them."""


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null (for the nested per-layer numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean_layers(layers: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
    """``layers`` with non-finite numbers as None."""
    if not layers:
        return layers
    return {
        name: None if fields is None else {k: _finite(v) for k, v in fields.items()}
        for name, fields in layers.items()
    }


def layer_csv_header(layers: Sequence[str], fields: Sequence[str] = LAYER_FIELDS) -> list[str]:
    """CSV columns of a big model's run: the whole-model numbers, the epoch's, then
    ``LAYER.FIELD`` for every tensor."""
    cols = ["step", "loss", "grad_norm", "update_norm", "lr", *OPTIONAL_KEYS, *EPOCH_KEYS]
    cols += [f"{layer}.{f}" for layer in layers for f in fields]
    return [*cols, "status", "reason"]


def layer_csv_row(
    row: dict[str, Any], layers: Sequence[str], fields: Sequence[str] = LAYER_FIELDS
) -> list:
    """One big-model record dict as CSV cells (empty where a step has no summaries)."""

    def cell(value: Any) -> Any:
        return "" if value is None else value

    out: list[Any] = [row["step"], cell(row["loss"]), cell(row.get("grad_norm"))]
    out += [cell(row.get("update_norm")), row["lr"]]
    out += [cell(row.get(k)) for k in (*OPTIONAL_KEYS, *EPOCH_KEYS)]
    summaries = row.get("layers") or {}
    for layer in layers:
        values = summaries.get(layer) or {}
        out += [cell(values.get(f)) for f in fields]
    return [*out, row.get("status", ""), cell(row.get("reason"))]


def _fmt(value: float | None, width: int = 11) -> str:
    if value is None:
        return "—".rjust(width)
    return f"{value:.6g}".rjust(width)


def csv_header(
    names: Sequence[str], state_keys: Sequence[str] = (), extra: Sequence[str] = ()
) -> list[str]:
    """CSV columns for a run with these parameter names, optimizer state keys and optional
    keys (:data:`OPTIONAL_KEYS`)."""
    cols = ["step", "loss"]
    cols += [f"param_{n}" for n in names]
    cols += [f"grad_{n}" for n in names]
    cols += [f"update_{n}" for n in names]
    cols += [f"effective_lr_{n}" for n in names]
    cols += ["grad_norm", "update_norm", "cos", "lr"]
    cols += [f"{k}_{n}" for k in state_keys for n in names]
    cols += list(extra)
    cols += ["status", "reason"]
    return cols


def csv_row(
    row: dict[str, Any],
    names: Sequence[str],
    state_keys: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> list:
    """One record dict (``StepRecord.to_dict`` or ``History.rows``) as CSV cells."""

    def cell(value: Any) -> Any:
        return "" if value is None else value

    out: list[Any] = [row["step"], cell(row["loss"])]
    for key in ("params", "grad", "update", "effective_lr"):
        out += [cell(row[key][n]) for n in names]
    out += [cell(row["grad_norm"]), cell(row["update_norm"]), cell(row["cos"]), row["lr"]]
    for key in state_keys:
        values = row.get("state", {}).get(key, {})
        out += [cell(values.get(n)) for n in names]
    out += [cell(row.get(key)) for key in extra]
    out += [row.get("status", ""), cell(row.get("reason"))]
    return out


class RecordWriter:
    """Writes record dicts to ``out`` in one format, as they come (``summary`` writes none)."""

    def __init__(
        self,
        out: TextIO,
        fmt: str,
        names: Sequence[str],
        *,
        layers: Sequence[str] = (),
        model: bool = False,
        labels: Sequence[str] = (),
    ) -> None:
        """``names``: per-scalar parameter names (empty for a big model, whose ``layers`` are
        its parameter tensors' names); ``model``: records may carry epoch evaluations;
        ``labels``: a race's run labels, when every record carries its ``run`` (csv and table
        then start with a ``run`` column)."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format '{fmt}'; choose one of: {', '.join(FORMATS)}")
        self.out = out
        self.fmt = fmt
        self.names = tuple(names)
        self.count = 0
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self._state_keys: tuple[str, ...] | None = None
        self._extra: tuple[str, ...] = ()
        self.layers = tuple(layers)
        self.model = model or bool(self.layers)
        self._by_layer = bool(self.layers) and not self.names
        self.labels = tuple(labels)
        self._label_width = max((len(label) for label in self.labels), default=0)

    def use_state_keys(self, rows: Iterable[dict[str, Any]]) -> None:
        """CSV: take the optimizer-state columns from all of ``rows`` (a race's first records,
        one per optimizer) instead of from the first row written. Before the first write; a
        big model's CSV (per-layer columns) has no state columns and ignores it."""
        if (
            self.fmt == "csv"
            and not self._by_layer
            and self.count == 0
            and self._state_keys is None
        ):
            keys: dict[str, None] = {}
            for row in rows:
                keys.update(dict.fromkeys(row.get("state", {})))
            self._state_keys = tuple(keys)
            self._extra = tuple(k for k in OPTIONAL_KEYS if any(k in row for row in rows))
            if self.model:
                self._extra += EPOCH_KEYS
            self._csv_line(csv_header(self.names, self._state_keys, self._extra))

    def _csv_line(self, cells: list[Any], row: dict[str, Any] | None = None) -> None:
        """One CSV line, after the ``run`` cell of a race (``row`` None: the header)."""
        assert self._csv is not None
        if self.labels:
            cells = ["run" if row is None else row.get("run", ""), *cells]
        self._csv.writerow(cells)

    def write(self, row: dict[str, Any]) -> None:
        """Write one record dict."""
        fmt = self.fmt
        if row.get("layers") and fmt in ("json", "jsonl"):
            row = {**row, "layers": clean_layers(row["layers"])}
        if fmt == "csv" and self._by_layer:
            assert self._csv is not None
            if self.count == 0:
                self._csv_line(layer_csv_header(self.layers))
            self._csv_line(layer_csv_row(row, self.layers), row)
            self.count += 1
            return
        if fmt == "jsonl":
            self.out.write(json.dumps(row, allow_nan=False) + "\n")
        elif fmt == "json":
            self.out.write(("[\n" if self.count == 0 else ",\n") + json.dumps(row, allow_nan=False))
        elif fmt == "csv":
            assert self._csv is not None
            if self._state_keys is None:
                self._state_keys = tuple(row.get("state", {}))
                self._extra = tuple(k for k in OPTIONAL_KEYS if k in row)
                if self.model:
                    self._extra += EPOCH_KEYS
                self._csv_line(csv_header(self.names, self._state_keys, self._extra))
            self._csv_line(csv_row(row, self.names, self._state_keys, self._extra), row)
        elif fmt == "table":
            if self.count % 40 == 0:
                self.out.write(self._table_header() + "\n")
            self.out.write(self._table_row(row) + "\n")
        self.count += 1

    def close(self) -> None:
        """Finish the output (closes the JSON array, even an empty one)."""
        if self.fmt == "json":
            self.out.write("[]\n" if self.count == 0 else "\n]\n")
        elif self.fmt == "csv" and self.count == 0:
            assert self._csv is not None
            if self._by_layer:
                self._csv_line(layer_csv_header(self.layers))
            else:
                self._csv_line(csv_header(self.names, (), EPOCH_KEYS if self.model else ()))
        self.out.flush()

    def _table_header(self) -> str:
        cols = [f"{'run':<{self._label_width}}"] if self.labels else []
        cols += [f"{'step':>7}", f"{'loss':>11}"]
        for n in self.names:
            cols += [f"{n:>11}", f"{'∇' + n:>11}", f"{'Δ' + n:>11}"]
        cols += [f"{'‖∇‖':>11}", f"{'lr':>9}"]
        if self.model:
            cols += [f"{'epoch':>5}", f"{'val loss':>11}", f"{'val acc':>7}"]
        cols.append("status")
        return " ".join(cols)

    def _table_row(self, row: dict[str, Any]) -> str:
        cols = [f"{row.get('run', ''):<{self._label_width}}"] if self.labels else []
        cols += [f"{row['step']:>7}", _fmt(row["loss"])]
        for n in self.names:
            cols += [_fmt(row["params"][n]), _fmt(row["grad"][n]), _fmt(row["update"][n])]
        cols += [_fmt(row.get("grad_norm")), _fmt(row["lr"], 9)]
        if self.model:
            epoch = row.get("epoch")
            accuracy = row.get("val_accuracy")
            cols += [
                f"{'' if epoch is None else epoch:>5}",
                _fmt(row.get("val_loss")) if epoch is not None else " " * 11,
                f"{accuracy:7.1%}" if accuracy is not None else " " * 7,
            ]
        cols.append(row.get("status", ""))
        return " ".join(cols)


def write_rows(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str, names: Sequence[str]) -> int:
    """Write all ``rows`` in ``fmt``; return how many."""
    writer = RecordWriter(out, fmt, names)
    for row in rows:
        writer.write(row)
    writer.close()
    return writer.count


def race_table(rows: Sequence[dict[str, Any]], criterion: str) -> list[str]:
    """A race's table as text lines: per run (``RaceRow.to_dict`` dicts) the optimizer, lr,
    steps, steps to tolerance (``criterion`` says what counts), final and best loss, status."""
    width = max([len("run"), *(len(r["run"]) for r in rows)])
    head = (
        f"{'run':<{width}} {'optimizer':<10} {'lr':>9} {'steps':>7} {'to tol':>7} "
        f"{'final loss':>11} {'best loss':>11} status"
    )
    lines = [f"race       {len(rows)} runs; to tol = {criterion}", head]
    for r in rows:
        reached = r["steps_to_tolerance"]
        lines.append(
            f"{r['run']:<{width}} {r['optimizer']:<10} {r['lr']:>9.3g} {r['steps']:>7} "
            f"{'—' if reached is None else reached:>7} {_fmt(r['final_loss'])} "
            f"{_fmt(r['best_loss'])} {r['status']}" + (f": {r['reason']}" if r["reason"] else "")
        )
    return lines
