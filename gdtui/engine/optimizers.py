"""The optimizer registry: named presets over the real ``torch.optim`` classes, plus ``manual``.

The engine never reimplements an optimizer that torch has. Each entry names a ``torch.optim`` class
and the keyword arguments of a preset (``momentum`` is ``SGD(momentum=0.9)``). Hyper-parameters
are checked against the class's real constructor signature and then by the constructor itself, so
every value torch refuses becomes a one-line :class:`OptimizerError`.

``manual`` is the worked example's update, ``w -= lr * w.grad`` under ``torch.no_grad()``, wrapped
as a ``torch.optim.Optimizer`` so that it takes the same place in a run as the others.

Left out on purpose: ``LBFGS`` (needs a closure and many evaluations per step), ``SparseAdam``
(sparse gradients only) and ``Muon`` (matrix parameters only); the problems here have scalar
parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from gdtui import settings
from gdtui.suggest import closest


class OptimizerError(ValueError):
    """A bad optimizer name, learning rate or hyper-parameter; ``str()`` is one line."""


class ManualSGD(torch.optim.Optimizer):
    """The worked example's update as an optimizer: ``p -= lr * p.grad`` under ``no_grad``.

    It keeps no state; its path equals ``torch.optim.SGD`` with no momentum.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.1) -> None:
        if not lr > 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, {"lr": lr})

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        """Apply ``p -= lr * p.grad`` to every parameter that has a gradient."""
        with torch.no_grad():
            for group in self.param_groups:
                lr = group["lr"]
                for p in group["params"]:
                    if p.grad is not None:
                        p -= lr * p.grad


@dataclass(frozen=True)
class OptimizerSpec:
    """One registry entry: a name, the torch class behind it and the preset's arguments."""

    name: str
    cls: type[torch.optim.Optimizer]
    description: str
    preset: Mapping[str, Any] = field(default_factory=dict)

    @property
    def torch_name(self) -> str:
        """Where the class lives, e.g. ``torch.optim.SGD``."""
        if self.cls is ManualSGD:
            return "manual: w -= lr * w.grad"
        return f"torch.optim.{self.cls.__name__}"

    def signature_defaults(self) -> dict[str, Any]:
        """The constructor's keyword arguments and their defaults, ``params`` left out."""
        sig = inspect.signature(self.cls.__init__)
        out: dict[str, Any] = {}
        for name, p in sig.parameters.items():
            if name in ("self", "params") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            out[name] = p.default
        return out

    def defaults(self) -> dict[str, Any]:
        """The effective hyper-parameters of this preset: constructor defaults, then the preset."""
        out = self.signature_defaults()
        out.update(self.preset)
        return out

    def hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters a user would tune (lr and the implementation flags left out)."""
        return {k: v for k, v in self.defaults().items() if k not in _IMPLEMENTATION_FLAGS | {"lr"}}

    @property
    def default_lr(self) -> float:
        """The learning rate used when none is given."""
        lr = self.defaults().get("lr", 0.1)
        return float(lr)


# Constructor arguments that choose an implementation, not the maths a learner tunes.
_IMPLEMENTATION_FLAGS = frozenset({"foreach", "fused", "capturable", "differentiable"})

_O = torch.optim
OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in [
        OptimizerSpec("manual", ManualSGD, "the worked example: w -= lr * w.grad, by hand"),
        OptimizerSpec("sgd", _O.SGD, "plain gradient descent: step = -lr * gradient"),
        OptimizerSpec("momentum", _O.SGD, "SGD with momentum 0.9: a heavy ball", {"momentum": 0.9}),
        OptimizerSpec(
            "nesterov",
            _O.SGD,
            "SGD with Nesterov momentum 0.9: looks ahead before it steps",
            {"momentum": 0.9, "nesterov": True},
        ),
        OptimizerSpec("adagrad", _O.Adagrad, "per-parameter rates shrink with summed grad²"),
        OptimizerSpec("adadelta", _O.Adadelta, "Adagrad without the ever-shrinking rate"),
        OptimizerSpec("rmsprop", _O.RMSprop, "divides by a running RMS of the gradient"),
        OptimizerSpec("adam", _O.Adam, "momentum + RMSprop with bias correction"),
        OptimizerSpec("adamw", _O.AdamW, "Adam with decoupled weight decay"),
        OptimizerSpec("adamax", _O.Adamax, "Adam with an infinity norm"),
        OptimizerSpec("nadam", _O.NAdam, "Adam with Nesterov momentum"),
        OptimizerSpec("radam", _O.RAdam, "Adam with a rectified warm-up of the variance"),
        OptimizerSpec("asgd", _O.ASGD, "averaged SGD"),
        OptimizerSpec("rprop", _O.Rprop, "uses only the sign of the gradient"),
        *(
            [OptimizerSpec("adafactor", _O.Adafactor, "factored second moments, little memory")]
            if hasattr(_O, "Adafactor")
            else []
        ),
    ]
}


def get_spec(name: str) -> OptimizerSpec:
    """Look an optimizer up by name (case-insensitive), with a helpful error."""
    key = str(name).strip().lower()
    spec = OPTIMIZERS.get(key)
    if spec is None:
        raise OptimizerError(
            f"unknown optimizer '{name}'{closest(key, OPTIMIZERS)}; "
            f"choose one of: {', '.join(OPTIMIZERS)}"
        )
    return spec


def parse_lr(value: Any) -> float:
    """A learning rate from user input (see :func:`gdtui.settings.parse_lr`), else
    :class:`OptimizerError` with the settings module's message."""
    try:
        return settings.parse_lr(value)
    except settings.SettingError as err:
        raise OptimizerError(str(err)) from None


def _coerce(value: Any) -> Any:
    """TOML and JSON give lists; torch wants tuples for pairs such as ``betas``."""
    if isinstance(value, list):
        return tuple(_coerce(v) for v in value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_type(optimizer: str, key: str, value: Any, default: Any) -> None:
    """A value of the kind the constructor's default has: a flag, a number, or a pair of them.

    Without this, ``amsgrad = "no"`` would be truthy and silently switch AMSGrad on.
    """
    where = f"{optimizer}: {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise OptimizerError(f"{where} must be true or false, got {value!r}")
    elif _is_number(default):
        if not _is_number(value):
            raise OptimizerError(f"{where} must be a number, got {value!r}")
    elif isinstance(default, tuple):
        if not isinstance(value, tuple) or len(value) != len(default):
            raise OptimizerError(
                f"{where} must be {len(default)} values like {default!r}, got {value!r}"
            )
        for item, item_default in zip(value, default, strict=True):
            if not _is_number(item) and not (item is None and item_default is None):
                raise OptimizerError(f"{where} must hold numbers, got {value!r}")


def check_hyperparameters(spec: OptimizerSpec, hyper: Mapping[str, Any]) -> dict[str, Any]:
    """Names checked against the real constructor; values then checked by constructing it and
    taking one step on a scratch parameter (some values fail only when the optimizer steps).

    Implementation switches (foreach, fused, capturable, differentiable) are not offered: they
    choose how torch computes a step, not the maths a learner tunes, and some need a GPU.
    """
    defaults = spec.signature_defaults()
    allowed = [k for k in defaults if k not in _IMPLEMENTATION_FLAGS | {"lr"}]
    out: dict[str, Any] = {}
    for key, value in hyper.items():
        if key not in allowed:
            if not allowed:
                raise OptimizerError(f"'{spec.name}' takes no hyper-parameters (only lr)")
            raise OptimizerError(
                f"'{spec.name}' has no hyper-parameter '{key}'{closest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
        value = _coerce(value)
        _check_type(spec.name, key, value, defaults[key])
        out[key] = value
    probe = torch.zeros((), requires_grad=True)
    kwargs = {**spec.preset, **out}
    try:
        optimizer = spec.cls([probe], lr=spec.default_lr, **kwargs)
        probe.grad = torch.ones(())
        optimizer.step()
    except Exception as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OptimizerError(f"{spec.name}: {message}") from None
    return out


def make_optimizer(
    name: str, params: list[torch.Tensor], lr: float, hyper: Mapping[str, Any] | None = None
) -> torch.optim.Optimizer:
    """Build the real optimizer for ``params``; the preset's arguments, then the user's."""
    spec = get_spec(name)
    lr = parse_lr(lr)
    checked = check_hyperparameters(spec, hyper or {})
    return spec.cls(params, lr=lr, **{**spec.preset, **checked})
