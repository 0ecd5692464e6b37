"""Race: several runs on one problem, stepped together, and a table of how each did.

Each contender is an ordinary run (a :class:`~gdtui.engine.run.Run`, or any object with
``step()``, ``status``, ``reason``, ``last_record``, ``history``, ``lr`` and ``param_names``, such
as a model run), so a contender walks exactly the path it walks alone: the race only calls each
``step()`` in turn. Records come out labelled, ``(label, record)``, and :meth:`Race.record_dict`
gives the JSON form with a ``"run"`` key.

Steps to tolerance: the step of the first record whose loss is within ``tolerance`` of the
target (``loss − target ≤ tolerance``), the target being ``target`` if given, else the problem's
known minimum value; where neither is known (a model, a user's expression), the first record whose
gradient norm is at most ``tolerance`` (records without a measured norm, a big model's between
two summaries, do not count). As everywhere in a record, the loss and gradient of step k are
measured at the point step k starts from. The table's numbers are read from the records as they
come, never from the (thinned) history: each contender keeps its record lows (every step whose
loss, or gradient norm, is below all before it), so a new :attr:`Race.tolerance` gives the exact
steps-to-tolerance at once, for 16 bytes per new low.

A contender is a :class:`~gdtui.engine.run.Run` or a :class:`~gdtui.engine.model_run.ModelRun`
(whose ``step()`` returns a list of the records that landed). :func:`inherit` is the one rule for
what an entry (a scenario's ``[[race]]`` table, or a contender added in the app) takes from the
scenario it races on.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gdtui.engine.records import StepRecord, finite_or_none

MAX_CONTENDERS = 6
TOLERANCE = 1e-6
"""The default tolerance of steps-to-tolerance (``loss − L* ≤ 1e-6``)."""
ENTRY_KEYS = (
    "label",
    "optimizer",
    "lr",
    "hyper",
    "batch_size",
    "schedule",
    "schedule_args",
    "seed",
    "noise",
)
"""Keys a race entry may set; every other setting is the scenario's (see :func:`inherit`)."""


def inherit(
    entry: Mapping[str, Any],
    optimizer: str,
    lr: float | None,
    hyper: Mapping[str, Any] | None,
) -> tuple[str, float | None, dict[str, Any]]:
    """The optimizer, learning rate and hyper-parameters of a race entry on a scenario whose
    own are ``optimizer``, ``lr`` and ``hyper``.

    An entry that keeps the scenario's optimizer (its own ``optimizer`` missing, or naming the
    same one) keeps its learning rate and hyper-parameters too, the entry's ``hyper`` merged over
    them; an entry with another optimizer starts from that optimizer's defaults (``lr`` None)
    plus its own ``hyper``. The entry's ``lr`` wins in both cases. Names are compared as the
    optimizer registry resolves them (``"Adam"`` is ``"adam"``); an unknown name is an
    :class:`~gdtui.engine.optimizers.OptimizerError`.
    """
    from gdtui.engine.optimizers import get_spec

    base = get_spec(optimizer).name
    name = entry.get("optimizer")
    chosen = base if name is None else get_spec(name).name
    same = chosen == base
    merged = {**(dict(hyper or {}) if same else {}), **dict(entry.get("hyper") or {})}
    rate = entry["lr"] if entry.get("lr") is not None else (lr if same else None)
    return chosen, rate, merged


class RaceError(ValueError):
    """A bad race (too many contenders, a repeated label, another problem); one line."""


@dataclass(frozen=True)
class RaceRow:
    """One contender's line of the table."""

    label: str
    optimizer: str
    lr: float
    steps: int
    steps_to_tolerance: int | None
    final_loss: float | None
    best_loss: float | None
    status: str
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become null)."""
        return {
            "run": self.label,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "steps": self.steps,
            "steps_to_tolerance": self.steps_to_tolerance,
            "final_loss": finite_or_none(self.final_loss),
            "best_loss": finite_or_none(self.best_loss),
            "status": self.status,
            "reason": self.reason,
        }


class _Lows:
    """The record lows of one series: steps at which the value fell below all before it."""

    __slots__ = ("steps", "values")

    def __init__(self) -> None:
        self.steps = array("q")
        self.values = array("d")

    def add(self, step: int, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            return
        if not self.values or value < self.values[-1]:
            self.steps.append(int(step))
            self.values.append(float(value))

    def first_within(self, tolerance: float, target: float = 0.0) -> int | None:
        """The first step with ``value − target ≤ tolerance`` (the values fall, and so does
        ``value − target`` in floating point: a binary search)."""
        i = bisect_left(self.values, -tolerance, key=lambda v: target - v)
        return self.steps[i] if i < len(self.values) else None


class _Tally:
    """What the table needs from one contender's records, kept as they come."""

    __slots__ = ("best", "final", "grad_lows", "loss_lows")

    def __init__(self) -> None:
        self.best: float | None = None
        self.final: float | None = None
        self.loss_lows = _Lows()
        self.grad_lows = _Lows()


def _as_records(out: Any) -> list[StepRecord]:
    """``step()`` gives a record, None (stopped) or a list (a model run landing several)."""
    if out is None:
        return []
    if isinstance(out, list):
        return out
    return [out]


class Race:
    """Up to :data:`MAX_CONTENDERS` labelled runs on one problem, stepped together.

    ``tolerance`` and ``target`` set the steps-to-tolerance column (see the module docstring).
    """

    def __init__(
        self,
        contenders: Sequence[tuple[str, Any]] = (),
        *,
        tolerance: float = TOLERANCE,
        target: float | None = None,
    ) -> None:
        self.tolerance = tolerance
        if target is not None and (
            isinstance(target, bool)
            or not isinstance(target, int | float)
            or not math.isfinite(target)
        ):
            raise RaceError(f"target must be a finite number, got {target!r}")
        self._target = None if target is None else float(target)
        self._runs: dict[str, Any] = {}
        self._tally: dict[str, _Tally] = {}
        for label, run in contenders:
            self.add(label, run)

    @classmethod
    def from_entries(
        cls,
        problem: Any,
        entries: Sequence[Mapping[str, Any]],
        *,
        tolerance: float = TOLERANCE,
        target: float | None = None,
        **run_kwargs: Any,
    ) -> Race:
        """A race of :class:`Run` s on ``problem``: one per entry, each entry overriding the
        shared ``run_kwargs`` by :func:`inherit` (optimizer, lr, hyper) and by its own
        ``schedule``, ``schedule_args``, ``seed`` or ``noise`` (a ``label`` names it; else
        ``"adam lr=0.01"``). A scenario's ``[[race]]`` goes through
        :meth:`gdtui.scenario.Scenario.build_race` instead, which also races models."""
        from gdtui.engine.run import Run

        if len(entries) > MAX_CONTENDERS:
            raise RaceError(
                f"a race holds at most {MAX_CONTENDERS} runs, got {len(entries)} entries"
            )
        race = cls(tolerance=tolerance, target=target)
        shared = dict(run_kwargs)
        optimizer = shared.pop("optimizer", "sgd")
        lr = shared.pop("lr", None)
        hyper = shared.pop("hyper", None)
        for i, entry in enumerate(entries, start=1):
            if not isinstance(entry, Mapping):
                raise RaceError(f"race entry {i} must be a table, got {entry!r}")
            unknown = [k for k in entry if k not in ENTRY_KEYS or k == "batch_size"]
            if unknown:
                raise RaceError(
                    f"race entry {i}: unknown field '{unknown[0]}'; "
                    f"allowed: {', '.join(k for k in ENTRY_KEYS if k != 'batch_size')}"
                )
            name, rate, merged = inherit(entry, optimizer, lr, hyper)
            own = {k: v for k, v in entry.items() if k not in ("label", "optimizer", "lr", "hyper")}
            run = Run(problem, name, rate, merged, **{**shared, **own})
            label = entry.get("label")
            race.add(race.default_label(run) if label is None else label, run)
        return race

    # -- contenders ----------------------------------------------------------------------------

    def default_label(self, run: Any) -> str:
        """``"<optimizer> lr=<lr>"`` (a model's mini-batches add ``batch=<size>``), made unique
        with ``#2``, ``#3``… ."""
        base = f"{run.optimizer_name} lr={run.lr:g}"
        batch = getattr(run, "batch_size", None)
        if batch is not None:
            base += f" batch={batch}"
        label, n = base, 1
        while label in self._runs:
            n += 1
            label = f"{base} #{n}"
        return label

    def add(self, label: str | None, run: Any) -> str:
        """Add a contender (it starts from its own step count); return its label."""
        if len(self._runs) >= MAX_CONTENDERS:
            raise RaceError(f"a race holds at most {MAX_CONTENDERS} runs; remove one first")
        if label is None:
            label = self.default_label(run)
        if not isinstance(label, str) or not label.strip() or "\n" in label:
            raise RaceError(f"a run's label must be a non-empty line of text, got {label!r}")
        label = label.strip()
        if label in self._runs:
            raise RaceError(f"two runs are labelled '{label}'; labels must differ")
        if self._runs:
            first = next(iter(self._runs.values()))
            if tuple(run.param_names) != tuple(first.param_names):
                raise RaceError(
                    f"'{label}' has parameters ({', '.join(run.param_names)}), the race has "
                    f"({', '.join(first.param_names)}): a race is on one problem"
                )
        self._runs[label] = run
        self._tally[label] = _Tally()
        if run.last_record is not None:
            # A run that has stepped before (a branch): its steps so far count from here on.
            self._count(label, run.last_record)
        return label

    def remove(self, label: str) -> Any:
        """Take a contender out of the race; return its run."""
        if label not in self._runs:
            raise RaceError(f"no run labelled '{label}'; the race has: {', '.join(self._runs)}")
        del self._tally[label]
        return self._runs.pop(label)

    def __len__(self) -> int:
        """How many contenders."""
        return len(self._runs)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """``(label, run)`` pairs, in the order they were added."""
        return iter(list(self._runs.items()))

    @property
    def labels(self) -> tuple[str, ...]:
        """The contenders' labels, in order."""
        return tuple(self._runs)

    def __getitem__(self, label: str) -> Any:
        """The run labelled ``label``."""
        return self._runs[label]

    @property
    def finished(self) -> bool:
        """True when every contender has stopped (or there are none)."""
        return all(run.finished for run in self._runs.values())

    @property
    def tolerance(self) -> float:
        """Steps-to-tolerance counts the first step within this of the target (a new value
        recounts every contender exactly, from its record lows)."""
        return self._tolerance

    @tolerance.setter
    def tolerance(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RaceError(f"tolerance must be a number ≥ 0, got {value!r}")
        if not 0 <= value < math.inf:
            raise RaceError(f"tolerance must be a finite number ≥ 0, got {value!r}")
        self._tolerance = float(value)

    @property
    def target(self) -> float | None:
        """The loss the tolerance is measured from: given, else the problem's known minimum."""
        if self._target is not None:
            return self._target
        for run in self._runs.values():
            value = getattr(getattr(run, "problem", None), "min_value", None)
            if value is not None:
                return float(value)
        return None

    @property
    def criterion(self) -> str:
        """In words, what steps-to-tolerance counts."""
        target = self.target
        if target is None:
            return f"first step with ‖∇‖ ≤ {self.tolerance:g}"
        return f"first step with loss − {target:g} ≤ {self.tolerance:g}"

    # -- stepping ------------------------------------------------------------------------------

    def _count(self, label: str, record: StepRecord) -> None:
        tally = self._tally[label]
        loss = record.loss
        tally.final = loss
        if loss is not None and math.isfinite(loss) and (tally.best is None or loss < tally.best):
            tally.best = loss
        tally.loss_lows.add(record.step, loss)
        tally.grad_lows.add(record.step, record.grad_norm)

    def steps_to_tolerance(self, label: str) -> int | None:
        """The step at which ``label`` first came within :attr:`tolerance` (see
        :attr:`criterion`), or None."""
        tally = self._tally[label]
        target = self.target
        if target is None:
            return tally.grad_lows.first_within(self.tolerance)
        return tally.loss_lows.first_within(self.tolerance, target)

    def step(self) -> list[tuple[str, StepRecord]]:
        """One step of every contender still running, in order; their labelled records."""
        out: list[tuple[str, StepRecord]] = []
        for label, run in list(self._runs.items()):
            if run.finished:
                continue
            records = _as_records(run.step())
            if run.finished and hasattr(run, "drain"):
                records += _as_records(run.drain())
            for record in records:
                self._count(label, record)
                out.append((label, record))
        return out

    def steps(self, count: int | None = None) -> Iterator[tuple[str, StepRecord]]:
        """Step together until every run has stopped (or ``count`` rounds); yield the records."""
        rounds = 0
        while (count is None or rounds < count) and not self.finished:
            yield from self.step()
            rounds += 1

    def run(self, count: int | None = None) -> None:
        """Step together until every run has stopped (or ``count`` rounds)."""
        for _ in self.steps(count):
            pass

    def record_dict(self, label: str, record: StepRecord) -> dict[str, Any]:
        """A labelled record as JSON: ``{"run": label, **record.to_dict(names)}``."""
        return {"run": label, **record.to_dict(self._runs[label].param_names)}

    # -- the table -----------------------------------------------------------------------------

    def table(self) -> list[RaceRow]:
        """Per contender: label, optimizer, lr now, steps, steps to tolerance, final and best
        loss (from its records), status and reason."""
        rows = []
        for label, run in self._runs.items():
            tally = self._tally[label]
            last = run.last_record
            rows.append(
                RaceRow(
                    label,
                    str(getattr(run, "optimizer_name", "")),
                    float(run.lr),
                    0 if last is None else int(last.step),
                    self.steps_to_tolerance(label),
                    tally.final,
                    tally.best,
                    str(run.status),
                    run.reason,
                )
            )
        return rows
