"""Behaviour tests for the plot widgets: LineCanvas, LossPlot and Landscape."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip

from gdtui.ui.messages import Surface
from gdtui.ui.widgets import plotext_internals
from gdtui.ui.widgets.landscape import NO_LANDSCAPE, Landscape
from gdtui.ui.widgets.line_canvas import ansi_to_strip, changed_runs, changed_span
from gdtui.ui.widgets.loss_plot import (
    EMPTY_HINT,
    LossPlot,
    Series,
    compute_ylim,
    log_message,
    render_text,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BRAILLE = re.compile("[\u2801-\u28ff]")


def plain(text: str) -> list[str]:
    """ANSI text → plain lines."""
    return [ANSI.sub("", line) for line in text.split("\n")]


def series(
    n: int = 100,
    *,
    label: str = "sgd",
    color: str = "cyan+",
    scale: float = 1.0,
    start: int = 1,
) -> Series:
    steps = np.arange(start, start + n, dtype=np.float64)
    loss = scale * (2.0 * np.exp(-steps / 40.0) + 0.1)
    return Series(label, steps, loss, loss, loss, color)


def noisy(n: int, *, spike_at: int | None = None) -> Series:
    steps = np.arange(1, n + 1, dtype=np.float64)
    loss = 2.0 * np.exp(-steps / 40.0) + 0.1
    lo = loss - 0.05
    hi = loss + 0.05
    if spike_at is not None:
        hi = hi.copy()
        hi[spike_at] = 10.0
    return Series("sgd", steps, loss, lo, hi, "cyan+")


# -- pure functions ---------------------------------------------------------------------------


def test_render_text_has_size_axes_and_title() -> None:
    text = render_text([series(100)], 80, 24)
    lines = plain(text)
    assert len(lines) == 24
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("loss")
    bottom = lines[-1]
    # x-limits: next power of two ≥ the last step (100 → 128), split in quarters.
    assert "128" in bottom and "64" in bottom and bottom.split()[0] == "0"
    body = "\n".join(lines[1:])
    assert "┤" in body and "┌" in body and "└" in body
    assert text == render_text([series(100)], 80, 24)  # deterministic


def test_x_limits_grow_in_powers_of_two() -> None:
    assert plain(render_text([series(5)], 60, 16))[-1].split()[-1] == "8"
    assert plain(render_text([series(300)], 60, 16))[-1].split()[-1] == "512"
    assert plain(render_text([series(512)], 60, 16))[-1].split()[-1] == "512"


def test_empty_data_shows_hint() -> None:
    assert EMPTY_HINT in "\n".join(plain(render_text([], 80, 20)))
    empty = Series("sgd", np.array([]), np.array([]), np.array([]), np.array([]), "red")
    assert EMPTY_HINT in "\n".join(plain(render_text([empty], 80, 20)))


def test_log_scale_labels_and_title() -> None:
    text = "\n".join(plain(render_text([series(100)], 80, 24, True, 0.05)))
    assert "log10(loss − L*)" in text
    assert "1e0" in text and "1e-1" in text
    text = "\n".join(plain(render_text([series(100)], 80, 24, True, None)))
    assert "log10(loss)" in text


def test_log_scale_without_positive_values_shows_message() -> None:
    text = "\n".join(plain(render_text([series(50)], 80, 20, True, 100.0)))
    assert log_message(100.0) in text
    assert "press l for linear" in text


def test_log_scale_drops_non_positive_points() -> None:
    s = series(100)
    loss = s.loss.copy()
    loss[:50] = -1.0  # non-positive after the offset: dropped, the rest is drawn
    s2 = Series("sgd", s.steps, loss, loss, loss, "cyan+")
    text = "\n".join(plain(render_text([s2], 80, 20, True, 0.0)))
    assert "press l for linear" not in text
    assert "1e" in text


def test_legend_only_for_several_series() -> None:
    one = plain(render_text([series(80, label="alpha")], 80, 20))[0]
    assert "alpha" not in one
    two = plain(
        render_text([series(80, label="alpha"), series(80, label="beta", color="red+")], 80, 20)
    )[0]
    assert "alpha" in two and "beta" in two


def test_spikes_survive_in_the_band() -> None:
    lines = plain(render_text([noisy(200, spike_at=120)], 100, 24))
    # y-limits include the spike (10), so the upper half only holds the spike's band stroke.
    assert float(lines[2].split("┤")[0]) >= 10  # y-limits stretch to the spike
    upper = "\n".join(lines[2:10])  # values above ~7: only the spike's band stroke is there
    assert BRAILLE.search(upper)
    assert "▀" not in upper and "▄" not in upper


def test_non_finite_values_do_not_break_the_plot() -> None:
    s = series(100)
    loss = s.loss.copy()
    loss[10] = np.nan
    loss[20] = np.inf
    s2 = Series("sgd", s.steps, loss, loss, loss, "cyan+")
    assert len(plain(render_text([s2], 80, 20))) == 20
    bad = np.full(10, np.nan)
    s3 = Series("sgd", np.arange(10.0), bad, bad, bad, "cyan+")
    assert "no finite loss" in "\n".join(plain(render_text([s3], 80, 20)))


def test_tiny_sizes_do_not_raise() -> None:
    for width, height in [(1, 1), (5, 3), (15, 4), (20, 5)]:
        lines = plain(render_text([series(50)], width, height))
        assert len(lines) == height


def test_million_points_are_bucketed_fast() -> None:
    render_text([series(10)], 120, 30)  # warm up plotext
    n = 1_000_000
    steps = np.arange(1, n + 1, dtype=np.float64)
    loss = 1.0 / np.sqrt(steps)
    big = Series("big", steps, loss, loss * 0.9, loss * 1.1, "cyan+")
    t0 = time.perf_counter()
    text = render_text([big], 120, 30)
    assert time.perf_counter() - t0 < 0.2
    assert plain(text)[-1].split()[-1] == "1.05M"  # 2**20, compact


def test_render_text_is_fast_for_a_typical_frame() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(1, 241, dtype=np.float64) * 4
    loss = 2 * np.exp(-steps / 300) + 0.1
    s = Series("sgd", steps, loss, loss - 0.1 * rng.random(240), loss + 0.2 * rng.random(240), "c")
    render_text([s], 120, 30)
    t0 = time.perf_counter()
    for _ in range(5):
        render_text([s], 120, 30)
    assert (time.perf_counter() - t0) / 5 < 0.05  # measured ≈ 5 ms; generous for slow CI


def test_fast_matrix_path_matches_plotext_build(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = render_text([series(100), series(60, label="b", color="red+")], 90, 22)
    monkeypatch.setattr(plotext_internals, "USE_INTERNALS", False)
    slow = render_text([series(100), series(60, label="b", color="red+")], 90, 22)
    assert plain(fast) == plain(slow)
    # The fallback draws the band with plotext; it must still work.
    assert len(plain(render_text([noisy(100, spike_at=50)], 90, 22))) == 22


def test_compute_ylim_is_sticky() -> None:
    first = compute_ylim((0.5, 2.0), False)
    assert first[0] <= 0.5 and first[1] >= 2.0
    assert compute_ylim((0.45, 2.0), False, first) == first  # still inside: unchanged
    moved = compute_ylim((first[0] - 1.0, 2.0), False, first)
    assert moved != first and moved[0] <= first[0] - 1.0
    # Data shrinking to a sliver of the range re-fits.
    assert compute_ylim((1.0, 1.01), False, (0.0, 100.0)) != (0.0, 100.0)
    lo, hi = compute_ylim((-2.3, 0.4), True)
    assert lo == float(int(lo)) and hi == float(int(hi)) and lo <= -2.3 and hi >= 0.4


def test_ansi_to_strip_parses_colours_and_pads() -> None:
    strip = ansi_to_strip("ab\x1b[38;5;14mcd\x1b[0mef", 10)
    assert strip.cell_length == 10
    assert strip.text == "abcdef    "
    segments = list(strip)
    assert segments[0].style is None
    assert segments[1].text == "cd" and segments[1].style is not None
    assert segments[1].style.color is not None and segments[1].style.color.number == 14
    assert ansi_to_strip("abcdef", 3).text == "abc"


def test_changed_span_and_runs() -> None:
    a = Strip([Segment("aaaa"), Segment("bb", Style(bold=True)), Segment("cccc")])
    b = Strip([Segment("aaaa"), Segment("bx", Style(bold=True)), Segment("cccc")])
    assert changed_span(a, a) is None
    assert changed_span(a, b) == (5, 6)
    assert changed_runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 1), (9, 2)]


# -- LossPlot in an app -----------------------------------------------------------------------


class LossApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LossPlot()


async def test_loss_plot_empty_then_data() -> None:
    app = LossApp()
    async with app.run_test(size=(80, 24)) as pilot:
        plot = app.query_one(LossPlot)
        plot.show_series([])
        await pilot.pause()
        assert any(EMPTY_HINT in line for line in plot.plain_lines)
        plot.show_series([series(100)])
        await pilot.pause()
        lines = plot.plain_lines
        assert len(lines) == 24 and all(len(line) == 80 for line in lines)
        assert "128" in lines[-1]
        assert not any(EMPTY_HINT in line for line in lines)


async def test_loss_plot_data_before_mount_is_drawn_on_resize() -> None:
    class EarlyApp(App[None]):
        def compose(self) -> ComposeResult:
            plot = LossPlot()
            plot.show_series([series(100)])  # no size yet: drawn once laid out
            yield plot

    app = EarlyApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "128" in app.query_one(LossPlot).plain_lines[-1]


async def test_loss_plot_log_toggle_rerenders() -> None:
    app = LossApp()
    async with app.run_test(size=(80, 24)) as pilot:
        plot = app.query_one(LossPlot)
        plot.show_series([series(100)], log_offset=0.05)
        await pilot.pause()
        assert plot.plain_lines[0].startswith("loss")
        plot.log_scale = True
        await pilot.pause()
        assert "log10(loss − L*)" in plot.plain_lines[0]
        assert any("1e" in line for line in plot.plain_lines)
        plot.show_series([series(100)], log_offset=50.0)
        await pilot.pause()
        assert any("press l for linear" in line for line in plot.plain_lines)
        plot.log_scale = False
        await pilot.pause()
        assert plot.plain_lines[0].startswith("loss")
        assert not any("press l for linear" in line for line in plot.plain_lines)


async def test_loss_plot_small_change_refreshes_few_rows() -> None:
    app = LossApp()
    async with app.run_test(size=(80, 24)) as pilot:
        plot = app.query_one(LossPlot)
        plot.show_series([series(200)])  # steps 1..200: x-limits [0, 256]
        await pilot.pause()
        changed = plot.show_series([series(201)])  # one more point, same x- and y-limits
        await pilot.pause()
        assert 0 < len(changed) < 24 // 2
        # Only the cells that differ within those rows are refreshed.
        assert all(region.width < 80 for region in plot.last_regions)
        assert plot.show_series([series(201)]) == []  # identical data: nothing to repaint


async def test_loss_plot_million_points_in_widget() -> None:
    app = LossApp()
    async with app.run_test(size=(80, 24)) as pilot:
        plot = app.query_one(LossPlot)
        plot.show_series([series(10)])
        await pilot.pause()
        n = 1_000_000
        steps = np.arange(1, n + 1, dtype=np.float64)
        loss = 1.0 / np.sqrt(steps)
        t0 = time.perf_counter()
        plot.show_series([Series("big", steps, loss, loss, loss, "cyan+")])
        assert time.perf_counter() - t0 < 0.2
        await pilot.pause()
        assert len(plot.plain_lines) == 24


async def test_loss_plot_follows_resize() -> None:
    app = LossApp()
    async with app.run_test(size=(80, 24)) as pilot:
        plot = app.query_one(LossPlot)
        plot.show_series([series(100)])
        await pilot.pause()
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        lines = plot.plain_lines
        assert len(lines) == 30 and all(len(line) == 100 for line in lines)


# -- Landscape in an app ----------------------------------------------------------------------


class LandApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Landscape()


def rosenbrock(nx: int, ny: int) -> Surface:
    x = np.linspace(-2.0, 2.0, nx)
    y = np.linspace(-1.0, 3.0, ny)
    xx, yy = np.meshgrid(x, y)
    z = (1 - xx) ** 2 + 100 * (yy - xx**2) ** 2
    return Surface(x, y, z, ((1.0, 1.0),), ("a", "b"))


def char_at(widget: Landscape, cell: tuple[int, int]) -> str:
    col, row = cell
    return widget.plain_lines[row][col]


async def test_landscape_grid_size_and_note() -> None:
    app = LandApp()
    async with app.run_test(size=(80, 24)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        assert land.grid_size() == (80, 46)
        land.show(None, None, None, None)
        await pilot.pause()
        assert any(NO_LANDSCAPE in line for line in land.plain_lines)


async def test_landscape_2d_markers() -> None:
    app = LandApp()
    async with app.run_test(size=(80, 24)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        surface = rosenbrock(*land.grid_size())
        path = np.array([[-1.5, 2.0], [-1.0, 1.0], [-0.5, 0.2], [0.0, 0.1]])
        land.show(surface, path, (0.0, 0.1), (-1.5, 2.0))
        await pilot.pause()
        current = land.cell_of(0.0, 0.1)
        minimum = land.cell_of(1.0, 1.0)
        start = land.cell_of(-1.5, 2.0)
        assert current is not None and minimum is not None and start is not None
        assert char_at(land, current) == "●"
        assert char_at(land, minimum) == "★"
        assert char_at(land, start) == "○"
        middle = land.cell_of(-1.0, 1.0)
        assert middle is not None and char_at(land, middle) == "•"
        text = "\n".join(land.plain_lines)
        assert "·" in text  # segments between path points are filled in
        assert land.plain_lines[-1].startswith("a ∈ [-2, 2]  b ∈ [-1, 3]")
        # Top row is the largest y: the minimum (y=1) sits below the start (y=2).
        assert minimum[1] > start[1]
        # The map itself is drawn with half blocks / shaded cells.
        assert "▀" in text


async def test_landscape_new_path_point_refreshes_few_rows() -> None:
    app = LandApp()
    async with app.run_test(size=(80, 24)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        surface = rosenbrock(*land.grid_size())
        path = np.array([[-1.5, 2.0], [-1.2, 1.5], [-1.0, 1.0]])
        land.show(surface, path, (-1.0, 1.0), (-1.5, 2.0))
        await pilot.pause()
        longer = np.vstack([path, [[-0.9, 0.85]]])
        changed = land.show(surface, longer, (-0.9, 0.85), (-1.5, 2.0))
        await pilot.pause()
        assert 0 < len(changed) <= 3
        assert all(region.width < 80 for region in land.last_regions)


async def test_landscape_clips_outside_points_and_blanks_nan() -> None:
    app = LandApp()
    async with app.run_test(size=(80, 24)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        surface = rosenbrock(*land.grid_size())
        z = surface.z.copy()
        z[:, :10] = np.nan  # left strip undefined
        holey = Surface(surface.x, surface.y, z, surface.minima, ("a", "b"))
        land.show(holey, np.array([[5.0, 5.0], [6.0, 6.0]]), (5.0, 5.0), (9.0, 9.0))
        await pilot.pause()
        text = "\n".join(land.plain_lines[:-1])
        assert "●" not in text and "○" not in text and "•" not in text
        assert land.cell_of(5.0, 5.0) is None
        first_cells = [next(iter(strip)) for strip in land.lines[:-1]]
        assert all(seg.style is None and seg.text.startswith(" ") for seg in first_cells)


async def test_landscape_1d_curve() -> None:
    app = LandApp()
    async with app.run_test(size=(80, 24)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        x = np.linspace(-3.0, 3.0, 200)
        curve = Surface(x, None, x**2, ((0.0,),), ("w",))
        land.show(curve, np.array([-2.5, -1.5, -0.8]), (-0.8,), (-2.5,))
        await pilot.pause()
        text = "\n".join(land.plain_lines)
        assert "●" in text and "★" in text and "○" in text and "•" in text
        assert land.render_line(0).cell_length == 80


@pytest.mark.parametrize(
    "values",
    [[1e308, 1.7e308], [1e300, 1.5e300], [-1e308, 1e308], [1e308, float("inf")], [0.0, 1e-300]],
)
@pytest.mark.parametrize("log_scale", [False, True])
def test_render_text_survives_values_near_the_float_limit(values, log_scale) -> None:
    """A run whose loss reaches 1e308 must not crash the plot (it did: OverflowError)."""
    arr = np.array(values)
    text = render_text([Series("x", np.array([1, 2]), arr, arr, arr, "cyan+")], 40, 12, log_scale)
    assert len(text.split("\n")) == 12
    if not log_scale and max(abs(v) for v in values) > 1e150:
        assert "l = log scale" in text
