"""Records as text: table, CSV, JSON, JSON lines and a final summary.

Shared by ``gdtui run`` (streaming, one record at a time) and the app's export. Numbers are
written as they are in the record (``repr`` precision in CSV and JSON); only the table rounds.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("table", "csv", "json", "jsonl", "summary")
OPTIONAL_KEYS = ("lambda_max",)
"""Record keys present only when a run measures them (``[run] curvature_every``)."""


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

    def __init__(self, out: TextIO, fmt: str, names: Sequence[str]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format '{fmt}'; choose one of: {', '.join(FORMATS)}")
        self.out = out
        self.fmt = fmt
        self.names = tuple(names)
        self.count = 0
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self._state_keys: tuple[str, ...] | None = None
        self._extra: tuple[str, ...] = ()

    def write(self, row: dict[str, Any]) -> None:
        """Write one record dict."""
        fmt = self.fmt
        if fmt == "jsonl":
            self.out.write(json.dumps(row, allow_nan=False) + "\n")
        elif fmt == "json":
            self.out.write(("[\n" if self.count == 0 else ",\n") + json.dumps(row, allow_nan=False))
        elif fmt == "csv":
            assert self._csv is not None
            if self._state_keys is None:
                self._state_keys = tuple(row.get("state", {}))
                self._extra = tuple(k for k in OPTIONAL_KEYS if k in row)
                self._csv.writerow(csv_header(self.names, self._state_keys, self._extra))
            self._csv.writerow(csv_row(row, self.names, self._state_keys, self._extra))
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
            self._csv.writerow(csv_header(self.names))
        self.out.flush()

    def _table_header(self) -> str:
        cols = [f"{'step':>7}", f"{'loss':>11}"]
        for n in self.names:
            cols += [f"{n:>11}", f"{'∇' + n:>11}", f"{'Δ' + n:>11}"]
        cols += [f"{'‖∇‖':>11}", f"{'lr':>9}", "status"]
        return " ".join(cols)

    def _table_row(self, row: dict[str, Any]) -> str:
        cols = [f"{row['step']:>7}", _fmt(row["loss"])]
        for n in self.names:
            cols += [_fmt(row["params"][n]), _fmt(row["grad"][n]), _fmt(row["update"][n])]
        cols += [_fmt(row["grad_norm"]), _fmt(row["lr"], 9), row.get("status", "")]
        return " ".join(cols)


def write_rows(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str, names: Sequence[str]) -> int:
    """Write all ``rows`` in ``fmt``; return how many."""
    writer = RecordWriter(out, fmt, names)
    for row in rows:
        writer.write(row)
    writer.close()
    return writer.count
