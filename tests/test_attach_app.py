"""``gdtui attach`` in the app: the layer panel, following a growing file, replay, ranks, junk.

The file followed is written by another process (a real watched torch loop) or by a thread
appending prepared lines; the screen is read as a user would (the status line, the table).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from textual.app import App, ComposeResult

from gdtui.recordfile import FIELDS, read_records
from gdtui.ui.app import GdtuiApp, launch_attach
from gdtui.ui.screens.attach import AttachScreen
from gdtui.ui.widgets.attach_status import AttachStatus, duration
from gdtui.ui.widgets.layer_panel import LayerPanel, LayerRows, layout, ratio_mark
from gdtui.ui.widgets.layer_plot import LayerPlot, bucket_series

FIXTURE = Path(__file__).parent / "data" / "attach_run.jsonl"
ROOT = Path(__file__).resolve().parent.parent


# -- record lines written by hand -------------------------------------------------------------


def header(rank: int = 0, groups: int = 1) -> dict:
    """A header of a two-tensor model (the bias in group ``groups - 1``)."""
    return {
        "format": "gdtui-watch",
        "version": 1,
        "params": [
            {"name": "fc.weight", "shape": [3, 2], "group": 0},
            {"name": "fc.bias", "shape": [3], "group": groups - 1},
        ],
        "optimizer": "SGD",
        "hyper": {"lr": [0.1] * groups},
        "device": "cpu",
        "rank": rank,
        "started": 1000.0,
    }


def step_line(n: int, scale: float = 1.0, loss: float | None = None) -> dict:
    """Step ``n``: every summary of fc.weight is ``scale * n * (field index + 1)``."""
    summary = {f: scale * n * (i + 1) for i, f in enumerate(FIELDS)}
    return {
        "step": n,
        "time": 1000.0 + n / 4,
        "lr": [0.1],
        "scalars": {"loss": loss if loss is not None else 1.0 / n},
        "params": {"fc.weight": summary, "fc.bias": {f: 0.5 * v for f, v in summary.items()}},
    }


def write_lines(path: Path, *objs: dict | str, mode: str = "a") -> None:
    """Append JSON lines (or raw text lines) and flush."""
    with open(path, mode, encoding="utf-8") as out:
        for obj in objs:
            out.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.05)
    await pilot.pause()


def attach_app(path: Path, **kwargs) -> GdtuiApp:
    """The app as ``launch_attach`` builds it (toasts off)."""
    return GdtuiApp(attach=path, deterministic=True, **kwargs)


def screen(app: GdtuiApp) -> AttachScreen:
    return app.attach_screen


def status(app: GdtuiApp) -> str:
    return app.attach_screen.query_one(AttachStatus).text


def shown_step(app: GdtuiApp) -> int | None:
    match = re.search(r"\bstep (\d+)\b", status(app))
    return int(match[1]) if match else None


# -- the layer panel ----------------------------------------------------------------------------


def fixture_rows() -> LayerRows:
    return LayerRows.from_record(read_records(FIXTURE))


def as_number(text: str) -> float:
    text = text.strip()
    return math.nan if text == "—" else float(text.replace("−", "-"))


def test_layer_rows_from_record_are_the_last_step_with_each_groups_lr():
    record = read_records(FIXTURE)
    rows = LayerRows.from_record(record)
    assert rows.step == 60
    assert rows.names == ("unused", "hidden.weight", "hidden.bias", "out.weight", "out.bias")
    assert rows.shapes[1] == (16, 4)
    # "unused" never had a gradient: every number is missing; the others are the last line's.
    assert np.isnan(rows.values[0]).all()
    last = json.loads(FIXTURE.read_text().splitlines()[-2])
    for i, name in enumerate(rows.names[1:], start=1):
        assert rows.values[i].tolist() == [last["params"][name][f] for f in FIELDS]
    # hidden.* and unused are in group 0 (lr 1e-2), out.* in group 1 (lr 3e-3).
    assert rows.lr == (1e-2, 1e-2, 1e-2, 3e-3, 3e-3)


def test_layer_rows_refuse_a_wrong_shape():
    with pytest.raises(ValueError, match="expected"):
        LayerRows(("a",), ((2,),), np.zeros((1, 3)))


@pytest.mark.parametrize("width", [78, 118, 200])
def test_layout_fits_and_every_number_is_rounded_not_cut(width):
    rows = fixture_rows()
    lay = layout(rows, width)
    assert sum(w + 2 for w in lay.widths) <= width
    assert lay.keys[:1] == ("name",)
    for r, cells in enumerate(lay.cells):
        for key, w, cell in zip(lay.keys, lay.widths, cells, strict=True):
            assert cell.cell_len <= w
            if key in ("grad_norm", "update_norm", "cos"):
                value = rows.values[r, FIELDS.index(key)]
                shown = as_number(cell.plain)
                if math.isnan(value):
                    assert cell.plain == "—"
                else:  # at least 3 significant digits
                    assert shown == pytest.approx(value, rel=5e-3)
            if key == "eff_lr":
                parts = [as_number(p) for p in cell.plain.split("·")]
                expect = rows.values[
                    r, [FIELDS.index(f) for f in ("eff_lr_p10", "eff_lr_median", "eff_lr_p90")]
                ]
                np.testing.assert_allclose(parts, expect, rtol=5e-2)


def test_layout_drops_columns_by_priority_when_narrow():
    rows = fixture_rows()
    assert layout(rows, 200).keys == (
        "name", "shape", "grad_norm", "update_norm", "ratio", "cos", "eff_lr", "lr",
    )  # fmt: skip
    narrow = layout(rows, 78).keys
    assert {"name", "grad_norm", "ratio", "eff_lr"} <= set(narrow)
    assert "shape" not in narrow and "lr" not in narrow
    assert layout(rows, 40).keys == ("name", "grad_norm", "ratio")


def test_ratio_marks_readable_without_colour():
    assert ratio_mark(1e-3)[0] == " "
    assert ratio_mark(2e-2)[0] == "▲"
    assert ratio_mark(0.5) == ("▲", "bold red")
    assert ratio_mark(1e-7)[0] == "▼"
    assert ratio_mark(None)[0] == " "
    assert duration(12.4) == "12 s"
    assert duration(600) == "10 min"
    assert duration(3 * 86400) == "3 d"


def test_bucketed_curves_keep_finished_buckets_as_the_run_grows():
    steps = np.arange(1, 41)
    values = np.where(steps % 5 == 0, np.nan, steps * 1.5)
    small = bucket_series("x", steps, values, 11, "cyan+")  # 40 steps in 11: buckets of 4
    np.testing.assert_array_equal(small.steps, [4, 8, 12, 16, 20, 24, 28, 32, 36, 40])
    np.testing.assert_array_equal(small.loss[:2], [6.0, 12.0])  # last value of 1-4, 5-8
    assert small.loss_min[1] == 9.0 and small.loss_max[1] == 12.0  # step 5 (NaN) ignored
    more = np.arange(1, 43)
    grown = bucket_series("x", more, np.where(more % 5 == 0, np.nan, more * 1.5), 11, "cyan+")
    # Two more steps open a bucket; the ones before stay exactly as they were.
    assert len(grown.steps) == 11
    for a, b in zip(
        (grown.steps, grown.loss, grown.loss_min, grown.loss_max),
        (small.steps, small.loss, small.loss_min, small.loss_max),
        strict=True,
    ):
        np.testing.assert_array_equal(a[:10], b)
    assert bucket_series("x", more, more * 1.0, 11, "c").steps[-1] == 42
    assert bucket_series("x", steps, values, 64, "c").steps is steps  # fits: every point


class PanelApp(App):
    """The panel alone, recording the layers it says were chosen."""

    def __init__(self, rows: LayerRows) -> None:
        super().__init__()
        self.layer_rows = rows
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield LayerPanel()

    def on_mount(self) -> None:
        self.query_one(LayerPanel).show_rows(self.layer_rows)

    def on_layer_panel_layer_chosen(self, message: LayerPanel.LayerChosen) -> None:
        self.chosen.append(message.name)


async def test_layer_panel_posts_layer_chosen_on_keys_and_click():
    rows = fixture_rows()
    app = PanelApp(rows)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        panel = app.query_one(LayerPanel)
        assert panel.row_count == 5
        assert app.chosen == ["unused"]  # the cursor starts on the first row
        await pilot.press("down", "down")
        await pilot.pause()
        assert app.chosen == ["unused", "hidden.weight", "hidden.bias"]
        await pilot.click(LayerPanel, offset=(3, 5))  # header row, then rows 0..: row 4
        await pilot.pause()
        assert app.chosen[-1] == "out.bias"
        assert panel.chosen == "out.bias"
        # New numbers for the same layers change cells, not the cursor.
        values = rows.values * 2
        panel.show_rows(LayerRows(rows.names, rows.shapes, values, rows.lr, 61))
        await pilot.pause()
        assert panel.cursor_row == 4
        cell = panel.get_cell_at((1, panel.get_column_index("grad_norm")))
        assert as_number(cell.plain) == pytest.approx(values[1, 0], rel=1e-3)


# -- the attach screen ----------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    import torch
    from torch import nn
    import gdtui

    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    with gdtui.watch(model, optimizer, sys.argv[1]) as w:
        for _ in range(int(sys.argv[2])):
            optimizer.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            w.log(loss=loss)
            time.sleep(0.05)
    """
)


async def test_follows_a_file_another_process_is_still_writing(tmp_path):
    path = tmp_path / "run.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "100000"], env=env)
    try:
        app = attach_app(path)  # the file may not exist yet: the screen waits for it
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: (shown_step(app) or 0) >= 2, timeout=60)
            first = shown_step(app)
            assert writer.poll() is None  # still writing
            await wait_for(pilot, lambda: (shown_step(app) or 0) >= first + 5, timeout=30)
            assert writer.poll() is None
            assert "run finished" not in status(app)
            table = app.attach_screen.query_one(LayerPanel)
            assert table.layer_rows is not None and table.layer_rows.names == ("weight", "bias")
            # The table (redrawn once a second while the run goes) shows a recorded step.
            followed = screen(app).followed
            (at,) = np.flatnonzero(followed.step == table.layer_rows.step)
            np.testing.assert_array_equal(table.layer_rows.values, followed.values[at])
            writer.terminate()  # SIGTERM: the watch writes everything and an end line
            writer.wait(timeout=30)
            await wait_for(pilot, lambda: "run finished (SIGTERM)" in status(app), timeout=30)
            last = read_records(path).step[-1]
            assert screen(app).followed.step[-1] == last
            assert table.layer_rows.step == last  # an ended file is drawn at once
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


async def test_grows_with_a_thread_appending_lines_and_ends(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, header(), step_line(1), mode="w")
    stop = threading.Event()

    def append() -> None:
        for n in range(2, 40):
            if stop.is_set():
                return
            write_lines(path, step_line(n))
            time.sleep(0.05)
        write_lines(path, {"end": True, "time": 1010.0, "steps": 39, "reason": "exit"})

    app = attach_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: shown_step(app) == 1)
        thread = threading.Thread(target=append)
        thread.start()
        try:
            await wait_for(pilot, lambda: (shown_step(app) or 0) > 5)
            await wait_for(pilot, lambda: "run finished (exit)" in status(app))
        finally:
            stop.set()
            thread.join()
        assert shown_step(app) == 39
        assert screen(app).followed.loss[-1] == pytest.approx(1 / 39)


async def test_replay_of_a_finished_file_shows_the_end_and_the_last_step():
    app = attach_app(FIXTURE)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "run finished" in status(app))
        text = status(app)
        assert "■ run finished (closed)" in text
        assert "step 60" in text and "Adam · cpu" in text
        last_loss = read_records(FIXTURE).last_scalar("loss")
        assert re.search(r"loss (\S+)", text)[1].replace("−", "-") == f"{last_loss:.4g}"
        assert "no new step" not in text


async def test_choosing_a_layer_plots_its_ratio_and_gradient():
    record = read_records(FIXTURE)
    app = attach_app(FIXTURE)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: screen(app).followed is not None)
        plot = app.attach_screen.query_one(LayerPlot)
        panel = app.attach_screen.query_one(LayerPanel)
        # The first layer with a gradient is chosen ("unused" never had one), cursor on it.
        await wait_for(pilot, lambda: panel.cursor_row == 1)
        assert screen(app).chosen == panel.chosen == "hidden.weight"
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: screen(app).chosen == "out.weight")
        assert str(plot.border_title) == "out.weight · ↑↓ picks"
        assert plot.plain_lines[0].startswith("log10(‖·‖)   ━━ ‖∇‖   ━━ ‖Δ‖/‖θ‖")
        grad, ratio = plot._series  # what is drawn: ‖∇‖ and ‖Δ‖/‖θ‖ of out.weight
        assert plot.plot_columns() < 60  # so the 60 steps are bucketed by two
        for series, field in ((grad, "grad_norm"), (ratio, "ratio")):
            column = record.series("out.weight", field)
            np.testing.assert_array_equal(series.steps, record.step[1::2])
            np.testing.assert_array_equal(series.loss, column[1::2])
            np.testing.assert_array_equal(series.loss_min, np.minimum(column[::2], column[1::2]))
            np.testing.assert_array_equal(series.loss_max, np.maximum(column[::2], column[1::2]))
        await pilot.press("up")
        await wait_for(pilot, lambda: str(plot.border_title).startswith("hidden.bias "))
        await pilot.press("up", "up")
        await wait_for(pilot, lambda: screen(app).chosen == "unused")
        assert "no gradient recorded for this layer" in " ".join(
            line.strip() for line in plot.plain_lines
        )


async def test_k_cycles_through_the_ranks(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, header(0), step_line(1), step_line(2), mode="w")
    write_lines(tmp_path / "run.rank1.jsonl", header(1), step_line(1, scale=7.0), mode="w")
    app = attach_app(path)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "rank 0" in status(app))
        assert "step 2" in status(app)
        panel = app.attach_screen.query_one(LayerPanel)
        grad = panel.get_column_index("grad_norm")
        assert as_number(panel.get_cell_at((0, grad)).plain) == 2.0
        await pilot.press("k")
        await wait_for(pilot, lambda: "rank 1" in status(app) and shown_step(app) == 1)
        assert screen(app).path.name == "run.rank1.jsonl"
        assert as_number(panel.get_cell_at((0, grad)).plain) == 7.0
        await pilot.press("k")
        await wait_for(pilot, lambda: "rank 0" in status(app) and shown_step(app) == 2)


async def test_junk_while_following_keeps_the_last_good_state_and_a_new_file_recovers(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, header(), step_line(1), step_line(2), mode="w")
    app = attach_app(path)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: shown_step(app) == 2)
        write_lines(path, step_line(3), "this is not json")
        await wait_for(pilot, lambda: "⚠" in status(app))
        assert "line 5 is not JSON" in status(app)
        # Step 3 came before the junk, in the same read: the last good state is step 2.
        assert shown_step(app) == 2
        assert screen(app).followed.step.tolist() == [1, 2]
        # A new run on the same path (the file replaced) is read from the start.
        fresh = tmp_path / "fresh.jsonl"
        write_lines(fresh, header(), step_line(1), step_line(2), step_line(3), mode="w")
        os.replace(fresh, path)
        await wait_for(pilot, lambda: shown_step(app) == 3 and "⚠" not in status(app))


async def test_a_stopped_writer_is_said_after_a_few_of_its_step_intervals(tmp_path):
    path = tmp_path / "run.jsonl"
    write_lines(path, header(), *(step_line(n) for n in range(1, 9)), mode="w")
    last_time = 1000.0 + 8 / 4
    now = [last_time + 0.5]  # 4 steps/s: half a second is no news
    app = attach_app(path, clock=lambda: now[0])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: shown_step(app) == 8)
        assert "4.0 steps/s" in status(app)
        assert "no new step" not in status(app)
        now[0] = last_time + 42
        screen(app)._show_status()
        await pilot.pause()
        assert "⏸ no new step for 42 s" in status(app)


async def test_help_lists_the_attach_keys():
    app = attach_app(FIXTURE)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        from gdtui.ui.screens.help import HelpScreen

        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert ("k", "next rank (the run's other record files, NAME.rankN.jsonl)") in (
            help_screen.keys
        )
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AttachScreen)


# -- refusals before the app starts --------------------------------------------------------------


def test_launch_attach_refuses_a_file_that_is_not_a_record_file(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    assert launch_attach(junk, None) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a gdtui record file" in err


def test_launch_attach_refuses_a_newer_format_and_a_missing_rank(tmp_path, capsys):
    newer = tmp_path / "run.jsonl"
    write_lines(newer, {**header(), "version": 99}, mode="w")
    assert launch_attach(newer, None) == 2
    assert "newer than this gdtui reads" in capsys.readouterr().err
    assert launch_attach(FIXTURE, 3) == 2
    assert "no record file for rank 3" in capsys.readouterr().err


def test_launch_attach_needs_a_terminal(capsys):
    # pytest's stdin is not a terminal: one line, exit 2, no app.
    assert launch_attach(FIXTURE, None) == 2
    assert "needs a terminal" in capsys.readouterr().err


def test_attach_mode_never_imports_torch():
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        from gdtui.ui.app import GdtuiApp

        async def main():
            app = GdtuiApp(attach={str(FIXTURE)!r}, deterministic=True)
            async with app.run_test(size=(80, 24)) as pilot:
                while app.attach_screen.followed is None:
                    await pilot.pause(0.05)
                await pilot.press("down", "k", "l")
                await pilot.pause(0.3)
        asyncio.run(main())
        print("torch" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


async def test_ctrl_s_saves_a_screenshot_and_the_palette_offers_attach_commands(tmp_path):
    app = GdtuiApp(attach=FIXTURE, deterministic=True, export_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: screen(app).followed is not None)
        await wait_for(pilot, lambda: screen(app).followed.end is not None)
        await pilot.press("ctrl+s")
        await pilot.pause()
        (svg,) = tmp_path.glob("*.svg")
        assert svg.name == "gdtui-attach-attach_run-step60.svg"
        assert app.last_notice == f"screenshot saved to {svg}"
        titles = [title for title, _, _ in screen(app).palette_commands()]
        assert "Next rank" in titles
        from gdtui.ui.app import GdtuiCommands

        await pilot.press("ctrl+p")
        await pilot.pause()
        provider = GdtuiCommands(app.screen)
        found = [hit.text async for hit in provider.discover()]
        assert found == titles
        # Opening scenarios and exporting runs are the explorer's, off here.
        assert app.check_action("open", ()) is False
        assert app.check_action("export", ()) is False
