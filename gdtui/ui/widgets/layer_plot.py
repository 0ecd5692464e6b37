"""Curves of a recorded run: the loss, and one layer's ‖Δ‖/‖θ‖ and ‖∇‖ over the steps.

Both are :class:`~gdtui.ui.widgets.loss_plot.LossPlot` (the same renderer, sticky axes and row
diff); these add a one-line message in place of the curves (no loss logged, no step yet), and
the layer view on a log10 axis, where a ratio near 1e-3 and a gradient norm near 1 share one
plot.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np

from gdtui.ui.widgets.loss_plot import LossPlot, Series
from gdtui.ui.widgets.plot_text import centered

__all__ = ["LayerPlot", "RecordPlot", "bucket_series"]


def bucket_series(
    label: str, steps: np.ndarray, values: np.ndarray, width: int, color: str
) -> Series:
    """A recorded column as a curve of at most ``width`` points that stay put as it grows.

    Buckets span a power-of-two number of steps aligned to multiples of that span (as the
    engine's ``History.view``), so a finished bucket never changes: a live plot redraws only its
    right edge, and over SSH a new step costs a few cells. Each point is the bucket's last value
    with the bucket's min and max (NaN ignored) as the band.
    """
    n = len(steps)
    width = max(1, width)
    span = 1
    while n and int(steps[-1]) > span * width:
        span *= 2
    if span == 1:
        return Series(label, steps, values, values, values, color)
    keys = (steps - 1) // span
    starts = np.flatnonzero(np.diff(keys, prepend=-1))
    ends = np.append(starts[1:], n) - 1
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(values, starts)
        hi = np.fmax.reduceat(values, starts)
    return Series(label, steps[ends], values[ends], lo, hi, color)


class RecordPlot(LossPlot):
    """A loss plot that can show a message instead of curves."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._message: tuple[str, str] | None = None

    def plot_columns(self) -> int:
        """About how many points the plot area holds (the y labels take a few columns)."""
        return max(8, self.size.width - 8)

    def show_message(self, title: str, text: str) -> list[int]:
        """Show ``title`` on the top row and ``text`` centred below (until the next series)."""
        self._message = (title, text)
        return self.rerender()

    def show_series(
        self,
        series: Sequence[Series],
        *,
        log_offset: float | None = None,
        title: str = "loss",
    ) -> list[int]:
        """As :meth:`LossPlot.show_series` (and the message goes)."""
        self._message = None
        return super().show_series(series, log_offset=log_offset, title=title)

    def rerender(self) -> list[int]:
        """The message, if one is set; else the curves."""
        if self._message is None:
            return super().rerender()
        width, height = self.size
        if width <= 0 or height <= 0:
            return []
        title, text = self._message
        lines = [""] * height
        wrapped = [centered(line, width) for line in textwrap.wrap(text, max(8, width))]
        top = max(1, min(height // 2, height - len(wrapped)))
        for i, line in enumerate(wrapped[: max(0, height - top)]):
            lines[top + i] = line
        lines[0] = title[:width]
        return self.set_ansi_lines(lines)


class LayerPlot(RecordPlot):
    """One parameter tensor's update-to-weight ratio ‖Δ‖/‖θ‖ and gradient norm ‖∇‖, log10."""

    def on_mount(self) -> None:
        """Both quantities span decades: the axis is log10 from the start."""
        self.log_scale = True

    def show_layer(
        self, name: str, steps: np.ndarray, ratio: np.ndarray, grad_norm: np.ndarray
    ) -> list[int]:
        """Plot layer ``name``'s ratio and gradient norm (NaN where it had no gradient)."""
        if not len(steps):
            return self.show_message(name, "no step recorded yet")
        if not (np.isfinite(ratio).any() or np.isfinite(grad_norm).any()):
            return self.show_message(name, "no gradient recorded for this layer")
        width = self.plot_columns()
        series = [
            bucket_series("‖∇‖", steps, grad_norm, width, "magenta+"),
            bucket_series("‖Δ‖/‖θ‖", steps, ratio, width, "cyan+"),
        ]
        # The layer's name goes in the border title; the plot says what is drawn.
        return self.show_series(series, title="‖·‖")
