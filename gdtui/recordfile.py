"""Reading the record files that :func:`gdtui.watch` writes (torch-free: json and numpy only).

A record file is JSON lines (UTF-8), never pickle:

- a header line ``{"format": "gdtui-watch", "version": 1, "params": [{"name", "shape", "group"},
  …], "optimizer": class name, "hyper": {name: [value per param group]}, "torch", "device",
  "rank", "world_size", "every", "started": unix time}``;
- one line per recorded optimizer step ``{"step": n, "time": unix time, "lr": [per group],
  "scalars": {"loss": …}, "params": {NAME: {"grad_norm", "param_norm", "update_norm", "ratio",
  "cos", "eff_lr_median", "eff_lr_p10", "eff_lr_p90"} or null}}``, ``step`` counting optimizer
  steps from 1; ``null`` stands for NaN/inf, and a parameter is ``null`` at a step where it had no
  gradient;
- when the writer closes, a last line ``{"end": true, "time": …, "steps": optimizer steps taken,
  "recorded": step lines written, "reason": "closed" | "exit" | "SIGTERM" | "SIGHUP" |
  "error: ExceptionName"}``. A file without it is still being written, or its writer died.

A line without its newline (the writer was killed mid-append) is not read: :meth:`RecordFile.poll`
keeps it for the next poll, and a one-shot read skips it. Rank ``r ≥ 1`` of a torch.distributed
run writes ``NAME.rank{r}.SUFFIX`` beside rank 0's ``NAME.SUFFIX`` (:func:`rank_path`).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gdtui.files import MAX_DATA_BYTES, FileInputError, open_input_file
from gdtui.safetext import visible
from gdtui.summaries import SUMMARY_FIELDS

FORMAT = "gdtui-watch"
VERSION = 1
FIELDS = SUMMARY_FIELDS
ATTACH_FORMATS = ("summary", "table", "json")
READ_BYTES = MAX_DATA_BYTES
"""Most bytes one :meth:`RecordFile.poll` reads (64 MiB); a longer line is refused."""
_RANK_NAME = re.compile(r"^(?P<stem>.+)\.rank(?P<rank>\d+)(?P<suffix>\.[^.]*)?$")


class RecordFileError(ValueError):
    """A file that is not a readable record file; the message is one line naming the file."""


def rank_path(path: str | os.PathLike, rank: int) -> Path:
    """Where rank ``rank`` writes: ``path`` itself for rank 0, else ``STEM.rank{rank}SUFFIX``."""
    path = Path(path)
    if rank == 0:
        return path
    return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def sibling_ranks(path: str | os.PathLike) -> dict[int, Path]:
    """The record files of every rank of the run that ``path`` (any rank's file) belongs to.

    Returns ``{rank: path}`` for the files that exist, rank 0 being the name without ``.rankN``.
    """
    path = Path(path)
    match = _RANK_NAME.match(path.name)
    base = path
    if match:
        base = path.with_name(match["stem"] + (match["suffix"] or ""))
    found: dict[int, Path] = {}
    if base.exists():
        found[0] = base
    folder = base.parent if str(base.parent) else Path(".")
    prefix, suffix = f"{base.stem}.rank", base.suffix
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix):
            digits = name[len(prefix) : len(name) - len(suffix)]
            if digits.isdigit() and int(digits) > 0:
                found[int(digits)] = folder / name
    return dict(sorted(found.items()))


def _number(value: Any) -> float:
    """A JSON number or null as a float (null → NaN); anything else is not record data."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or null, got {type(value).__name__}")
    return float(value)


def _clean(value: float) -> float | None:
    """A float as JSON: NaN and ±inf become null."""
    value = float(value)
    return value if math.isfinite(value) else None


class RecordFile:
    """A record file read so far: its header, its steps as numpy columns, and its end line.

    ``RecordFile(path)`` reads nothing; :meth:`poll` reads the complete lines added since the
    last poll (the first poll reads the header), so the same object follows a file that another
    process is still writing. :func:`read_records` is the one-shot form.

    Columns, ``N`` recorded steps, ``P`` parameter tensors, ``G`` param groups:
    ``step`` (N,) int, ``time`` (N,), ``lr`` (N, G), ``values`` (N, P, len(FIELDS)) with NaN
    for null, ``present`` (N, P) bool (False where the parameter had no gradient), and
    ``scalars`` ``{name: (N,)}`` (NaN where a step did not log that name).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._where = visible(str(self.path), 120)
        self.header: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self.offset = 0
        self.behind = False
        """True when the last poll stopped at :data:`READ_BYTES` with more of the file unread."""
        self.generation = 0
        self._identity: tuple[int, int] | None = None
        self._reset_columns()

    # ------------------------------------------------------------------ reading

    def poll(self) -> int:
        """Read the complete lines added since the last poll; return how many steps were new.

        A last line without its newline is left for the next poll. A file that shrank or was
        replaced (a new run on the same path) is read again from the start and ``generation``
        goes up by one. Raises :class:`RecordFileError` for anything that is not record data.
        At most :data:`READ_BYTES` are read per poll, so memory stays bounded however large the
        file; ``behind`` then says that more is there (:func:`read_records` polls until not).
        """
        # Opened through gdtui.files: a FIFO, a device, a folder or a symlink loop is refused in
        # one line at once (never a blocking open, never a read of /dev/zero).
        try:
            file = open_input_file(self.path, what="record")
        except FileInputError as error:
            raise RecordFileError(str(error)) from None
        with file:
            stat = os.fstat(file.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if self._identity is not None and (
                identity != self._identity or stat.st_size < self.offset
            ):
                self.header, self.end, self.offset = None, None, 0
                self.generation += 1
                self._reset_columns()
            self._identity = identity
            self.behind = False
            if stat.st_size <= self.offset or self.end is not None:
                return 0
            want = min(stat.st_size - self.offset, READ_BYTES)
            try:
                file.seek(self.offset)
                data = file.read(want)
            except OSError as error:
                raise RecordFileError(f"{self._where}: cannot read ({error.strerror})") from None
            self.behind = self.offset + len(data) < stat.st_size
        if self.header is None and data.lstrip()[:1] not in (b"", b"{"):
            raise RecordFileError(f"{self._where}: not a gdtui record file (no JSON header line)")
        complete = data.rfind(b"\n") + 1
        if not complete and self.behind:
            raise RecordFileError(
                f"{self._where}: line {self._lines + 1} is longer than {READ_BYTES // 2**20} MiB"
            )
        before = self.count
        lineno = self._lines
        for raw in data[:complete].split(b"\n")[:-1]:
            lineno += 1
            self._read_line(raw, lineno)
            if self.end is not None:
                break
        self._lines = lineno
        self.offset += complete
        new = self.count - before
        if new:
            self._last_new = time.monotonic()
        return new

    def _read_line(self, raw: bytes, lineno: int) -> None:
        where = f"{self._where}: line {lineno}"
        if not raw.strip():
            return
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            if self.header is None:
                raise RecordFileError(f"{self._where}: not a gdtui record file") from None
            raise RecordFileError(f"{where} is not JSON") from None
        if self.header is None:
            self._read_header(obj)
            return
        if not isinstance(obj, dict):
            raise RecordFileError(f"{where} is not a step line (not a JSON object)")
        if obj.get("end") is True:
            self.end = obj
            return
        try:
            self._append_step(obj)
        except (TypeError, ValueError, KeyError, ArithmeticError) as error:
            raise RecordFileError(f"{where} is not a step line ({visible(error, 100)})") from None

    def _read_header(self, obj: Any) -> None:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise RecordFileError(f"{self._where}: not a gdtui record file (no '{FORMAT}' header)")
        version = obj.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise RecordFileError(
                f"{self._where}: record file with an invalid version {visible(repr(version), 40)}"
            )
        if version > VERSION:
            raise RecordFileError(
                f"{self._where}: record format version {version} is newer than this gdtui reads "
                f"({VERSION}); upgrade gdtui"
            )
        params = obj.get("params")
        bad = f"{self._where}: record file header has no valid 'params' list"
        if not isinstance(params, list) or not params:
            raise RecordFileError(bad)
        names, shapes = [], []
        for entry in params:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise RecordFileError(bad)
            shape = entry.get("shape", [])
            if not isinstance(shape, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
            ):
                raise RecordFileError(bad)
            names.append(entry["name"])
            shapes.append(tuple(shape))
        # The names as shown (controls made visible: a name from the file must not drive the
        # terminal); step lines are matched on the names as written.
        shown = [visible(name, 4 * len(name) + 1) for name in names]
        if len(set(names)) != len(names) or len(set(shown)) != len(shown):
            raise RecordFileError(f"{self._where}: record file header repeats a parameter name")
        self.header = obj
        self.names = tuple(shown)
        self.shapes = tuple(shapes)
        self._index = {name: i for i, name in enumerate(shown)}
        self._written = {name: i for i, name in enumerate(names)}
        self._reset_columns()

    def _reset_columns(self) -> None:
        self.count = 0
        self._lines = 0
        self._last_new: float | None = None
        p = len(getattr(self, "names", ())) if self.header is not None else 0
        if self.header is None:
            self.names, self.shapes = (), ()
        self._step = np.zeros(0, dtype=np.int64)
        self._time = np.zeros(0)
        self._lr = np.zeros((0, 0))
        self._values = np.zeros((0, p, len(FIELDS)))
        self._present = np.zeros((0, p), dtype=bool)
        self._scalars: dict[str, np.ndarray] = {}

    def _grow(self, groups: int) -> None:
        """Make room for one more step (capacity doubles), and for ``groups`` lr columns."""
        n = self.count
        capacity = len(self._step)
        if n == capacity:
            new = max(64, 2 * capacity)

            def grown(a: np.ndarray, fill: Any) -> np.ndarray:
                b = np.full((new, *a.shape[1:]), fill, dtype=a.dtype)
                b[:n] = a[:n]
                return b

            self._step = grown(self._step, 0)
            self._time = grown(self._time, math.nan)
            self._lr = grown(self._lr, math.nan)
            self._values = grown(self._values, math.nan)
            self._present = grown(self._present, False)
            self._scalars = {k: grown(v, math.nan) for k, v in self._scalars.items()}
        if groups > self._lr.shape[1]:
            wider = np.full((len(self._step), groups), math.nan)
            wider[:, : self._lr.shape[1]] = self._lr
            self._lr = wider

    def _append_step(self, obj: dict[str, Any]) -> None:
        step = obj["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"bad step {visible(repr(step), 40)}")
        if self.count and step <= self._step[self.count - 1]:
            raise ValueError(f"step {step} after step {self._step[self.count - 1]}")
        stamp = _number(obj.get("time"))
        lr = obj.get("lr", [])
        if not isinstance(lr, list):
            raise TypeError("'lr' is not a list")
        lr_values = [_number(v) for v in lr]
        scalars = obj.get("scalars", {})
        params = obj.get("params", {})
        if not isinstance(scalars, dict) or not isinstance(params, dict):
            raise TypeError("'scalars' or 'params' is not an object")
        scalar_values = {visible(k, 4 * len(k) + 1): _number(v) for k, v in scalars.items()}
        rows = np.full((len(self.names), len(FIELDS)), math.nan)
        present = np.zeros(len(self.names), dtype=bool)
        for name, summary in params.items():
            i = self._written.get(name)
            if i is None or summary is None:
                continue
            if not isinstance(summary, dict):
                raise TypeError(f"parameter {visible(repr(name), 60)} is not an object")
            present[i] = True
            for j, field in enumerate(FIELDS):
                rows[i, j] = _number(summary.get(field))
        self._grow(len(lr_values))
        n = self.count
        self._step[n] = step
        self._time[n] = stamp
        self._lr[n, : len(lr_values)] = lr_values
        self._values[n] = rows
        self._present[n] = present
        for name, value in scalar_values.items():
            column = self._scalars.get(name)
            if column is None:
                column = self._scalars[name] = np.full(len(self._step), math.nan)
            column[n] = value
        self.count = n + 1

    # ------------------------------------------------------------------ columns

    @property
    def step(self) -> np.ndarray:
        """Optimizer step number of each recorded step (N,)."""
        return self._step[: self.count]

    @property
    def time(self) -> np.ndarray:
        """Unix time of each recorded step (N,)."""
        return self._time[: self.count]

    @property
    def lr(self) -> np.ndarray:
        """Learning rate of each param group at each recorded step (N, G)."""
        return self._lr[: self.count]

    @property
    def values(self) -> np.ndarray:
        """Per-parameter summaries (N, P, len(FIELDS)), NaN for null."""
        return self._values[: self.count]

    @property
    def present(self) -> np.ndarray:
        """Whether each parameter had a gradient at each recorded step (N, P)."""
        return self._present[: self.count]

    @property
    def scalars(self) -> dict[str, np.ndarray]:
        """Logged scalars by name, each (N,) with NaN where a step did not log it."""
        return {k: v[: self.count] for k, v in self._scalars.items()}

    def series(self, name: str, field: str) -> np.ndarray:
        """One parameter's ``field`` (one of :data:`FIELDS`) over the recorded steps (N,)."""
        return self.values[:, self._index[name], FIELDS.index(field)]

    def last(self, name: str) -> dict[str, float | None] | None:
        """The last recorded summary of parameter ``name`` (None if it never had a gradient)."""
        i = self._index[name]
        rows = np.flatnonzero(self.present[:, i])
        if not len(rows):
            return None
        return {f: _clean(v) for f, v in zip(FIELDS, self.values[rows[-1], i], strict=True)}

    def last_scalar(self, name: str = "loss") -> float | None:
        """The last logged (finite) value of scalar ``name``, or None."""
        column = self.scalars.get(name)
        if column is None:
            return None
        finite = column[np.isfinite(column)]
        return float(finite[-1]) if len(finite) else None

    # ------------------------------------------------------------------ liveness

    @property
    def ended(self) -> bool:
        """Whether the writer closed the file (its end line was read)."""
        return self.end is not None

    def seconds_since_last_step(self, now: float | None = None) -> float | None:
        """Seconds since the last recorded step was written (its ``time``), None before any."""
        if not self.count:
            return None
        return max(0.0, (time.time() if now is None else now) - float(self._time[self.count - 1]))

    def steps_per_second(self, window: int = 100) -> float | None:
        """Optimizer steps per second over the last ``window`` recorded steps (None if unknown)."""
        if self.count < 2:
            return None
        first = max(0, self.count - 1 - window)
        last = self.count - 1
        dt = float(self._time[last] - self._time[first])
        if not dt > 0:
            return None
        return float(self._step[last] - self._step[first]) / dt

    def iter_steps(self) -> Iterator[dict[str, Any]]:
        """The recorded steps as step-line dicts (NaN back to null)."""
        names = self.names
        scalars = self.scalars
        for n in range(self.count):
            params: dict[str, Any] = {}
            for i, name in enumerate(names):
                params[name] = (
                    {f: _clean(v) for f, v in zip(FIELDS, self._values[n, i], strict=True)}
                    if self._present[n, i]
                    else None
                )
            yield {
                "step": int(self._step[n]),
                "time": float(self._time[n]),
                "lr": [_clean(v) for v in self._lr[n]],
                "scalars": {k: _clean(v[n]) for k, v in scalars.items() if not math.isnan(v[n])},
                "params": params,
            }


def read_records(path: str | os.PathLike) -> RecordFile:
    """Read a whole record file (a torn last line is skipped); :class:`RecordFileError` if not one."""
    record = RecordFile(path)
    record.poll()
    while record.behind:
        record.poll()
    if record.header is None:
        raise RecordFileError(f"{record._where}: not a gdtui record file (no header line)")
    return record


def follow(path: str | os.PathLike) -> RecordFile:
    """A :class:`RecordFile` for a file that may still grow: read what is there, then ``poll()``.

    Unlike :func:`read_records` an empty file is accepted (its header may be on its way); a file
    that has content and is not a record file raises :class:`RecordFileError`.
    """
    record = RecordFile(path)
    record.poll()
    while record.behind:
        record.poll()
    return record


def rank_file(path: str | os.PathLike, rank: int) -> Path:
    """Rank ``rank``'s record file of the run that ``path`` belongs to (``gdtui attach --rank``)."""
    ranks = sibling_ranks(path)
    if rank not in ranks:
        known = ", ".join(map(str, ranks)) or "none"
        raise RecordFileError(
            f"{visible(str(path), 120)}: no record file for rank {rank} (ranks found: {known})"
        )
    return ranks[rank]


# ---------------------------------------------------------------------- headless output


def _fmt(value: float | None, width: int = 10) -> str:
    if value is None or not math.isfinite(value):
        return "—".rjust(width)
    return f"{value:.4g}".rjust(width)


def _jsonable(value: Any) -> Any:
    """Parsed JSON made safe to write again (NaN/inf, which json.loads accepts, become null)."""
    if isinstance(value, float):
        return _clean(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _status(record: RecordFile) -> str:
    if record.end is not None:
        return f"finished ({record.end.get('reason', 'closed')})"
    since = record.seconds_since_last_step()
    if since is None:
        return "running, no step yet"
    return f"running, last step {since:.0f} s ago"


_TABLE_COLUMNS = (
    ("‖∇‖", "grad_norm"),
    ("‖θ‖", "param_norm"),
    ("‖Δ‖", "update_norm"),
    ("‖Δ‖/‖θ‖", "ratio"),
    ("cos(-∇,Δ)", "cos"),
    ("lr_eff p10", "eff_lr_p10"),
    ("median", "eff_lr_median"),
    ("p90", "eff_lr_p90"),
)


def _table(record: RecordFile) -> list[str]:
    width = max(8, *(len(n) for n in record.names))
    shape_width = max(5, *(len("×".join(map(str, s)) or "()") for s in record.shapes))
    head = "layer".ljust(width) + " " + "shape".ljust(shape_width)
    head += "".join(title.rjust(11) for title, _ in _TABLE_COLUMNS)
    lines = [head]
    for name, shape in zip(record.names, record.shapes, strict=True):
        last = record.last(name)
        row = name.ljust(width) + " " + ("×".join(map(str, shape)) or "()").ljust(shape_width)
        if last is None:
            row += "  no gradient recorded"
        else:
            row += "".join(" " + _fmt(last[key]) for _, key in _TABLE_COLUMNS)
        lines.append(row)
    return lines


def _shown_lines(lines: list[str]) -> str:
    """Text for a terminal: names from the file (parameters, optimizer, scalars, the end
    reason) may hold ``ESC ] 0 ;`` or a newline; each line shows them as visible escapes."""
    return "".join(visible(line, 100_000) + "\n" for line in lines)


def format_attach(record: RecordFile | str | os.PathLike, fmt: str) -> str:
    """A record file as text for ``gdtui attach FILE --format summary|table|json``.

    ``summary``: run, steps, status, steps/s, last scalars and each layer's last ratio, ‖∇‖, cos;
    ``table``: one row per layer with its last summaries; ``json``: ``{"header", "steps", "end"}``.
    """
    if fmt not in ATTACH_FORMATS:
        raise ValueError(f"unknown format '{fmt}'; choose one of: {', '.join(ATTACH_FORMATS)}")
    if not isinstance(record, RecordFile):
        record = read_records(record)
    header = record.header or {}
    if fmt == "json":
        document = {"header": header, "steps": list(record.iter_steps()), "end": record.end}
        return json.dumps(_jsonable(document), allow_nan=False)
    if fmt == "table":
        return _shown_lines(_table(record))
    last_step = int(record.step[-1]) if record.count else 0
    rate = record.steps_per_second()
    lines = [
        f"{record._where}: {header.get('optimizer', '?')} on {header.get('device', '?')}, "
        f"rank {header.get('rank', 0)}, {len(record.names)} parameter tensors",
        f"steps     {record.count} recorded, last optimizer step {last_step}; {_status(record)}",
        f"steps/s   {_fmt(rate, 0).strip()}",
    ]
    if record.count:
        lrs = ", ".join(_fmt(v, 0).strip() for v in record.lr[-1])
        lines.append(f"lr        {lrs}")
    for name in sorted(record.scalars):
        lines.append(f"{name:<9} {_fmt(record.last_scalar(name), 0).strip()} (last)")
    lines.append("layers (last recorded): ‖Δ‖/‖θ‖, ‖∇‖, cos(-∇,Δ), median lr_eff")
    width = max(8, *(len(n) for n in record.names))
    for name in record.names:
        last = record.last(name)
        if last is None:
            lines.append(f"  {name:<{width}}  no gradient recorded")
            continue
        lines.append(
            f"  {name:<{width}}"
            + "".join(" " + _fmt(last[k]) for k in ("ratio", "grad_norm", "cos", "eff_lr_median"))
        )
    return _shown_lines(lines)
