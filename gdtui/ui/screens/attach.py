"""The attach screen: a record file that :func:`gdtui.watch` writes, followed live as it grows.

A thread worker polls the file (:func:`gdtui.recordfile.RecordFile.poll`, a few times a second)
and posts a replaceable :class:`~gdtui.ui.messages.RecordRead` only when something changed: new
steps, the end line, a replaced file. The screen draws the loss curve, the per-layer panel of
the last step, the chosen layer's ‖Δ‖/‖θ‖ and ‖∇‖ over time, and a status line that says when
the writer stopped or finished. Finished files replay the same way. No torch here: the reader
is json and numpy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import get_current_worker

from gdtui import recordfile
from gdtui.recordfile import RecordFile, RecordFileError
from gdtui.safetext import visible
from gdtui.ui.messages import Followed, RecordProblem, RecordRead
from gdtui.ui.widgets.attach_status import AttachState, AttachStatus
from gdtui.ui.widgets.layer_panel import LayerPanel, LayerRows
from gdtui.ui.widgets.layer_plot import LayerPlot, RecordPlot, bucket_series

if TYPE_CHECKING:
    from gdtui.ui.app import GdtuiApp

__all__ = ["KEYS", "POLL_INTERVAL", "AttachScreen", "read_followed"]

POLL_INTERVAL = 1 / 3
"""Seconds between two looks at the file: at most three redraws a second over SSH."""

STALE_STEPS = 3
"""The writer is called stopped after this many of its own step intervals without a step
(and at least :data:`STALE_MIN_S`)."""
STALE_MIN_S = 3.0
TABLE_INTERVAL = 1.0
"""Seconds between two redraws of the layer table while a run goes: every number of every row
changes at each step, and no one reads them faster (a finished file is drawn at once)."""

KEYS: list[tuple[str, str]] = [
    ("↑ ↓  enter", "pick a layer: its ‖Δ‖/‖θ‖ and ‖∇‖ over time are plotted"),
    ("k", "next rank (the run's other record files, NAME.rankN.jsonl)"),
    ("l", "loss curve: linear / log10 scale"),
    ("ctrl+s", "save an SVG screenshot"),
    ("ctrl+p", "command palette"),
    ("?", "this help"),
    ("q", "quit (the training run goes on)"),
]
"""The attach screen's keys, for the help screen."""

ABOUT = (
    "Following a record file that gdtui.watch(model, optimizer, path) writes. Each row of the "
    "layer table is one parameter tensor at the last recorded step: ‖∇‖ is what backprop put "
    "in .grad (the map); ‖Δ‖, ‖Δ‖/‖θ‖, cos(−∇,Δ) and the effective per-element learning rate "
    "|Δ|/|∇| (p10 · median · p90) are what the optimizer then did (the hiker). An "
    "update-to-weight ratio near 1e-3 is usually healthy: ▲ marks 1e-2 and above, ▼ below 1e-5."
)


def read_followed(record: RecordFile, generation: int, ranks: tuple[int, ...]) -> Followed:
    """What the screen needs from a record file as read so far (views, no copies of history)."""
    loss = record.scalars.get("loss")
    return Followed(
        path=record.path,
        generation=generation,
        header=record.header,
        names=tuple(record.names),
        shapes=tuple(record.shapes),
        step=record.step,
        time=record.time,
        loss=loss,
        values=record.values,
        rows=LayerRows.from_record(record),
        end=record.end,
        steps_per_s=record.steps_per_second(),
        ranks=ranks,
    )


class AttachScreen(Screen[None]):
    """The live view of a record file (``gdtui attach FILE``).

    Its layout is ``attach.tcss`` beside this file (the app reads it: Textual does not read a
    default screen's own ``CSS_PATH``).

    Args:
        path: The record file (any rank's).
        rank: Follow this rank's file of the run instead (None: ``path`` itself).
        deterministic: no toasts from this screen's problems (snapshots, screenshots).
        clock: Unix time now; tests pass a fixed one ("no new step for N s" is measured by it).
        poll_interval: Seconds between looks at the file.
    """

    BINDINGS = [
        Binding("k", "next_rank", "rank"),
        Binding("l", "log", "log"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("ctrl+s", "screenshot", "svg", show=False),
    ]

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        rank: int | None = None,
        deterministic: bool = False,
        clock: Callable[[], float] = time.time,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        """The file followed now (``k`` switches to another rank's)."""
        self.problem = ""
        """Why the file cannot be read on ("" when it can)."""
        if rank is not None:
            try:
                self.path = recordfile.rank_file(path, rank)
            except RecordFileError as err:
                self.problem = str(err)
        self.deterministic = deterministic
        self.clock = clock
        self.poll_interval = poll_interval
        self.followed: Followed | None = None
        """The newest read of the file (None before the first)."""
        self.chosen: str | None = None
        """The layer whose curves are plotted."""
        self._table_at = -math.inf  # time.monotonic() of the table's last redraw
        self._table_of: tuple[Path, int] | None = None  # the file and generation it shows
        self._table_pending = False
        self._cursor_to_chosen = False

    @property
    def gdtui(self) -> GdtuiApp:
        """The app, typed."""
        return cast("GdtuiApp", self.app)

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """The two plots side by side, the layer table, the status line and the keys."""
        with Horizontal(id="attach-plots"):
            yield RecordPlot(id="attach-loss")
            yield LayerPlot(id="attach-layer")
        yield LayerPanel(id="attach-layers")
        yield AttachStatus(id="attach-status")
        yield Footer()

    def on_mount(self) -> None:
        """Start following; re-say the status twice a second (the writer may stop)."""
        self.query_one("#attach-loss").border_title = "loss · l: log scale"
        self.query_one("#attach-layer").border_title = "layer · ↑↓ picks"
        self.query_one(LayerPanel).border_title = "layers"
        self.query_one(LayerPanel).focus()
        self.redraw()
        self.follow(self.path)
        self.set_interval(0.5, self._on_tick)

    # -- the follower thread ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="attach")
    def follow(self, path: Path) -> None:
        """Poll ``path`` until cancelled; post a read when something changed, a problem once.

        After a problem the file is only watched for being replaced or cut (a new run on the
        same path), when it is read again from the start; the last good read stays shown.
        """
        worker = get_current_worker()
        record = RecordFile(path)
        earlier = 0  # generations of the RecordFiles read before this one
        problem = ""
        broken_at: tuple[int, int, int] | None = None
        shown: tuple[int, int, bool, bool, tuple[int, ...]] | None = None
        ranks: tuple[int, ...] = ()
        looks = 0
        while not worker.is_cancelled:
            if broken_at is not None:
                try:
                    stat = os.stat(path)
                    now_at = (stat.st_dev, stat.st_ino, stat.st_size)
                except OSError:
                    now_at = None
                if now_at is not None and (now_at[:2] != broken_at[:2] or now_at[2] < broken_at[2]):
                    earlier += record.generation + 1
                    record, broken_at = RecordFile(path), None
            text = problem
            if broken_at is None:
                try:
                    record.poll()
                    text = ""
                except RecordFileError as err:
                    text = str(err)
                    try:
                        stat = os.stat(path)
                        broken_at = (stat.st_dev, stat.st_ino, stat.st_size)
                    except OSError:
                        broken_at = (-1, -1, -1)  # gone: any file that appears is new
            if text != problem:
                problem = text
                self.post_message(RecordProblem(path, text))
            if looks % max(1, round(2 / self.poll_interval)) == 0:  # other ranks: every 2 s
                ranks = tuple(recordfile.sibling_ranks(path))
            looks += 1
            state = (
                earlier + record.generation,
                record.count,
                record.end is not None,
                record.header is not None,
                ranks,
            )
            if broken_at is None and state != shown:
                shown = state
                self.post_message(RecordRead(read_followed(record, state[0], ranks)))
            time.sleep(self.poll_interval)

    def on_record_read(self, message: RecordRead) -> None:
        """A newer read of the file: draw it."""
        followed = message.followed
        if followed.path != self.path:
            return  # from the rank followed before
        before = self.followed
        self.followed = followed
        if before is None or before.ranks != followed.ranks:
            self.refresh_bindings()  # k is offered when the run has other ranks' files
        if self.chosen not in followed.names and len(followed.step):
            # The first layer that has a gradient (a frozen one would show an empty plot).
            grads = followed.rows.values[:, recordfile.FIELDS.index("grad_norm")]
            self.chosen = followed.names[int(np.argmax(np.isfinite(grads)))]
            self._cursor_to_chosen = True
        self.redraw()

    def on_record_problem(self, message: RecordProblem) -> None:
        """The file cannot be read on (or can again): say so inline, keep the last good read."""
        if message.path != self.path:
            return
        text = message.text
        where = f"{message.path}: "
        self.problem = (
            message.path.name + ": " + text[len(where) :] if text.startswith(where) else text
        )
        if message.text and not self.deterministic:
            self.gdtui.notify_line(message.text, "error")
        self._show_status()

    # -- drawing ---------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw the newest read in every widget."""
        try:
            with self.app.batch_update():
                self._show_status()
                self._show_loss()
                self._show_layers()
                panel = self.query_one(LayerPanel)
                if self._cursor_to_chosen and panel.layer_rows and panel.layer_rows.step:
                    self._cursor_to_chosen = False
                    panel.choose(self.chosen or "")
                self._show_layer_plot()
        except NoMatches:
            pass  # the screen is being torn down (the app is exiting)

    def state(self) -> AttachState:
        """What the status line says now."""
        followed = self.followed
        header = (followed.header if followed else None) or {}
        ranks = followed.ranks if followed else ()
        state = AttachState(
            file=visible(self.path.name, 100),
            rank=int(header.get("rank", 0) or 0),
            ranks=len(ranks),
            optimizer=visible(header.get("optimizer", ""), 60),  # text from the file
            device=visible(header.get("device", ""), 60),
            problem=self.problem,
            waiting=followed is not None and followed.header is None,
        )
        if followed is None or not len(followed.step):
            return state
        end = followed.end
        stale = None
        if end is None:
            since = self.clock() - float(followed.time[-1])
            rate = followed.steps_per_s
            patience = max(STALE_MIN_S, STALE_STEPS / rate if rate else STALE_MIN_S)
            stale = since if since >= patience else None
        loss = None
        if followed.loss is not None:
            finite = followed.loss[np.isfinite(followed.loss)]
            loss = float(finite[-1]) if len(finite) else None
        return dataclasses.replace(
            state,
            steps=len(followed.step),
            step=int(followed.step[-1]),
            loss=loss,
            steps_per_s=followed.steps_per_s,
            end_reason=None if end is None else str(end.get("reason", "closed")),
            stale_s=stale,
        )

    def _on_tick(self) -> None:
        """Re-say the status (the writer may have stopped); draw a table that waited."""
        self._show_status()
        if self._table_pending:
            with contextlib.suppress(NoMatches):
                self._show_layers()

    def _show_status(self) -> None:
        with contextlib.suppress(NoMatches):  # the screen is being torn down
            self.query_one(AttachStatus).show(self.state())

    def _show_loss(self) -> None:
        plot = self.query_one("#attach-loss", RecordPlot)
        followed = self.followed
        if followed is None or followed.header is None:
            plot.show_message("loss", "waiting for the record file's header…")
        elif not len(followed.step):
            plot.show_message("loss", "waiting for the first step…")
        elif followed.loss is None:
            plot.show_message("loss", "no loss logged: call w.log(loss=loss) after each step")
        else:
            width = plot.plot_columns()
            plot.show_series([bucket_series("loss", followed.step, followed.loss, width, "cyan+")])
        if followed is not None and followed.header is not None:
            _set_title(plot, "border_subtitle", visible(followed.header.get("optimizer", ""), 60))

    def _show_layers(self) -> None:
        panel = self.query_one(LayerPanel)
        followed = self.followed
        if followed is None or followed.header is None:
            return
        now = time.monotonic()
        shown = panel.layer_rows
        same_run = self._table_of == (followed.path, followed.generation)
        has_step = shown is not None and shown.step is not None
        if same_run and has_step and followed.end is None and now - self._table_at < TABLE_INTERVAL:
            self._table_pending = True
            return
        self._table_at, self._table_pending = now, False
        self._table_of = (followed.path, followed.generation)
        panel.show_rows(followed.rows)
        # A changed title repaints the whole table: the step number is in the status line.
        _set_title(panel, "border_title", "layers · last step")
        _set_title(panel, "border_subtitle", "‖Δ‖/‖θ‖ ~1e-3 healthy · ▲ ≥1e-2 · ▼ <1e-5")

    def _show_layer_plot(self) -> None:
        plot = self.query_one("#attach-layer", LayerPlot)
        followed = self.followed
        if followed is None or self.chosen is None or self.chosen not in followed.names:
            plot.show_message("layer", "no layer yet")
            return
        i = followed.names.index(self.chosen)
        _set_title(plot, "border_title", f"{self.chosen} · ↑↓ picks")
        fields = recordfile.FIELDS
        plot.show_layer(
            self.chosen,
            followed.step,
            followed.values[:, i, fields.index("ratio")],
            followed.values[:, i, fields.index("grad_norm")],
        )

    # -- what the widgets say --------------------------------------------------------------------

    def on_layer_panel_layer_chosen(self, message: LayerPanel.LayerChosen) -> None:
        """Plot the chosen layer's curves."""
        self.chosen = message.name
        with contextlib.suppress(NoMatches):
            self._show_layer_plot()

    # -- actions ---------------------------------------------------------------------------------

    def action_next_rank(self) -> None:
        """Follow the next rank's file of the same run (``k``)."""
        ranks = recordfile.sibling_ranks(self.path)
        if len(ranks) < 2:
            self.gdtui.notify_line("this run has one record file (no other ranks)", "warning")
            return
        order = sorted(ranks)
        current = next((r for r, p in ranks.items() if _same(p, self.path)), order[-1])
        rank = order[(order.index(current) + 1) % len(order)]
        self.switch_to(ranks[rank])
        self.gdtui.notify_line(f"rank {rank}: {ranks[rank].name}")

    def switch_to(self, path: Path) -> None:
        """Follow another file from its start (the old follower is cancelled)."""
        self.path = Path(path)
        self.followed = None
        self.problem = ""
        self.redraw()
        self.follow(self.path)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``k`` is shown greyed out while the run has a single record file."""
        if action == "next_rank":
            return True if self.followed is not None and len(self.followed.ranks) > 1 else None
        return True

    def action_log(self) -> None:
        """Linear or log10 loss axis."""
        plot = self.query_one("#attach-loss", RecordPlot)
        plot.log_scale = not plot.log_scale
        plot.border_title = "loss · log10 · l: linear" if plot.log_scale else "loss · l: log scale"

    def action_help(self) -> None:
        """The keys."""
        from gdtui.ui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen((f"gdtui attach {self.path.name}", ABOUT), keys=KEYS))

    def action_screenshot(self) -> None:
        """Save an SVG of the screen and say where."""
        step = int(self.followed.step[-1]) if self.followed and len(self.followed.step) else 0
        app = self.gdtui
        try:
            path = app.save_screenshot(
                f"gdtui-attach-{self.path.stem}-step{step}.svg", str(app.export_dir)
            )
        except OSError as err:
            app.notify_line(f"could not save the screenshot: {err.strerror or err}", "error")
            return
        app.notify_line(f"screenshot saved to {path}")

    def palette_commands(self) -> list[tuple[str, Callable[[], object], str]]:
        """What the command palette offers on this screen: (title, callback, help)."""
        return [
            ("Next rank", self.action_next_rank, "k"),
            ("Toggle log scale", self.action_log, "l"),
            ("Save an SVG screenshot", self.action_screenshot, "ctrl+s"),
            ("Help: keys", self.action_help, "?"),
        ]


def _set_title(widget: Widget, which: str, text: str) -> None:
    """Set a border title only when it changes (setting one repaints the whole widget).

    User text (parameter names) goes in as Text: "[a]" is not markup.
    """
    if str(getattr(widget, which) or "") != text:
        setattr(widget, which, Text(text))


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b
