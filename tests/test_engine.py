"""Tests for gdtui.engine: runs, records, history, optimizers and problems.

The reference loops below are plain PyTorch, written by hand: their own leaf tensors, the real
``torch.optim`` class and a hand-written loss formula. The engine must walk the same path.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from gdtui.engine import (
    OPTIMIZERS,
    PROBLEMS,
    USER_ERRORS,
    CurvatureError,
    History,
    OptimizerError,
    ProblemError,
    RaceError,
    Run,
    RunError,
    ScheduleError,
    Status,
    StepArithmeticError,
    StepRecord,
    SweepError,
    expression_problem,
    format_graph,
    get_problem,
    get_spec,
    make_optimizer,
    parse_lr,
    resolve_device,
)
from gdtui.engine.optimizers import ManualSGD

F64 = torch.float64
F32 = torch.float32
CUDA = torch.cuda.is_available()

# -- helpers ---------------------------------------------------------------------------------


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    """Equal, or within ``rel`` relative to the larger magnitude (float64 round-off only)."""
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def assert_vec(actual: tuple[float, ...], expected: list[float], what: str, step: int) -> None:
    assert len(actual) == len(expected), (what, step)
    for a, e in zip(actual, expected, strict=True):
        assert close(a, e), f"{what} at step {step}: engine {actual} != reference {expected}"


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert text.strip(), "an error message must not be empty"
    assert "\n" not in text, f"message is not one line: {text!r}"
    return text


# Hand-written losses, independent of the engine's compiled formulas (args in sorted name order).
REF_LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "quadratic": lambda w: (w - 2) ** 2,
    "rosenbrock": lambda x, y: (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2,
    "himmelblau": lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
    "saddle": lambda x, y: torch.sin(x) + y**2,
    "beale": lambda x, y: (
        (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
    ),
    "booth": lambda x, y: (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2,
}
# A learning rate per surface that plain SGD and heavy-ball momentum survive for 50 steps.
SURFACE_LR = {
    "quadratic": 0.05,
    "rosenbrock": 1e-3,
    "himmelblau": 0.01,
    "saddle": 0.1,
    "beale": 1e-3,
    "booth": 0.01,
}
PATH_SURFACES = ["quadratic", "rosenbrock", "himmelblau", "saddle", "beale", "booth"]


class Reference:
    """A plain PyTorch loop: own leaves, the real optimizer class (or the manual update)."""

    def __init__(
        self,
        loss_fn: Callable[..., torch.Tensor],
        init: tuple[float, ...],
        optimizer: str,
        lr: float,
        hyper: dict | None = None,
        dtype: torch.dtype = F64,
    ) -> None:
        self.loss_fn = loss_fn
        self.params = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in init]
        self.lr = lr
        self.manual = optimizer == "manual"
        spec = OPTIMIZERS[optimizer]
        self.opt = (
            None
            if self.manual
            else spec.cls(self.params, lr=lr, **{**spec.preset, **(hyper or {})})
        )

    def step(self) -> tuple[float, list[float], list[float], list[float]]:
        """One step: (loss, params before, grad, params after)."""
        before = [p.item() for p in self.params]
        if self.manual:
            for p in self.params:
                p.grad = None
        else:
            self.opt.zero_grad()
        loss = self.loss_fn(*self.params)
        loss.backward()
        grad = [p.grad.item() for p in self.params]
        if self.manual:
            with torch.no_grad():
                for p in self.params:
                    p -= self.lr * p.grad
        else:
            self.opt.step()
        return loss.item(), before, grad, [p.item() for p in self.params]

    def state(self, key: str) -> list[float]:
        out = []
        for p in self.params:
            value = self.opt.state[p][key]
            out.append(value.item() if isinstance(value, torch.Tensor) else float(value))
        return out


def compare_paths(run: Run, ref: Reference, steps: int, check_state: bool = True) -> None:
    for i in range(1, steps + 1):
        record = run.step()
        assert record is not None, f"run stopped at step {i}: {run.status} {run.reason}"
        loss, before, grad, after = ref.step()
        assert record.step == i
        assert close(record.loss, loss), (i, record.loss, loss)
        assert_vec(record.params_before, before, "params_before", i)
        assert_vec(record.grad, grad, "grad", i)
        assert_vec(record.params, after, "params", i)
        assert record.update == tuple(
            a - b for a, b in zip(record.params, record.params_before, strict=True)
        )
        assert record.grad_norm == math.hypot(*record.grad)
        assert record.update_norm == math.hypot(*record.update)
        assert run.current == record.params
        if check_state and ref.opt is not None:
            for key, values in ref.opt.state[ref.params[0]].items():
                if isinstance(values, torch.Tensor) and values.numel() != 1:
                    continue
                assert key in record.state, (key, record.state)
                assert_vec(record.state[key], ref.state(key), f"state[{key}]", i)
            assert set(record.state) == set(ref.opt.state[ref.params[0]]), i


# -- 1. the worked example -------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "manual"])
def test_worked_example_one_step(optimizer: str) -> None:
    run = Run(get_problem("quadratic"), optimizer, lr=0.1)
    assert run.param_names == ("w",)
    assert run.current == (5.0,)
    record = run.step()
    assert record is not None
    assert record.step == 1
    assert record.loss == 9.0
    assert record.params_before == (5.0,)
    assert record.grad == (6.0,)
    assert record.grad_norm == 6.0
    assert record.params == (4.4,)
    assert record.params == (5.0 - 0.1 * 6.0,)
    assert record.update == (record.params[0] - record.params_before[0],)
    assert record.update_norm == abs(record.update[0])
    assert record.lr == 0.1
    assert isinstance(record.lr, float)
    (eff,) = record.effective_lr
    assert eff == pytest.approx(0.1, rel=1e-12)
    assert record.cos == 1.0
    assert record.state == {}
    assert record.status is Status.RUNNING
    assert run.status is Status.RUNNING and run.reason is None
    assert run.step_count == 1 and run.current == (4.4,)
    assert format_graph(run.autograd_graph()) == ["PowBackward0 ← SubBackward0 ← w"]
    d = record.to_dict(run.param_names)
    assert d["grad"] == {"w": 6.0} and d["params"] == {"w": 4.4} and d["status"] == "running"
    assert (
        record.lambda_max is None and d["lambda_max"] is None
    )  # a stable key, null unless measured


def test_worked_example_equals_hand_written_loop() -> None:
    w = torch.tensor(5.0, dtype=F64, requires_grad=True)
    loss = (w - 2) ** 2
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    assert w.grad.item() == 6.0
    assert w.item() == 4.4
    for optimizer in ("sgd", "manual"):
        record = Run(get_problem("quadratic"), optimizer, lr=0.1).step()
        assert record is not None
        assert record.loss == 9.0
        assert record.grad == (w.grad.item(),)
        assert record.params == (w.item(),)


def test_graph_before_any_step_is_empty() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=0.1)
    assert run.autograd_graph() is None
    assert format_graph(None) == []


def test_worked_example_history_and_default_lr() -> None:
    run = Run(get_problem("quadratic"), "manual")
    assert run.lr == 0.1  # ManualSGD's default
    assert Run(get_problem("quadratic"), "adam").lr == 0.001  # torch.optim.Adam's default
    run.run(3)
    h = run.history
    assert len(h) == 3
    assert h.column("step").tolist() == [1, 2, 3]
    assert h.column("grad")[0].tolist() == [6.0]
    assert h.column("params")[0].tolist() == [4.4]
    path = h.path()
    assert path.shape == (4, 1)
    assert path[0].tolist() == [5.0] and path[1].tolist() == [4.4]
    v = h.view(80)
    assert v.step.tolist() == [1, 2, 3]
    assert (v.loss == v.loss_min).all() and (v.loss == v.loss_max).all()
    assert v.loss[0] == 9.0 and v.grad_norm[0] == 6.0
    rows = list(h.rows())
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0]["grad"] == {"w": 6.0} and rows[0]["loss"] == 9.0
    with pytest.raises(KeyError):
        h.column("nope")


# -- 2. path equality with a plain PyTorch loop ------------------------------------------------


@pytest.mark.parametrize("surface", PATH_SURFACES)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_path_equals_plain_torch_loop(optimizer: str, surface: str) -> None:
    problem = get_problem(surface)
    lr = SURFACE_LR[surface]
    run = Run(problem, optimizer, lr=lr, tolerance=0)
    ref = Reference(REF_LOSSES[surface], problem.init, optimizer, lr)
    compare_paths(run, ref, 50)
    assert run.status is Status.RUNNING
    assert run.current != problem.init, "the optimizer never moved: the comparison is vacuous"


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_state_matches_reference(optimizer: str) -> None:
    keys = {"adam": ("exp_avg", "exp_avg_sq"), "momentum": ("momentum_buffer",)}[optimizer]
    problem = get_problem("rosenbrock")
    run = Run(problem, optimizer, lr=1e-3, tolerance=0)
    ref = Reference(REF_LOSSES["rosenbrock"], problem.init, optimizer, 1e-3)
    for i in range(1, 31):
        record = run.step()
        ref.step()
        for key in keys:
            expected = [ref.opt.state[p][key].item() for p in ref.params]
            assert_vec(record.state[key], expected, key, i)
            assert all(v != 0.0 for v in record.state[key])


def test_record_state_survives_into_history() -> None:
    run = Run(get_problem("himmelblau"), "adam", lr=0.01)
    run.run(5)
    col = run.history.column("exp_avg")
    assert col.shape == (5, 2)
    assert col[-1].tolist() == list(run.last_record.state["exp_avg"])


# -- 3. hyper-parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "hyper", "ref_name", "ref_kwargs"),
    [
        ("adam", {"betas": [0.8, 0.9]}, "adam", {"betas": (0.8, 0.9)}),
        ("sgd", {"momentum": 0.5, "nesterov": True}, "sgd", {"momentum": 0.5, "nesterov": True}),
        ("momentum", {"momentum": 0.5}, "sgd", {"momentum": 0.5}),
        ("rmsprop", {"alpha": 0.9, "centered": True}, "rmsprop", {"alpha": 0.9, "centered": True}),
        ("adamw", {"weight_decay": 0.1}, "adamw", {"weight_decay": 0.1}),
    ],
)
def test_hyperparameters_pass_through(optimizer, hyper, ref_name, ref_kwargs) -> None:
    problem = get_problem("himmelblau")
    run = Run(problem, optimizer, lr=0.01, hyper=hyper, tolerance=0)
    group = run.optimizer.param_groups[0]
    for key, value in ref_kwargs.items():
        assert group[key] == value
        assert type(group[key]) is type(value)  # list → tuple
    ref = Reference(REF_LOSSES["himmelblau"], problem.init, ref_name, 0.01, ref_kwargs)
    compare_paths(run, ref, 30)
    # ... and the hyper-parameter mattered: the preset alone walks elsewhere.
    plain = Run(problem, optimizer, lr=0.01, tolerance=0)
    plain.run(30)
    assert plain.current != run.current


def test_unknown_hyperparameter_lists_allowed_names() -> None:
    with pytest.raises(OptimizerError) as err:
        Run(get_problem("quadratic"), "adam", lr=0.1, hyper={"beta": 0.9})
    text = one_line(err)
    assert "'beta'" in text and "allowed:" in text
    assert "betas" in text and "eps" in text and "weight_decay" in text
    assert "did you mean 'betas'" in text


@pytest.mark.parametrize(
    ("optimizer", "hyper"),
    [
        ("sgd", {"momentum": -1}),
        ("adam", {"betas": [2, 0.9]}),
        ("adam", {"eps": -1.0}),
        ("sgd", {"nesterov": True}),  # torch: Nesterov needs a momentum
        ("momentum", {"momentum": "fast"}),
        ("rmsprop", {"alpha": -0.5}),
    ],
)
def test_invalid_hyperparameter_value(optimizer: str, hyper: dict) -> None:
    with pytest.raises(OptimizerError) as err:
        Run(get_problem("quadratic"), optimizer, lr=0.1, hyper=hyper)
    assert one_line(err).startswith(f"{optimizer}: ")


def test_short_betas_is_a_user_error() -> None:
    with pytest.raises(OptimizerError):
        Run(get_problem("quadratic"), "adam", lr=0.1, hyper={"betas": [0.9]})


def test_implementation_flag_is_refused_up_front() -> None:
    """Implementation switches are not offered: refused when the run is built, never mid-run."""
    with pytest.raises(OptimizerError) as err:
        Run(get_problem("quadratic"), "adam", lr=0.1, hyper={"capturable": True})
    assert one_line(err).startswith("'adam' has no hyper-parameter 'capturable'")


def test_unknown_optimizer_suggests() -> None:
    with pytest.raises(OptimizerError) as err:
        Run(get_problem("quadratic"), "rmsprp", lr=0.1)
    text = one_line(err)
    assert "did you mean 'rmsprop'" in text and "choose one of:" in text
    assert get_spec(" ADAM ").name == "adam"
    assert Run(get_problem("quadratic"), "Nesterov").optimizer_name == "nesterov"


def test_registry_uses_real_torch_classes() -> None:
    assert OPTIMIZERS["manual"].cls is ManualSGD
    for name, spec in OPTIMIZERS.items():
        if name == "manual":
            continue
        assert spec.cls.__module__.startswith("torch.optim"), name
        opt = make_optimizer(name, [torch.zeros((), requires_grad=True)], 0.01)
        assert type(opt) is spec.cls
        for key, value in spec.preset.items():
            assert opt.param_groups[0][key] == value
    assert OPTIMIZERS["nesterov"].preset == {"momentum": 0.9, "nesterov": True}


# -- 4. learning rates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "-1",
        "nan",
        "inf",
        "-inf",
        "",
        "  ",
        0,
        0.0,
        -0.1,
        True,
        False,
        None,
        [0.1],
        "1e999",
        float("nan"),
        float("inf"),
        "0x10",
        "0",
    ],
)
def test_parse_lr_rejects(bad) -> None:
    with pytest.raises(OptimizerError) as err:
        parse_lr(bad)
    text = one_line(err)
    assert text.startswith("learning rate must be")


@pytest.mark.parametrize(
    ("good", "value"),
    [("0.1", 0.1), (" 0.1 ", 0.1), ("1e-3", 1e-3), (0.5, 0.5), (2, 2.0), (np.float64(0.25), 0.25)],
)
def test_parse_lr_accepts(good, value: float) -> None:
    out = parse_lr(good)
    assert out == value and type(out) is float


def test_parse_lr_huge_integer_is_a_user_error() -> None:
    with pytest.raises(OptimizerError):
        parse_lr(10**400)


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", 0, True, "", [0.1]])
def test_run_rejects_bad_lr(bad) -> None:
    with pytest.raises(OptimizerError) as err:
        Run(get_problem("quadratic"), "sgd", lr=bad)
    one_line(err)


def test_run_accepts_lr_string() -> None:
    assert Run(get_problem("quadratic"), "sgd", lr="0.1").lr == 0.1


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", "inf", 0, True, None, ""])
def test_set_lr_bad_input_leaves_lr(bad) -> None:
    run = Run(get_problem("quadratic"), "adam", lr=0.1)
    run.run(3)
    before = run.current
    with pytest.raises(OptimizerError) as err:
        run.set_lr(bad)
    one_line(err)
    assert run.lr == 0.1
    assert run.optimizer.param_groups[0]["lr"] == 0.1
    assert run.current == before and run.step_count == 3
    assert run.step().lr == 0.1


def test_set_lr_changes_next_step_without_reset() -> None:
    problem = get_problem("quadratic")
    run = Run(problem, "sgd", lr=0.1)
    ref = Reference(REF_LOSSES["quadratic"], problem.init, "sgd", 0.1)
    compare_paths(run, ref, 3)
    assert run.set_lr("0.05") == 0.05
    assert run.optimizer.param_groups[0]["lr"] == 0.05
    ref.opt.param_groups[0]["lr"] = 0.05
    record = run.step()
    _, before, _, after = ref.step()
    assert record.step == 4 and record.lr == 0.05
    assert_vec(record.params_before, before, "params_before", 4)
    assert_vec(record.params, after, "params", 4)
    assert record.effective_lr[0] == pytest.approx(0.05, rel=1e-12)
    assert run.step_count == 4


# -- 5. divergence -----------------------------------------------------------------------------


def assert_history_finite(run: Run) -> None:
    h = run.history
    for name in ("loss", "grad_norm", "update_norm", "params", "params_before", "grad", "update"):
        assert np.isfinite(h.column(name)).all(), name


def test_divergence_explodes() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=1.5)
    last = run.run()
    assert run.status is Status.DIVERGED
    assert run.finished
    text = run.reason
    assert text is not None and "\n" not in text
    assert text.startswith("loss exploded to ")
    assert f"step {run.step_count + 1}" in text
    assert last is run.last_record
    assert last.status is Status.DIVERGED and last.reason == text
    assert math.isfinite(last.loss) and all(math.isfinite(v) for v in last.params)
    assert len(run.history) == run.step_count > 5
    assert_history_finite(run)
    # w - 2 multiplies by -2 each step: the path really oscillated out.
    assert run.history.column("params")[:3, 0].tolist() == [-4.0, 14.0, -22.0]
    assert run.step() is None
    assert run.step_count == last.step


def test_divergence_loss_becomes_nan() -> None:
    run = Run(expression_problem("log(x)", {"x": 0.5}), "sgd", lr=1.0)
    run.run(100)
    assert run.status is Status.DIVERGED
    assert "nan" in run.reason and "step 2" in run.reason
    assert run.step_count == 1
    assert run.last_record.status is Status.DIVERGED and run.last_record.reason == run.reason
    assert run.current == (-1.5,)
    assert_history_finite(run)
    assert run.step() is None


def test_divergence_at_start_point() -> None:
    run = Run(expression_problem("1/x + y", {"x": 0.0}), "sgd", lr=0.1)
    assert run.step() is None
    assert run.status is Status.DIVERGED
    assert "at the start point" in run.reason and "inf" in run.reason
    assert run.last_record is None and run.step_count == 0
    assert len(run.history) == 0
    assert run.history.view(80).step.size == 0


def test_divergence_gradient_not_finite() -> None:
    run = Run(expression_problem("sqrt(x)", {"x": 0.0}), "sgd", lr=0.1)
    assert run.step() is None
    assert run.status is Status.DIVERGED
    assert "gradient" in run.reason and "inf" in run.reason
    assert run.current == (0.0,)


def test_divergence_update_not_finite_restores_params() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=1e308)
    assert run.step() is None
    assert run.status is Status.DIVERGED
    assert "update" in run.reason and "inf" in run.reason
    assert run.current == (5.0,)
    assert run.params[0].item() == 5.0
    assert len(run.history) == 0


# -- 6. convergence and budgets ----------------------------------------------------------------


def test_converges_within_tolerance() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=0.1, tolerance=1e-10)
    last = run.run(500)
    assert run.status is Status.CONVERGED
    assert "tolerance" in run.reason and "\n" not in run.reason
    assert run.step_count < 500
    assert last.status is Status.CONVERGED and last.reason == run.reason
    assert abs(run.current[0] - 2.0) < 1e-4
    assert run.step() is None


def test_pure_oscillation_is_not_converged() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=1.0, max_steps=200)
    run.run()
    assert run.status is Status.FINISHED, run.reason
    assert run.step_count == 200
    params = run.history.column("params")[:, 0]
    assert params[:4].tolist() == [-1.0, 5.0, -1.0, 5.0]
    assert (run.history.column("loss") == 9.0).all()


def test_budget_finishes_and_extends() -> None:
    run = Run(get_problem("rosenbrock"), "adam", lr=1e-3, max_steps=7)
    records = list(run.steps())
    assert [r.step for r in records] == list(range(1, 8))
    assert run.status is Status.FINISHED
    assert "7" in run.reason and "budget" in run.reason
    assert records[-1].status is Status.FINISHED
    assert all(r.status is Status.RUNNING for r in records[:-1])
    assert run.step() is None
    run.extend(3)
    assert run.status is Status.RUNNING
    run.run()
    assert run.step_count == 10 and run.status is Status.FINISHED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_steps": 0},
        {"max_steps": -3},
        {"max_steps": True},
        {"tolerance": -1.0},
        {"tolerance": float("nan")},
        {"tolerance": float("inf")},
        {"tolerance": True},
    ],
)
def test_bad_run_settings(kwargs: dict) -> None:
    with pytest.raises(RunError) as err:
        Run(get_problem("quadratic"), "sgd", lr=0.1, **kwargs)
    one_line(err)


@pytest.mark.parametrize("kwargs", [{"max_steps": "abc"}, {"tolerance": "abc"}])
def test_non_numeric_run_settings_are_user_errors(kwargs: dict) -> None:
    with pytest.raises(RunError):
        Run(get_problem("quadratic"), "sgd", lr=0.1, **kwargs)


# -- 7. bounded history ------------------------------------------------------------------------

LONG = 50_000


@pytest.fixture(scope="module")
def long_run() -> tuple[Run, int]:
    run = Run(get_problem("quadratic"), "sgd", lr=1e-7, tolerance=0, history_capacity=4096)
    run.run(10_000)
    nbytes_at_10k = run.history.nbytes
    assert len(run.history) <= 4096
    run.run(LONG - 10_000)
    return run, nbytes_at_10k


def test_long_run_history_is_bounded(long_run) -> None:
    run, nbytes_at_10k = long_run
    h = run.history
    assert run.step_count == LONG and run.status is Status.RUNNING
    assert len(h) <= 4096
    assert h.nbytes == nbytes_at_10k
    assert h.stride > 1
    steps = h.column("step")
    assert (np.diff(steps) > 0).all()
    assert LONG - h.stride < steps[-1] <= LONG
    assert steps[:1024].tolist() == list(range(1, 1025))
    assert h.path().shape[0] <= 2001


def test_long_run_view(long_run) -> None:
    run, _ = long_run
    h = run.history
    for width in (80, 50, 7):
        v = h.view(width)
        assert width // 2 < len(v) <= width  # spans are powers of two: at least half used
        assert (np.diff(v.step) > 0).all()
        assert LONG - h.stride < v.step[-1] <= LONG
        assert (v.loss_min <= v.loss).all() and (v.loss <= v.loss_max).all()
    assert h.view(0).step.size == 0


def _synthetic(step: int, loss: float) -> StepRecord:
    return StepRecord(step, loss, (0.0,), (1.0,), 1.0, (float(step),), (-0.1,), 0.1, 0.1)


@pytest.mark.parametrize("spike_step", [1500, 30_000, 49_984])
def test_history_spike_survives_compaction(spike_step: int) -> None:
    spike = 1e9
    losses = 1.0 + 0.5 * np.sin(np.arange(1, LONG + 1) / 100.0)
    losses[spike_step - 1] = spike
    h = History(("w",), capacity=4096)
    for i, loss in enumerate(losses.tolist(), start=1):
        h.append(_synthetic(i, loss))
    assert len(h) <= 4096 and h.stride > 1
    assert h.view(50).loss_max.max() == spike
    assert h.view(50).loss_min.min() == losses[: h.column("step")[-1]].min()
    assert h.column("loss_max").max() == spike
    steps = h.column("step")
    assert steps[:1024].tolist() == list(range(1, 1025))
    assert h.column("loss")[:1024].tolist() == losses[:1024].tolist()
    assert h.column("params")[:1024, 0].tolist() == [float(s) for s in range(1, 1025)]
    # A merged row keeps the later step's values.
    assert (h.column("params")[:, 0] == steps).all()


def test_history_view_buckets_are_exact_and_stable() -> None:
    """Each bucket's min/max equal the true extremes of its steps; a finished bucket never
    changes as the run goes on (at the same bucket span)."""
    losses = np.random.default_rng(0).random(LONG)
    h = History(("w",), capacity=4096)
    views = {}
    for i, loss in enumerate(losses.tolist(), start=1):
        h.append(_synthetic(i, loss))
        if i in (45_000, LONG):
            views[i] = h.view(80)
    assert h.stride > 1
    early, late = views[45_000], views[LONG]
    done = len(early) - 1  # the last bucket of the early view was still filling
    assert done > 40
    assert early.step[:done].tolist() == late.step[:done].tolist()
    assert early.loss_max[:done].tolist() == late.loss_max[:done].tolist()
    assert early.loss_min[:done].tolist() == late.loss_min[:done].tolist()
    last = int(late.step[-1])
    assert LONG - h.stride < last <= LONG
    bounds = [0, *late.step.tolist()]
    for j in range(len(late)):
        chunk = losses[bounds[j] : bounds[j + 1]]
        assert late.loss_max[j] == chunk.max(), j
        assert late.loss_min[j] == chunk.min(), j
        assert late.loss[j] == chunk[-1], j


def test_history_final_partial_stride_is_visible() -> None:
    h = History(("w",), capacity=4096)
    for i in range(1, LONG + 1):
        h.append(_synthetic(i, 1.0))
    assert h.stride > 1
    h.append(_synthetic(LONG + 1, 1e9))
    assert h.view(50).loss_max.max() == 1e9


def test_history_record_at_is_exact_or_none() -> None:
    run = Run(get_problem("rosenbrock"), "adam", lr=0.01, history_capacity=4096, tolerance=0)
    records = list(run.steps(6000))
    h = run.history
    held = h.column("step").tolist()
    for step in (1, 1024, held[2000], held[-2], 6000):
        got = h.record_at(step)
        want = records[step - 1]
        assert (got.step, got.loss, got.params_before, got.grad, got.params, got.update) == (
            want.step,
            want.loss,
            want.params_before,
            want.grad,
            want.params,
            want.update,
        )
        assert (got.lr, got.state, got.status) == (want.lr, want.state, Status.RUNNING)
    assert h.record_at(held[2000] - 1) is None and h.record_at(7000) is None


def test_history_prefix_goes_on_from_a_step() -> None:
    h = History(("w",), capacity=4096)
    for i in range(1, 9001):
        h.append(_synthetic(i, float(i)))
    cut = 1024 + 4 * 500  # a row boundary once the tail's stride is 4
    assert h.stride == 4 and cut in h.column("step").tolist()
    p = h.prefix(cut)
    assert p.total_steps == cut and p.column("step").tolist()[-1] == cut
    assert (p.column("loss") == h.column("loss")[: len(p)]).all()
    for i in range(cut + 1, cut + 9):
        p.append(_synthetic(i, -1.0))
    assert p.column("step").tolist()[-2:] == [cut + 4, cut + 8]
    assert p.column("loss_min").tolist()[-1] == -1.0
    head = h.prefix(10)
    assert head.stride == 1 and head.column("step").tolist() == list(range(1, 11))


def test_history_keeps_the_latest_lambda_max_of_a_merged_row() -> None:
    h = History(("w",), capacity=4096)
    for i in range(1, LONG + 1):
        record = _synthetic(i, 1.0)
        record.lambda_max = float(i) if i % 100 == 0 else None
        h.append(record)
    steps = h.column("step")
    lam = h.column("lambda_max")
    assert h.stride > 1
    previous = 0
    for s, v in zip(steps.tolist(), lam.tolist(), strict=True):
        # A row covers the steps (previous, s]: the latest measured among them, or nan.
        latest = s - s % 100
        if latest > previous:
            assert v == latest, (s, v)
        else:
            assert math.isnan(v), (s, v)
        previous = s


def test_history_capacity_too_small() -> None:
    with pytest.raises(ValueError):
        History(("w",), capacity=100)


# -- 8. problems -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_problem_builds_and_minima(name: str) -> None:
    spec = PROBLEMS[name]
    problem = get_problem(name)
    assert problem.name == name
    assert problem.dim == len(problem.init) == len(problem.domain) == len(problem.param_names)
    assert list(problem.param_names) == sorted(problem.param_names)
    for (lo, hi), v in zip(problem.domain, problem.init, strict=True):
        assert lo < hi and lo <= v <= hi
    assert problem.init == spec.init
    assert problem.minima
    value = problem.loss(*[torch.tensor(v, dtype=F64) for v in problem.init])
    assert torch.isfinite(value)
    for point in problem.minima:
        for (lo, hi), v in zip(problem.domain, point, strict=True):
            assert lo <= v <= hi, (name, point)
        params = [torch.tensor(v, dtype=F64, requires_grad=True) for v in point]
        loss = problem.loss(*params)
        if problem.min_value is not None:
            scale = max(1.0, abs(problem.min_value))
            assert loss.item() == pytest.approx(problem.min_value, abs=1e-4 * scale), point
        loss.backward()
        grad = [p.grad.item() for p in params]
        if name == "ackley":
            # A cone tip: sqrt at 0 makes autograd's gradient nan exactly at the minimum.
            continue
        assert all(abs(g) < 1e-3 for g in grad), (name, point, grad)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_problem_init_is_a_descent_start(name: str) -> None:
    """A few small SGD steps from every built-in start point stay finite and running."""
    run = Run(get_problem(name), "sgd", lr=1e-5)
    run.run(3)
    assert run.status is Status.RUNNING and run.step_count == 3
    assert run.last_record.loss <= run.history.column("loss")[0] + 1e-9


def test_ackley_gradient_is_finite_near_the_origin() -> None:
    problem = get_problem("ackley")
    params = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (1e-9, -1e-9)]
    problem.loss(*params).backward()
    assert all(math.isfinite(p.grad.item()) for p in params)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_evaluate_grid_shape_and_orientation(name: str) -> None:
    problem = get_problem(name)
    (xlo, xhi), *rest = problem.domain
    xs = np.linspace(xlo, xhi, 7)
    if problem.dim == 1:
        z = problem.evaluate_grid(xs)
        assert z.shape == (7,)
        assert z[3] == pytest.approx(problem.loss(torch.tensor(xs[3], dtype=F64)).item())
        return
    ((ylo, yhi),) = rest
    ys = np.linspace(ylo, yhi, 5)
    z = problem.evaluate_grid(xs, ys)
    assert z.shape == (5, 7)
    expected = problem.loss(torch.tensor(xs[6], dtype=F64), torch.tensor(ys[1], dtype=F64)).item()
    assert z[1, 6] == pytest.approx(expected, rel=1e-12)


def test_evaluate_grid_errors_and_nan() -> None:
    with pytest.raises(ProblemError):
        get_problem("rosenbrock").evaluate_grid(np.zeros(3))
    with pytest.raises(ProblemError):
        expression_problem("x + y + z").evaluate_grid(np.zeros(3), np.zeros(3), np.zeros(3))
    z = expression_problem("log(x) + y").evaluate_grid(np.array([-1.0, 0.0, 1.0]), np.zeros(2))
    assert np.isnan(z[:, 0]).all() and np.isnan(z[:, 1]).all()
    assert z[:, 2].tolist() == [0.0, 0.0]


def test_ill_conditioned_options_change_the_loss() -> None:
    x, y = torch.tensor(1.0, dtype=F64), torch.tensor(1.0, dtype=F64)
    default = get_problem("ill-conditioned")
    assert default.loss(x, y).item() == 0.5 * (1.0 + 20.0)
    custom = get_problem("ill-conditioned", {"l1": 2, "l2": 3.0})
    assert custom.loss(x, y).item() == 2.5
    assert "l1=2" in custom.expression and "l2=3" in custom.expression
    rosen = get_problem("rosenbrock", {"a": 2.0})
    assert rosen.minima == ((2.0, 4.0),)
    assert rosen.loss(torch.tensor(2.0, dtype=F64), torch.tensor(4.0, dtype=F64)).item() == 0.0


@pytest.mark.parametrize(
    ("name", "options", "needle"),
    [
        ("ill-conditioned", {"l3": 1.0}, "allowed: l1, l2"),
        ("ill-conditioned", {"l": 1.0}, "'l'"),
        ("quadratic", {"a": 1.0}, "allowed: none"),
        ("rosenbrock", {"a": "1"}, "must be a number"),
        ("rosenbrock", {"b": True}, "must be a number"),
        ("rosenbrock", {"b": float("nan")}, "finite"),
    ],
)
def test_bad_options(name: str, options: dict, needle: str) -> None:
    with pytest.raises(ProblemError) as err:
        get_problem(name, options)
    assert needle in one_line(err)


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("rosenbrok", "rosenbrock"), ("himelblau", "himmelblau"), ("quadratc", "quadratic")],
)
def test_unknown_problem_suggests(typo: str, suggestion: str) -> None:
    with pytest.raises(ProblemError) as err:
        get_problem(typo)
    text = one_line(err)
    assert f"did you mean '{suggestion}'" in text and "choose one of:" in text


def test_unknown_problem_without_match() -> None:
    with pytest.raises(ProblemError) as err:
        get_problem("zzzzzz")
    assert "did you mean" not in one_line(err)
    assert get_problem(" Rosenbrock ").name == "rosenbrock"


def test_init_by_name_and_by_sequence() -> None:
    by_name = get_problem("rosenbrock", init={"y": 0.5})
    assert by_name.init == (-1.5, 0.5)
    assert by_name.minima == get_problem("rosenbrock").minima
    by_seq = get_problem("rosenbrock", init=[0, 1])
    assert by_seq.init == (0.0, 1.0) and all(type(v) is float for v in by_seq.init)
    outside = get_problem("rosenbrock", init=(10.0, -7.0))
    (xlo, xhi), (ylo, yhi) = outside.domain
    assert xlo <= 10.0 <= xhi and ylo <= -7.0 <= yhi
    run = Run(by_name, "sgd", lr=1e-3)
    assert run.current == (-1.5, 0.5)
    record = run.step()
    assert record.params_before == (-1.5, 0.5)


@pytest.mark.parametrize(
    "init",
    [
        [float("nan"), 1.0],
        [1.0, float("inf")],
        [1.0],
        [1.0, 2.0, 3.0],
        {"z": 1.0},
        {"x": "1.0"},
        ["1", "2"],
        "ab",
        "1.0",
        [True, 1.0],
        [None, 1.0],
    ],
)
def test_bad_init(init) -> None:
    with pytest.raises(ProblemError) as err:
        get_problem("rosenbrock", init=init)
    one_line(err)


def test_bare_number_init() -> None:
    assert get_problem("quadratic", init=3.5).init == (3.5,)
    with pytest.raises(ProblemError):
        get_problem("rosenbrock", init=5.0)


# -- 9. expression problems --------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["manual", "sgd", "adam"])
def test_expression_problem_path_equals_hand_written_loop(optimizer: str) -> None:
    problem = expression_problem("x**2 + 10*y**2", {"x": 3, "y": 1})
    assert problem.param_names == ("x", "y")
    assert problem.init == (3.0, 1.0)
    assert problem.name == "expression"
    run = Run(problem, optimizer, lr=0.04, tolerance=0)
    # "manual" against the hand-written ``p -= lr * p.grad``; the others against torch.optim.
    ref = Reference(lambda x, y: x**2 + 10 * y**2, (3.0, 1.0), optimizer, 0.04)
    compare_paths(run, ref, 40)
    first = run.history.column("grad")[0].tolist()
    assert first == [6.0, 20.0]
    assert run.current[0] < 3.0 and abs(run.current[1]) < 1.0


@pytest.mark.parametrize("surface", PATH_SURFACES)
def test_manual_and_torch_sgd_walk_the_same_path(surface: str) -> None:
    """The design's lesson: the hand-written update and torch.optim.SGD agree (to round-off)."""
    lr = SURFACE_LR[surface]
    manual = Run(get_problem(surface), "manual", lr=lr, tolerance=0)
    sgd = Run(get_problem(surface), "sgd", lr=lr, tolerance=0)
    for i in range(1, 101):
        a, b = manual.step(), sgd.step()
        assert a.grad == pytest.approx(b.grad, rel=1e-12), i
        assert a.params == pytest.approx(b.params, rel=1e-12), i
        if i <= 10:  # later, update = after - before loses digits to cancellation
            assert a.effective_lr == pytest.approx((lr,) * len(a.grad), rel=1e-6), i


def test_expression_problem_default_init() -> None:
    problem = expression_problem("(a - 1)**2 + b")
    assert problem.init == (1.0, 1.0)
    assert problem.minima == () and problem.min_value is None


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.real",
        "lambda: 1",
        "x if y else 1",
        "",
        "   ",
        "2 + 3",
        "x ^ 2",
        "open('f')",
        "x[0]",
        "1 +",
        "x\n+ y)",
        "(" * 100 + "x" + ")" * 100,
    ],
)
def test_rejected_expressions(text: str) -> None:
    with pytest.raises(ProblemError) as err:
        expression_problem(text)
    assert one_line(err).startswith("expression: ")


def test_user_errors_are_value_errors() -> None:
    assert all(issubclass(e, ValueError) for e in USER_ERRORS)
    assert {OptimizerError, ProblemError, RunError} <= set(USER_ERRORS)
    assert {
        CurvatureError,
        RaceError,
        ScheduleError,
        StepArithmeticError,
        SweepError,
    } <= set(USER_ERRORS)


# -- 10. device and dtype ----------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
def test_float32_path_equals_float32_loop(optimizer: str) -> None:
    problem = get_problem("rosenbrock")
    run = Run(problem, optimizer, lr=1e-3, dtype="float32", tolerance=0)
    assert all(p.dtype is F32 for p in run.params)
    ref = Reference(REF_LOSSES["rosenbrock"], problem.init, optimizer, 1e-3, dtype=F32)
    for i in range(1, 31):
        record = run.step()
        loss, _before, grad, after = ref.step()
        assert record.loss == loss, i
        assert list(record.grad) == grad, i
        assert list(record.params) == after, i
    # float32 really differs from float64 here.
    run64 = Run(problem, optimizer, lr=1e-3, tolerance=0)
    run64.run(30)
    assert run64.current != run.current


def test_dtype_names() -> None:
    problem = get_problem("quadratic")
    assert Run(problem, dtype="FLOAT32").params[0].dtype is F32
    assert Run(problem, dtype=torch.float32).params[0].dtype is F32
    assert Run(problem).params[0].dtype is F64


@pytest.mark.parametrize("dtype", ["float16", "int32", "double128", torch.float16, torch.int64])
def test_unknown_dtype(dtype) -> None:
    with pytest.raises(RunError) as err:
        Run(get_problem("quadratic"), dtype=dtype)
    assert "float64" in one_line(err)


@pytest.mark.parametrize("device", ["tpu", "mps", "gpu", ""])
def test_unknown_device(device: str) -> None:
    with pytest.raises(RunError) as err:
        Run(get_problem("quadratic"), device=device)
    assert "unknown device" in one_line(err)


@pytest.mark.skipif(CUDA, reason="this torch sees a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_unavailable(device: str) -> None:
    with pytest.raises(RunError) as err:
        Run(get_problem("quadratic"), device=device)
    assert "not available" in one_line(err)


def test_auto_device() -> None:
    expected = "cuda" if CUDA else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device(" CPU ").type == "cpu"
    run = Run(get_problem("quadratic"), device="auto")
    assert run.device.type == expected
    assert run.params[0].device.type == expected


def test_a_stall_is_told_apart_from_a_minimum() -> None:
    """A loss that stops moving because lr is tiny is not a minimum: the reason says so."""
    stalled = Run(get_problem("quadratic"), "sgd", lr=1e-12, max_steps=100)
    stalled.run()
    assert stalled.status is Status.CONVERGED
    assert "learning rate may be too small" in (stalled.reason or "")
    for optimizer, lr in (("sgd", 0.1), ("momentum", 0.02)):
        problem = get_problem("quadratic" if optimizer == "sgd" else "ill-conditioned")
        run = Run(problem, optimizer, lr=lr, max_steps=2000)
        run.run()
        assert run.status is Status.CONVERGED
        assert "too small" not in (run.reason or "")
