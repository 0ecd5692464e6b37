"""Messages from the descent thread to the app, in one place (as toolong's ``messages.py``).

They carry engine data only (records, history views, problem facts): the app draws them. The
frequent ones (:class:`Progress`, :class:`SurfaceReady`) are replaceable, so a burst collapses
into the newest; the full history stays in the engine, so nothing is lost when messages merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from textual.message import Message

if TYPE_CHECKING:  # numpy and torch load after the first paint
    from pathlib import Path

    import numpy as np

    from gdtui.engine import HistoryView, Regions, StepRecord
    from gdtui.engine.arithmetic import StepArithmetic
    from gdtui.engine.curvature import StabilityBound

Severity = Literal["information", "warning", "error"]
"""How a one-line notice is shown (Textual's toast severities)."""


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
    datasets: tuple[str, ...] = ()
    model_kinds: tuple[str, ...] = ()
    loss_fns: tuple[str, ...] = ()
    schedules: tuple[tuple[str, str], ...] = ()  # (name, description)


@dataclass(frozen=True, eq=False)
class Surface:
    """The loss on a grid, as the worker computes it and the landscape widget draws it.

    The one form of the landscape from the engine to the pixels (compared by identity: the
    widget caches its shaded map by it).

    Attributes:
        x: First parameter's values, shape ``(nx,)``, increasing.
        y: Second parameter's values, shape ``(ny,)``, increasing; None for a 1-D curve.
        z: The loss, shape ``(ny, nx)`` (2-D) or ``(nx,)`` (1-D); nan / inf cells are blank.
        minima: Known minimisers (one value per parameter), drawn as ``★``.
        names: The parameter names (one or two).
    """

    x: np.ndarray
    y: np.ndarray | None
    z: np.ndarray
    minima: tuple[tuple[float, ...], ...]
    names: tuple[str, ...]

    @property
    def is_curve(self) -> bool:
        """True for a 1-parameter landscape (a curve), False for a shaded 2-D map."""
        return self.y is None


@dataclass(frozen=True)
class ModelInfo:
    """Facts of a model run: the data, the network, the loss and the batches."""

    dataset: str
    task: str  # "regression" or "classification"
    n_train: int
    n_val: int
    n_features: int
    n_classes: int
    kind: str  # linear | logistic | mlp | cnn
    description: str  # the layers and the parameter count, one line
    loss_fn: str
    batch_size: int | None  # None: the full training set every step
    steps_per_epoch: int
    n_scalars: int
    layer_names: tuple[str, ...]
    layer_shapes: tuple[tuple[int, ...], ...]

    @property
    def small(self) -> bool:
        """At most 8 scalars: the panels show one column (or row) per scalar."""
        return not self.layer_names or self.n_scalars <= 8

    @property
    def batch_text(self) -> str:
        """``full`` or the batch size as typed."""
        return "full" if self.batch_size is None else str(self.batch_size)


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
    model: ModelInfo | None = None
    """Set for a model trained on data (None: a formula)."""
    schedule: str | None = None
    """The ``torch.optim.lr_scheduler`` preset in use (None: a constant rate)."""
    schedule_args: dict[str, Any] = field(default_factory=dict)
    """The scheduler arguments the user gave (the preset's defaults fill the rest)."""
    curvature_every: int = 0
    """λmax is measured every this many steps (0: only on demand)."""


@dataclass(frozen=True)
class EpochCurves:
    """The full-set evaluations so far, one entry per evaluated epoch end (thinned to the plot
    width); accuracies are NaN for regression."""

    step: np.ndarray
    epoch: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    train_accuracy: np.ndarray
    val_accuracy: np.ndarray

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class RateCurves:
    """The learning rate and the sharpness over the run, for the small plot under the loss
    (at most the plot's width of points each).

    Attributes:
        step: Steps of the rate buckets (last step of each).
        lr: The rate each bucket's last step used.
        edge: The curvature at which the optimizer's step becomes unstable at that rate
            (``2/lr`` for plain descent, ``(2+2β)/lr`` with heavy-ball momentum, …).
        edge_label: How ``edge`` is written, e.g. ``2/lr``.
        lambda_step: Steps at which λmax was measured (at the parameters before that step).
        lambda_max: λmax measured there.
        varies: The rate changed during the run (a schedule, ``+``/``-``, a typed rate).
    """

    step: np.ndarray
    lr: np.ndarray
    edge: np.ndarray
    edge_label: str
    lambda_step: np.ndarray
    lambda_max: np.ndarray
    varies: bool


@dataclass(frozen=True)
class Snapshot:
    """The run as it stands: the last record, a width-sized view of the history, the path."""

    generation: int
    step: int
    status: str
    reason: str | None
    lr: float
    playing: bool
    record: StepRecord | None  # a copy, safe to read on the UI thread
    view: HistoryView
    path: np.ndarray
    current: tuple[float, ...]
    graph: tuple[str, ...]
    steps_per_s: float | None
    ranks: tuple[int, ...] = ()
    view_width: int = 0
    epoch: int = 0
    """Epochs completed (model runs)."""
    evaluation: StepRecord | None = None
    """The newest record with full-set evaluations (``epoch``, ``val_loss``, …), model runs."""
    epochs: EpochCurves | None = None
    layers: np.ndarray | None = None
    """Per parameter tensor, the :data:`~gdtui.engine.layer_stats.SUMMARY_FIELDS` of the newest
    summarised step, shape ``(tensors, 8)`` (models above 8 scalars)."""
    layers_step: int = 0
    arithmetic: StepArithmetic | None = None
    """The last step's update rule with its numbers, checked against torch's update."""
    arithmetic_note: str = ""
    """Why there is no ``arithmetic`` (empty: nothing to say)."""
    lambda_max: float | None = None
    """The newest λmax measured (every ``curvature_every`` steps, or on demand)."""
    lambda_at: int = 0
    """λmax was measured at the parameters after this many steps."""
    bound: StabilityBound | None = None
    """The optimizer's stability bound on the rate for ``lambda_max``."""
    rates: RateCurves | None = None
    """The rate and the sharpness over the run (None while there is nothing to plot)."""


@dataclass(frozen=True, eq=False)
class ModelLandscape:
    """A model's landscape as the worker computed it at ``step``: a loss ``surface`` over two
    parameters (``kind`` ``"surface"``) or along two filter-normalised directions (``"slice"``),
    or a classifier's decision ``regions`` (``"regions"``)."""

    kind: str
    step: int
    grid_size: tuple[int, int] | None
    surface: Surface | None = None
    regions: Regions | None = None


@dataclass
class EngineReady(Message):
    """torch and the engine have loaded; here is what can be chosen."""

    catalog: Catalog


@dataclass
class RunStarted(Message):
    """A fresh run exists (start, reset, new problem, optimizer or scenario)."""

    info: RunInfo


@dataclass
class SurfaceReady(Message):
    """The landscape grid for the current run, at the size the widget asked for."""

    generation: int
    surface: Surface | None
    grid_size: tuple[int, int]

    def can_replace(self, message: Message) -> bool:
        """A newer grid makes an older one pointless."""
        return isinstance(message, SurfaceReady)


@dataclass
class ModelLandscapeReady(Message):
    """A model's landscape, computed in the worker; replaceable."""

    generation: int
    landscape: ModelLandscape

    def can_replace(self, message: Message) -> bool:
        """A newer landscape makes an older one pointless."""
        return isinstance(message, ModelLandscapeReady)


@dataclass
class ChoiceChecked(Message):
    """The worker's answer to a model setting chosen in the controls (``setting``:
    ``dataset``, ``model``, ``loss_fn`` or ``batch_size``): ``error`` is empty when accepted."""

    setting: str
    error: str


@dataclass
class ScheduleChecked(Message):
    """The worker's answer to a schedule chosen in the controls: ``error`` is empty when the
    run was rebuilt with it; else the run is unchanged."""

    error: str


@dataclass
class Progress(Message):
    """New steps were taken (or the run's state changed); replaceable."""

    snapshot: Snapshot

    def can_replace(self, message: Message) -> bool:
        """A newer Progress makes an older one pointless."""
        return isinstance(message, Progress)


@dataclass
class Notice(Message):
    """A one-line message for the user (bad input, an export's path, a stop reason)."""

    text: str
    severity: Severity = "information"


@dataclass
class ExpressionChecked(Message):
    """The worker's answer to a typed formula: ``error`` is empty when it was accepted."""

    expression: str
    error: str


@dataclass
class StartupFailed(Message):
    """The scenario given on the command line can't be used: the app exits with code 2."""

    text: str


@dataclass
class InternalError(Message):
    """A bug in the worker, or a fault of the machine (out of memory, a device error): one line
    for the user, the traceback for the log.

    ``fatal`` when the worker could not start at all (the app exits with code 1). ``fault`` when
    the summary is a device fault's line (:func:`gdtui.faults.device_fault`), not a bug's.
    """

    summary: str
    traceback: str
    fatal: bool = False
    fault: bool = False

    @classmethod
    def of(cls, err: BaseException, bug: str, *, fatal: bool = False) -> InternalError:
        """The message for ``err``: a device fault's own line, or else ``bug`` (the one line
        that says what failed); the traceback either way."""
        from traceback import format_exception

        from gdtui.faults import device_fault

        fault = device_fault(err)
        trace = "".join(format_exception(err))
        return cls(fault or bug, trace, fatal, fault is not None)


# -- gdtui attach: the record-file follower (gdtui/ui/screens/attach.py) ------------------------


@dataclass(frozen=True, eq=False)
class Followed:
    """A record file as read so far, for the attach screen (arrays are read-only views).

    Attributes:
        path: The file followed.
        generation: Goes up when the file was replaced (a new run on the same path).
        header: The header line (None until it is written).
        names: Parameter names, ``shapes`` their shapes.
        step: Optimizer step of each recorded step (N,).
        time: Unix time of each recorded step (N,).
        loss: ``scalars["loss"]`` (N,), None when the run logs no loss.
        values: Per-parameter summaries (N, P, 8) in ``gdtui.recordfile.FIELDS`` order, NaN
            where a parameter had no gradient.
        rows: The last step as the layer panel shows it (a ``LayerRows``).
        end: The end line (None while the file is open).
        steps_per_s: Optimizer steps per second over the last recorded steps.
        ranks: The ranks whose files lie beside this one (``gdtui.recordfile.sibling_ranks``).
    """

    path: Path
    generation: int
    header: dict[str, Any] | None
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    step: np.ndarray
    time: np.ndarray
    loss: np.ndarray | None
    values: np.ndarray
    rows: Any
    end: dict[str, Any] | None
    steps_per_s: float | None
    ranks: tuple[int, ...] = ()


@dataclass
class RecordRead(Message):
    """The followed record file has new steps, ended, or was replaced; replaceable."""

    followed: Followed

    def can_replace(self, message: Message) -> bool:
        """A newer read makes an older one pointless (each carries the whole file)."""
        return isinstance(message, RecordRead)


@dataclass
class RecordProblem(Message):
    """The followed file cannot be read on (junk, gone); the last good read stays shown.

    ``text`` is empty when a problem went away.
    """

    path: Path
    text: str


# -- rewind (the main screen's [ ] { } keys, a click on the loss curve) ---------------------------


@dataclass
class Rewound(Message):
    """The run is shown as it was after ``step`` of ``total`` (paused, scrubbed back), or at its
    live end again (``step`` and ``record`` None); replaceable.

    ``record`` is that step's own record, rebuilt in the worker (``Run.state_at`` or
    ``ModelRun.state_at``): a copy, safe to read on the UI thread. ``layers``: a big model's
    per-layer summaries of that step, rows as :attr:`Snapshot.layers` (None for the others).
    """

    generation: int
    step: int | None
    total: int
    record: StepRecord | None
    layers: np.ndarray | None = None
    info: RunInfo | None = None
    """The run's facts as they were at that step, where a branch has changed them since (another
    optimizer took the later steps); None when they are the run's facts now."""
    epoch: int = 0
    """A model's epochs completed after that step."""
    evaluation: StepRecord | None = None
    """A model's newest full-set evaluation at or before that step (None: none yet)."""

    def can_replace(self, message: Message) -> bool:
        """A newer position makes an older one pointless."""
        return isinstance(message, Rewound)
