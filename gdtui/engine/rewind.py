"""Rewind: periodic checkpoints of a run, bounded in memory, to replay or branch from any step.

A :class:`Checkpoint` holds everything a step depends on: the parameters, a deep copy of
``optimizer.state_dict()`` (moments, step counts, the param groups' lr and hyper-parameters),
the scheduler's ``state_dict()``, torch's global RNG state and the state of the run's own
generators (its noise, its batch order), and the bookkeeping a run needs to go on (step count,
status, last record, the explosion limit). Restored into a run built with the same settings, the
next steps are the original ones bit for bit: the same numbers go through the same torch code.

:class:`Checkpoints` keeps one every ``every`` steps, at most ``capacity`` of them: when full,
the spacing doubles and the checkpoints off the new grid are dropped (like :class:`History`'s
stride), so a run of any length holds at most ``capacity`` and replays at most one spacing of
steps to reach any step. Step 0 (the start) is always kept. With ``max_bytes`` the capacity also
shrinks so that the checkpoints held fit in that many bytes (a big model's parameters and
optimizer state), never below two.

The functions take a run by duck typing (``params``, ``optimizer``, ``step_count``, ``status``,
``reason``, ``last_record``, optional ``scheduler`` and generators), so a model run can use them.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass, field
from typing import Any

import torch

# Attributes under which a run may keep its own torch.Generator (Run's noise, ModelRun's batches).
GENERATOR_ATTRS = ("_noise_generator", "generator")


@dataclass
class Checkpoint:
    """A run's full state right after step ``step`` (0: before the first step)."""

    step: int
    params: list[torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    rng: torch.Tensor
    generators: dict[str, torch.Tensor] = field(default_factory=dict)
    run_state: dict[str, Any] = field(default_factory=dict)


# Plain attributes of a run that a checkpoint copies back (when the run has them).
RUN_ATTRS = (
    "step_count",
    "optimizer_name",
    "hyper",
    "_events_applied",
    "status",
    "reason",
    "last_record",
    "_explode_limit",
    "_current",
    "taken",
    "epoch",
    "_batch_pos",
    "_batches",
)


def take_checkpoint(run: Any) -> Checkpoint:
    """Copy ``run``'s state now (nothing is shared with the live run)."""
    with torch.no_grad():
        params = [p.detach().clone() for p in run.params]
    scheduler = getattr(run, "scheduler", None)
    generators = {
        name: gen.get_state()
        for name in GENERATOR_ATTRS
        if isinstance(gen := getattr(run, name, None), torch.Generator)
    }
    run_state = {name: copy.copy(getattr(run, name)) for name in RUN_ATTRS if hasattr(run, name)}
    return Checkpoint(
        int(run.step_count),
        params,
        copy.deepcopy(run.optimizer.state_dict()),
        None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        torch.get_rng_state(),
        generators,
        run_state,
    )


def restore_checkpoint(run: Any, checkpoint: Checkpoint, *, global_rng: bool = True) -> None:
    """Put ``run`` (built with the same settings) in the state of ``checkpoint``.

    The optimizer and scheduler load deep copies, so stepping the run never changes the
    checkpoint. ``global_rng`` also sets torch's global RNG to its state at that step.
    """
    with torch.no_grad():
        for p, saved in zip(run.params, checkpoint.params, strict=True):
            p.copy_(saved)
            p.grad = None
    run.optimizer.load_state_dict(copy.deepcopy(checkpoint.optimizer))
    scheduler = getattr(run, "scheduler", None)
    if scheduler is not None and checkpoint.scheduler is not None:
        scheduler.load_state_dict(copy.deepcopy(checkpoint.scheduler))
    if global_rng:
        torch.set_rng_state(checkpoint.rng)
    for name, state in checkpoint.generators.items():
        getattr(run, name).set_state(state)
    for name, value in checkpoint.run_state.items():
        setattr(run, name, copy.copy(value))
    if hasattr(run, "_state_dicts"):
        run._state_dicts = None  # the optimizer's per-parameter state dicts are new objects


def checkpoint_nbytes(checkpoint: Checkpoint) -> int:
    """The bytes of a checkpoint's tensors: parameters, optimizer and scheduler state."""

    def walk(value: Any) -> int:
        if isinstance(value, torch.Tensor):
            return value.nbytes
        if isinstance(value, dict):
            return sum(walk(v) for v in value.values())
        if isinstance(value, list | tuple):
            return sum(walk(v) for v in value)
        return 0

    return walk(checkpoint.params) + walk(checkpoint.optimizer) + walk(checkpoint.scheduler)


class Checkpoints:
    """At most ``capacity`` checkpoints (and ``max_bytes``), every ``every`` steps, thinned by
    powers of two."""

    def __init__(self, every: int = 128, capacity: int = 64, max_bytes: int | None = None) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"checkpoint_every must be a whole number ≥ 1, got {every!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 2:
            raise ValueError(f"max_checkpoints must be a whole number ≥ 2, got {capacity!r}")
        self.every = every
        self.capacity = capacity
        self.max_capacity = capacity
        self.max_bytes = max_bytes
        self.spacing = every
        self._items: list[Checkpoint] = []

    def __len__(self) -> int:
        """How many checkpoints are held."""
        return len(self._items)

    @property
    def steps(self) -> tuple[int, ...]:
        """The steps held, in order."""
        return tuple(c.step for c in self._items)

    def due(self, step: int) -> bool:
        """Whether a checkpoint belongs at ``step`` (on the current grid, not held yet)."""
        return step % self.spacing == 0 and (not self._items or self._items[-1].step < step)

    def add(self, checkpoint: Checkpoint) -> None:
        """Keep ``checkpoint``; past capacity, double the spacing and drop those off the grid."""
        if self.max_bytes is not None:  # the largest so far sets how many fit
            size = max(checkpoint_nbytes(checkpoint), 1)
            self.capacity = max(2, min(self.capacity, self.max_capacity, self.max_bytes // size))
        self._items.append(checkpoint)
        while len(self._items) > self.capacity:
            self.spacing *= 2
            self._items = [c for c in self._items if c.step % self.spacing == 0]

    def before(self, step: int) -> Checkpoint:
        """The latest checkpoint at or before ``step``."""
        i = bisect.bisect_right(self.steps, step) - 1
        if i < 0:
            raise KeyError(step)
        return self._items[i]

    def prefix(self, step: int) -> Checkpoints:
        """A copy holding the checkpoints up to ``step`` (they are never changed, so shared)."""
        out = Checkpoints(self.every, self.max_capacity, self.max_bytes)
        out.capacity = self.capacity
        out.spacing = self.spacing
        out._items = [c for c in self._items if c.step <= step]
        return out
