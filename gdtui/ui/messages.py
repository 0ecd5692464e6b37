"""Messages from the descent thread to the app, in one place.

They carry engine data only (records, history views, problem facts): the app draws them. The
frequent one, :class:`Progress`, is replaceable, so a burst collapses into the newest; the full
history stays in the engine, so nothing is lost when messages merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:  # numpy loads after the first paint
    import numpy as np


@dataclass(frozen=True)
class OptimizerChoice:
    """An optimizer the controls offer, with its tunable hyper-parameters and defaults."""

    name: str
    torch_name: str
    description: str
    default_lr: float
    hyper: dict[str, Any]


@dataclass(frozen=True)
class Catalog:
    """What can be chosen: built-in problems, optimizers, scenarios (from the engine)."""

    problems: tuple[tuple[str, str], ...]  # (name, description)
    optimizers: tuple[OptimizerChoice, ...]
    scenarios: tuple[tuple[str, str], ...]  # (name, title)


@dataclass(frozen=True)
class Surface:
    """The loss on a grid for the landscape: ``z`` is (ny, nx) for 2-D, (nx,) for 1-D."""

    x: np.ndarray
    y: np.ndarray | None
    z: np.ndarray


@dataclass(frozen=True)
class RunInfo:
    """Facts of a fresh run: the scenario, the problem, the optimizer, where it runs."""

    generation: int
    scenario: str
    title: str
    description: str
    problem: str
    expression: str
    param_names: tuple[str, ...]
    init: tuple[float, ...]
    domain: tuple[tuple[float, float], ...]
    minima: tuple[tuple[float, ...], ...]
    min_value: float | None
    optimizer: str
    torch_name: str
    lr: float
    hyper: dict[str, Any]
    device: str
    dtype: str
    max_steps: int | None
    is_expression: bool = False
    surface: Surface | None = field(default=None, compare=False)
    grid_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Snapshot:
    """The run as it stands: the last record, a width-sized view of the history, the path."""

    generation: int
    step: int
    status: str
    reason: str | None
    lr: float
    playing: bool
    record: Any  # StepRecord | None (a copy, safe to read on the UI thread)
    view: Any  # HistoryView
    path: np.ndarray
    current: tuple[float, ...]
    graph: tuple[str, ...]
    steps_per_s: float | None
    view_width: int = 0


class EngineReady(Message):
    """torch and the engine have loaded; here is what can be chosen."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog


class RunStarted(Message):
    """A fresh run exists (start, reset, new problem, optimizer or scenario)."""

    def __init__(self, info: RunInfo) -> None:
        super().__init__()
        self.info = info


class SurfaceReady(Message):
    """The landscape grid for the current run, at the size the widget asked for."""

    def __init__(
        self, generation: int, surface: Surface | None, grid_size: tuple[int, int]
    ) -> None:
        super().__init__()
        self.generation = generation
        self.surface = surface
        self.grid_size = grid_size


class Progress(Message):
    """New steps were taken (or the run's state changed); replaceable."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        """A newer Progress makes an older one pointless."""
        return isinstance(message, Progress)


class Notice(Message):
    """A one-line message for the user (bad input, an export's path, a stop reason)."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class StartupFailed(Message):
    """The scenario given on the command line can't be used: the app exits with code 2."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
