"""Race: several runs on one problem, stepped together, and a table of how each did.

Each contender is an ordinary run (a :class:`~gdtui.engine.run.Run`, or any object with
``step()``, ``status``, ``reason``, ``last_record``, ``history``, ``lr`` and ``param_names``, such
as a model run), so a contender walks exactly the path it walks alone: the race only calls each
``step()`` in turn. Records come out labelled, ``(label, record)``, and :meth:`Race.record_dict`
gives the JSON form with a ``"run"`` key.

Steps to tolerance: the step of the first record whose loss is within ``tolerance`` of the
target (``loss − target ≤ tolerance``), the target being ``target`` if given, else the problem's
known minimum value; where neither is known (a model, a user's expression), the first record whose
gradient norm is at most ``tolerance``. As everywhere in a record, the loss and gradient of step k
are measured at the point step k starts from. The table's numbers are read from the records as
they come, never from the (thinned) history.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gdtui.engine.records import StepRecord, finite_or_none

MAX_CONTENDERS = 6
# Keys a race entry may set (with the Run's own keywords given to the factory for all).
ENTRY_KEYS = ("label", "optimizer", "lr", "hyper", "schedule", "schedule_args", "seed", "noise")


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


class _Tally:
    """What the table needs from one contender's records, kept as they come."""

    __slots__ = ("best", "final", "reached")

    def __init__(self) -> None:
        self.best: float | None = None
        self.final: float | None = None
        self.reached: int | None = None


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
        tolerance: float = 1e-6,
        target: float | None = None,
    ) -> None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
            raise RaceError(f"tolerance must be a number ≥ 0, got {tolerance!r}")
        if not 0 <= tolerance < math.inf:
            raise RaceError(f"tolerance must be a finite number ≥ 0, got {tolerance!r}")
        if target is not None and (
            isinstance(target, bool)
            or not isinstance(target, int | float)
            or not math.isfinite(target)
        ):
            raise RaceError(f"target must be a finite number, got {target!r}")
        self.tolerance = float(tolerance)
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
        tolerance: float = 1e-6,
        target: float | None = None,
        **run_kwargs: Any,
    ) -> Race:
        """A race of :class:`Run` s on ``problem``: one per entry, each entry overriding
        ``optimizer``, ``lr``, ``hyper``, ``schedule``, ``schedule_args`` or ``seed`` of the
        shared ``run_kwargs`` (a ``label`` names it; else ``"adam lr=0.01"``)."""
        from gdtui.engine.run import Run

        if len(entries) > MAX_CONTENDERS:
            raise RaceError(
                f"a race holds at most {MAX_CONTENDERS} runs, got {len(entries)} entries"
            )
        race = cls(tolerance=tolerance, target=target)
        for i, entry in enumerate(entries, start=1):
            if not isinstance(entry, Mapping):
                raise RaceError(f"race entry {i} must be a table, got {entry!r}")
            unknown = [k for k in entry if k not in ENTRY_KEYS]
            if unknown:
                raise RaceError(
                    f"race entry {i}: unknown field '{unknown[0]}'; "
                    f"allowed: {', '.join(ENTRY_KEYS)}"
                )
            kwargs = {**run_kwargs, **{k: v for k, v in entry.items() if k != "label"}}
            run = Run(problem, **kwargs)
            label = entry.get("label")
            race.add(race.default_label(run) if label is None else label, run)
        return race

    # -- contenders ----------------------------------------------------------------------------

    def default_label(self, run: Any) -> str:
        """``"<optimizer> lr=<lr>"``, made unique with ``#2``, ``#3``… ."""
        base = f"{run.optimizer_name} lr={run.lr:g}"
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
        if math.isfinite(loss) and (tally.best is None or loss < tally.best):
            tally.best = loss
        if tally.reached is None:
            target = self.target
            if target is None:
                hit = record.grad_norm <= self.tolerance
            else:
                hit = loss - target <= self.tolerance
            if hit:
                tally.reached = record.step

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
                    tally.reached,
                    tally.final,
                    tally.best,
                    str(run.status),
                    run.reason,
                )
            )
        return rows
