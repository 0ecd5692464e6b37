"""ModelRun: a model trained on data with a real ``torch.optim`` optimizer, recorded per step.

Each step is exactly a plain PyTorch loop's: take the next batch, ``zero_grad()``, forward, the
loss from ``torch.nn.functional``, ``backward()``, ``optimizer.step()``. Batches come from a
``torch.Generator`` seeded with the run's seed: a fresh permutation of the training rows every
epoch (``batch_size = "full"`` takes every row in order, once per step). At each epoch end the
full training and validation sets are evaluated under ``torch.no_grad()``.

Recording never synchronises with the device per step: the step's numbers (the batch loss, and
either every scalar of a small model or :class:`~gdtui.engine.layer_stats.LayerStats` summaries
per tensor) are stacked into one row on the device and copied to the host in chunks
(:class:`~gdtui.engine.layer_stats.DeviceChunks`). So **records arrive when their chunk lands**:
on the cpu at once (``step()`` returns that step's record), on cuda every ``chunk_interval``
seconds. :meth:`ModelRun.step` returns the list of records that landed, oldest first;
:meth:`ModelRun.drain` waits for the rest. Divergence, convergence and the end of the budget are
judged on the host as the records land, so on cuda a run may have taken a few more steps than its
last record shows (they are not recorded).

A schedule (``schedule``: a :mod:`~gdtui.engine.schedules` preset over ``torch.optim.lr_scheduler``)
steps after every optimizer step exactly as in a plain loop, and each record's ``lr`` is the rate
that step used. Only reduce-on-plateau reads the step's loss on the host (one synchronisation per
step, as ``scheduler.step(loss.item())`` in a plain loop). ``curvature_every = k`` measures λmax
of the full-batch training loss on every k-th step (Hessian-vector products: a synchronising
measurement, on those steps only); with ``curvature_every = 0`` no step waits for the device.
"""

from __future__ import annotations

import copy
import math
import numbers
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from gdtui import settings
from gdtui.engine import curvature, schedules
from gdtui.engine.data import CLASSIFICATION, Dataset, data_task, load_data
from gdtui.engine.history import History
from gdtui.engine.layer_stats import SUMMARY_FIELDS, DeviceChunks, LayerStats
from gdtui.engine.models import (
    CLASS_ONLY,
    Loss,
    ModelError,
    _choice,
    build_model,
    check_hidden,
    check_loss,
    default_loss,
    output_size,
)
from gdtui.engine.optimizers import get_spec, make_optimizer, parse_lr
from gdtui.engine.records import Status, StepRecord, finite_or_none, loss_divergence
from gdtui.engine.rewind import Checkpoint, Checkpoints, restore_checkpoint, take_checkpoint
from gdtui.engine.run import (
    DEFAULT_SCHEDULE_STEPS,
    GraphNode,
    Run,
    RunError,
    _setting,
    resolve_device,
    resolve_dtype,
)
from gdtui.suggest import closest

SMALL_MODEL = 8  # models with at most this many scalars keep the per-scalar record
# What a model run's rewind checkpoints may hold (parameters and optimizer state, on the device):
# a big model keeps fewer, further apart, and replays more steps to reach one.
CHECKPOINT_BYTES = 256 << 20
EPOCH_FIELDS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
# What the host knows of a step when it is taken: number, lr, epoch, summarised, λmax.
_Meta = tuple[int, float, int | None, bool, float | None]


@dataclass(slots=True)
class ModelRecord(StepRecord):
    """One step of a model run: a :class:`StepRecord` plus the epoch and per-layer numbers.

    ``loss`` is the batch loss before the step. For a small model (≤ 8 scalars) ``params``,
    ``grad``, ``update`` and ``state`` are per scalar, in :attr:`ModelRun.param_names` order; for a
    bigger one they are empty and ``layers`` maps each parameter tensor's name to its
    :data:`~gdtui.engine.layer_stats.SUMMARY_FIELDS`. ``grad_norm``/``update_norm`` are over the
    whole model. ``epoch`` is set on the last step of an epoch, with the full-set evaluations.
    """

    epoch: int | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    layers: dict[str, dict[str, float | None]] | None = None

    def to_dict(self, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """JSON-ready. A small model: :meth:`StepRecord.to_dict`'s keys. A big one (``names``
        empty): ``step``, ``loss``, ``grad_norm``, ``update_norm``, ``lr``, ``lambda_max`` (null
        where not measured), ``layers`` (null on a
        step without summaries, see ``layer_every``), ``status``, ``reason``. On an evaluated
        epoch end both add ``epoch``, ``train_loss``, ``val_loss`` and, for classification,
        ``train_accuracy`` and ``val_accuracy``."""
        if names:
            out = StepRecord.to_dict(self, names)
        else:
            out = {
                "step": self.step,
                "loss": finite_or_none(self.loss),
                "grad_norm": finite_or_none(self.grad_norm),
                "update_norm": finite_or_none(self.update_norm),
                "lr": self.lr,
                "lambda_max": finite_or_none(self.lambda_max),
                "layers": self.layers,
                "status": str(self.status),
                "reason": self.reason,
            }
        if self.epoch is not None:
            out["epoch"] = self.epoch
            out["train_loss"] = finite_or_none(self.train_loss)
            out["val_loss"] = finite_or_none(self.val_loss)
            if self.train_accuracy is not None:
                out["train_accuracy"] = finite_or_none(self.train_accuracy)
                out["val_accuracy"] = finite_or_none(self.val_accuracy)
        return out


def parse_batch_size(value: Any) -> int | None:
    """``"full"`` → None (every row each step), else a whole number ≥ 1."""
    if isinstance(value, str) and value.strip().lower() == "full":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise RunError(f'batch_size must be "full" or a whole number ≥ 1, got {value!r}')
    return int(value)


def scalar_names(model: nn.Module) -> tuple[str, ...]:
    """``weight[0]``, ``weight[1]``, ``bias`` …: one name per scalar, flat index per tensor."""
    named = list(model.named_parameters())
    prefixes = {n.rsplit(".", 1)[0] for n, _ in named if "." in n}
    single = len(prefixes) == 1
    out = []
    for name, p in named:
        short = name.rsplit(".", 1)[-1] if single else name
        out += [short] if p.numel() == 1 else [f"{short}[{i}]" for i in range(p.numel())]
    return tuple(out)


class ModelRun:
    """Training of ``model`` on ``dataset`` with a real ``torch.optim`` optimizer.

    ``batch_size``: ``"full"`` (gradient descent), a whole number (mini-batch; 1 is stochastic).
    ``max_steps``: the budget in optimizer steps (None: unbounded). ``tolerance``: stop as
    converged when the whole model's ‖∇‖ is at or under it. A non-finite or exploding loss
    (``explode_factor`` × the first) stops the run as diverged. The model is moved to ``device``
    and ``dtype``; the API matches :class:`~gdtui.engine.Run` except that :meth:`step` returns a
    list of the records that landed (see the module docstring).

    Cost control (a summary costs about as much as a small model's step): a big model's
    per-layer summaries are taken every ``layer_every`` steps (and on the budget's last step);
    the records between carry the batch loss with ``layers``, ``grad_norm`` and ``update_norm``
    None. The full-set evaluation runs every ``eval_every`` epochs (default: at most about once
    per 10 steps, so every epoch for mini-batches, every 10th step for full batch).

    ``schedule`` and ``schedule_args``: a learning-rate schedule as :class:`~gdtui.engine.Run`
    takes it (:func:`~gdtui.engine.schedules.make_scheduler`, planned over ``max_steps`` or
    ``DEFAULT_SCHEDULE_STEPS``; reduce-on-plateau steps on the batch loss); every record's ``lr``
    is the rate its step used. ``curvature_every = k`` (0: never) puts into ``record.lambda_max``
    of every k-th step λmax, the top Hessian eigenvalue of the **full-batch** training loss (every
    training row, whatever ``batch_size`` is) at the parameters the step started from, by power
    iteration on Hessian-vector products (:mod:`~gdtui.engine.curvature`); :meth:`lambda_max`
    measures it on demand. Each measurement starts from the last one's eigenvector, so a run's
    series converges in a few products per step; it never touches ``.grad``, the optimizer or a
    random generator, so the path is the same with or without it.

    Rewind, as :class:`~gdtui.engine.Run`'s: every ``checkpoint_every`` steps a checkpoint of the
    whole state (parameters, optimizer and scheduler state, the batch generator and the epoch's
    batch order, torch's RNG), at most ``max_checkpoints`` of them and ``checkpoint_bytes`` in
    all, thinned by powers of two; changes of rate are logged. :meth:`state_at` rebuilds any
    recorded step's record by replay (a big model's with its per-layer summaries, whatever
    ``layer_every``), and :meth:`branch` goes on from any step, with the same settings bit for
    bit or with another rate, optimizer or hyper-parameters.
    """

    def __init__(
        self,
        dataset: Dataset,
        model: nn.Module,
        loss: Loss,
        optimizer: str = "sgd",
        lr: float | str | None = None,
        hyper: Mapping[str, Any] | None = None,
        *,
        batch_size: int | str | None = "full",
        max_steps: int | None = None,
        tolerance: float = 0.0,
        dtype: str | torch.dtype = "float32",
        device: str | torch.device | None = "auto",
        seed: int = 0,
        explode_factor: float = 1e10,
        history_capacity: int = 1 << 16,
        chunk_interval: float = 0.5,
        layer_every: int = 20,
        eval_every: int | None = None,
        schedule: str | None = None,
        schedule_args: Mapping[str, Any] | None = None,
        curvature_every: int = 0,
        checkpoint_every: int = 128,
        max_checkpoints: int = 64,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
    ) -> None:
        # Every constructor argument but the data, the model and the loss, so a replay or a
        # branch builds its twin (with a copy of the model).
        self._config: dict[str, Any] = {
            k: dict(v) if isinstance(v, Mapping) else v
            for k, v in locals().items()
            if k not in ("self", "dataset", "model", "loss", "__class__")
        }
        if max_steps is not None:
            max_steps = _setting(settings.check_steps, max_steps, text=False)
        tolerance = _setting(settings.check_tolerance, tolerance, text=False)
        seed = _setting(settings.check_seed, seed, text=False)
        self.dataset = dataset
        self.loss_fn = loss
        self.optimizer_name = get_spec(optimizer).name
        self.hyper = dict(hyper or {})
        self.batch_size = None if batch_size is None else parse_batch_size(batch_size)
        self.max_steps = max_steps
        self.tolerance = float(tolerance)
        self.dtype = resolve_dtype(dtype)
        self.device = resolve_device(device)
        for key, value in (("layer_every", layer_every), ("eval_every", eval_every)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise RunError(f"{key} must be a whole number of at least 1, got {value!r}")
        if (
            isinstance(curvature_every, bool)
            or not isinstance(curvature_every, int)
            or curvature_every < 0
        ):
            raise RunError(f"curvature_every must be a whole number ≥ 0, got {curvature_every!r}")
        if schedule is None and schedule_args:
            raise RunError("schedule_args are given but no schedule is named")
        self.seed = seed
        self.layer_every = layer_every
        self.explode_factor = float(explode_factor)
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.layer_names = tuple(n for n, p in self.model.named_parameters() if p.requires_grad)
        self.layer_shapes = {
            n: tuple(p.shape) for n, p in zip(self.layer_names, self.params, strict=True)
        }
        self.n_scalars = sum(p.numel() for p in self.params)
        self.small = self.n_scalars <= SMALL_MODEL
        self.param_names = scalar_names(self.model) if self.small else ()
        lr = get_spec(optimizer).default_lr if lr is None else lr
        self.optimizer = make_optimizer(self.optimizer_name, self.params, parse_lr(lr), self.hyper)
        self.schedule = None if schedule is None else schedules.get_schedule(schedule).name
        self.schedule_args = dict(schedule_args or {})
        self.scheduler: Any = None
        if self.schedule is not None:
            self.scheduler = schedules.make_scheduler(
                self.schedule, self.optimizer, self.schedule_args, self._schedule_steps
            )
        self._plateau = self.schedule == "plateau"  # the one schedule that reads the loss
        self.curvature_every = curvature_every
        # Power iteration's budget and stopping rule (relative change of the Rayleigh quotient):
        # float32 products are only good to about 1e-6, so its tolerance is looser.
        self.curvature_iters = 200
        self.curvature_tol = 1e-10 if self.dtype == torch.float64 else 1e-6
        self._eigenvector: list[torch.Tensor] | None = None  # the last λmax's, a warm start
        # The data, on the device once, with the target in the loss's form.
        dev, dt = self.device, self.dtype
        # Training rows then validation rows in one tensor (one forward pass evaluates both).
        n = len(dataset.y_train)
        self.x_all = torch.as_tensor(np.concatenate([dataset.x_train, dataset.x_val]), dtype=dt)
        self.x_all = self.x_all.to(dev)
        self.y_all = torch.as_tensor(np.concatenate([dataset.y_train, dataset.y_val])).to(dev)
        self.x_train, self.x_val = self.x_all[:n], self.x_all[n:]
        self.y_train, self.y_val = self.y_all[:n], self.y_all[n:]
        self.t_train = loss.target(self.y_train, dt)
        self.t_val = loss.target(self.y_val, dt)
        self.classify = dataset.task == CLASSIFICATION
        self.n_train = len(dataset.y_train)
        self.n_val = len(dataset.y_val)
        self.generator = torch.Generator().manual_seed(seed)
        self._batches: list[torch.Tensor | None] = []
        self._batch_pos = 0
        self.epoch = 0  # epochs completed
        self.taken = 0  # optimizer steps taken (records may lag on cuda)
        self.step_count = 0  # steps recorded
        self.status = Status.RUNNING
        self.reason: str | None = None
        self.last_record: ModelRecord | None = None
        self.epochs: list[ModelRecord] = []
        self.history = History(self.param_names, capacity=history_capacity)
        self._stats = None if self.small else LayerStats(self.params, seed=seed)
        self._on_cpu = self.device.type == "cpu"
        self._ready: list[tuple[_Meta, np.ndarray]] = []
        self._chunks: DeviceChunks[_Meta] = DeviceChunks(self.device, chunk_interval)
        self._nan = torch.full((len(EPOCH_FIELDS),), math.nan, dtype=dt, device=dev)
        self._nan_layers = torch.full(
            (len(self.params) * len(SUMMARY_FIELDS),), math.nan, dtype=dt, device=dev
        )
        # By default the full-set evaluation runs at most about once per 10 steps (every epoch
        # for mini-batches of a tenth of the data or smaller; every 10th step for full batch).
        self.eval_every = eval_every or max(1, math.ceil(10 / self.steps_per_epoch))
        self._state_layout: list[tuple[str, list[torch.Tensor | None]]] | None = None
        self._explode_limit: float | None = None
        self._last_loss: torch.Tensor | None = None
        # Rewind, as Run's: changes of setting (step, kind, args), applied after that step, and
        # checkpoints of the whole state (parameters, optimizer and scheduler state, the batch
        # generator and the epoch's batch order), taken before the step after their own.
        self._events: list[tuple[int, str, tuple[Any, ...]]] = []
        self._events_applied = 0
        self._checkpoints = Checkpoints(checkpoint_every, max_checkpoints, checkpoint_bytes)

    # -- properties ----------------------------------------------------------------------------

    @property
    def lr(self) -> float:
        """The learning rate the optimizer uses now."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def finished(self) -> bool:
        """True once the run has stopped (converged, diverged or out of steps)."""
        return self.status is not Status.RUNNING

    @property
    def _schedule_steps(self) -> int:
        return self.max_steps if self.max_steps is not None else DEFAULT_SCHEDULE_STEPS

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the training rows."""
        return 1 if self.batch_size is None else math.ceil(self.n_train / self.batch_size)

    @property
    def current(self) -> tuple[float, ...]:
        """A small model's scalars now (a synchronising read: not for the training loop)."""
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        return tuple(flat.double().cpu().tolist())

    # -- control -------------------------------------------------------------------------------

    # Changing the rate is Run's rule (a schedule is scaled with it), logged for replays.
    set_lr = Run.set_lr
    _set_lr = Run._set_lr

    def _log(self, kind: str, args: tuple[Any, ...]) -> None:
        """Log a change of setting made after the last step taken, for replays."""
        self._events.append((self.taken, kind, args))
        self._events_applied = len(self._events)

    # Replaying a logged change is Run's rule (an lr, or a fresh optimizer).
    _apply = Run._apply

    def _replace_optimizer(self, name: str, lr: float, hyper: Mapping[str, Any]) -> None:
        """A fresh optimizer (no state), as :meth:`Run._replace_optimizer` makes it."""
        Run._replace_optimizer(self, name, lr, hyper)  # type: ignore[arg-type]
        self._state_layout = None  # a small model's recorded state follows the new optimizer

    def extend(self, steps: int) -> None:
        """Allow ``steps`` more steps after a finished budget, so a paused run can go on."""
        if self.status is Status.FINISHED:
            self.status = Status.RUNNING
            self.reason = None
        if self.max_steps is not None:
            self.max_steps = max(self.max_steps, self.taken) + steps

    # -- stepping ------------------------------------------------------------------------------

    def batch_order(self) -> list[torch.Tensor | None]:
        """The next epoch's batches of row indices (None: the whole set), from the generator."""
        if self.batch_size is None:
            return [None]
        perm = torch.randperm(self.n_train, generator=self.generator)
        if self.device.type == "cuda":  # a pinned, non-blocking copy: no synchronisation
            perm = perm.pin_memory().to(self.device, non_blocking=True)
        return list(perm.split(self.batch_size))

    def _train_step(self) -> None:
        if self._checkpoints.due(self.taken):  # the state after step `taken`, before the next
            self._checkpoints.add(self._checkpoint())
        if self._batch_pos >= len(self._batches):
            self._batches = self.batch_order()
            self._batch_pos = 0
        index = self._batches[self._batch_pos]
        self._batch_pos += 1
        if index is None:
            x, target = self.x_train, self.t_train
        else:
            x, target = self.x_train.index_select(0, index), self.t_train.index_select(0, index)
        params = self.params
        # A big model's summaries on every layer_every-th step, and on the budget's last.
        summarise = (
            self.small or self.taken % self.layer_every == 0 or self.taken + 1 == self.max_steps
        )
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), target)
        loss.backward()
        self._last_loss = loss
        sharpness = None
        if self.curvature_every and (self.taken + 1) % self.curvature_every == 0:
            # At the parameters this step starts from; the products leave .grad alone.
            sharpness = self._measure_curvature()
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        if self.small:
            with torch.no_grad():
                before = torch.cat([p.detach().reshape(-1) for p in params])
                grad = torch.cat([g.reshape(-1) for g in grads])
            self.optimizer.step()
            with torch.no_grad():
                after = torch.cat([p.detach().reshape(-1) for p in params])
                payload = [before, grad, after, *self._state_values()]
        elif summarise:
            before_list = self._stats.snapshot()
            self.optimizer.step()
            payload = [self._stats.summarize(grads, before_list).reshape(-1)]
        else:
            self.optimizer.step()
            payload = [self._nan_layers]
        self.taken += 1
        evaluate = False
        if self._batch_pos >= len(self._batches):
            self.epoch += 1
            evaluate = self.epoch % self.eval_every == 0 or self.taken == self.max_steps
        with torch.no_grad():
            tail = self._evaluate_all() if evaluate else self._nan
            row = torch.cat([loss.detach().reshape(1), *payload, tail])
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            # The record keeps the rate this step used; the scheduler sets the next one.
            schedules.step_scheduler(self.scheduler, loss.item() if self._plateau else None)
        meta = (self.taken, lr, self.epoch if evaluate else None, summarise, sharpness)
        if self._on_cpu:  # ready at once: no chunking needed, and no extra copy
            self._ready.append((meta, row.numpy()))
        else:
            self._chunks.push(meta, row)

    def _state_values(self) -> list[torch.Tensor]:
        """A small model's optimizer state per scalar (momentum buffers, Adam's moments …)."""
        if self._state_layout is None:
            keys: dict[str, list[torch.Tensor | None]] = {}
            for i, p in enumerate(self.params):
                for key, value in self.optimizer.state.get(p, {}).items():
                    if (
                        key != "step"  # the step count, kept on the cpu by torch: not per scalar
                        and isinstance(value, torch.Tensor)
                        and value.is_floating_point()
                        and value.device == p.device
                        and value.numel() in (1, p.numel())
                    ):
                        keys.setdefault(key, [None] * len(self.params))[i] = value
            self._state_layout = list(keys.items())
        out = []
        for _, values in self._state_layout:
            parts = []
            for p, v in zip(self.params, values, strict=True):
                if v is None:
                    parts.append(torch.full((p.numel(),), math.nan, dtype=p.dtype, device=p.device))
                else:
                    parts.append(v.detach().reshape(-1).expand(p.numel()).to(p.dtype))
            out.append(torch.cat(parts))
        return out

    @torch.no_grad()
    def _evaluate_all(self) -> torch.Tensor:
        """Full-set train loss, validation loss and accuracies, on the device (no sync).

        One forward pass over the training and validation rows together (fewer kernels), then
        each split's loss and accuracy from its slice of the output.
        """
        n = self.n_train
        out = self.model(self.x_all)
        nan = self._nan[0]
        values = [self.loss_fn(out[:n], self.t_train)]
        values.append(self.loss_fn(out[n:], self.t_val) if self.n_val else nan)
        if self.classify:
            hits = (self.loss_fn.predict(out) == self.y_all).to(self.dtype)
            values.append(hits[:n].mean())
            values.append(hits[n:].mean() if self.n_val else nan)
        else:
            values += [nan, nan]
        return torch.stack(values)

    def evaluate(self) -> dict[str, float | None]:
        """The four :data:`EPOCH_FIELDS` now (synchronising; for reports and tests)."""
        row = self._evaluate_all().double().cpu().tolist()
        return {k: finite_or_none(v) for k, v in zip(EPOCH_FIELDS, row, strict=True)}

    def _stop(self, status: Status, reason: str) -> None:
        self.status = status
        self.reason = reason
        if self.last_record is not None:
            self.last_record.status = status
            self.last_record.reason = reason

    def _land(self, wait: bool = False) -> list[ModelRecord]:
        """Turn the chunks that reached the host into records, judging each as it lands."""
        out: list[ModelRecord] = []
        if self._on_cpu:
            landed, self._ready = self._ready, []
        else:
            landed = self._chunks.poll(wait)
        for (number, lr, epoch, summarised, sharpness), row in landed:
            if self.status is not Status.RUNNING:
                continue  # steps taken after a stop that was only seen now: not recorded
            record = self._record(number, float(lr), epoch, summarised, row, sharpness)
            if record is None:
                continue
            out.append(record)
        return out

    def _record(
        self,
        number: int,
        lr: float,
        epoch: int | None,
        summarised: bool,
        row: np.ndarray,
        sharpness: float | None = None,
    ) -> ModelRecord | None:
        loss = float(row[0])
        diverged, self._explode_limit = loss_divergence(
            loss, number, self._explode_limit, self.explode_factor
        )
        if diverged is not None:
            self._stop(Status.DIVERGED, diverged)
            return None
        n = self.n_scalars
        tail = row[len(row) - len(EPOCH_FIELDS) :]
        body = row[1 : len(row) - len(EPOCH_FIELDS)]
        if self.small:
            body = body.astype(np.float64, copy=False)
            before, grad, after = body[:n], body[n : 2 * n], body[2 * n : 3 * n]
            update = after - before
            grad_norm = float(np.sqrt(np.dot(grad, grad)))
            update_norm = float(np.sqrt(np.dot(update, update)))
            state = {
                key: tuple(
                    None if v != v else float(v) for v in body[3 * n + i * n : 3 * n + (i + 1) * n]
                )
                for i, (key, _) in enumerate(self._state_layout or [])
            }
            record = ModelRecord(
                number,
                loss,
                tuple(before.tolist()),
                tuple(grad.tolist()),
                grad_norm,
                tuple(after.tolist()),
                tuple(update.tolist()),
                update_norm,
                lr,
                state,
            )
        elif not summarised:
            grad_norm = update_norm = math.nan
            record = ModelRecord(number, loss, (), (), grad_norm, (), (), update_norm, lr, {})
        else:
            table = body.astype(np.float64).reshape(len(self.params), len(SUMMARY_FIELDS))
            grad_norm = float(np.sqrt(np.sum(table[:, 0] ** 2)))
            update_norm = float(np.sqrt(np.sum(table[:, 2] ** 2)))
            layers = {
                name: {k: finite_or_none(float(v)) for k, v in zip(SUMMARY_FIELDS, r, strict=True)}
                for name, r in zip(self.layer_names, table, strict=True)
            }
            record = ModelRecord(
                number, loss, (), (), grad_norm, (), (), update_norm, lr, {}, layers=layers
            )
        if summarised and not math.isfinite(grad_norm):
            self._stop(Status.DIVERGED, f"gradient became {grad_norm} at step {number}")
            return None
        if summarised and not math.isfinite(update_norm):
            self._stop(Status.DIVERGED, f"the update became {update_norm} at step {number}")
            return None
        record.lambda_max = sharpness
        if epoch is not None:
            record.epoch = epoch
            record.train_loss, record.val_loss = float(tail[0]), float(tail[1])
            if self.classify:
                record.train_accuracy, record.val_accuracy = float(tail[2]), float(tail[3])
            self.epochs.append(record)
        self.step_count = number
        self.last_record = record
        self.history.append(record)
        if summarised and grad_norm <= self.tolerance:
            self._stop(
                Status.CONVERGED,
                f"converged at step {number}: ‖∇‖ = {grad_norm:.3g} is within the tolerance "
                f"{self.tolerance:g}",
            )
        elif self.max_steps is not None and number >= self.max_steps:
            s = "s" if self.max_steps != 1 else ""
            self._stop(Status.FINISHED, f"finished the budget of {self.max_steps} step{s}")
        return record

    def step(self) -> list[ModelRecord]:
        """Take one training step (unless stopped) and return the records that have landed.

        On the cpu that is exactly this step's record (or none if the step diverged); on cuda
        zero or more records, oldest first. Once the budget is spent (or the run stopped) it
        waits for the outstanding records: an empty list with :attr:`finished` True is the end.
        """
        if self.status is Status.RUNNING and (
            self.max_steps is None or self.taken < self.max_steps
        ):
            self._train_step()
            return self._land()
        return self._land(wait=True)

    def drain(self) -> list[ModelRecord]:
        """Wait for every step taken so far and return the records not yet returned."""
        return self._land(wait=True)

    def steps(self, count: int | None = None) -> Iterator[ModelRecord]:
        """Step until stopped (or ``count`` more steps), yielding each record as it lands;
        at the end it waits for the records still in flight."""
        start = self.taken
        while not self.finished and (count is None or self.taken - start < count):
            if self.max_steps is not None and self.taken >= self.max_steps:
                break
            self._train_step()
            yield from self._land()
        yield from self._land(wait=True)

    def run(self, count: int | None = None) -> ModelRecord | None:
        """Step until stopped (or ``count`` more steps); return the last record."""
        for _ in self.steps(count):
            pass
        return self.last_record

    # -- rewind and branch ---------------------------------------------------------------------

    @property
    def checkpoint_steps(self) -> tuple[int, ...]:
        """The steps a checkpoint is held for (bounded, as :class:`Run`'s)."""
        return self._checkpoints.steps

    def _checkpoint(self) -> Checkpoint:
        checkpoint = take_checkpoint(self)
        checkpoint.step = self.taken  # on cuda the records may lag behind the steps taken
        return checkpoint

    def fresh(self, **changes: Any) -> ModelRun:
        """A new run with this one's constructor settings (``changes`` replace some: ``lr``,
        ``max_steps`` …) on the same data, starting from a copy of the model as it is now."""
        config = {**self._config, "device": self.device, "dtype": self.dtype, **changes}
        return ModelRun(self.dataset, copy.deepcopy(self.model), self.loss_fn, **config)

    def _twin(self) -> ModelRun:
        """A run built with this one's settings, on a copy of the model (whose parameters a
        checkpoint then overwrites)."""
        return self.fresh()

    def _load(self, checkpoint: Checkpoint) -> None:
        saved = checkpoint.run_state
        if (saved["optimizer_name"], saved["hyper"]) != (self.optimizer_name, self.hyper):
            self._replace_optimizer(saved["optimizer_name"], self.lr, saved["hyper"])
        restore_checkpoint(self, checkpoint)
        self._state_layout = None  # the optimizer's state tensors are new objects
        self._eigenvector = None
        if self.step_count != checkpoint.step:  # records were still in flight (cuda)
            self.step_count = checkpoint.step
            self.last_record = None

    def _replay(self, k: int, *, history: bool, layers: bool = False) -> ModelRun:
        """A new run in the exact state after step ``k`` of this one, its last record that
        step's: the checkpoint before it, then the steps and changes of setting up to ``k``
        again (at least one step, so the record is rebuilt too). ``layers``: every replayed
        step carries its per-layer summaries (they read the step, never change it)."""
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= self.step_count:
            raise RunError(f"step must be a whole number from 0 to {self.step_count}, got {k!r}")
        twin = self._twin()
        twin.max_steps = self.max_steps
        start = 0
        if self._checkpoints:
            checkpoint = self._checkpoints.before(max(k - 1, 0))
            twin._load(checkpoint)
            start = checkpoint.step
        twin._checkpoints = self._checkpoints.prefix(start)
        if history:
            twin.history = self.history.prefix(start)
            twin.epochs = [r for r in self.epochs if r.step <= start]
        cut = bisect_right([e[0] for e in self._events], k)
        twin._events = list(self._events[:cut])
        pending = twin._events[twin._events_applied :]
        if layers:
            twin.layer_every = 1
            twin.tolerance = -1.0  # summaries on every step must not stop it early
        i = 0
        while True:
            while i < len(pending) and pending[i][0] <= twin.taken:
                twin._apply(*pending[i][1:])
                i += 1
            if twin.taken >= k:
                break
            twin._train_step()
        twin._land(wait=True)
        twin.layer_every, twin.tolerance = self.layer_every, self.tolerance
        if twin.step_count != k:  # cannot happen: the same numbers went through before
            raise RunError(f"replay stopped at step {twin.step_count}: {twin.reason}")
        return twin

    def state_at(self, k: int) -> ModelRecord:
        """The record of step ``k`` (1 … ``step_count``) as it was, rebuilt by replay from the
        nearest checkpoint on a scratch copy (this run and torch's global RNG are left as they
        were). A big model's record carries its per-layer summaries whatever ``layer_every``."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.step_count:
            raise RunError(f"step must be a whole number from 1 to {self.step_count}, got {k!r}")
        last = self.last_record
        if k == self.step_count and last is not None and (self.small or last.layers):
            return last
        record = self.at(k).last_record
        assert record is not None
        return record

    def at(self, k: int) -> ModelRun:
        """A scratch copy of this run in the exact state after step ``k`` (1 … ``step_count``),
        its last record that step's (with per-layer summaries): to look at the model as it was
        (its decision regions, say). This run and torch's global RNG are left as they were."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.step_count:
            raise RunError(f"step must be a whole number from 1 to {self.step_count}, got {k!r}")
        with torch.random.fork_rng(devices=[]):
            scratch = self._replay(k, history=False, layers=not self.small)
        record = scratch.last_record
        assert record is not None
        record.status, record.reason = Status.RUNNING, None  # as a step in the middle of a run
        if not self.curvature_every or k % self.curvature_every:
            record.lambda_max = None
        return scratch

    # A branch is Run's: replay to step k, then the changed setting (lr, optimizer, hyper).
    branch = Run.branch
    optimizer_at = Run.optimizer_at

    # -- curvature -----------------------------------------------------------------------------

    def _full_batch_loss(self) -> torch.Tensor:
        """The training loss over every training row at the current parameters."""
        return self.loss_fn(self.model(self.x_train), self.t_train)

    def _curvature(self) -> float:
        found = curvature.top_eigenvalue(
            self._full_batch_loss,
            self.params,
            iters=self.curvature_iters,
            tol=self.curvature_tol,
            seed=self.seed,
            start=self._eigenvector,
        )
        self._eigenvector = found.vector
        return found.lambda_max

    def _measure_curvature(self) -> float | None:
        try:
            return self._curvature()
        except curvature.CurvatureError:
            return None  # a non-finite loss or product: no number to record

    def lambda_max(self) -> float:
        """λmax of the full-batch training loss at the current parameters (synchronising);
        :class:`~gdtui.engine.curvature.CurvatureError` where it has none."""
        return self._curvature()

    def autograd_graph(self) -> GraphNode | None:
        """The graph ``backward()`` walked for the last step, as :meth:`Run.autograd_graph`
        gives it (leaves named after the parameter tensors)."""
        view = SimpleNamespace(
            _last_loss=self._last_loss, params=self.params, param_names=self.layer_names
        )
        return Run.autograd_graph(view)  # type: ignore[arg-type]

    def epoch_curves(self) -> dict[str, np.ndarray]:
        """Per completed epoch (recorded): ``step``, ``epoch`` and the :data:`EPOCH_FIELDS`
        (NaN where undefined), for the loss plot's epoch curves."""
        rows = self.epochs

        def col(name: str) -> np.ndarray:
            return np.array(
                [np.nan if getattr(r, name) is None else getattr(r, name) for r in rows],
                dtype=float,
            )

        return {
            "step": np.array([r.step for r in rows], dtype=np.int64),
            "epoch": np.array([r.epoch for r in rows], dtype=np.int64),
            **{name: col(name) for name in EPOCH_FIELDS},
        }


# -- from scenario tables --------------------------------------------------------------------------

MODEL_KEYS = ("kind", "hidden", "activation")
LOSS_KEYS = ("fn",)
RUN_KEYS = ("batch_size", "steps", "seed", "tolerance", "dtype", "device", "curvature_every")


def _check_keys(section: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise ModelError(
                f"unknown field '{key}' in [{section}]{closest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )


def build_model_run(
    data: Mapping[str, Any],
    model: Mapping[str, Any] | None = None,
    loss: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    optimizer: str = "sgd",
    lr: float | str | None = None,
    hyper: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
    **overrides: Any,
) -> ModelRun:
    """A :class:`ModelRun` from a scenario's ``[data]``, ``[model]``, ``[loss]`` and ``[run]``
    tables as plain dicts, every key checked (one-line errors: :class:`DataError`,
    :class:`ModelError`, :class:`RunError`, :class:`OptimizerError`). ``overrides`` are passed
    to :class:`ModelRun` (``chunk_interval``, ``history_capacity``, ``explode_factor``,
    ``schedule`` and ``schedule_args``)."""
    model, loss, run = dict(model or {}), dict(loss or {}), dict(run or {})
    _check_keys("model", model, MODEL_KEYS)
    _check_keys("loss", loss, LOSS_KEYS)
    _check_keys("run", run, RUN_KEYS)
    seed = _setting(settings.check_seed, run.get("seed", 0), text=False)
    fn = loss.get("fn")
    task = data_task(data)
    if task is None:  # a CSV file: the loss says whether the target is classes
        key = fn.strip().lower() if isinstance(fn, str) else ""
        task = CLASSIFICATION if key in CLASS_ONLY else "regression"
    dataset = load_data(data, seed=seed, base_dir=base_dir, task=task)
    loss_name = check_loss(fn if fn is not None else default_loss(task), task, dataset.n_classes)
    default_kind = "linear" if task == "regression" else "mlp"
    kind = _choice(
        "model kind", model.get("kind", default_kind), ("linear", "logistic", "mlp", "cnn")
    )
    if kind == "logistic" and task == "regression":
        raise ModelError("model 'logistic' is for class labels; use linear for a continuous target")
    hidden = check_hidden(model.get("hidden", [16, 16]))
    if kind != "mlp" and "hidden" in model:
        raise ModelError(f"[model] hidden is for kind = \"mlp\", not '{kind}'")
    activation = model.get("activation", "relu")
    torch.manual_seed(seed)
    net = build_model(
        kind,
        dataset.n_features,
        output_size(loss_name, task, dataset.n_classes),
        hidden=hidden,
        activation=activation,
        image_shape=dataset.image_shape,
    )
    return ModelRun(
        dataset,
        net,
        Loss(loss_name, task, dataset.n_classes),
        optimizer,
        lr,
        hyper,
        batch_size=run.get("batch_size", "full"),
        max_steps=run.get("steps"),
        tolerance=run.get("tolerance", 0.0),
        dtype=run.get("dtype", "float32"),
        device=run.get("device", "auto"),
        seed=seed,
        curvature_every=run.get("curvature_every", 0),
        **overrides,
    )
