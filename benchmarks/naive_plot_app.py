"""Baseline for terminal_bytes.py: a naive textual-plotext app, redrawn whole on a timer.

It plots a growing noisy loss curve with textual-plotext's PlotextPlot and calls ``refresh()`` on
it ``--hz`` times a second: what a straightforward live plot writes to the terminal.
"""

from __future__ import annotations

import argparse
import math

from textual.app import App, ComposeResult
from textual_plotext import PlotextPlot


class NaivePlotApp(App[None]):
    """One PlotextPlot, data appended and the plot rebuilt on every tick."""

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz = hz
        self.losses: list[float] = []

    def compose(self) -> ComposeResult:
        """A single full-screen plot."""
        yield PlotextPlot()

    def on_mount(self) -> None:
        """Start the timer."""
        self.set_interval(1 / self.hz, self.tick)

    def tick(self) -> None:
        """Append a few hundred steps and redraw the whole plot."""
        for _ in range(300):
            n = len(self.losses) + 1
            self.losses.append(9.0 * math.exp(-n / 4000) * (1 + 0.05 * math.sin(n)))
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        step = max(1, len(self.losses) // 200)
        xs = list(range(1, len(self.losses) + 1, step))
        plt.plot(xs, self.losses[::step])
        plot.refresh()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hz", type=float, default=3.0)
    NaivePlotApp(parser.parse_args().hz).run()
