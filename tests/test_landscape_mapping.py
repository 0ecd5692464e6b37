"""The landscape's two coordinate mappings (point → cell, cell → point) are inverse."""

from __future__ import annotations

import numpy as np
import pytest
from textual.app import App, ComposeResult

from gdtui.ui.messages import Surface
from gdtui.ui.widgets.landscape import Landscape


class LandApp(App[None]):
    """A landscape alone, recording the start points it posts."""

    def __init__(self) -> None:
        super().__init__()
        self.placed: list[tuple[float, ...]] = []

    def compose(self) -> ComposeResult:
        yield Landscape()

    def on_landscape_start_placed(self, message: Landscape.StartPlaced) -> None:
        self.placed.append(message.point)


def bowl(nx: int, ny: int, domain=((-3.0, 2.0), (-1.0, 4.0))) -> Surface:
    (x0, x1), (y0, y1) = domain
    x, y = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    xx, yy = np.meshgrid(x, y)
    return Surface(x, y, xx**2 + yy**2, ((0.0, 0.0),), ("x", "y"))


@pytest.mark.parametrize("size", [(20, 8), (37, 11), (80, 24), (121, 41)])
async def test_every_cell_maps_to_a_point_that_maps_back(size: tuple[int, int]) -> None:
    app = LandApp()
    async with app.run_test(size=size) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        land.show(bowl(*land.grid_size()), None, None, None)
        await pilot.pause()
        width, height = land.size
        assert (width, height) == size
        for row in range(height - 1):  # the last row is the footer
            for col in range(width):
                point = land.point_at(col, row)
                assert point is not None, (col, row)
                assert land.cell_of(*point) == (col, row), (col, row, point)
        # Outside the map (the footer, past the edges) there is no point.
        assert land.point_at(0, height - 1) is None
        assert land.point_at(width, 0) is None
        assert land.point_at(-1, 0) is None
        # The corners are the domain's corners: top-left is (x_lo, y_hi).
        top_left = land.point_at(0, 0)
        bottom_right = land.point_at(width - 1, height - 2)
        assert top_left is not None and bottom_right is not None
        assert top_left[0] == -3.0 and bottom_right[0] == 2.0
        assert top_left[1] > 3.8 and bottom_right[1] < -0.8


async def test_a_click_posts_the_point_of_the_cell() -> None:
    app = LandApp()
    async with app.run_test(size=(60, 20)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        land.show(bowl(*land.grid_size()), None, None, None)
        await pilot.pause()
        await pilot.click(Landscape, offset=(17, 5))
        await pilot.pause()
        assert app.placed == [land.point_at(17, 5)]
        await pilot.click(Landscape, offset=(17, 19))  # the footer: nothing
        await pilot.pause()
        assert len(app.placed) == 1


async def test_placing_moves_within_the_domain_and_applies() -> None:
    app = LandApp()
    async with app.run_test(size=(60, 20)) as pilot:
        land = app.query_one(Landscape)
        await pilot.pause()
        land.show(bowl(*land.grid_size()), None, None, (0.0, 0.0))
        land.start_placing((1.9, 0.0), ((-3.0, 2.0), (-1.0, 4.0)))
        land.move_placing(1, 1)  # x is clamped at 2.0, y moves 2% of 5
        assert land.placing == pytest.approx((2.0, 0.1))
        assert land.plain_lines[land.cell_of(2.0, 0.1)[1]][land.cell_of(2.0, 0.1)[0]] == "○"
        land.apply_placing()
        await pilot.pause()
        assert land.placing is None
        assert app.placed == [pytest.approx((2.0, 0.1))]
        land.start_placing((0.0, 0.0), ((-3.0, 2.0), (-1.0, 4.0)))
        land.cancel_placing()
        land.apply_placing()  # nothing pending: nothing posted
        await pilot.pause()
        assert len(app.placed) == 1
