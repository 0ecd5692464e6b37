"""Tests for models and loss functions: torch.nn layers, torch.nn.functional losses, bad settings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gdtui.engine.models import Loss, ModelError, build_model, check_loss


def test_mlp_layers_and_activation() -> None:
    model = build_model("mlp", 2, 3, hidden=[16, 8], activation="tanh")
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert model(torch.zeros(5, 2)).shape == (5, 3)


def test_cnn_reads_eight_by_eight_images() -> None:
    model = build_model("cnn", 64, 10, image_shape=(1, 8, 8))
    assert any(isinstance(m, nn.Conv2d) for m in model)
    assert model(torch.zeros(4, 64)).shape == (4, 10)


def test_cnn_needs_images() -> None:
    with pytest.raises(ModelError, match="needs image data"):
        build_model("cnn", 2, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build_model("mpl", 2, 2), "unknown model kind 'mpl' (did you mean 'mlp'?)"),
        (lambda: build_model("mlp", 2, 2, activation="rleu"), "(did you mean 'relu'?)"),
        (lambda: build_model("mlp", 2, 2, hidden=[0]), "hidden must be a list of layer sizes"),
        (lambda: check_loss("mes", "regression"), "unknown loss function 'mes' (did you mean"),
        (lambda: check_loss("cross_entropy", "regression"), "needs class labels"),
        (lambda: check_loss("bce_with_logits", "classification", 3), "is for two classes"),
    ],
)
def test_bad_settings_are_one_line(call, message: str) -> None:
    with pytest.raises(ModelError) as err:
        call()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_losses_are_torch_functional_with_fitting_targets() -> None:
    out = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    y = torch.tensor([0, 2])
    ce = Loss("cross_entropy", "classification", 3)
    assert torch.equal(ce(out, ce.target(y, torch.float32)), F.cross_entropy(out, y))
    mse = Loss("mse", "classification", 3)
    one_hot = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    assert torch.equal(mse(out, mse.target(y, torch.float32)), F.mse_loss(out, one_hot))
    bce = Loss("bce_with_logits", "classification", 2)
    logit = torch.tensor([[0.3], [-2.0]])
    yb = torch.tensor([1, 0])
    assert torch.equal(
        bce(logit, bce.target(yb, torch.float32)),
        F.binary_cross_entropy_with_logits(logit.squeeze(-1), yb.float()),
    )
    assert bce.predict(logit).tolist() == [1, 0]
    huber = Loss("huber", "regression", 0)
    pred = torch.tensor([[1.0], [5.0]])
    target = torch.tensor([0.0, 1.0])
    assert torch.equal(
        huber(pred, huber.target(target, torch.float32)), F.huber_loss(pred[:, 0], target)
    )
