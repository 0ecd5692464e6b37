"""Rewind and branch on model runs: checkpoints plus replay rebuild any step of a model trained on
data (mini-batch order, optimizer state, schedule) exactly; a branch with unchanged settings walks
the original path bit for bit, and one with another rate equals a plain PyTorch loop whose rate
was changed at that step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gdtui.engine import ModelRun, RunError
from gdtui.engine.data import load_data
from gdtui.engine.models import Loss, build_model

SEED = 3
STEPS = 40


def moons_run(optimizer: str = "adam", batch_size: int | str = 16, **kw) -> ModelRun:
    """A small MLP on moons (bigger than 8 scalars: layer summaries), float64, mini-batches."""
    data = load_data({"name": "moons", "samples": 80}, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model("mlp", 2, 2, hidden=[8], activation="tanh")
    settings = {
        "batch_size": batch_size,
        "max_steps": STEPS,
        "dtype": "float64",
        "device": "cpu",
        "seed": SEED,
        "checkpoint_every": 8,
        **kw,
    }
    return ModelRun(
        data, model, Loss("cross_entropy", "classification", 2), optimizer, 0.05, **settings
    )


def tiny_run(**kw) -> ModelRun:
    """A 2-scalar linear regression (per-scalar records), batches of 10."""
    data = load_data({"name": "regression", "samples": 60, "features": 1}, seed=SEED)
    torch.manual_seed(SEED)
    model = build_model("linear", 1, 1)
    settings = {
        "batch_size": 10,
        "max_steps": STEPS,
        "dtype": "float64",
        "device": "cpu",
        "seed": SEED,
        "checkpoint_every": 8,
        **kw,
    }
    return ModelRun(data, model, Loss("mse", "regression", 1), "momentum", 0.05, **settings)


def params(run: ModelRun) -> list[torch.Tensor]:
    return [p.detach().clone() for p in run.params]


def walk(run: ModelRun) -> list:
    return list(run.steps())


@pytest.mark.parametrize("k", [1, 7, 8, 9, 23, 39])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_unchanged_branch_walks_the_original_path(optimizer: str, k: int) -> None:
    run = moons_run(optimizer)
    original = walk(run)
    end = params(run)
    branch = run.branch(k)
    assert branch.step_count == k and branch.taken == k
    rest = walk(branch)
    assert [r.loss for r in original[k:]] == [r.loss for r in rest]
    assert [r.lr for r in original[k:]] == [r.lr for r in rest]
    for a, b in zip(end, branch.params, strict=True):
        assert torch.equal(a, b)
    # The live run is left as it was.
    assert run.step_count == STEPS
    for a, b in zip(end, run.params, strict=True):
        assert torch.equal(a, b)


def test_state_at_rebuilds_every_step_of_a_small_model() -> None:
    run = tiny_run()
    original = walk(run)
    for k in (1, 5, 8, 16, 17, 33, STEPS):
        got = run.state_at(k)
        want = original[k - 1]
        assert got.step == k
        assert got.loss == want.loss
        assert got.params == want.params and got.grad == want.grad and got.update == want.update
        assert got.state == want.state


def test_state_at_of_a_big_model_carries_its_layers() -> None:
    """Layer summaries only every 20th step live; a rewound step has its own, and its loss and
    update norm are the live step's."""
    run = moons_run("adam", layer_every=20)
    original = walk(run)
    assert original[12].layers is None  # step 13 had no summaries live
    record = run.state_at(13)
    assert record.loss == original[12].loss
    assert record.layers is not None and set(record.layers) == set(run.layer_names)
    full = moons_run("adam", layer_every=1)
    walk(full)
    assert record.update_norm == pytest.approx(full.state_at(13).update_norm, rel=1e-12)
    assert record.grad_norm == pytest.approx(full.history.record_at(13).grad_norm, rel=1e-12)
    # The live run and the global RNG are left as they were.
    state = torch.get_rng_state()
    run.state_at(30)
    assert torch.equal(state, torch.get_rng_state())
    assert run.step_count == STEPS


def test_branch_with_another_lr_equals_a_plain_loop_changed_at_that_step() -> None:
    k, new_lr = 17, 0.2
    run = moons_run("momentum")
    walk(run)
    branch = run.branch(k, lr=new_lr)
    losses = [r["loss"] for r in branch.history.rows()][:k] + [r.loss for r in walk(branch)]

    data = load_data({"name": "moons", "samples": 80}, seed=SEED)
    torch.manual_seed(SEED)
    plain = build_model("mlp", 2, 2, hidden=[8], activation="tanh").double()
    opt = torch.optim.SGD(plain.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.tensor(data.x_train), torch.tensor(data.y_train)
    g = torch.Generator().manual_seed(SEED)
    expected: list[float] = []
    while len(expected) < STEPS:
        for idx in torch.randperm(len(y), generator=g).split(16):
            if len(expected) == STEPS:
                break
            if len(expected) == k:
                for group in opt.param_groups:
                    group["lr"] = new_lr
            opt.zero_grad()
            loss = F.cross_entropy(plain(x[idx]), y[idx])
            loss.backward()
            opt.step()
            expected.append(loss.item())
    assert losses[k:] == expected[k:]
    for a, b in zip(branch.params, plain.parameters(), strict=True):
        assert torch.equal(a, b)


def test_branch_with_another_optimizer_and_live_changes_replayed() -> None:
    """A rate changed live is replayed by a later branch; another optimizer starts fresh."""
    run = moons_run("sgd")
    for _ in range(10):
        run.step()
    run.set_lr(0.01)
    walk(run)
    again = run.branch(12)  # from the checkpoint at 8: the change after step 10 is replayed
    assert again.lr == 0.01
    assert [r["lr"] for r in again.history.rows()] == [0.05] * 10 + [0.01] * 2
    assert [r.loss for r in walk(again)] == [r["loss"] for r in run.history.rows()][12:]
    adam = run.branch(25, optimizer="adam", lr=0.001)
    assert adam.optimizer_name == "adam" and adam.lr == 0.001
    assert not adam.optimizer.state  # fresh: no moments yet
    first = adam.step()[0]
    twin = run.branch(25)
    twin._replace_optimizer("adam", 0.001, {})
    assert first.loss == twin.step()[0].loss


def test_branch_with_a_schedule_keeps_its_position() -> None:
    run = moons_run("sgd", schedule="cosine", schedule_args={"T_max": STEPS})
    original = walk(run)
    branch = run.branch(20)
    rest = walk(branch)
    assert [r.lr for r in rest] == [r.lr for r in original[20:]]
    assert [r.loss for r in rest] == [r.loss for r in original[20:]]


def test_checkpoints_stay_bounded() -> None:
    run = moons_run("sgd", max_steps=500, checkpoint_every=2, max_checkpoints=8)
    walk(run)
    assert len(run.checkpoint_steps) <= 8
    assert run.checkpoint_steps[0] == 0
    assert run.state_at(333).loss == run.branch(333).last_record.loss


@pytest.mark.parametrize("k", [-1, 0, STEPS + 1, 2.5, True])
def test_state_at_a_step_not_taken_is_one_line(k: object) -> None:
    run = moons_run()
    walk(run)
    with pytest.raises(RunError, match="step must be a whole number"):
        run.state_at(k)  # type: ignore[arg-type]


def test_checkpoints_of_a_big_model_fit_their_byte_budget() -> None:
    """A budget of three checkpoints' worth of bytes holds three (Adam's state included), and
    every step is still rebuilt exactly."""
    probe = moons_run("adam")
    walk(probe)
    per = sum(p.numel() * 8 * 3 for p in probe.params)  # float64 parameters, exp_avg, exp_avg_sq
    run = moons_run("adam", checkpoint_every=2, checkpoint_bytes=3 * per + 1000)
    original = walk(run)
    assert len(run.checkpoint_steps) <= 3
    assert run.checkpoint_steps[0] == 0
    for k in (5, 21, 38):
        assert run.state_at(k).loss == original[k - 1].loss
