"""Tests for gdtui.scenario: TOML scenario files, defaults, validation and overrides."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from gdtui.engine import Status
from gdtui.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    builtin_dir,
    builtin_names,
    load_file,
    load_scenario,
)

REPO = Path(__file__).resolve().parent.parent
BUILTINS = sorted(p.stem for p in (REPO / "scenarios").glob("*.toml"))


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def finished_run(name: str):
    run = load_scenario(name).build_run()
    run.run()
    return run


# -- built-ins ----------------------------------------------------------------------------------


def test_builtin_names_are_the_scenarios_folder() -> None:
    assert builtin_names() == BUILTINS
    assert DEFAULT_SCENARIO in BUILTINS
    assert builtin_dir().is_dir()


# How each built-in ends, as its description tells.
BUILTIN_STATUS = {
    "adam-rosenbrock": Status.CONVERGED,
    "adam-vs-sgd": Status.CONVERGED,  # its own run: Adam at 0.05, as adam-rosenbrock
    "himmelblau-four-minima": Status.CONVERGED,
    "lr-too-large": Status.DIVERGED,
    "lr-too-small": Status.FINISHED,
    "momentum-ravine": Status.CONVERGED,
    "momentum-vs-plain": Status.CONVERGED,  # its own run: momentum 0.9, as momentum-ravine
    "noisy-gradient-escapes": Status.FINISHED,
    "saddle": Status.CONVERGED,
    "seed-example": Status.CONVERGED,
}
# Built-ins that train a model on [data]: what they claim is tested in test_model_run.py; here,
# that the scenario file builds the same run (a few steps, to keep the suite fast).
MODEL_BUILTINS = [
    "adam-vs-sgd-digits",
    "csv-example",
    "edge-of-stability",
    "full-batch-vs-sgd",
    "linear-regression",
    "mlp-digits",
    "mse-vs-cross-entropy",
]


def test_every_builtin_has_an_expected_status() -> None:
    assert sorted([*BUILTIN_STATUS, *MODEL_BUILTINS]) == BUILTINS
    assert [n for n in BUILTINS if load_scenario(n).is_model] == MODEL_BUILTINS


@pytest.mark.parametrize("name", MODEL_BUILTINS)
def test_model_builtins_build_the_engines_run(name: str) -> None:
    """The scenario loader hands [data], [model], [loss], [run] and [optimizer] to
    build_model_run unchanged: the same first records as building from the TOML directly."""
    import tomllib

    from gdtui.engine import build_model_run

    scenario = load_scenario(name)
    assert scenario.title and scenario.description.strip()
    table = tomllib.loads((builtin_dir() / f"{name}.toml").read_text(encoding="utf-8"))
    opt = dict(table["optimizer"])
    direct = build_model_run(
        table["data"],
        table.get("model"),
        table.get("loss"),
        {**table["run"], "steps": 3},
        optimizer=opt.pop("name"),
        lr=opt.pop("lr"),
        hyper=opt,
        base_dir=builtin_dir(),
    )
    ours = scenario.build_run(max_steps=3)
    a, b = list(direct.steps()), list(ours.steps())
    assert len(a) == len(b) == 3
    assert [r.loss for r in a] == [r.loss for r in b]
    assert [r.grad_norm for r in a] == [r.grad_norm for r in b]
    assert ours.status is Status.FINISHED


@pytest.mark.parametrize("name", sorted(BUILTIN_STATUS))
def test_every_builtin_loads_and_runs_to_completion(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.title and scenario.title != name
    assert scenario.description.strip()
    run = scenario.build_run()
    last = run.run()
    assert run.finished
    assert run.status is BUILTIN_STATUS[name]
    assert run.reason
    assert last is not None and last.status == run.status
    assert run.step_count <= scenario.steps
    assert all(math.isfinite(v) for v in run.current)


def test_default_scenario_is_the_worked_example() -> None:
    assert load_scenario() == load_scenario(None) == load_scenario(DEFAULT_SCENARIO)
    scenario = load_scenario()
    run = scenario.build_run(max_steps=1)
    record = run.step()
    assert record is not None
    assert (record.loss, record.grad, record.lr) == (9.0, (6.0,), 0.1)
    assert record.params == pytest.approx((4.4,))


def test_seed_example_converges_to_2() -> None:
    run = finished_run("seed-example")
    assert run.status is Status.CONVERGED
    assert run.current == pytest.approx((2.0,), abs=1e-4)


def test_lr_too_large_diverges() -> None:
    run = finished_run("lr-too-large")
    assert run.status is Status.DIVERGED
    assert "step" in (run.reason or "")
    assert run.last_record is not None and math.isfinite(run.last_record.loss)


def test_lr_too_small_uses_its_budget_and_stays_far() -> None:
    scenario = load_scenario("lr-too-small")
    run = finished_run("lr-too-small")
    assert run.status is Status.FINISHED
    assert run.step_count == scenario.steps
    (w,) = run.current
    assert 2.5 < w < 5.0  # moved the right way, but still far from 2
    assert w == pytest.approx(3.1, abs=0.05)  # as its description says


def test_himmelblau_ends_near_one_of_its_four_minima() -> None:
    run = finished_run("himmelblau-four-minima")
    assert run.status is Status.CONVERGED
    minima = run.problem.minima
    assert len(minima) == 4
    assert min(math.dist(run.current, m) for m in minima) < 1e-3


def test_adam_rosenbrock_ends_near_1_1() -> None:
    run = finished_run("adam-rosenbrock")
    assert run.optimizer_name == "adam"
    assert run.status is Status.CONVERGED
    assert run.current == pytest.approx((1.0, 1.0), abs=1e-2)


def test_momentum_ravine_reaches_the_origin() -> None:
    run = finished_run("momentum-ravine")
    assert run.optimizer.param_groups[0]["momentum"] == 0.9
    assert run.current == pytest.approx((0.0, 0.0), abs=1e-3)


def test_saddle_rolls_off_to_a_minimum() -> None:
    run = finished_run("saddle")
    x, y = run.current
    saddle = (math.pi / 2, 0.0)
    assert math.dist((x, y), saddle) > 1.0
    assert min(math.dist((x, y), m) for m in run.problem.minima) < 1e-2
    assert run.last_record is not None and run.last_record.loss < -0.99


# -- defaults -----------------------------------------------------------------------------------


def test_an_empty_file_is_a_valid_scenario(tmp_path: Path) -> None:
    scenario = load_file(write(tmp_path, ""))
    assert scenario.loss == "quadratic"
    assert scenario.expression is None
    assert scenario.optimizer == "sgd"
    assert scenario.lr is None
    assert scenario.hyper == {}
    assert scenario.dtype == "float64"
    assert scenario.device == "auto"
    assert scenario.title == "scenario"
    run = scenario.build_run(max_steps=3)
    run.run()
    assert run.step_count == 3
    assert run.param_names == ("w",)


def test_load_scenario_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[problem]\nexpression = "x**2 + 10*y**2"\ninit = { x = 1, y = 1 }\n')
    scenario = load_scenario(str(path))
    assert scenario.source == str(path)
    assert scenario.loss is None
    assert scenario.problem().param_names == ("x", "y")
    assert scenario.init == {"x": 1.0, "y": 1.0}


def test_problem_options(tmp_path: Path) -> None:
    path = write(tmp_path, '[problem]\nloss = "rosenbrock"\na = 2.0\nb = 10\n')
    scenario = load_file(path)
    assert scenario.options == {"a": 2.0, "b": 10.0}
    assert scenario.problem().minima == ((2.0, 4.0),)


# -- broken files -------------------------------------------------------------------------------

BROKEN = {
    "invalid-toml": ("[problem\nloss = 1\n", "TOML"),
    "top-level-typo": ('titel = "x"\n', "titel"),
    "run-unknown-field": ("[run]\nstep = 10\n", "step"),
    "optimizer-name-typo": ('[optimizer]\nnme = "adam"\n', "nme"),
    "optimizer-unknown": ('[optimizer]\nname = "adamm"\n', "name"),
    "optimizer-unknown-hyper": ('[optimizer]\nname = "sgd"\nbetas = [0.9, 0.99]\n', "betas"),
    "hyper-bad-value": ('[optimizer]\nname = "sgd"\nmomentum = -1\n', "[optimizer]"),
    "lr-negative": ("[optimizer]\nlr = -1\n", "[optimizer]"),
    "lr-zero": ("[optimizer]\nlr = 0\n", "[optimizer]"),
    "lr-nan": ("[optimizer]\nlr = nan\n", "[optimizer]"),
    "lr-inf": ("[optimizer]\nlr = inf\n", "[optimizer]"),
    "lr-string": ('[optimizer]\nlr = "abc"\n', "lr"),
    "lr-bool": ("[optimizer]\nlr = true\n", "lr"),
    "steps-zero": ("[run]\nsteps = 0\n", "steps"),
    "steps-fraction": ("[run]\nsteps = 1.5\n", "steps"),
    "steps-string": ('[run]\nsteps = "10"\n', "steps"),
    "seed-negative": ("[run]\nseed = -1\n", "seed"),
    "tolerance-negative": ("[run]\ntolerance = -1\n", "tolerance"),
    "tolerance-inf": ("[run]\ntolerance = inf\n", "tolerance"),
    "dtype-float16": ('[run]\ndtype = "float16"\n', "dtype"),
    "device-tpu": ('[run]\ndevice = "tpu"\n', "device"),
    "loss-and-expression": ('[problem]\nloss = "quadratic"\nexpression = "x**2"\n', "expression"),
    "expression-import": ("[problem]\nexpression = \"__import__('os')\"\n", "expression"),
    "expression-attribute": ('[problem]\nexpression = "x.real"\n', "expression"),
    "expression-not-string": ("[problem]\nexpression = 5\n", "expression"),
    "expression-extra-field": ('[problem]\nexpression = "x**2"\nl1 = 1.0\n', "l1"),
    "init-unknown-parameter": ("[problem]\ninit = { z = 1.0 }\n", "'z'"),
    "init-string-value": ('[problem]\ninit = { w = "five" }\n', "init.w"),
    "init-not-table": ("[problem]\ninit = 5.0\n", "init"),
    "loss-typo": ('[problem]\nloss = "rosenbrok"\n', "loss"),
    "loss-not-string": ("[problem]\nloss = 3\n", "loss"),
    "options-for-a-plain-problem": ('[problem]\nloss = "quadratic"\nl1 = 1.0\n', "l1"),
    "option-not-number": ('[problem]\nloss = "rosenbrock"\na = "one"\n', "a"),
    "problem-not-table": ('problem = "quadratic"\n', "[problem]"),
    "optimizer-not-table": ('optimizer = "adam"\n', "[optimizer]"),
    "run-not-table": ("run = 5\n", "[run]"),
    "title-not-string": ("title = 5\n", "title"),
}


@pytest.mark.parametrize(("text", "field"), list(BROKEN.values()), ids=list(BROKEN))
def test_broken_file_is_one_line_naming_file_and_field(
    tmp_path: Path, text: str, field: str
) -> None:
    path = write(tmp_path, text, "broken.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    assert field in message, message


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ('titel = "x"\n', "'title'"),
        ('descripton = "x"\n', "'description'"),
        ("[run]\nstep = 10\n", "'steps'"),
        ('[optimizer]\nnme = "adam"\n', "'name'"),
        ('[optimizer]\nname = "adamm"\n', "'adam'"),
        ('[optimizer]\nname = "adam"\nbeta = [0.9, 0.99]\n', "'betas'"),
        ('[problem]\nloss = "rosenbrok"\n', "'rosenbrock'"),
        ('[problem]\nloss = "rosenbrock"\nbb = 10\n', "'b'"),
    ],
)
def test_typos_get_a_suggestion(tmp_path: Path, text: str, suggestion: str) -> None:
    with pytest.raises(ScenarioError, match="did you mean " + suggestion):
        load_file(write(tmp_path, text))


def test_bad_lr_names_the_learning_rate(tmp_path: Path) -> None:
    path = write(tmp_path, "[optimizer]\nlr = -1\n")
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert str(info.value) == f"{path}: [optimizer] lr: learning rate must be above 0, got -1"


def test_unknown_field_lists_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_file(write(tmp_path, "[run]\nstep = 10\n"))
    message = str(info.value)
    for allowed in ("steps", "seed", "tolerance", "dtype", "device"):
        assert allowed in message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('title = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ScenarioError, match=r"binary\.toml"):
        load_scenario(str(path))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(str(tmp_path / "nope.toml"))
    with pytest.raises(ScenarioError, match="folder"):
        load_scenario(str(tmp_path))


def test_unknown_builtin_name_suggests() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'seed-example'"):
        load_scenario("seed-exampel")


@pytest.mark.parametrize(
    "text",
    [
        '[optimizer]\nname = "adam"\nbetas = [0.8]\n',
        '[optimizer]\nname = "adam"\nbetas = "abc"\n',
        '[optimizer]\nname = "adam"\ncapturable = true\n',
        '[optimizer]\nname = "sgd"\nfused = true\n',
        '[optimizer]\nname = "sgd"\ndifferentiable = true\n',
        '[optimizer]\nname = "rprop"\nstep_sizes = 1\n',
        '[optimizer]\nname = "asgd"\nt0 = "abc"\n',
    ],
    ids=["betas-one", "betas-str", "capturable", "fused", "differentiable", "rprop", "asgd"],
)
def test_hyper_values_torch_would_reject_later_are_scenario_errors(
    tmp_path: Path, text: str
) -> None:
    """Values the constructor accepts but step() (or the constructor's indexing) rejects."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert str(path) in str(info.value)
    assert "[optimizer]" in str(info.value)
    assert "\n" not in str(info.value)


# -- hyper-parameters ---------------------------------------------------------------------------


def test_hyperparameters_reach_the_torch_optimizer(tmp_path: Path) -> None:
    path = write(tmp_path, '[optimizer]\nname = "adam"\nlr = 0.02\nbetas = [0.8, 0.99]\n')
    scenario = load_file(path)
    assert scenario.hyper == {"betas": (0.8, 0.99)}
    group = scenario.build_run().optimizer.param_groups[0]
    assert group["betas"] == (0.8, 0.99)
    assert group["lr"] == 0.02


def test_momentum_reaches_the_torch_optimizer(tmp_path: Path) -> None:
    path = write(tmp_path, '[optimizer]\nname = "sgd"\nmomentum = 0.5\nnesterov = true\n')
    group = load_file(path).build_run().optimizer.param_groups[0]
    assert group["momentum"] == 0.5
    assert group["nesterov"] is True


def test_builtin_betas_reach_the_torch_optimizer() -> None:
    run = load_scenario("adam-rosenbrock").build_run()
    assert run.optimizer.param_groups[0]["betas"] == (0.9, 0.999)


# -- never executes code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[problem]\nexpression = \"__import__('os').system('touch PWNED')\"\n",
        "[problem]\nexpression = \"(lambda: __import__('os').system('touch PWNED'))()\"\n",
        "[problem]\nexpression = \"x + open('PWNED', 'w').write('x')\"\n",
        '[problem]\nexpression = "x.__class__.__base__.__subclasses__()"\n',
        "title = \"__import__('os').system('touch PWNED')\"\n"
        "[optimizer]\nname = \"__import__('os').system('touch PWNED')\"\n",
        "[problem]\nloss = \"__import__('os').system('touch PWNED')\"\n",
    ],
)
def test_a_scenario_never_executes_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    path = write(tmp_path, text, "evil.toml")
    with pytest.raises(ScenarioError):
        load_scenario(str(path))
    assert os.listdir(work) == []
    assert not (tmp_path / "PWNED").exists()


# -- with_overrides -----------------------------------------------------------------------------


def test_overrides_none_means_keep() -> None:
    scenario = load_scenario("adam-rosenbrock")
    assert scenario.with_overrides(loss=None, lr=None, optimizer=None) == scenario


def test_new_loss_drops_old_init_and_options() -> None:
    seed = load_scenario("seed-example")
    assert seed.init == {"w": 5.0}
    changed = seed.with_overrides(loss="rosenbrock")
    assert changed.loss == "rosenbrock"
    assert changed.init == {}
    assert changed.problem().init == (-1.5, 2.0)
    ravine = load_scenario("momentum-ravine")
    assert ravine.options
    assert ravine.with_overrides(loss="booth").options == {}


def test_new_loss_with_init_keeps_the_given_init() -> None:
    changed = load_scenario("seed-example").with_overrides(loss="rosenbrock", init={"x": 0.5})
    assert changed.problem().init == (0.5, 2.0)


def test_new_expression_replaces_the_loss() -> None:
    changed = load_scenario("momentum-ravine").with_overrides(expression="(a - 1)**2")
    assert changed.loss is None
    assert changed.init == {} and changed.options == {}
    assert changed.problem().param_names == ("a",)
    changed = changed.with_overrides(loss="quadratic")
    assert changed.expression is None
    assert changed.problem().param_names == ("w",)


def test_new_optimizer_drops_old_hyperparameters() -> None:
    scenario = load_scenario("adam-rosenbrock")
    assert scenario.hyper
    sgd = scenario.with_overrides(optimizer="sgd")
    assert sgd.optimizer == "sgd"
    assert sgd.hyper == {}
    assert sgd.lr == scenario.lr
    assert "betas" not in sgd.build_run().optimizer.param_groups[0]
    # The same optimizer (any case) keeps them.
    assert scenario.with_overrides(optimizer="adam").hyper == scenario.hyper
    assert scenario.with_overrides(optimizer="ADAM").optimizer == "adam"


def test_lr_override() -> None:
    scenario = load_scenario("seed-example").with_overrides(lr="0.25")
    assert scenario.lr == 0.25
    assert scenario.build_run().lr == 0.25


@pytest.mark.parametrize("lr", ["abc", "-1", "0", "nan", "inf", -1, 0.0, float("nan"), True])
def test_bad_lr_override_raises(lr: object) -> None:
    scenario = load_scenario("seed-example")
    with pytest.raises(ScenarioError, match=r"^learning rate must be "):
        scenario.with_overrides(lr=lr)


@pytest.mark.parametrize(
    "changes",
    [
        {"optimizer": "adamm"},
        {"loss": "nope"},
        {"expression": "__import__('os')"},
        {"init": {"x": 1.0}},
        {"dtype": "float16"},
        {"device": "tpu"},
        {"hyper": {"foo": 1}},
        {"tolerance": -1.0},
    ],
    ids=lambda c: next(iter(c)),
)
def test_bad_overrides_raise_a_one_line_user_error(changes: dict) -> None:
    scenario = load_scenario("seed-example")
    with pytest.raises(ValueError) as info:
        scenario.with_overrides(**changes).build_run(max_steps=1)
    assert "\n" not in str(info.value)


def test_steps_override_of_zero_is_refused() -> None:
    scenario = load_scenario("seed-example")
    with pytest.raises(ScenarioError) as info:
        scenario.with_overrides(steps=0)
    assert str(info.value) == "steps must be a whole number ≥ 1, got 0"


def test_overrides_leave_the_original_intact() -> None:
    scenario = load_scenario("adam-rosenbrock")
    before = Scenario(**{f: getattr(scenario, f) for f in scenario.__dataclass_fields__})
    scenario.with_overrides(optimizer="sgd", loss="booth", lr=0.5)
    with pytest.raises(ValueError):
        scenario.with_overrides(lr="abc")
    assert scenario == before


# -- [schedule] and [run] curvature_every --------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_schedule_and_curvature_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[schedule]\nname = "CosineAnnealingLR"\nT_max = 50\n[run]\nsteps = 100\n'
        "curvature_every = 10\n",
    )
    scenario = load_scenario(path)
    assert scenario.schedule == "cosine"
    assert dict(scenario.schedule_args) == {"T_max": 50}
    assert scenario.curvature_every == 10
    run = scenario.build_run()
    assert (run.schedule, run.schedule_args, run.curvature_every) == ("cosine", {"T_max": 50}, 10)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[schedule]\nname = "cosin"\n', "[schedule] unknown schedule 'cosin'"),
        ("[schedule]\nT_max = 3\n", "[schedule] needs a name; choose one of: step,"),
        (
            '[schedule]\nname = "step"\nstep_siz = 3\n',
            "[schedule] schedule 'step' has no argument 'step_siz' (did you mean 'step_size'?)",
        ),
        ("[run]\ncurvature_every = -1\n", "[run] curvature_every must be a whole number ≥ 0"),
        ("[run]\ncurvature_every = 1.5\n", "[run] curvature_every must be a whole number ≥ 0"),
        ('schedule = "cosine"\n', "[schedule] must be a table, got 'cosine'"),
    ],
)
def test_bad_schedule_or_curvature(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_a_formula_override_keeps_the_float_type() -> None:
    """--expression on a formula scenario keeps float64 (only --data switches to a model's
    float32); found by a snapshot that showed float32."""
    from gdtui.scenario import resolve_scenario

    assert resolve_scenario(None, {"expression": "x**2"}).dtype == "float64"
    assert resolve_scenario(None, {"loss": "booth"}).dtype == "float64"
    assert resolve_scenario(None, {"data": {"name": "moons"}}).dtype == "float32"
    assert resolve_scenario("linear-regression", {"expression": "x**2"}).data is None
