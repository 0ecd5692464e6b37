"""Rewind and branch: a branch with unchanged settings walks the original path bit for bit;
``state_at`` gives a step's own record; checkpoints stay bounded however long the run.

Equality here is ``==`` on floats: a replay puts the same numbers through the same torch code.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from gdtui.engine import Checkpoints, Run, RunError, Status, get_problem
from gdtui.engine.records import StepRecord

F64 = torch.float64
OPTIMIZERS = ["sgd", "momentum", "adam"]
LR = {"sgd": 1e-3, "momentum": 1e-3, "adam": 1e-2}


def same(a: StepRecord, b: StepRecord) -> None:
    """Two records of the same step are equal in every number."""
    assert a.step == b.step
    assert a.loss == b.loss, (a.step, a.loss, b.loss)
    assert a.params_before == b.params_before, a.step
    assert a.grad == b.grad, a.step
    assert a.params == b.params, a.step
    assert a.update == b.update, a.step
    assert a.lr == b.lr, a.step
    assert a.state == b.state, a.step
    assert a.lambda_max == b.lambda_max, a.step


def walk(run: Run, steps: int) -> list[StepRecord]:
    records = list(run.steps(steps))
    assert len(records) == steps, (run.status, run.reason)
    return records


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("k", [0, 1, 128, 300, 511])
def test_unchanged_branch_walks_the_original_path(optimizer: str, k: int) -> None:
    run = Run(get_problem("rosenbrock"), optimizer, lr=LR[optimizer])
    original = walk(run, k + 200)
    branch = run.branch(k)
    assert branch is not run and branch.step_count == k
    assert branch.current == (original[k - 1].params if k else run.problem.init)
    for record in walk(branch, 200):
        same(record, original[record.step - 1])
    # The parent is untouched by branching: it goes on where it was.
    assert run.step_count == k + 200 and run.current == original[-1].params
    # A branch's steps never change the checkpoint it came from: a second branch is the same.
    for record in walk(run.branch(k), 50):
        same(record, original[record.step - 1])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_branch_after_thinned_checkpoints_replays_exactly(optimizer: str) -> None:
    # Few checkpoints, far apart: the branch replays hundreds of steps from one.
    run = Run(
        get_problem("rosenbrock"),
        optimizer,
        lr=LR[optimizer],
        checkpoint_every=16,
        max_checkpoints=4,
        tolerance=0,
    )
    original = walk(run, 1500)
    assert len(run.checkpoint_steps) <= 4
    k = 1337
    assert k not in run.checkpoint_steps
    branch = run.branch(k)
    assert branch.current == original[k - 1].params
    for record in walk(branch, 163):
        same(record, original[record.step - 1])


def test_branch_with_a_schedule_and_curvature() -> None:
    run = Run(
        get_problem("rosenbrock"),
        "momentum",
        lr=1e-3,
        schedule="plateau",
        schedule_args={"patience": 3, "threshold": 0.05},
        curvature_every=10,
        checkpoint_every=32,
    )
    original = walk(run, 400)
    assert len({r.lr for r in original}) > 2
    branch = run.branch(250)
    for record in walk(branch, 150):
        same(record, original[record.step - 1])


def test_branch_history_holds_the_prefix_then_its_own_steps() -> None:
    run = Run(get_problem("rosenbrock"), "adam", lr=1e-2)
    walk(run, 600)
    branch = run.branch(300, lr=5e-3)
    walk(branch, 50)
    steps = branch.history.column("step").tolist()
    assert steps == list(range(1, 351))
    assert branch.history.column("loss").tolist()[:300] == run.history.column("loss")[:300].tolist()


def test_branch_with_another_lr_equals_set_lr_at_that_step() -> None:
    problem = get_problem("rosenbrock")
    run = Run(problem, "adam", lr=1e-2)
    walk(run, 500)
    branch = run.branch(200, lr=3e-3)
    assert branch.lr == 3e-3
    fresh = Run(problem, "adam", lr=1e-2)
    walk(fresh, 200)
    fresh.set_lr(3e-3)
    for a, b in zip(walk(branch, 100), walk(fresh, 100), strict=True):
        same(a, b)
    assert branch.last_record.state["step"] == (300.0, 300.0)  # Adam's state was kept


def test_branch_with_another_optimizer_starts_it_fresh() -> None:
    problem = get_problem("rosenbrock")
    run = Run(problem, "sgd", lr=1e-3)
    original = walk(run, 300)
    branch = run.branch(150, optimizer="adam", lr=0.02)
    assert branch.optimizer_name == "adam" and branch.step_count == 150
    # A plain loop from the parameters of step 150 with a new torch.optim.Adam.
    x, y = (torch.tensor(v, dtype=F64, requires_grad=True) for v in original[149].params)
    opt = torch.optim.Adam([x, y], lr=0.02)
    for record in walk(branch, 100):
        opt.zero_grad()
        loss = (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2
        loss.backward()
        assert record.params_before == (x.item(), y.item())
        assert record.loss == loss.item()
        opt.step()
        assert record.params == (x.item(), y.item())
    assert record.state["step"] == (100.0, 100.0)


def test_branch_with_new_hyperparameters_and_a_branch_of_a_branch() -> None:
    problem = get_problem("rosenbrock")
    run = Run(problem, "momentum", lr=1e-3, checkpoint_every=64)
    parent = walk(run, 400)
    branch = run.branch(100, hyper={"momentum": 0.5})
    assert branch.hyper == {"momentum": 0.5}
    assert branch.optimizer.param_groups[0]["momentum"] == 0.5
    assert len(branch.optimizer.state) == 0  # a fresh optimizer: no momentum buffer yet
    own = walk(branch, 300)
    assert own[0].params != parent[100].params  # the change of momentum shows at once

    def expected(step: int) -> StepRecord:
        return parent[step - 1] if step <= 100 else own[step - 101]

    # At and after the change of optimizer, a branch of the branch walks the branch's path;
    # before it, the change is not yet made: it walks the parent's.
    for k in (50, 100, 101, 230, 399):
        grandchild = branch.branch(k)
        assert grandchild.hyper == ({"momentum": 0.5} if k >= 100 else {})
        for record in walk(grandchild, 400 - k):
            same(record, expected(record.step) if k >= 100 else parent[record.step - 1])


def test_live_changes_of_lr_are_replayed() -> None:
    run = Run(get_problem("rosenbrock"), "momentum", lr=1e-3, checkpoint_every=100)
    records = walk(run, 150)
    run.set_lr(2e-3)
    records += walk(run, 40)
    run.set_lr(5e-4)
    run.set_lr(7e-4)  # two changes at one step: the last one holds
    records += walk(run, 310)
    # A branch takes the settings as they were after step k (changes made at step k included),
    # not the changes made later on: it walks the original path up to the next change.
    for k in (0, 149, 150, 151, 189, 190, 191, 300):
        upto = next((c for c in (150, 190) if c > k), 500)
        branch = run.branch(k)
        for record in walk(branch, upto - k):
            same(record, records[record.step - 1])
        assert branch.lr == records[upto - 1].lr
        if upto < 500:
            assert branch.step().params != records[upto].params


def test_state_at_gives_the_record_of_any_step() -> None:
    run = Run(
        get_problem("rosenbrock"),
        "adam",
        lr=1e-2,
        history_capacity=4096,
        checkpoint_every=64,
        max_checkpoints=8,
        curvature_every=25,
        tolerance=0,
    )
    records = walk(run, 9000)
    held = set(run.history.column("step").tolist())
    assert 5001 not in held and 1000 in held  # thinned after the head
    rng = torch.get_rng_state()
    for k in (1, 25, 1000, 5001, 7777, 8990, 9000):
        same(run.state_at(k), records[k - 1])
    assert torch.equal(torch.get_rng_state(), rng)
    assert run.step_count == 9000 and run.current == records[-1].params
    with pytest.raises(RunError):
        run.state_at(0)
    with pytest.raises(RunError):
        run.state_at(9001)


@pytest.mark.parametrize("k", [-1, 501, 2.5, True])
def test_branch_at_a_step_not_taken(k: object) -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=0.01)
    walk(run, 500)
    with pytest.raises(RunError) as err:
        run.branch(k)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_branch_before_a_divergence_with_a_smaller_lr() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=1.1)  # |1 − 2·lr| > 1: it blows up
    run.run()
    assert run.status is Status.DIVERGED
    k = run.step_count
    branch = run.branch(k // 2, lr=0.1)
    assert branch.status is Status.RUNNING
    branch.run(200)
    assert branch.status is Status.CONVERGED
    assert run.branch(k).status is Status.RUNNING  # the failed step k + 1 is not part of k


def test_branch_at_the_end_of_a_budget_is_finished_until_extended() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=0.01, max_steps=100)
    run.run()
    branch = run.branch(100, lr=0.02)
    assert branch.status is Status.FINISHED and branch.step() is None
    branch.extend(10)
    assert len(walk(branch, 10)) == 10


@pytest.mark.skipif(
    "noise" not in inspect.signature(Run).parameters, reason="Run has no noise here"
)
def test_noisy_branch_walks_the_original_path() -> None:
    run = Run(get_problem("rosenbrock"), "momentum", lr=1e-3, noise=0.5, seed=7)  # type: ignore[call-arg]
    original = walk(run, 500)
    branch = run.branch(333)
    for record in walk(branch, 167):
        same(record, original[record.step - 1])


def test_checkpoints_stay_bounded_for_a_long_run() -> None:
    run = Run(get_problem("quadratic"), "sgd", lr=1e-7, tolerance=0, history_capacity=4096)
    seen = 0
    for record in run.steps(100_000):
        seen = max(seen, len(run.checkpoint_steps))
        if record.step == 99_001:
            kept = record
    assert record.step == 100_000
    steps = run.checkpoint_steps
    assert seen <= 64 and len(steps) <= 64
    # Every multiple of the spacing up to the last step is held (replay is at most one
    # spacing), and the spacing is the smallest power-of-two multiple of 128 that fits in 64.
    spacing = run._checkpoints.spacing
    assert steps == tuple(range(0, 100_001, spacing))
    assert spacing == 2048 and 100_000 // 1024 + 1 > 64
    assert run.history.record_at(99_001) is None  # thinned: state_at replays it
    same(run.state_at(99_001), kept)


def test_checkpoints_store_thins_by_powers_of_two() -> None:
    store = Checkpoints(every=10, capacity=8)
    added = 0
    for step in range(0, 100_001):
        if store.due(step):
            store.add(_stub(step))
            added += 1
        assert len(store) <= 8
    assert store.steps[0] == 0 and store.steps[-1] % store.spacing == 0
    assert store.spacing == 10 * 2**11 and store.steps == tuple(range(0, 100_001, 20480))
    assert store.before(41_000).step == 40_960 and store.before(40_959).step == 20_480
    assert added > 8  # many were taken, few are held


def _stub(step: int):
    from gdtui.engine.rewind import Checkpoint

    return Checkpoint(step, [], {}, None, torch.get_rng_state())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"optimizer": "adamm"}, "adam"),
        ({"optimizer": "momentum", "hyper": {"momentum": "x"}}, "momentum"),
        ({"lr": "abc"}, "abc"),
        ({"hyper": [1, 2]}, "hyper"),
    ],
)
def test_bad_branch_settings_are_one_line_errors_and_leave_the_run(kwargs, error) -> None:
    from gdtui.engine import USER_ERRORS

    run = Run(get_problem("rosenbrock"), "sgd", lr=1e-3)
    records = walk(run, 50)
    with pytest.raises(USER_ERRORS) as err:
        run.branch(20, **kwargs)
    assert error in str(err.value) and "\n" not in str(err.value)
    assert run.step_count == 50 and run.current == records[-1].params


def test_optimizer_at_names_the_optimizer_that_took_each_step() -> None:
    run = Run(get_problem("booth"), "momentum", 0.01, {"momentum": 0.5})
    run.run(10)
    adam = run.branch(6, optimizer="adam", hyper={"betas": (0.8, 0.9)})
    adam.run(4)
    assert adam.optimizer_at(6) == ("momentum", {"momentum": 0.5})
    assert adam.optimizer_at(7) == ("adam", {"betas": (0.8, 0.9)})
    assert adam.branch(8, optimizer="sgd").optimizer_at(9) == ("sgd", {})
    assert run.optimizer_at(10) == ("momentum", {"momentum": 0.5})
