"""gdtui.watch() against plain PyTorch loops: same parameters, hand-computed records, exit paths."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gdtui
from gdtui.recordfile import FIELDS, RecordFile, read_records, sibling_ranks

REPO = Path(__file__).resolve().parent.parent


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _make(kind: str, model: torch.nn.Module):
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=0.01), None
    if kind == "sgd-momentum":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True), None
    opt = torch.optim.AdamW(
        [
            {"params": model[0].parameters(), "lr": 0.02},
            {"params": model[2].parameters(), "lr": 0.005, "weight_decay": 0.1},
        ]
    )
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)


def _train(kind: str, path: Path | None, steps: int = 10) -> list[torch.Tensor]:
    model = _model()
    opt, scheduler = _make(kind, model)
    generator = torch.Generator().manual_seed(1)
    w = gdtui.watch(model, opt, path) if path is not None else None
    for _ in range(steps):
        x = torch.randn(16, 5, generator=generator)
        y = torch.randn(16, 3, generator=generator)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        if w is not None:
            w.log(loss=loss)
    if w is not None:
        w.close()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("kind", ["adam", "sgd-momentum", "two-groups-scheduler"])
def test_watched_run_is_bit_identical(tmp_path, kind):
    plain = _train(kind, None)
    watched = _train(kind, tmp_path / "run.jsonl")
    for a, b in zip(plain, watched, strict=True):
        assert torch.equal(a, b)
    record = read_records(tmp_path / "run.jsonl")
    assert list(record.step) == list(range(1, 11))
    assert record.ended and record.end["reason"] == "closed" and record.end["steps"] == 10
    assert np.isfinite(record.scalars["loss"]).all()


def test_records_equal_hand_computation(tmp_path):
    """‖∇‖, ‖θ‖, ‖Δ‖, ratio, cos, effective lr, lr and loss, per tensor and step, by hand."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.double()
    opt = torch.optim.Adam(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.03}],
        lr=0.1,
    )
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.7)
    x = torch.randn(8, 3, dtype=torch.float64)
    y = torch.randn(8, 2, dtype=torch.float64)
    expected = []
    with gdtui.watch(model, opt, tmp_path / "run.jsonl") as w:
        for _ in range(4):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            grads = [p.grad.numpy().ravel().copy() for p in model.parameters()]
            before = [p.detach().numpy().ravel().copy() for p in model.parameters()]
            lrs = [g["lr"] for g in opt.param_groups]
            opt.step()
            scheduler.step()
            w.log(loss=loss)
            after = [p.detach().numpy().ravel().copy() for p in model.parameters()]
            expected.append((loss.item(), lrs, grads, before, after))
    record = read_records(tmp_path / "run.jsonl")
    assert record.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    assert record.shapes == ((4, 3), (4,), (2, 4), (2,))
    assert record.header["optimizer"] == "Adam"
    assert record.header["hyper"]["lr"] == [0.1, 0.03]  # as the run started
    assert record.header["hyper"]["betas"] == [[0.9, 0.999], [0.9, 0.999]]
    for n, (loss, lrs, grads, before, after) in enumerate(expected):
        assert record.scalars["loss"][n] == loss
        assert list(record.lr[n]) == pytest.approx(lrs, rel=1e-15)
        assert lrs[0] == pytest.approx(0.1 * 0.7**n)
        for i, (g, b, a) in enumerate(zip(grads, before, after, strict=True)):
            d = a - b
            got = dict(zip(FIELDS, record.values[n, i], strict=True))
            assert got["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-12)
            assert got["param_norm"] == pytest.approx(np.linalg.norm(a), rel=1e-12)
            assert got["update_norm"] == pytest.approx(np.linalg.norm(d), rel=1e-12)
            assert got["ratio"] == pytest.approx(np.linalg.norm(d) / np.linalg.norm(a), rel=1e-12)
            cos = -(g @ d) / (np.linalg.norm(g) * np.linalg.norm(d))
            assert got["cos"] == pytest.approx(cos, rel=1e-9)
            eff = np.abs(d) / np.abs(g)
            assert got["eff_lr_median"] == pytest.approx(np.quantile(eff, 0.5), rel=1e-9)
            assert got["eff_lr_p10"] == pytest.approx(np.quantile(eff, 0.1), rel=1e-9)
            assert got["eff_lr_p90"] == pytest.approx(np.quantile(eff, 0.9), rel=1e-9)


def test_plain_sgd_effective_lr_is_the_lr(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.125)
    with gdtui.watch(model, opt, tmp_path / "run.jsonl"):
        opt.zero_grad()
        model(torch.ones(2, 5)).sum().backward()
        opt.step()
    record = read_records(tmp_path / "run.jsonl")
    for name in record.names:
        last = record.last(name)
        assert last["eff_lr_p10"] == pytest.approx(0.125, rel=1e-5)
        assert last["eff_lr_p90"] == pytest.approx(0.125, rel=1e-5)
        assert last["cos"] == pytest.approx(1.0, rel=1e-6)
    assert record.scalars == {}


def test_every_third_step(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gdtui.watch(model, opt, tmp_path / "run.jsonl", every=3) as w:
        for i in range(10):
            opt.zero_grad()
            model(torch.ones(2, 5)).sum().backward()
            opt.step()
            w.log(loss=float(i))
    record = read_records(tmp_path / "run.jsonl")
    assert list(record.step) == [3, 6, 9]
    assert list(record.scalars["loss"]) == [2.0, 5.0, 8.0]  # log() after step n is step n's
    assert record.end["steps"] == 10 and record.end["recorded"] == 3


def test_parameters_without_gradient_are_null(tmp_path):
    torch.manual_seed(0)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    model = torch.nn.ModuleDict({"a": a, "b": b, "frozen": frozen})
    opt = torch.optim.Adam(list(a.parameters()) + list(b.parameters()), lr=0.1)
    grads_a = []
    with gdtui.watch(model, opt, tmp_path / "run.jsonl"):
        for step in range(3):
            opt.zero_grad()
            out = a(torch.ones(1, 2)) + (b(torch.ones(1, 2)) if step == 1 else 0)
            out.sum().backward()
            grads_a.append(float(a.weight.grad.norm()))
            opt.step()
    record = read_records(tmp_path / "run.jsonl")
    assert record.names == ("a.weight", "a.bias", "b.weight", "b.bias")  # frozen: not optimized
    assert record.present.tolist() == [
        [True, True, False, False],
        [True, True, True, True],
        [True, True, False, False],
    ]
    assert list(record.series("a.weight", "grad_norm")) == pytest.approx(grads_a, rel=1e-6)
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert json.loads(lines[1])["params"]["b.weight"] is None
    assert json.loads(lines[2])["params"]["b.weight"]["grad_norm"] > 0


def test_named_tensor_list_and_no_step_without_grad(tmp_path):
    w1 = torch.zeros(3, requires_grad=True)
    w2 = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w1, w2], lr=0.5)
    with gdtui.watch([("w1", w1), ("w2", w2)], opt, tmp_path / "run.jsonl") as w:
        opt.step()  # no gradient at all: a step of nulls, not an error
        ((w1 - 2) ** 2).sum().backward()
        opt.step()
        w.log(loss=torch.tensor(12.0), note=3)
    record = read_records(tmp_path / "run.jsonl")
    assert record.present.tolist() == [[False, False], [True, False]]
    assert record.last("w1")["grad_norm"] == pytest.approx(np.linalg.norm([4, 4, 4]))
    assert record.last("w1")["update_norm"] == pytest.approx(np.linalg.norm([2, 2, 2]))
    assert record.last("w2") is None
    assert record.scalars["loss"].tolist()[1] == 12.0 and record.scalars["note"][1] == 3.0


def test_log_rejects_non_numbers(tmp_path):
    w1 = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([w1], lr=0.5)
    with gdtui.watch([("w1", w1)], opt, tmp_path / "run.jsonl") as w:
        with pytest.raises(TypeError, match="note"):
            w.log(note="hello")
        with pytest.raises(ValueError, match="3 elements"):
            w.log(loss=torch.zeros(3))


def test_import_gdtui_imports_neither_torch_nor_textual():
    code = (
        "import sys, gdtui, gdtui.recordfile; "
        "print(sorted(m for m in ('torch', 'textual', 'plotext') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import gdtui, sys; gdtui.watch; print('torch' in sys.modules, callable(gdtui.watch))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True True"


# ---------------------------------------------------------------------- a writer in another process

WRITER = """
import signal, sys, time, torch, gdtui
torch.manual_seed(0)
model = torch.nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
stop = []
if sys.argv[2] == "handler":
    def handler(signum, frame):
        print("user handler ran", flush=True)
        stop.append(signum)
    signal.signal(signal.SIGTERM, handler)
w = gdtui.watch(model, opt, sys.argv[1])
step = 0
while not stop:
    opt.zero_grad()
    loss = model(torch.ones(3, 4)).pow(2).mean()
    loss.backward()
    opt.step()
    w.log(loss=loss)
    step += 1
    time.sleep(0.002)
print("steps", step, flush=True)
"""


def _start_writer(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, path


def _follow_until(path: Path, steps: int, proc: subprocess.Popen) -> RecordFile:
    """follow() the growing file until it has ``steps`` recorded steps."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    record = RecordFile(path)
    counts = []
    while record.count < steps or len(set(counts)) < 3:  # it grew over several polls
        assert time.monotonic() < deadline and proc.poll() is None
        record.poll()
        counts.append(record.count)
        time.sleep(0.05)
    assert not record.ended
    assert record.steps_per_second() > 0
    return record


def test_sigterm_flushes_every_step_and_dies_of_it(tmp_path):
    proc, path = _start_writer(tmp_path, "default")
    record = _follow_until(path, 20, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == -signal.SIGTERM
    record.poll()
    assert record.ended and record.end["reason"] == "SIGTERM"
    taken = record.end["steps"]
    assert list(record.step) == list(range(1, taken + 1))  # every step, none lost
    assert np.isfinite(record.scalars["loss"][: taken - 1]).all()


def test_sigterm_runs_the_users_handler_too(tmp_path):
    proc, path = _start_writer(tmp_path, "handler")
    _follow_until(path, 5, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "user handler ran" in out
    taken = int(out.split("steps")[1])
    record = read_records(path)
    assert record.end["reason"] == "exit" and record.end["steps"] == taken
    assert list(record.step) == list(range(1, taken + 1))


def test_sigkill_leaves_a_readable_file_up_to_the_last_flush(tmp_path):
    proc, path = _start_writer(tmp_path, "default")
    _follow_until(path, 10, proc)
    proc.kill()
    proc.wait(60)
    with open(path, "a") as file:
        file.write('{"step": 99999, "time": 1.0, "lr": [0.1], "par')  # a torn last line
    record = read_records(path)
    assert not record.ended
    assert record.count >= 10
    assert list(record.step) == list(range(1, record.count + 1))


# ---------------------------------------------------------------------- torch.distributed

DDP = """
import os, sys, torch, torch.distributed as dist, gdtui
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 3))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
generator = torch.Generator().manual_seed(100 + rank)  # each rank its own data
with gdtui.watch(model, opt, sys.argv[1]) as w:
    for _ in range(5):
        opt.zero_grad()
        loss = model(torch.randn(8, 4, generator=generator)).pow(2).mean()
        loss.backward()  # DDP all-reduces (averages) the gradients here
        opt.step()
        w.log(loss=loss)
dist.destroy_process_group()
"""


def test_two_ranks_write_their_own_files_with_the_same_gradients(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "run.jsonl"
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            WORLD_SIZE="2",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(path)], env=env, stderr=subprocess.PIPE
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    ranks = sibling_ranks(tmp_path / "run.rank1.jsonl")
    assert ranks == {0: path, 1: tmp_path / "run.rank1.jsonl"}
    zero, one = read_records(ranks[0]), read_records(ranks[1])
    assert (zero.header["rank"], one.header["rank"]) == (0, 1)
    assert zero.names == one.names == ("module.weight", "module.bias")
    assert zero.count == one.count == 5
    grad = FIELDS.index("grad_norm")
    np.testing.assert_array_equal(zero.values[:, :, grad], one.values[:, :, grad])
    np.testing.assert_array_equal(zero.values, one.values)  # same updates too
    assert not np.array_equal(zero.scalars["loss"], one.scalars["loss"])  # different data


# ---------------------------------------------------------------------- cuda (run where a GPU is)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a cuda device")
def test_cuda_watch_is_identical_and_never_synchronises(tmp_path):
    def train(path):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
        ).cuda()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(40, 32, 64, device="cuda")
        y = torch.randint(10, (40, 32), device="cuda")
        w = gdtui.watch(model, opt, path) if path else None
        losses = []
        for i in range(40):
            if i == 2:  # the first steps may allocate and copy constants; after that: no sync
                torch.cuda.set_sync_debug_mode("error")
            loss = torch.nn.functional.cross_entropy(model(x[i]), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if w is not None:
                w.log(loss=loss)
            losses.append(loss.detach())
        torch.cuda.set_sync_debug_mode(0)
        if w is not None:
            w.close()
        return [p.detach().cpu() for p in model.parameters()], torch.stack(losses).cpu()

    plain, plain_losses = train(None)
    watched, losses = train(tmp_path / "run.jsonl")
    for a, b in zip(plain, watched, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(plain_losses, losses)
    record = read_records(tmp_path / "run.jsonl")
    assert record.header["device"].startswith("cuda")
    assert list(record.step) == list(range(1, 41))
    np.testing.assert_array_equal(record.scalars["loss"], losses.double().numpy())
    assert record.lr.tolist() == [[1e-3]] * 40
    assert np.isfinite(record.values).all()


def test_close_restores_signal_handlers_and_a_forked_child_leaves_the_file_alone(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    w1 = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([w1], lr=0.5)
    w = gdtui.watch([("w1", w1)], opt, tmp_path / "run.jsonl")
    assert signal.getsignal(signal.SIGTERM) != before
    w1.grad = torch.ones(3)
    opt.step()
    pid = os.fork()
    if pid == 0:  # a DataLoader worker, say, that is told to stop
        os.kill(os.getpid(), signal.SIGTERM)
        os._exit(3)  # not reached
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    opt.step()
    w.close()
    assert signal.getsignal(signal.SIGTERM) == before
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert [json.loads(line).get("step") for line in lines[1:]] == [1, 2, None]
    assert json.loads(lines[-1])["reason"] == "closed"


def test_a_signal_inside_the_step_hook_waits_for_the_steps_record(tmp_path, monkeypatch):
    """SIGTERM handled between the step count and the step's record (the hook is Python, the
    signal lands between bytecodes) must not end the file counting a step it never wrote."""
    seen: list[tuple[int, int]] = []

    def users_handler(signum, frame):  # a user's handler: the process goes on
        seen.append((watcher.steps, watcher._chunks_pushed))

    previous = signal.signal(signal.SIGTERM, users_handler)
    try:
        w = torch.zeros(3, requires_grad=True)
        optimizer = torch.optim.SGD([w], lr=0.1)
        watcher = gdtui.watch([("w", w)], optimizer, tmp_path / "run.jsonl")
        watcher._chunks_pushed = 0
        push = watcher._chunks.push

        def counted_push(*args):
            watcher._chunks_pushed += 1
            return push(*args)

        monkeypatch.setattr(watcher._chunks, "push", counted_push)
        original = watcher._record_step

        def step_then_signal():
            # The signal arrives inside the hook, before the step is counted and queued.
            signal.raise_signal(signal.SIGTERM)
            original()

        monkeypatch.setattr(watcher, "_record_step", step_then_signal)
        ((w - 1) ** 2).sum().backward()
        optimizer.step()
        watcher.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [(1, 1)]  # the handler ran after step 1 was counted AND queued
    record = read_records(tmp_path / "run.jsonl")
    assert record.end["steps"] == 1 and list(record.step) == [1]
