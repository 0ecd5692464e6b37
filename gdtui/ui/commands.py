"""Commands from the UI to the descent loop, in one place (the other way: ``messages.py``).

Each is a small frozen dataclass; :meth:`gdtui.ui.descent.DescentLoop.send` queues one and the
loop dispatches on its type with ``match``. They carry plain values only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Toggle:
    """Run, or pause a running descent."""


@dataclass(frozen=True)
class Step:
    """Pause and take ``count`` steps."""

    count: int = 1


@dataclass(frozen=True)
class Reset:
    """A fresh run of the same scenario (it keeps a learning rate changed since)."""


@dataclass(frozen=True)
class SetLr:
    """Change the running optimizer's learning rate at once (text as typed, or a number)."""

    value: float | str


@dataclass(frozen=True)
class ScaleLr:
    """Multiply the running optimizer's learning rate by ``factor``."""

    factor: float


@dataclass(frozen=True)
class Configure:
    """A fresh run with changed scenario fields (``loss``, ``optimizer``, ``hyper``, ``init``…)."""

    changes: dict[str, Any]


@dataclass(frozen=True)
class SetExpression:
    """Descend a typed formula; the loop answers with :class:`ExpressionChecked`."""

    text: str


@dataclass(frozen=True)
class OpenScenario:
    """A fresh run of a scenario given by built-in name or ``.toml`` path."""

    spec: str


@dataclass(frozen=True)
class ConfigureModel:
    """A fresh model run with one model setting changed: ``setting`` is ``dataset`` (a data set
    name), ``model`` (a model kind), ``loss_fn`` or ``batch_size`` (``"full"`` or a number, as
    typed). The loop answers with :class:`~gdtui.ui.messages.ChoiceChecked`."""

    setting: str
    value: str


@dataclass(frozen=True)
class ComputeLandscape:
    """Compute the model's landscape now (a loss slice is otherwise only computed at a pause)."""


@dataclass(frozen=True)
class PlaceStart:
    """A fresh run from this start point (one value per parameter)."""

    point: tuple[float, ...]


@dataclass(frozen=True)
class SetSpeed:
    """Steps per second while running (None: as fast as it goes)."""

    speed: float | None


@dataclass(frozen=True)
class SetViewWidth:
    """How many points the loss plot can show (the history view is downsampled to it)."""

    width: int


@dataclass(frozen=True)
class SetGrid:
    """How many landscape samples ``(nx, ny)`` the landscape widget can show."""

    nx: int
    ny: int


@dataclass(frozen=True)
class Export:
    """Write the run's records as ``fmt`` (``jsonl`` or ``csv``) into ``folder``."""

    fmt: str
    folder: Path


@dataclass(frozen=True)
class Quit:
    """Leave the loop (the app is closing)."""


Command = (
    Toggle
    | Step
    | Reset
    | SetLr
    | ScaleLr
    | Configure
    | SetExpression
    | ConfigureModel
    | ComputeLandscape
    | OpenScenario
    | PlaceStart
    | SetSpeed
    | SetViewWidth
    | SetGrid
    | Export
    | Quit
)
"""Everything the UI can ask of the loop."""


# -- rewind and branch (the main screen's [ ] { } keys, a click on the loss curve) -------------


@dataclass(frozen=True)
class Scrub:
    """Pause and show the run as it was ``delta`` steps from the step shown now (the live end
    when not rewound); at or past the live end, back to it."""

    delta: int


@dataclass(frozen=True)
class ScrubTo:
    """Pause and show the run as it was at ``step`` (at or past the live end: back to it)."""

    step: int


@dataclass(frozen=True)
class LiveEnd:
    """Stop showing an earlier step: back to the run's live end (it stays paused)."""


Command = Command | Scrub | ScrubTo | LiveEnd  # type: ignore[misc]
"""Everything the UI can ask of the loop (rewinding included)."""


# -- the arithmetic of a step, curvature and schedules (issue 9) ---------------------------------


@dataclass(frozen=True)
class MeasureCurvature:
    """Measure λmax at the current parameters now (Hessian-vector products, in the worker)."""


@dataclass(frozen=True)
class SetSchedule:
    """A fresh run with this learning-rate schedule (``None``: a constant rate) and the
    scheduler's own arguments; the loop answers with :class:`~gdtui.ui.messages.ScheduleChecked`
    and keeps the run as it was when the engine refuses them."""

    name: str | None
    args: dict[str, Any]


Command = Command | MeasureCurvature | SetSchedule  # type: ignore[misc]
