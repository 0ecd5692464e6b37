"""The loss-curve widget: plotext drawing (:mod:`.loss_render`) through a row-diffing canvas.

Over a slow link the axes must stay put so that a new point repaints only a few rows: the
renderer keeps x-limits at powers of two, and this widget keeps the y-limits "sticky"
(:func:`~gdtui.ui.widgets.loss_render.compute_ylim`) between frames.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    """Live loss curves, repainting only the rows that change between updates."""

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
