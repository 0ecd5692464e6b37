"""Learning-rate schedules: named presets over the real ``torch.optim.lr_scheduler`` classes.

Each entry names a scheduler class and defaults that fit a run of ``total_steps`` steps (cosine
anneals over the whole run, warm-up takes its first tenth, …). A user's arguments are the
constructor's own (``T_max = 500``): their names are checked against the real signature, their
kinds against its defaults and annotations, and then the scheduler is built and stepped once on a
scratch copy of the optimizer, so every value torch refuses becomes a one-line
:class:`ScheduleError` and the real optimizer is left untouched by a failure.

Step the scheduler after each optimizer step with :func:`step_scheduler` (reduce-on-plateau
needs the loss); the learning rate of that step is the one read before stepping the scheduler.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import lr_scheduler

# _check_type and _coerce are the optimizer registry's own value checks, shared on purpose.
from gdtui.engine.optimizers import OptimizerError, _check_type, _coerce, closest


class ScheduleError(ValueError):
    """A bad schedule name or argument; ``str()`` is one line."""


Defaults = Callable[[int, float], dict[str, Any]]


@dataclass(frozen=True)
class ScheduleSpec:
    """One registry entry: a name, the torch class and its defaults for a run.

    ``defaults(total_steps, lr)`` gives the arguments used unless the user sets them.
    """

    name: str
    cls: type
    description: str
    defaults: Defaults

    @property
    def torch_name(self) -> str:
        """Where the class lives, e.g. ``torch.optim.lr_scheduler.CosineAnnealingLR``."""
        return f"torch.optim.lr_scheduler.{self.cls.__name__}"

    def signature(self) -> dict[str, inspect.Parameter]:
        """The constructor's arguments a user may set (optimizer and last_epoch left out)."""
        sig = inspect.signature(self.cls.__init__)
        return {
            name: p
            for name, p in sig.parameters.items()
            if name not in ("self", "optimizer", "last_epoch", "verbose")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }


_S = lr_scheduler
SCHEDULES: dict[str, ScheduleSpec] = {
    spec.name: spec
    for spec in [
        ScheduleSpec(
            "step",
            _S.StepLR,
            "multiply lr by gamma every step_size steps",
            lambda total, lr: {"step_size": max(1, total // 3), "gamma": 0.1},
        ),
        ScheduleSpec(
            "exponential",
            _S.ExponentialLR,
            "multiply lr by gamma every step (default: down to 1 % over the run)",
            lambda total, lr: {"gamma": 0.01 ** (1.0 / max(1, total))},
        ),
        ScheduleSpec(
            "cosine",
            _S.CosineAnnealingLR,
            "cosine from lr down to eta_min over T_max steps (default: the whole run)",
            lambda total, lr: {"T_max": max(1, total), "eta_min": 0.0},
        ),
        ScheduleSpec(
            "one-cycle",
            _S.OneCycleLR,
            "warm up to max_lr, then anneal far below the start (Smith's one-cycle)",
            lambda total, lr: {"max_lr": lr, "total_steps": max(1, total), "cycle_momentum": False},
        ),
        ScheduleSpec(
            "warmup",
            _S.LinearLR,
            "linear warm-up from start_factor × lr to lr over total_iters steps",
            lambda total, lr: {"start_factor": 0.1, "total_iters": max(1, total // 10)},
        ),
        ScheduleSpec(
            "plateau",
            _S.ReduceLROnPlateau,
            "multiply lr by factor when the loss stops improving for patience steps",
            lambda total, lr: {},
        ),
    ]
}

ALIASES = {
    "steplr": "step",
    "exponentiallr": "exponential",
    "cosineannealinglr": "cosine",
    "cosine-annealing": "cosine",
    "onecycle": "one-cycle",
    "onecyclelr": "one-cycle",
    "one_cycle": "one-cycle",
    "linear-warmup": "warmup",
    "linear-warm-up": "warmup",
    "linearlr": "warmup",
    "reduce-on-plateau": "plateau",
    "reducelronplateau": "plateau",
}


def get_schedule(name: str) -> ScheduleSpec:
    """Look a schedule up by name (case-insensitive, a few aliases), with a helpful error."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    spec = SCHEDULES.get(key)
    if spec is None:
        raise ScheduleError(
            f"unknown schedule '{name}'{closest(key, [*SCHEDULES, *ALIASES])}; "
            f"choose one of: {', '.join(SCHEDULES)}"
        )
    return spec


def _literal_choices(annotation: Any) -> list[str] | None:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    match = re.search(r"Literal\[(.*?)\]", text)
    if match is None:
        return None
    return re.findall(r"'([^']*)'", match.group(1))


def _check_value(spec: ScheduleSpec, key: str, value: Any, param: inspect.Parameter) -> Any:
    """The value's kind against the constructor's default and annotation."""
    where = f"schedule {spec.name}: {key}"
    annotation = param.annotation if isinstance(param.annotation, str) else str(param.annotation)
    choices = _literal_choices(annotation)
    if choices is not None:
        if value not in choices:
            raise ScheduleError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if annotation.startswith("int"):
        if not (isinstance(value, int) and not isinstance(value, bool)):
            raise ScheduleError(f"{where} must be a whole number, got {value!r}")
        return value
    if "list[float]" in annotation and isinstance(value, tuple):
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise ScheduleError(f"{where} must hold numbers, got {value!r}")
        return list(value)
    if annotation.startswith("float") or "float" in annotation.split("|")[0]:
        if not is_number:
            raise ScheduleError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ScheduleError(f"{where} must be finite, got {value!r}")
        return value
    if param.default is not inspect.Parameter.empty and param.default is not None:
        try:
            _check_type(f"schedule {spec.name}", key, value, param.default)
        except OptimizerError as err:
            raise ScheduleError(str(err)) from None
    return value


def schedule_arguments(
    name: str, args: Mapping[str, Any] | None, total_steps: int, lr: float
) -> dict[str, Any]:
    """The arguments the scheduler is built with: the preset's defaults for a run of
    ``total_steps`` at ``lr``, then the user's (names and kinds checked)."""
    spec = get_schedule(name)
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ScheduleError(
            f"total_steps must be a whole number of at least 1, got {total_steps!r}"
        )
    allowed = spec.signature()
    user: dict[str, Any] = {}
    for key, value in (args or {}).items():
        if key not in allowed:
            raise ScheduleError(
                f"schedule '{spec.name}' has no argument '{key}'{closest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
        user[key] = _check_value(spec, key, _coerce(value), allowed[key])
    defaults = spec.defaults(total_steps, lr)
    if spec.name == "one-cycle" and ("epochs" in user or "steps_per_epoch" in user):
        defaults.pop("total_steps", None)
    return {**defaults, **user}


def _build(spec: ScheduleSpec, optimizer: torch.optim.Optimizer, kwargs: Mapping[str, Any]) -> Any:
    try:
        return spec.cls(optimizer, **kwargs)
    except Exception as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ScheduleError(f"schedule {spec.name}: {message}") from None


def make_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    args: Mapping[str, Any] | None = None,
    total_steps: int = 1000,
) -> Any:
    """Build the real scheduler for ``optimizer``; the preset's defaults, then ``args``.

    The arguments are first tried on a scratch copy of the optimizer (built and stepped once),
    so a refused value leaves the real optimizer as it was.
    """
    spec = get_schedule(name)
    lr = float(optimizer.param_groups[0]["lr"])
    kwargs = schedule_arguments(spec.name, args, total_steps, lr)
    scratch = copy.deepcopy(optimizer)
    probe = _build(spec, scratch, kwargs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stepping the scheduler without a real step
            step_scheduler(probe, 1.0)
    except Exception as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ScheduleError(f"schedule {spec.name}: {message}") from None
    return _build(spec, optimizer, kwargs)


def check_schedule(
    name: str, args: Mapping[str, Any] | None = None, total_steps: int = 1000, lr: float = 0.1
) -> dict[str, Any]:
    """Validate a schedule without a run (for a scenario file): the arguments it would use."""
    probe = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.SGD([probe], lr=lr, momentum=0.9)
    make_scheduler(name, optimizer, args, total_steps)
    return schedule_arguments(name, args, total_steps, lr)


def step_scheduler(scheduler: Any, loss: float | None = None) -> float:
    """Advance ``scheduler`` by one optimizer step and return the learning rate for the next.

    Reduce-on-plateau is given ``loss``; one-cycle holds its last rate once its ``total_steps``
    are used up (torch would raise) so a run may go on past its planned length.
    """
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        if loss is None:
            raise ScheduleError("reduce-on-plateau needs the loss of the step")
        scheduler.step(loss)
    elif isinstance(scheduler, lr_scheduler.OneCycleLR):
        if scheduler.last_epoch < scheduler.total_steps - 1:
            scheduler.step()
    else:
        scheduler.step()
    return float(scheduler.optimizer.param_groups[0]["lr"])


def set_rate(optimizer: Any, scheduler: Any, value: float) -> None:
    """Set the rate in use to ``value`` at once; with a ``scheduler`` the whole schedule is
    scaled by the same factor (see :meth:`gdtui.engine.run.Run.set_lr`). One rule for a
    formula's run and a model's."""
    if scheduler is None:
        for group in optimizer.param_groups:
            group["lr"] = value
        return
    now = float(optimizer.param_groups[0]["lr"])
    if now > 0:
        scale_schedule(optimizer, scheduler, value / now)
        for group in optimizer.param_groups:
            group["lr"] = value
    else:
        base = getattr(scheduler, "base_lrs", None) or [
            optimizer.param_groups[0].get("initial_lr", value)
        ]
        scale_schedule(optimizer, scheduler, value / base[0] if base[0] > 0 else 1.0)


def scale_schedule(optimizer: Any, scheduler: Any, factor: float) -> None:
    """Multiply every rate the scheduler works from by ``factor`` (its param groups' rates, its
    base rates, one-cycle's peak and floor, cosine's ``eta_min``, plateau's floors)."""
    for group in optimizer.param_groups:
        for key in ("lr", "initial_lr", "max_lr", "min_lr"):
            if key in group:
                group[key] = group[key] * factor
    for attr in ("base_lrs", "_last_lr", "min_lrs"):
        values = getattr(scheduler, attr, None)
        if isinstance(values, list):
            setattr(scheduler, attr, [v * factor for v in values])
    for attr in ("eta_min", "default_min_lr"):
        value = getattr(scheduler, attr, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            setattr(scheduler, attr, value * factor)
