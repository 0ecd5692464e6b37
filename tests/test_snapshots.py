"""Snapshot tests of the app (pytest-textual-snapshot), at 80×24 and 120×40.

Each app runs a fixed number of seeded steps before the picture; toasts, cursor blink and
animation are off (``deterministic=True``), and no timing is shown while paused.
"""

from __future__ import annotations

import pytest
from waiting import settled, wait_until

from gdtui.ui.app import GdtuiApp

SIZES = [(80, 24), (120, 40)]


def make(scenario: str, steps: int) -> GdtuiApp:
    """The app as the CLI builds it, stepped ``steps`` times before the first picture."""
    return GdtuiApp(scenario=scenario, initial_steps=steps, deterministic=True)


async def settle(pilot) -> None:
    """Wait until the run, its history view and its landscape are drawn."""
    await settled(pilot.app)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_seed_example_after_one_step(snap_compare, size) -> None:
    """The worked example: gradient 6.0, update −0.6, w 5.0 → 4.4."""
    assert snap_compare(make("seed-example", 1), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_diverged_run(snap_compare, size) -> None:
    """lr = 1.1 on the bowl: the status line says where and why it diverged."""
    assert snap_compare(make("lr-too-large", 200), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_two_parameter_landscape_and_path(snap_compare, size) -> None:
    """Adam on Rosenbrock after 300 steps: the shaded map, the minimum, the path."""
    assert snap_compare(make("adam-rosenbrock", 300), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, size) -> None:
    """``?`` lists every key."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make("seed-example", 0), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_learning_rate_error(snap_compare, size) -> None:
    """Typing ``abc`` as the learning rate shows why, and changes nothing."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot)
        if app.screen.has_class("-hide-controls"):
            await pilot.press("c")
        field = app.query_one("#lr")
        field.focus()
        field.value = ""
        await pilot.press("a", "b", "c")
        await pilot.press("enter")
        await pilot.pause()
        await wait_until(app, lambda: app.last_notice is not None)
        await pilot.pause()

    assert snap_compare(make("seed-example", 1), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_many_parameters_as_rows(snap_compare, size) -> None:
    """Eight parameters: the panels switch to a row per parameter and never cut a number."""
    app = GdtuiApp(
        overrides={
            "expression": "a*b + c**2 + d**2 + f**2 + g**2 + h**2 + k**2",
            "optimizer": "adam",
        },
        initial_steps=1,
        deterministic=True,
    )
    assert snap_compare(app, terminal_size=size, run_before=settle)


def model_app(name: str, steps: int, **changes) -> GdtuiApp:
    """A built-in model scenario (with changes), stepped ``steps`` times before the picture."""
    from gdtui.scenario import load_scenario

    scenario = load_scenario(name).with_overrides(**changes)
    return GdtuiApp(scenario=scenario, initial_steps=steps, deterministic=True)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_classification_decision_regions(snap_compare, size) -> None:
    """The moons MLP after 100 mini-batch steps: the decision regions with the points by class,
    the noisy batch loss with the train and val epoch curves, the per-layer panel."""
    app = model_app("full-batch-vs-sgd", 100)
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_model_per_layer_panel(snap_compare, size) -> None:
    """A digits MLP (64 → 32 → 10) after 50 steps of Adam (two epochs): one row per tensor with ‖∇‖, ‖Δ‖,
    ‖Δ‖/‖θ‖, cos and the spread of the effective learning rate; a loss slice as landscape."""
    app = model_app("mlp-digits", 50, model={"kind": "mlp", "hidden": [32]})
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_mini_batch_regression_path(snap_compare, size) -> None:
    """Linear regression with batches of 8: the path wanders over the full-batch (slope, bias)
    bowl; the per-scalar panels stay."""
    app = model_app("linear-regression", 60, batch_size=8)
    assert snap_compare(app, terminal_size=size, run_before=settle)


def rewound_to(step: int):
    """After the initial steps, ``{`` (ten back) and wait until that step is drawn as it was:
    its record, and for a model its layer summaries and its decision regions."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("left_curly_bracket")
        screen = pilot.app.main_screen

        def drawn() -> bool:
            rewound = screen.rewound
            if rewound is None or rewound.step != step:
                return False
            if screen.info is None or screen.info.model is None:
                return True
            view = screen.model_view
            return (
                view is not None
                and view.step == step
                and (screen._layers().border_subtitle == f"step {step}")
            )

        await wait_until(pilot.app, drawn)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rewound_formula_run(snap_compare, size) -> None:
    """The ravine after 40 steps, shown at step 30: the ◆ on the loss curve, the panels and
    the point of step 30, "step 30 of 40 (rewound…)" on the status line."""
    assert snap_compare(make("momentum-ravine", 40), terminal_size=size, run_before=rewound_to(30))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rewound_classifier(snap_compare, size) -> None:
    """The moons MLP after 60 mini-batch steps, shown at step 50: the regions as the model drew
    them then (no live accuracy), the layer table of step 50, epoch 5 on the status line."""
    app = model_app("full-batch-vs-sgd", 60)
    assert snap_compare(app, terminal_size=size, run_before=rewound_to(50))
