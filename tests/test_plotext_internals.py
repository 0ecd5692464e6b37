"""gdtui/ui/widgets/plotext_internals.py uses plotext's private internals: if plotext changes
under it, these tests fail loudly (before a user sees a wrong or slow plot)."""

from __future__ import annotations

import re
from importlib.metadata import version

import numpy as np
import plotext as plt
import plotext._utility as plotext_utility

from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.plot_text import PLOTEXT_LOCK, new_figure

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_installed_plotext_is_the_version_the_internals_were_written_for() -> None:
    assert version("plotext") == plotext_internals.PLOTEXT_VERSION, (
        "plotext changed: re-check every private name plotext_internals.py uses, then update "
        "PLOTEXT_VERSION"
    )


def test_the_private_figure_and_matrix_are_there() -> None:
    with PLOTEXT_LOCK:
        new_figure(40, 12)
        plt.plot([1.0, 2.0, 3.0], [3.0, 1.0, 2.0])
        figure = plotext_internals.active_figure()
        assert figure is not None, "plotext._global.figure._active lost _set_sizes/_build_matrix"
        figure._set_sizes()
        figure._build_matrix()
        matrix = figure.monitor.matrix
        for name in ("marker", "fullground", "style", "background", "Cols_canvas", "Rows_canvas"):
            assert hasattr(matrix, name), f"plotext's matrix lost {name!r}"
        assert len(matrix.marker) == 12 and len(matrix.marker[0]) == 40
        assert callable(plotext_utility.colors_to_ansi)


def test_the_cell_formula_is_plotexts() -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(-3.0, 7.0, 500)
    ours = plotext_internals._to_bins(values, (-3.0, 7.0), 57)
    theirs = plotext_utility.get_matrix_data(values.tolist(), (-3.0, 7.0), 57)
    assert ours.tolist() == theirs


def test_fast_rows_read_the_same_as_plotext_build() -> None:
    x = np.linspace(0.0, 10.0, 80)
    with PLOTEXT_LOCK:
        new_figure(70, 18)
        plt.plot(x.tolist(), np.sin(x).tolist(), color="cyan+", marker="hd")
        plt.title("sin")
        fast = plotext_internals.build_lines()
        slow = plt.build().rstrip("\n").split("\n")
    assert [ANSI.sub("", line) for line in fast] == [ANSI.sub("", line) for line in slow]
