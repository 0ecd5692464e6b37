"""The loss-curve widget: plotext drawing (:mod:`.loss_render`) through a row-diffing canvas.

Over a slow link the axes must stay put so that a new point repaints only a few rows: the
renderer keeps x-limits at powers of two, and this widget keeps the y-limits "sticky"
(:func:`~gdtui.ui.widgets.loss_render.compute_ylim`) between frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    render_text,
)

__all__ = [
    "EMPTY_HINT",
    "NOT_FINITE",
    "LossPlot",
    "Series",
    "compute_ylim",
    "log_message",
    "render_text",
]


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

    def show_series(
        self,
        series: Sequence[Series],
        *,
        log_offset: float | None = None,
        title: str = "loss",
    ) -> list[int]:
        """Show these curves (replacing the previous ones) and repaint the rows that changed.

        Args:
            series: The curves, each already downsampled to about the plot width.
            log_offset: The known minimum loss L* used by the log view (None: 0).
            title: Title for the top row.

        Returns:
            The rows refreshed (empty before the widget has a size).
        """
        self._series = tuple(series)
        self._log_offset = log_offset
        self._title = title
        return self.rerender()

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
        text = render_prepared(
            prepared, width, height, self.log_scale, self._log_offset, self._title, self._ylim
        )
        return self.set_ansi_lines(text.split("\n"))

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
        xmax = loss_render._xmax(prepare(self._series, width, self.log_scale, self._log_offset))
        cols = right - left + 1
        return round((2 * (x - left) + 0.5) / (2 * cols - 1) * xmax)

    def on_click(self, event: Click) -> None:
        """A click on the plot area picks the step under it."""
        offset = event.get_content_offset(self)
        step = None if offset is None else self.step_at(offset.x)
        if step is not None:
            self.post_message(self.StepClicked(step))
