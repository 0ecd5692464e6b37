"""λmax by Hessian-vector products against closed forms, and the sweep's measured edge against
the stability bounds it gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gdtui.engine import expression_problem, get_problem
from gdtui.engine.curvature import (
    CurvatureError,
    lambda_max,
    problem_lambda_max,
    stability_bound,
    stability_bounds,
    top_eigenvalue,
)
from gdtui.engine.sweep import sweep


@pytest.mark.parametrize(("l1", "l2"), [(1.0, 20.0), (50.0, 3.0), (7.0, 7.0), (1e-3, 1e3)])
def test_ill_conditioned_quadratic_has_the_larger_curvature(l1, l2):
    problem = get_problem("ill-conditioned", {"l1": l1, "l2": l2})
    for point in [problem.init, (0.0, 0.0), (3.0, -1.0)]:
        assert problem_lambda_max(problem.loss, point) == pytest.approx(max(l1, l2), rel=1e-9)


def test_a_general_quadratic_form_matches_eigvalsh():
    gen = torch.Generator().manual_seed(3)
    m = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.1 * torch.eye(6, dtype=torch.float64)
    w = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    found = top_eigenvalue(lambda: 0.5 * w @ a @ w, [w])
    assert found.converged
    assert found.lambda_max == pytest.approx(torch.linalg.eigvalsh(a)[-1].item(), rel=1e-8)


def test_rosenbrock_at_its_minimum_matches_the_analytic_hessian():
    # ∇² of (1-x)² + 100(y-x²)² at (1, 1) is [[802, -400], [-400, 200]].
    expected = np.linalg.eigvalsh(np.array([[802.0, -400.0], [-400.0, 200.0]]))[-1]
    found = problem_lambda_max(get_problem("rosenbrock").loss, (1.0, 1.0))
    assert found == pytest.approx(expected, rel=1e-9)


def test_the_top_eigenvalue_not_the_largest_in_size():
    # H = diag(2, -6): power iteration alone would give -6; the top eigenvalue is 2.
    problem = expression_problem("x**2 - 3*y**2")
    assert problem_lambda_max(problem.loss, (0.5, 0.5)) == pytest.approx(2.0, rel=1e-8)
    # All negative: a maximum. λmax is the least negative one.
    problem = expression_problem("-x**2 - 3*y**2")
    assert problem_lambda_max(problem.loss, (0.5, 0.5)) == pytest.approx(-2.0, rel=1e-8)


def test_a_linear_loss_has_no_curvature():
    problem = expression_problem("3*x + 2*y")
    assert problem_lambda_max(problem.loss, (1.0, 1.0)) == 0.0


def test_module_parameters_with_a_closure():
    # Least squares: loss = mean((Xw + b - y)²); its Hessian is (2/n)·[X 1]ᵀ[X 1].
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 1, generator=gen, dtype=torch.float64)
    model = torch.nn.Linear(3, 1).double()
    params = list(model.parameters())

    def closure():
        return torch.nn.functional.mse_loss(model(x), y)

    design = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], dim=1)
    expected = torch.linalg.eigvalsh(2.0 / 40 * design.T @ design)[-1].item()
    assert lambda_max(closure, params) == pytest.approx(expected, rel=1e-8)
    assert all(p.grad is None for p in params)  # nothing left in .grad
    assert lambda_max(closure, params) == lambda_max(closure, params)  # seeded: deterministic


def test_non_finite_loss_is_one_line():
    problem = expression_problem("log(x)")
    with pytest.raises(CurvatureError) as info:
        problem_lambda_max(problem.loss, (-1.0,))
    assert "\n" not in str(info.value)


def test_stability_bound_formulas():
    assert stability_bound(20.0, "sgd").lr == pytest.approx(0.1)
    assert stability_bound(20.0, "manual").lr == pytest.approx(0.1)
    assert stability_bound(20.0, "momentum").lr == pytest.approx(3.8 / 20)
    assert stability_bound(20.0, "sgd", {"momentum": 0.5}).lr == pytest.approx(3.0 / 20)
    assert stability_bound(20.0, "nesterov").lr == pytest.approx(3.8 / (2.8 * 20))
    assert stability_bound(20.0, "sgd", {"weight_decay": 5.0}).lr == pytest.approx(2.0 / 25)
    assert stability_bound(20.0, "adam").lr is None
    assert stability_bound(-1.0, "sgd").lr is None
    assert stability_bounds(20.0, "momentum") == {
        "gd": pytest.approx(0.1),
        "momentum": pytest.approx(0.19),
        "optimizer": pytest.approx(0.19),
    }
    assert stability_bounds(20.0, "adam")["optimizer"] is None


@pytest.mark.parametrize(
    ("problem_name", "options", "optimizer", "hyper"),
    [
        ("ill-conditioned", {"l1": 1.0, "l2": 20.0}, "sgd", None),
        ("ill-conditioned", {"l1": 1.0, "l2": 20.0}, "momentum", None),
        ("ill-conditioned", {"l1": 3.0, "l2": 0.5}, "momentum", {"momentum": 0.5}),
        ("quadratic", None, "sgd", None),
        ("quadratic", None, "momentum", None),
        ("ill-conditioned", {"l1": 1.0, "l2": 20.0}, "nesterov", None),
    ],
)
def test_measured_edge_agrees_with_the_bound(problem_name, options, optimizer, hyper):
    problem = get_problem(problem_name, options)
    lam = problem_lambda_max(problem.loss, problem.init)
    bound = stability_bound(lam, optimizer, hyper).lr
    # A log grid a factor of 3 either side of the bound, about 1 % apart; the edge is where the
    # runs stop making progress, read off the runs, not the formula.
    result = sweep(
        problem,
        optimizer,
        lr_min=bound / 3,
        lr_max=bound * 3,
        num=200,
        steps=1000,
        hyper=hyper,
    )
    assert result.bound == pytest.approx(bound, rel=1e-12)
    assert result.edge is not None
    assert abs(result.edge - bound) / bound < 0.05
    below = [s for lr, s in zip(result.lrs, result.status, strict=True) if lr < 0.95 * bound]
    above = [s for lr, s in zip(result.lrs, result.status, strict=True) if lr > 1.05 * bound]
    assert "diverged" not in below
    assert set(above) == {"diverged"}
