"""The main screen: controls, the loss curve, the landscape, the two step panels, the status.

It keeps the newest run facts and snapshot the descent worker sent and draws them on a timer
tick, only when something changed. It talks to its widgets through their public methods and
hears from them through their own messages (``on_controls_lr_submitted``,
``on_landscape_start_placed``, …); it talks to the worker through ``app.send``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Static

from gdtui.safetext import visible
from gdtui.ui.commands import (
    ComputeLandscape,
    Configure,
    ConfigureModel,
    LiveEnd,
    MeasureCurvature,
    PlaceStart,
    Reset,
    ScaleLr,
    Scrub,
    ScrubTo,
    SetExpression,
    SetGrid,
    SetLr,
    SetSchedule,
    SetSpeed,
    SetViewWidth,
    Step,
    Toggle,
)
from gdtui.ui.messages import (
    ChoiceChecked,
    EngineReady,
    ExpressionChecked,
    ModelLandscape,
    ModelLandscapeReady,
    Progress,
    Rewound,
    RunInfo,
    RunStarted,
    ScheduleChecked,
    Snapshot,
    Surface,
    SurfaceReady,
)
from gdtui.ui.widgets.backprop_panel import BackpropPanel
from gdtui.ui.widgets.controls import SPEEDS, Controls
from gdtui.ui.widgets.optimizer_panel import OptimizerPanel
from gdtui.ui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from gdtui.ui.app import GdtuiApp
    from gdtui.ui.widgets.landscape import Landscape
    from gdtui.ui.widgets.layer_panel import LayerPanel
    from gdtui.ui.widgets.loss_plot import LossPlot, Series

MIN_SIZE = (60, 16)
NARROW = 110  # below this many columns the controls start hidden
SHORT = 30  # below this many rows the step panels get fewer rows
REFRESH_HZ = 8


class MainScreen(Screen[None]):
    """The live view of one descent (the app's default screen).

    Args:
        speed_index: the speed the controls start on (an index into ``SPEEDS``).
        deterministic: no cursor blink (snapshots, screenshots).
    """

    BINDINGS = [
        Binding("space", "toggle", "run/pause"),
        Binding("n", "step", "step"),
        Binding("r", "reset", "reset"),
        Binding("plus,equals_sign", "lr_up", "lr×2", key_display="+"),
        Binding("minus,underscore", "lr_down", "lr÷2", key_display="-"),
        Binding("l", "log", "log"),
        Binding("f", "speed", "speed", show=False),
        Binding("s", "place", "start", show=False),
        Binding("v", "landscape", "view", show=False),
        Binding("k", "curvature", "λmax", show=False),
        Binding("K", "lower_plot", "lr plot", show=False),
        Binding("c", "panel('controls')", "controls", show=False),
        Binding("g", "panel('landscape')", "landscape", show=False),
        Binding("b", "panel('panels')", "panels", show=False),
        Binding("escape", "escape", show=False),
        Binding("left_square_bracket", "scrub(-1)", "back a step", show=False),
        Binding("right_square_bracket", "scrub(1)", "on a step", show=False),
        Binding("left_curly_bracket", "scrub(-10)", "back 10 steps", show=False),
        Binding("right_curly_bracket", "scrub(10)", "on 10 steps", show=False),
        Binding("enter", "place_apply", show=False),
        Binding("up", "place_move(0, 1)", show=False),
        Binding("down", "place_move(0, -1)", show=False),
        Binding("left", "place_move(-1, 0)", show=False),
        Binding("right", "place_move(1, 0)", show=False),
    ]

    def __init__(self, *, speed_index: int = len(SPEEDS) - 1, deterministic: bool = False) -> None:
        super().__init__()
        self.speed_index = speed_index
        self.deterministic = deterministic
        self.info: RunInfo | None = None
        """The current run's facts (None until the engine has loaded)."""
        self.snapshot: Snapshot | None = None
        """The newest snapshot of the current run."""
        self.surface: Surface | None = None
        """The landscape grid of the current run, at ``surface_size``."""
        self.surface_size: tuple[int, int] | None = None
        self.model_view: ModelLandscape | None = None
        self._model_titles: tuple[str, str] | None = None
        """A model's landscape (surface, slice or decision regions) as the worker sent it."""
        self.view_width = 0
        """The width the loss plot asked the worker for (its history view is that wide)."""
        self.plots_ready = False
        self.rewound: Rewound | None = None
        """The earlier step shown as it was (the worker rebuilt its record), None: the live end."""
        self._grid_sent: tuple[int, int] | None = None
        self._dirty = False
        self._hidden: dict[str, bool | None] = {
            "controls": None,
            "landscape": False,
            "panels": False,
        }

    @property
    def gdtui(self) -> GdtuiApp:
        """The app, typed."""
        return cast("GdtuiApp", self.app)

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Everything is drawn before torch is imported; the engine loads in the worker."""
        with Horizontal(id="main"):
            yield Controls(
                id="controls", speed_index=self.speed_index, cursor_blink=not self.deterministic
            )
            with Vertical(id="views"):
                with Horizontal(id="plots"):
                    # The plots (numpy, plotext) are mounted right after the first paint.
                    yield Static("", id="plots-loading")
                with Horizontal(id="panels"):
                    yield BackpropPanel(id="backprop")
                    yield OptimizerPanel(id="optimizer-panel")
        yield Static("", id="too-small")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Paint first, then mount the plots and start the descent thread (which imports torch)."""
        self._apply_layout()
        self.query_one(StatusLine).show(None, None)
        self.call_after_refresh(self._mount_plots)
        self.set_interval(1 / REFRESH_HZ, self._tick)

    async def _mount_plots(self) -> None:
        from gdtui.ui.widgets.landscape import Landscape
        from gdtui.ui.widgets.layer_panel import LayerPanel
        from gdtui.ui.widgets.loss_plot import LossPlot

        loss, landscape = LossPlot(id="loss"), Landscape(id="landscape")
        loss.border_title = "loss · l: log scale"
        landscape.border_title = "landscape"
        await self.query_one("#plots-loading").remove()
        await self.query_one("#plots").mount(loss, landscape)
        layers = LayerPanel(id="layers")
        layers.border_title = "Per layer · the map ‖∇‖ and the hiker ‖Δ‖, ‖Δ‖/‖θ‖, eff. lr"
        await self.query_one("#panels").mount(layers)
        self.plots_ready = True
        if self.info is not None:
            self._show_run_titles(self.info)
        self.gdtui.start_descent()
        self.call_after_refresh(self._send_sizes)

    def _loss(self) -> LossPlot:
        from gdtui.ui.widgets.loss_plot import LossPlot

        return self.query_one("#loss", LossPlot)

    def _landscape(self) -> Landscape:
        from gdtui.ui.widgets.landscape import Landscape

        return self.query_one("#landscape", Landscape)

    def _layers(self) -> LayerPanel:
        from gdtui.ui.widgets.layer_panel import LayerPanel

        return self.query_one("#layers", LayerPanel)

    def on_resize(self, event: Resize) -> None:
        """Adapt the layout to the terminal's new size."""
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int | None = None, height: int | None = None) -> None:
        if width is None or height is None:
            width, height = self.app.size
        too_small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.set_class(too_small, "-too-small")
        if too_small:
            self.query_one("#too-small", Static).update(
                Text(
                    f"terminal too small ({width}×{height}): gdtui needs at least "
                    f"{MIN_SIZE[0]}×{MIN_SIZE[1]}; enlarge it, or press q to quit"
                )
            )
        self.set_class(height < SHORT, "-short")
        for panel, hidden in self._hidden.items():
            if hidden is None:  # automatic: controls start hidden on narrow terminals
                hidden = width < NARROW
            self.set_class(hidden, f"-hide-{panel}")
        self.call_after_refresh(self._send_sizes)

    def _send_sizes(self) -> None:
        """Tell the descent thread the plot width and landscape grid, when they changed.

        Called on every tick: widgets get their size after layout, which may come later than
        any event the screen sees.
        """
        if not self.plots_ready:
            return
        loss = self._loss()
        if loss.size.width > 0:
            width = max(8, loss.size.width - 8)
            if width != self.view_width:
                self.view_width = width
                self.gdtui.send(SetViewWidth(width))
                self._dirty = True
        landscape = self._landscape()
        if landscape.display and landscape.size.width > 0:
            grid = landscape.grid_size()
            if grid != self._grid_sent:
                self._grid_sent = grid
                self.gdtui.send(SetGrid(*grid))
                self._dirty = True

    # -- messages from the descent thread (they bubble on to the app) ---------------------------

    def on_engine_ready(self, message: EngineReady) -> None:
        """torch has loaded: fill the controls."""
        self.query_one(Controls).set_catalog(message.catalog)

    def on_run_started(self, message: RunStarted) -> None:
        """A fresh run: new settings in the controls, a new landscape."""
        info = message.info
        self.info = info
        self.snapshot = None
        self.rewound = None
        self.model_view = None
        self._set_surface(info.surface, info.grid_size)
        self.set_class(info.model is not None and not info.model.small, "-layers")
        self.query_one(Controls).show_run(info)
        if self.plots_ready:
            self._landscape().cancel_placing()
            self._show_run_titles(info)
        self._send_sizes()

    def _show_run_titles(self, info: RunInfo) -> None:
        # User text (formulas, file names) goes in as Text: "[a=1]" is not markup; and through
        # visible(): a newline in a formula or ESC in a name must not reach the terminal.
        self._model_titles = None
        self._loss().border_subtitle = Text(visible(f"{info.problem} · {info.optimizer}"))
        if info.model is not None:
            self._show_model_titles(info)
            return
        two_d = len(info.param_names) in (1, 2)
        title = f"landscape · {info.expression}" if two_d else "landscape"
        self._landscape().border_title = Text(visible(title))

    def _show_model_titles(self, info: RunInfo) -> None:
        model = info.model
        assert model is not None
        batch = "full batch" if model.batch_size is None else f"batch {model.batch_size}"
        subtitle = visible(
            f"{model.dataset} · {model.kind} · {model.loss_fn} · {batch} · {info.optimizer}"
        )
        view = self.model_view
        kind = view.kind if view is not None else None
        if kind == "regions":
            title = "decision regions · the points by class"
        elif kind == "surface":
            title = "full-batch loss over (slope, bias) · the path"
        elif kind == "slice":
            title = f"loss slice at step {view.step} · v: recompute"
        else:
            title = "landscape · v: compute"
        # Only when changed: setting a border title repaints the whole border (each landscape).
        if (subtitle, title) != self._model_titles:
            self._model_titles = (subtitle, title)
            self._loss().border_subtitle = Text(subtitle)
            self._landscape().border_title = Text(title)

    def on_surface_ready(self, message: SurfaceReady) -> None:
        """The landscape grid at the widget's size."""
        if self.info is not None and message.generation == self.info.generation:
            self._set_surface(message.surface, message.grid_size)

    def on_model_landscape_ready(self, message: ModelLandscapeReady) -> None:
        """A model's landscape, computed in the worker."""
        if self.info is not None and message.generation == self.info.generation:
            self.model_view = message.landscape
            if self.plots_ready:
                self._show_model_titles(self.info)
            self._dirty = True

    def on_choice_checked(self, message: ChoiceChecked) -> None:
        """The worker's verdict on a model setting: under its field; a refused one goes back."""
        controls = self.query_one(Controls)
        controls.show_setting_error(message.setting, message.error)
        if message.error and self.info is not None and self.info.model is not None:
            controls.show_model(self.info.model)

    def on_progress(self, message: Progress) -> None:
        """Keep the newest snapshot; the tick draws it."""
        if self.info is None or message.snapshot.generation != self.info.generation:
            return
        self.snapshot = message.snapshot
        controls = self.query_one(Controls)
        # Don't overwrite what the user is typing, nor the rate of a step shown as it was.
        if not controls.lr_focused and self.rewound is None:
            controls.show_lr(message.snapshot.lr)
        self._dirty = True

    def on_expression_checked(self, message: ExpressionChecked) -> None:
        """The worker's verdict on a typed formula, under the field."""
        self.query_one(Controls).show_expression_error(message.error)

    def _set_surface(self, surface: Surface | None, grid_size: tuple[int, int] | None) -> None:
        self.surface = surface
        self.surface_size = grid_size
        self._dirty = True

    # -- drawing ---------------------------------------------------------------------------------

    def _tick(self) -> None:
        try:
            self._send_sizes()
            if not self._dirty:
                return
            self._dirty = False
            with self.app.batch_update():
                self.redraw()
        except NoMatches:
            pass  # the screen is being torn down (the app is exiting)

    def redraw(self) -> None:
        """Draw the newest snapshot in every widget (a step shown as it was, when rewound)."""
        info, snapshot = self.shown_info(), self.shown_snapshot()
        rewound_of = self.rewound.total if self.rewound is not None else None
        self.query_one(StatusLine).show(info, snapshot, rewound_of=rewound_of)
        self.query_one(BackpropPanel).show(info, snapshot)
        self.query_one(OptimizerPanel).show(info, snapshot)
        if info is None or snapshot is None or not self.plots_ready:
            return
        if info.model is not None:
            self._redraw_model(info, snapshot)
            return
        from gdtui.ui.widgets.loss_plot import Series

        view = snapshot.view
        series = Series(info.optimizer, view.step, view.loss, view.loss_min, view.loss_max, "cyan+")
        self._loss().show_series(
            [series, *self._step_marker()], log_offset=info.min_value, rates=snapshot.rates
        )
        landscape = self._landscape()
        if landscape.display:
            path = snapshot.path if snapshot.step else None
            landscape.show(self.surface, path, snapshot.current, info.init)

    def _model_series(self, snapshot: Snapshot) -> list[Series]:
        """The noisy batch loss (a band: min and max per column) and the epoch curves, told
        apart by colour and by marker (half blocks, ``•``, ``×``)."""
        from gdtui.ui.widgets.loss_plot import Series

        view = snapshot.view
        out = [Series("batch", view.step, view.loss, view.loss_min, view.loss_max, "cyan+")]
        epochs = snapshot.epochs
        if epochs is not None and len(epochs):
            for label, values, color, marker in (
                ("train", epochs.train_loss, "green+", "•"),
                ("val", epochs.val_loss, "magenta+", "×"),
            ):
                if (values == values).any():  # no validation split: no val curve
                    out.append(Series(label, epochs.step, values, values, values, color, marker))
        return out

    def _redraw_model(self, info: RunInfo, snapshot: Snapshot) -> None:
        from gdtui.ui.widgets.layer_panel import LayerRows

        model = info.model
        assert model is not None
        series = [*self._model_series(snapshot), *self._step_marker()]
        self._loss().show_series(series, title="loss", rates=snapshot.rates)
        landscape = self._landscape()
        view = self.model_view
        if landscape.display and view is None:
            landscape.show_note("computing the landscape…")
        elif landscape.display and view is not None:
            if view.regions is not None:
                evaluation = snapshot.evaluation
                note = f"step {view.step}"
                # The accuracy is the live model's: not beside regions of a step rewound to.
                live = self.rewound is None
                if live and evaluation is not None and evaluation.train_accuracy is not None:
                    note += f" · train acc {evaluation.train_accuracy:.1%}"
                landscape.show_regions(view.regions, note)
            elif view.kind == "surface":
                path = snapshot.path if snapshot.step else None
                landscape.show(view.surface, path, snapshot.current, info.init)
            else:
                landscape.show(view.surface, None, (0.0, 0.0), None)
        if not model.small:
            layers = snapshot.layers
            lr = snapshot.record.lr if snapshot.record is not None else info.lr
            if layers is None:
                rows = LayerRows.empty(model.layer_names, model.layer_shapes)
            else:
                names = model.layer_names
                step = snapshot.layers_step
                rows = LayerRows(names, model.layer_shapes, layers, (lr,) * len(names), step)
            panel = self._layers()
            panel.show_rows(rows)
            subtitle = f"step {snapshot.layers_step}" if snapshot.layers_step else "no step yet"
            if panel.border_subtitle != subtitle:  # setting it repaints the whole border
                panel.border_subtitle = subtitle

    def shown_info(self) -> RunInfo | None:
        """The run's facts as the step shown had them (the optimizer that took it)."""
        rewound = self.rewound
        if rewound is not None and rewound.info is not None:
            return rewound.info
        return self.info

    def shown_snapshot(self) -> Snapshot | None:
        """What the widgets draw: the newest snapshot, or, when rewound, the step shown as it
        was (its record, its point, its rate; the curve and the path stay the whole run's)."""
        snapshot, rewound = self.snapshot, self.rewound
        if snapshot is None or rewound is None or rewound.record is None:
            return snapshot
        record = rewound.record
        model: dict[str, Any] = {}
        if self.info is not None and self.info.model is not None:  # a model, as of that step
            model = {"epoch": rewound.epoch, "evaluation": rewound.evaluation}
        if rewound.layers is not None:  # a big model: that step's own per-layer summaries
            model.update(layers=rewound.layers, layers_step=record.step)
        return dataclasses.replace(
            snapshot,
            **model,
            step=record.step,
            status="running",
            reason=None,
            lr=record.lr,
            playing=False,
            record=record,
            current=record.params,
            steps_per_s=None,
            # The written arithmetic is the live step's (it needs that step's optimizer state).
            arithmetic=None,
            arithmetic_note="arithmetic: at the live end (esc)",
        )

    def _step_marker(self) -> list[Series]:
        """A ``◆`` on the loss curve at the step shown as it was (none at the live end)."""
        rewound = self.rewound
        if rewound is None or rewound.record is None:
            return []
        import numpy as np

        from gdtui.ui.widgets.loss_plot import Series

        at = np.array([float(rewound.record.step)])
        loss = np.array([rewound.record.loss])
        return [Series(f"step {rewound.record.step}", at, loss, loss, loss, "yellow+", "◆")]

    def request_redraw(self) -> None:
        """Draw now (not on the next tick)."""
        self._dirty = True
        self._tick()

    def drawn(self, step: int) -> bool:
        """The run is at ``step`` (or stopped) and drawn at the current size, landscape included.

        True at once when the worker could not start (there is nothing more to wait for).
        """
        app = self.gdtui
        if app.startup_error or app.internal_error:
            return True
        info, snap = self.info, self.snapshot
        if info is None or snap is None or not self.plots_ready:
            return False
        at_step = snap.step == step or snap.status != "running"
        if self.has_class("-too-small"):
            return at_step  # nothing is drawn but the message
        landscape = self._landscape()
        if info.model is not None:
            view = self.model_view
            landscape_ok = not landscape.display or (
                view is not None
                and view.grid_size == landscape.grid_size()
                and (view.kind == "slice" or view.step == snap.step)
            )
            return landscape_ok and snap.view_width == self.view_width and at_step
        landscape_ok = (
            len(info.param_names) not in (1, 2)
            or not landscape.display
            or (self.surface is not None and self.surface_size == landscape.grid_size())
        )
        return landscape_ok and snap.view_width == self.view_width and at_step

    # -- actions ---------------------------------------------------------------------------------

    def action_toggle(self) -> None:
        """Run or pause."""
        self.gdtui.send(Toggle())

    def action_step(self) -> None:
        """One step."""
        self.gdtui.send(Step(1))

    def action_reset(self) -> None:
        """Back to the start point, same settings."""
        self.gdtui.send(Reset())

    def action_lr_up(self) -> None:
        """Double the learning rate of the running optimizer."""
        self.gdtui.send(ScaleLr(2.0))

    def action_lr_down(self) -> None:
        """Halve the learning rate of the running optimizer."""
        self.gdtui.send(ScaleLr(0.5))

    def action_log(self) -> None:
        """Linear or log10 loss axis."""
        if not self.plots_ready:
            return
        plot = self._loss()
        plot.log_scale = not plot.log_scale
        plot.border_title = "loss · log10 · l: linear" if plot.log_scale else "loss · l: log scale"

    def action_speed(self) -> None:
        """Next speed: 1, 10, 100 steps/s, as fast as it goes."""
        self.query_one(Controls).next_speed()

    def action_panel(self, panel: str) -> None:
        """Show or hide a panel."""
        self._hidden[panel] = not self.has_class(f"-hide-{panel}")
        self._apply_layout()

    def action_escape(self) -> None:
        """Leave a field, cancel placing the start, or go back to the live end."""
        if self.plots_ready and self._landscape().placing is not None:
            self._landscape().cancel_placing()
            self.gdtui.notify_line("start unchanged")
        elif self.rewound is not None:
            self.gdtui.send(LiveEnd())
        else:
            self.set_focus(None)

    def action_place(self) -> None:
        """Move the start point with the arrow keys (or click the landscape)."""
        info = self.info
        if info is None or not self.plots_ready:
            self.gdtui.notify_line("still loading torch…", "warning")
            return
        if info.model is not None:
            self.gdtui.notify_line(
                "a model starts from its seeded initialisation; change the seed instead",
                "warning",
            )
            return
        if len(info.param_names) not in (1, 2):
            self.gdtui.notify_line(
                "the start can be placed on 1- and 2-parameter problems", "warning"
            )
            return
        self.set_focus(None)
        start = self.snapshot.current if self.snapshot else info.init
        self._landscape().start_placing(start, info.domain)
        self.gdtui.notify_line("place the start: arrows move it, enter applies, esc cancels")

    def action_place_move(self, dx: int, dy: int) -> None:
        """Nudge the pending start by 2% of the plotting domain."""
        self._landscape().move_placing(dx, dy)

    def action_place_apply(self) -> None:
        """Start afresh from the pending start."""
        self._landscape().apply_placing()

    def action_scrub(self, delta: int) -> None:
        """Show the run as it was ``delta`` steps from the step shown (``[`` ``]`` one step,
        ``{`` ``}`` ten; the run pauses); past the live end, back to it."""
        self.gdtui.send(Scrub(delta))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Arrows and enter belong to the focused widget unless the start is being placed."""
        if action in ("place_move", "place_apply"):
            return self.plots_ready and self._landscape().placing is not None
        return True

    # -- what the widgets say --------------------------------------------------------------------

    def on_rewound(self, message: Rewound) -> None:
        """The worker rebuilt an earlier step (or went back to the live end): draw it."""
        if self.info is None or message.generation != self.info.generation:
            return
        self.rewound = message if message.step is not None else None
        controls = self.query_one(Controls)
        lr = message.record.lr if message.record is not None else None
        if lr is None and self.snapshot is not None:
            lr = self.snapshot.lr
        if lr is not None and not controls.lr_focused:
            controls.show_lr(lr)
        self._dirty = True

    def on_loss_plot_step_clicked(self, message: LossPlot.StepClicked) -> None:
        """A click on the loss curve: show that step as it was (as ``[`` ``]`` do)."""
        self.gdtui.send(ScrubTo(message.step))

    def on_landscape_start_placed(self, message: Landscape.StartPlaced) -> None:
        """Start afresh from the picked point (a click on a 2-D map, or enter while placing)."""
        info = self.info
        if info is not None and info.model is None and len(message.point) == len(info.param_names):
            self.gdtui.send(PlaceStart(message.point))

    def on_controls_lr_edited(self, message: Controls.LrEdited) -> None:
        """Check as you type: a clear message under the field, nothing applied yet."""
        message.controls.show_lr_error(self.gdtui.lr_problem(message.text))

    def on_controls_lr_submitted(self, message: Controls.LrSubmitted) -> None:
        """Apply the typed learning rate to the running optimizer (no reset)."""
        problem = self.gdtui.lr_problem(message.text)
        message.controls.show_lr_error(problem)
        if problem:
            self.gdtui.notify_line(problem, "error")
            return
        self.gdtui.send(SetLr(message.text))

    def on_controls_expression_submitted(self, message: Controls.ExpressionSubmitted) -> None:
        """Descend your own formula (the worker checks it and answers)."""
        self.gdtui.send(SetExpression(message.text))

    def on_controls_problem_chosen(self, message: Controls.ProblemChosen) -> None:
        """A new problem, or the same one instead of a formula: start afresh."""
        info = self.info
        if info is not None and (message.problem != info.problem or info.is_expression):
            self.gdtui.send(Configure({"loss": message.problem}))

    def on_controls_optimizer_chosen(self, message: Controls.OptimizerChosen) -> None:
        """A different optimizer: start afresh."""
        if self.info is not None and message.optimizer != self.info.optimizer:
            self.gdtui.send(Configure({"optimizer": message.optimizer}))

    def on_controls_model_setting_chosen(self, message: Controls.ModelSettingChosen) -> None:
        """A data set, model, loss function or batch size: start afresh (the worker checks it
        and answers under the field)."""
        model = self.info.model if self.info is not None else None
        if model is None:
            return
        current = {
            "dataset": model.dataset,
            "model": model.kind,
            "loss_fn": model.loss_fn,
            "batch_size": model.batch_text,
        }
        if message.value != current.get(message.setting):
            self.gdtui.send(ConfigureModel(message.setting, message.value))

    def action_landscape(self) -> None:
        """Compute a model's landscape now (a loss slice through the current parameters)."""
        self.gdtui.send(ComputeLandscape())

    def on_controls_speed_chosen(self, message: Controls.SpeedChosen) -> None:
        """Steps per second from now on."""
        self.speed_index = message.index
        self.gdtui.send(SetSpeed(message.speed))

    def on_controls_hyper_submitted(self, message: Controls.HyperSubmitted) -> None:
        """A changed hyper-parameter makes a new optimizer: start afresh."""
        self.gdtui.send(Configure({"hyper": message.values}))

    def on_controls_toggle_requested(self) -> None:
        """The run / pause button."""
        self.action_toggle()

    def on_controls_step_requested(self) -> None:
        """The step button."""
        self.action_step()

    def on_controls_reset_requested(self) -> None:
        """The reset button."""
        self.action_reset()

    # -- the arithmetic of a step, curvature, schedules ------------------------------------------

    def action_curvature(self) -> None:
        """Measure λmax at the current point now (in the worker); the panel shows the bound."""
        self.gdtui.send(MeasureCurvature())

    def action_lower_plot(self) -> None:
        """The plot under the loss: auto, the learning rate, λmax against 2/lr, none."""
        if not self.plots_ready:
            return
        from gdtui.ui.widgets.loss_plot import LOWER_MODES

        plot = self._loss()
        plot.lower = LOWER_MODES[(LOWER_MODES.index(plot.lower) + 1) % len(LOWER_MODES)]
        words = {
            "auto": "auto (λmax against the edge once measured, else the rate when it changes)",
            "lr": "the learning rate of each step",
            "sharpness": "λmax against the edge of stability (2/lr; k measures λmax)",
            "off": "nothing",
        }
        self.gdtui.notify_line(f"under the loss: {words[plot.lower]}")

    def on_controls_schedule_chosen(self, message: Controls.ScheduleChosen) -> None:
        """A learning-rate schedule (or none): the worker checks it and starts afresh."""
        if self.info is not None:
            self.gdtui.send(SetSchedule(message.name, message.args))

    def on_schedule_checked(self, message: ScheduleChecked) -> None:
        """The worker's verdict on a schedule: a refusal under the field, the run kept."""
        controls = self.query_one(Controls)
        if message.error and self.info is not None:
            controls.show_schedule(self.info, keep_args=True)
            self.gdtui.notify_line(message.error, "error")
        controls.show_schedule_error(message.error)
