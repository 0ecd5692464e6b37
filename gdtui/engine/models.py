"""Models and loss functions for model runs: plain ``torch.nn`` and ``torch.nn.functional``.

- ``linear``: one ``nn.Linear`` (regression; for classes it is softmax regression);
- ``logistic``: one ``nn.Linear`` to the class logits (softmax, or one logit with
  ``bce_with_logits``);
- ``mlp``: ``nn.Linear`` layers with an activation between them (``hidden = [16, 16]``);
- ``cnn``: a small convolutional network for 8×8 one-channel images (``digits``).

A loss adapts the model's output and the target to the function: a regression output is
squeezed to ``(n,)``; ``cross_entropy`` takes class indices; ``bce_with_logits`` one logit per
sample; ``mse``/``l1``/``huber`` on classes take one-hot targets (the mse-vs-cross-entropy
lesson).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gdtui.engine.data import CLASSIFICATION, REGRESSION
from gdtui.suggest import closest

MODEL_KINDS = ("linear", "logistic", "mlp", "cnn")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
}
LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
    "cross_entropy": F.cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
}
CLASS_ONLY = ("cross_entropy", "bce_with_logits")


class ModelError(ValueError):
    """A bad ``[model]`` or ``[loss]`` setting, or a loss that does not fit the data."""


def _choice(what: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise ModelError(
            f"{what} must be a name, got {value!r}; choose one of: {', '.join(choices)}"
        )
    key = value.strip().lower().replace("-", "_")
    if key not in choices:
        raise ModelError(
            f"unknown {what} '{value}'{closest(key, choices)}; choose one of: {', '.join(choices)}"
        )
    return key


def check_loss(fn: object, task: str, n_classes: int = 0) -> str:
    """The loss name, checked against the target: a one-line :class:`ModelError` if unfit."""
    name = _choice("loss function", fn, list(LOSSES))
    if task == REGRESSION and name in CLASS_ONLY:
        raise ModelError(
            f"loss '{name}' needs class labels, but the target is continuous; use mse, l1 or huber"
        )
    if name == "bce_with_logits" and n_classes != 2:
        raise ModelError(
            f"loss 'bce_with_logits' is for two classes, this data has {n_classes}; "
            "use cross_entropy"
        )
    return name


def default_loss(task: str) -> str:
    """``mse`` for regression, ``cross_entropy`` for classification."""
    return "mse" if task == REGRESSION else "cross_entropy"


def output_size(loss: str, task: str, n_classes: int) -> int:
    """How many outputs the model needs for ``loss`` on this task."""
    if task == REGRESSION or loss == "bce_with_logits":
        return 1
    return n_classes


def check_hidden(hidden: object) -> tuple[int, ...]:
    """``hidden = [16, 16]``: whole numbers of at least 1 (an empty list is allowed)."""
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if not isinstance(hidden, list | tuple) or not all(
        isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 4096 for h in hidden
    ):
        raise ModelError(f"[model] hidden must be a list of layer sizes 1…4096, got {hidden!r}")
    return tuple(hidden)


def build_model(
    kind: str,
    n_features: int,
    n_outputs: int,
    *,
    hidden: Sequence[int] = (16, 16),
    activation: str = "relu",
    image_shape: tuple[int, ...] | None = None,
) -> nn.Module:
    """A fresh ``torch.nn`` model (initialised from torch's global generator: seed it first)."""
    kind = _choice("model kind", kind, MODEL_KINDS)
    act = ACTIVATIONS[_choice("activation", activation, list(ACTIVATIONS))]
    if kind in ("linear", "logistic"):
        return nn.Sequential(nn.Linear(n_features, n_outputs))
    if kind == "mlp":
        layers: list[nn.Module] = []
        width = n_features
        for h in check_hidden(list(hidden)):
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)
    if image_shape is None or len(image_shape) != 3 or math.prod(image_shape) != n_features:
        raise ModelError("model 'cnn' needs image data (digits); use mlp for this data set")
    channels, height, width = image_shape
    # Two 3×3 convolutions, each halving the picture: 8×8 → 4×4 → 2×2.
    return nn.Sequential(
        nn.Unflatten(1, image_shape),
        nn.Conv2d(channels, 8, 3, padding=1),
        act(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        act(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * (height // 4) * (width // 4), n_outputs),
    )


@dataclass(frozen=True)
class Loss:
    """A loss from ``torch.nn.functional`` with the target prepared the way it needs."""

    name: str
    task: str
    n_classes: int

    @property
    def fn(self) -> Callable[..., torch.Tensor]:
        """The ``torch.nn.functional`` function."""
        return LOSSES[self.name]

    def target(self, y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The target in the form the function takes (class indices, one-hot, or values)."""
        if self.task == REGRESSION:
            return y.to(dtype)
        if self.name == "cross_entropy":
            return y.long()
        if self.name == "bce_with_logits":
            return y.to(dtype)
        return F.one_hot(y.long(), self.n_classes).to(dtype)

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean loss of ``output`` (the model's) against a prepared ``target``."""
        if self.task == REGRESSION or self.name == "bce_with_logits":
            output = output.squeeze(-1)
        return self.fn(output, target)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Predicted class indices from the model's output (classification only)."""
        if self.name == "bce_with_logits":
            return (output.squeeze(-1) > 0).long()
        return output.argmax(dim=-1)

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(n, classes)`` from the output (sigmoid or softmax)."""
        if self.name == "bce_with_logits":
            p = torch.sigmoid(output.squeeze(-1))
            return torch.stack([1 - p, p], dim=-1)
        if self.name == "cross_entropy":
            return torch.softmax(output, dim=-1)
        return output.clamp(0.0, 1.0)  # mse/l1/huber on one-hot targets: the raw scores


def describe_model(model: nn.Module) -> str:
    """One line: the layers' shapes and the parameter count."""
    count = sum(p.numel() for p in model.parameters())
    layers = " → ".join(type(m).__name__ for m in model if not isinstance(m, nn.Unflatten))
    return f"{layers} ({count} parameters)"


__all__ = [
    "ACTIVATIONS",
    "CLASSIFICATION",
    "LOSSES",
    "MODEL_KINDS",
    "Loss",
    "ModelError",
    "build_model",
    "check_loss",
]
