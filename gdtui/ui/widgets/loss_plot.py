"""The loss-curve widget: plotext drawing (:mod:`.loss_render`) through a row-diffing canvas.

Under the loss, a small second plot shares its x-axis: the learning rate each step used (shown
when it changes over the run: a schedule, ``+``/``-``), or the sharpness λmax against the edge
of stability ``2/lr`` (Cohen et al. 2021; ``(2+2β)/lr`` with momentum) when λmax was measured.
:attr:`LossPlot.lower` picks which (``K`` in the app cycles it).

Over a slow link the axes must stay put so that a new point repaints only a few rows: the
renderer keeps x-limits at powers of two, and this widget keeps the y-limits "sticky"
(:func:`~gdtui.ui.widgets.loss_render.compute_ylim`) between frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive

from gdtui.ui.widgets import loss_render
from gdtui.ui.widgets.line_canvas import LineCanvas
from gdtui.ui.widgets.loss_render import (
    EMPTY_HINT,
    NOT_FINITE,
    Series,
    compute_ylim,
    log_message,
    prepare,
    render_prepared,
    render_strip,
    render_text,
    x_limit,
    y_labels,
)

if TYPE_CHECKING:
    from gdtui.ui.messages import RateCurves

__all__ = [
    "EMPTY_HINT",
    "LOWER_MODES",
    "NOT_FINITE",
    "LossPlot",
    "Series",
    "compute_ylim",
    "log_message",
    "render_text",
]


LOWER_MODES = ("auto", "lr", "sharpness", "off")
"""What the plot under the loss shows: ``auto`` (the sharpness once λmax was measured, else
the rate when it changed over the run, else nothing), the rate, the sharpness, or nothing."""

AUTO_MIN_HEIGHT = 14
"""Rows the widget needs before ``auto`` adds the plot under the loss (``lr`` / ``sharpness``
chosen by hand need :data:`FORCED_MIN_HEIGHT`)."""
FORCED_MIN_HEIGHT = 10
LR_COLOR, LAMBDA_COLOR, EDGE_COLOR = "yellow+", "magenta+", "red+"


class LossPlot(LineCanvas):
    """Live loss curves, repainting only the rows that change between updates.

    A click on the plot area posts :class:`LossPlot.StepClicked` with the step under it.
    """

    @dataclass
    class StepClicked(Message):
        """The user clicked the loss curve at ``step`` (the step under the clicked column)."""

        step: int

    log_scale = reactive(False)
    """Plot ``log10(loss − L*)`` (L* = the ``log_offset`` given to :meth:`show_series`, else 0)
    instead of the loss. Toggling it re-renders at once."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._series: tuple[Series, ...] = ()
        self._log_offset: float | None = None
        self._title = "loss"
        self._ylim: tuple[float, float] | None = None
        self._ylim_mode: tuple[bool, float | None] | None = None
        self._rates: RateCurves | None = None
        self._lower_ylim: dict[str, tuple[float, float]] = {}
        self.lower_shown = ""
        """What the plot under the loss shows now: ``lr``, ``sharpness`` or empty."""

    lower = reactive("auto")
    """What the plot under the loss shows (one of :data:`LOWER_MODES`)."""

    def show_series(
        self,
        series: Sequence[Series],
        *,
        log_offset: float | None = None,
        title: str = "loss",
        rates: RateCurves | None = None,
    ) -> list[int]:
        """Show these curves (replacing the previous ones) and repaint the rows that changed.

        Args:
            series: The curves, each already downsampled to about the plot width.
            log_offset: The known minimum loss L* used by the log view (None: 0).
            title: Title for the top row.
            rates: The learning rate and λmax over the run, for the plot under the loss.

        Returns:
            The rows refreshed (empty before the widget has a size).
        """
        self._series = tuple(series)
        self._log_offset = log_offset
        self._title = title
        self._rates = rates
        return self.rerender()

    def watch_lower(self, _old: str, _new: str) -> None:
        """Re-render with the new plot under the loss."""
        self.rerender()

    def _lower_plot(self, height: int) -> tuple[str, list[Series], str] | None:
        """(mode, curves, title) of the plot under the loss, or None when it is not shown."""
        rates, mode = self._rates, self.lower
        if rates is None or mode == "off" or not len(rates.step):
            return None
        if mode == "auto":
            if height < AUTO_MIN_HEIGHT:
                return None
            mode = "sharpness" if len(rates.lambda_step) else "lr" if rates.varies else ""
        elif height < FORCED_MIN_HEIGHT:
            return None
        if mode == "lr":
            lr = rates.lr
            return "lr", [Series("lr", rates.step, lr, lr, lr, LR_COLOR)], "learning rate"
        if mode == "sharpness":
            lam, edge = rates.lambda_max, rates.edge
            curves = [
                Series(rates.edge_label, rates.step, edge, edge, edge, EDGE_COLOR),
                Series("λmax", rates.lambda_step, lam, lam, lam, LAMBDA_COLOR, "•"),
            ]
            return "sharpness", curves, "sharpness"
        return None

    def _lower_limits(self, mode: str, curves: list[Series]) -> tuple[float, float]:
        """y-limits of the plot under the loss, from 0, sticky like the loss plot's. The
        edge's far values (a rate near 0) are clipped so λmax stays readable."""
        values = [np.asarray(c.loss, dtype=float) for c in curves]
        finite = [v[np.isfinite(v)] for v in values]
        if mode == "sharpness":
            lam, edge = finite[1], finite[0]
            top = max([*lam.tolist(), float(edge.min()) if len(edge) else 0.0, 0.0])
        else:
            top = max([float(v.max()) for v in finite if len(v)] + [0.0])
        top = top if top > 0 else 1.0
        previous = self._lower_ylim.get(mode)
        limits = compute_ylim((0.0, top), False, previous)
        self._lower_ylim[mode] = limits
        return limits

    def watch_log_scale(self, _old: bool, _new: bool) -> None:
        """Re-fit the y-limits for the new scale and re-render."""
        self._ylim = None
        self.rerender()

    def rerender(self) -> list[int]:
        """Draw the current series at the current size, keeping the y-limits sticky."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return []
        mode = (True, self._log_offset) if self.log_scale else (False, None)
        if mode != self._ylim_mode:
            self._ylim = None
            self._ylim_mode = mode
        prepared = prepare(self._series, width, self.log_scale, self._log_offset)
        data = loss_render.data_range(prepared)
        if data is not None:
            self._ylim = compute_ylim(data, self.log_scale, self._ylim)
        lower = self._lower_plot(height)
        self.lower_shown = lower[0] if lower is not None else ""
        if lower is None:
            text = render_prepared(
                prepared, width, height, self.log_scale, self._log_offset, self._title, self._ylim
            )
            return self.set_ansi_lines(text.split("\n"))
        mode, curves, title = lower
        below = max(4, min(9, height // 3))
        above = height - below
        limits = self._lower_limits(mode, curves)
        xmax = x_limit(prepared)
        labels = y_labels(limits, below)
        if self._ylim is not None:
            labels += y_labels(self._ylim, above, self.log_scale)
        pad = max((len(label) for label in labels), default=0)
        top = render_prepared(
            prepared,
            width,
            above,
            self.log_scale,
            self._log_offset,
            self._title,
            self._ylim,
            xmax=xmax,
            label_width=pad,
        )
        bottom = render_strip(curves, width, below, title, limits, xmax, label_width=pad)
        return self.set_ansi_lines([*top.split("\n"), *bottom.split("\n")])

    def step_at(self, x: int) -> int | None:
        """The step under column ``x`` of the drawn plot (None off the plot area).

        The plot area lies inside plotext's frame (``┌`` … ``┐`` on its top row); x runs over
        it from 0 to the x-limit the renderer chose. plotext puts a value in the half-cell
        ``floor(0.5 + (2·cols − 1)·x/xmax)``, so the middle of cell ``c`` is the step
        ``(2c + 0.5)/(2·cols − 1)·xmax``.
        """
        top = next((line for line in self.plain_lines if "┌" in line and "┐" in line), None)
        if top is None:
            return None
        left, right = top.index("┌") + 1, top.rindex("┐") - 1
        if not left <= x <= right:
            return None
        width = self.size.width
        xmax = x_limit(prepare(self._series, width, self.log_scale, self._log_offset))
        cols = right - left + 1
        return round((2 * (x - left) + 0.5) / (2 * cols - 1) * xmax)

    def on_click(self, event: Click) -> None:
        """A click on the plot area picks the step under it."""
        offset = event.get_content_offset(self)
        step = None if offset is None else self.step_at(offset.x)
        if step is not None:
            self.post_message(self.StepClicked(step))
