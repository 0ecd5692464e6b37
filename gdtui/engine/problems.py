"""Problems: differentiable losses over named scalar parameters.

Every analytic surface is written as a formula in the safe expression language
(:mod:`gdtui.engine.expression`), so the formula a user reads is the one that autograd
differentiates. A user's own expression becomes a :class:`Problem` the same way.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gdtui.engine.expression import CompiledExpression, ExpressionError, compile_expression
from gdtui.suggest import closest

Point = tuple[float, ...]


class ProblemError(ValueError):
    """A bad problem name, option or start point; ``str()`` is one line."""


@dataclass(frozen=True)
class Problem:
    """A loss over named scalar parameters, with a start point and a plotting domain.

    ``loss(*params)`` takes one tensor per parameter, in ``param_names`` order: 0-d tensors
    while descending, broadcast grids when drawing the landscape.
    """

    name: str
    expression: str
    param_names: tuple[str, ...]
    init: Point
    domain: tuple[tuple[float, float], ...]
    minima: tuple[Point, ...] = ()
    min_value: float | None = None
    description: str = ""
    compiled: CompiledExpression | None = field(default=None, repr=False, compare=False)

    @property
    def dim(self) -> int:
        """How many parameters the loss has."""
        return len(self.param_names)

    @property
    def loss(self) -> Callable[..., torch.Tensor]:
        """The compiled loss: ``loss(*tensors) -> tensor``."""
        assert self.compiled is not None
        return self.compiled.fn

    def with_init(self, init: Mapping[str, float] | Sequence[float] | None) -> Problem:
        """The same problem from another start point, given by name or in order."""
        if init is None:
            return self
        if isinstance(init, numbers.Real):  # a bare number for a one-parameter problem
            init = [init]
        if isinstance(init, Mapping):
            unknown = [k for k in init if k not in self.param_names]
            if unknown:
                raise ProblemError(
                    f"init: unknown parameter '{unknown[0]}'"
                    f"{closest(unknown[0], self.param_names)}; "
                    f"'{self.name}' has: {', '.join(self.param_names)}"
                )
            values = [init.get(n, v) for n, v in zip(self.param_names, self.init, strict=True)]
        else:
            try:
                values = list(init)
            except TypeError:
                raise ProblemError(f"init: expected numbers by name, got {init!r}") from None
            if len(values) != self.dim:
                raise ProblemError(
                    f"init: needs {self.dim} value(s) for {', '.join(self.param_names)}, "
                    f"got {len(values)}"
                )
        checked = []
        for name, v in zip(self.param_names, values, strict=True):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ProblemError(f"init: '{name}' must be a finite number, got {v!r}")
            checked.append(float(v))
        point = tuple(checked)
        domain = tuple(
            (min(lo, p - 0.1 * (hi - lo)), max(hi, p + 0.1 * (hi - lo)))
            if not lo <= p <= hi
            else (lo, hi)
            for (lo, hi), p in zip(self.domain, point, strict=True)
        )
        return Problem(
            self.name,
            self.expression,
            self.param_names,
            point,
            domain,
            self.minima,
            self.min_value,
            self.description,
            self.compiled,
        )

    def evaluate_grid(self, *axes: np.ndarray, dtype: torch.dtype = torch.float64) -> np.ndarray:
        """The loss on a grid, for drawing: one 1-D axis per parameter (1 or 2 of them).

        Returns an array of shape ``(len(axes[1]), len(axes[0]))`` for two parameters (rows are
        y), or ``(len(axes[0]),)`` for one. Points where the loss is not finite come back as nan.
        """
        if len(axes) != self.dim or self.dim not in (1, 2):
            raise ProblemError("a grid is drawn for 1- or 2-parameter problems only")
        with torch.no_grad():
            if self.dim == 1:
                xs = torch.as_tensor(np.asarray(axes[0], dtype=float), dtype=dtype)
                z = self.loss(xs)
            else:
                xs = torch.as_tensor(np.asarray(axes[0], dtype=float), dtype=dtype)
                ys = torch.as_tensor(np.asarray(axes[1], dtype=float), dtype=dtype)
                grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
                z = self.loss(grid_x, grid_y)
            out = np.broadcast_to(z.to(torch.float64).cpu().numpy(), z.shape).astype(float)
        out[~np.isfinite(out)] = np.nan
        return out


@dataclass(frozen=True)
class ProblemSpec:
    """A built-in surface: its formula, options (constants in the formula) and known facts."""

    name: str
    expression: str
    init: Point
    domain: tuple[tuple[float, float], ...]
    description: str
    minima: tuple[Point, ...] = ()
    min_value: float | None = None
    options: Mapping[str, float] = field(default_factory=dict)
    minima_from_options: Callable[[Mapping[str, float]], tuple[Point, ...]] | None = None


PROBLEMS: dict[str, ProblemSpec] = {
    spec.name: spec
    for spec in [
        ProblemSpec(
            "quadratic",
            "(w - 2)**2",
            (5.0,),
            ((-1.5, 6.5),),
            "the worked example: one weight, minimum at w = 2",
            ((2.0,),),
            0.0,
        ),
        ProblemSpec(
            "ill-conditioned",
            "0.5*(l1*x**2 + l2*y**2)",
            (-4.0, 1.5),
            ((-5.0, 5.0), (-2.0, 2.0)),
            "a long narrow valley: curvatures l1 and l2 differ; GD is stable only for lr < 2/max(l)",
            ((0.0, 0.0),),
            0.0,
            {"l1": 1.0, "l2": 20.0},
        ),
        ProblemSpec(
            "rosenbrock",
            "(a - x)**2 + b*(y - x**2)**2",
            (-1.5, 2.0),
            ((-2.0, 2.0), (-1.0, 3.0)),
            "a curved banana valley: easy to find, slow to follow",
            ((1.0, 1.0),),
            0.0,
            {"a": 1.0, "b": 100.0},
            lambda o: ((o["a"], o["a"] ** 2),),
        ),
        ProblemSpec(
            "beale",
            "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
            (1.0, 1.5),
            ((-4.5, 4.5), (-4.5, 4.5)),
            "flat plateaus and sharp ridges around one minimum at (3, 0.5)",
            ((3.0, 0.5),),
            0.0,
        ),
        ProblemSpec(
            "himmelblau",
            "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
            (0.0, 0.0),
            ((-5.0, 5.0), (-5.0, 5.0)),
            "four equal minima: where descent ends depends on where it starts",
            (
                (3.0, 2.0),
                (-2.805118, 3.131312),
                (-3.779310, -3.283186),
                (3.584428, -1.848126),
            ),
            0.0,
        ),
        ProblemSpec(
            "booth",
            "(x + 2*y - 7)**2 + (2*x + y - 5)**2",
            (-6.0, -4.0),
            ((-10.0, 10.0), (-10.0, 10.0)),
            "a tilted bowl with one minimum at (1, 3)",
            ((1.0, 3.0),),
            0.0,
        ),
        ProblemSpec(
            "rastrigin",
            "20 + x**2 - 10*cos(2*pi*x) + y**2 - 10*cos(2*pi*y)",
            (3.2, -2.7),
            ((-5.12, 5.12), (-5.12, 5.12)),
            "a bowl covered in local minima: plain GD gets stuck in the nearest one",
            ((0.0, 0.0),),
            0.0,
        ),
        ProblemSpec(
            "ackley",
            "-20*exp(-0.2*sqrt(0.5*(x**2 + y**2))) - exp(0.5*(cos(2*pi*x) + cos(2*pi*y))) + e + 20",
            (2.5, -1.5),
            ((-5.0, 5.0), (-5.0, 5.0)),
            "a nearly flat outer region with many dips and one deep hole at the origin",
            ((0.0, 0.0),),
            0.0,
        ),
        ProblemSpec(
            "matyas",
            "0.26*(x**2 + y**2) - 0.48*x*y",
            (8.0, -6.0),
            ((-10.0, 10.0), (-10.0, 10.0)),
            "a flat, tilted valley along y = x with its minimum at the origin",
            ((0.0, 0.0),),
            0.0,
        ),
        ProblemSpec(
            "three-hump-camel",
            "2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2",
            (1.8, -1.6),
            ((-2.5, 2.5), (-2.5, 2.5)),
            "one global minimum at the origin and two local ones beside it",
            ((0.0, 0.0),),
            0.0,
        ),
        ProblemSpec(
            "styblinski-tang",
            "0.5*(x**4 - 16*x**2 + 5*x + y**4 - 16*y**2 + 5*y)",
            (0.5, 4.5),
            ((-5.0, 5.0), (-5.0, 5.0)),
            "four basins of different depth; the deepest at (-2.9035, -2.9035)",
            ((-2.903534, -2.903534),),
            -78.33233140754282,
        ),
        ProblemSpec(
            "goldstein-price",
            "(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
            "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
            (-0.6, 0.8),
            ((-2.0, 2.0), (-2.0, 2.0)),
            "steep walls and a huge range of loss values; minimum 3 at (0, -1)",
            ((0.0, -1.0),),
            3.0,
        ),
        ProblemSpec(
            "saddle",
            "sin(x) + y**2",
            (math.pi / 2 + 1e-3, 1.5),
            ((-2.5, 5.5), (-2.0, 2.0)),
            "starts next to a saddle point at (π/2, 0): the gradient there is almost zero",
            ((-math.pi / 2, 0.0), (3 * math.pi / 2, 0.0)),
            -1.0,
        ),
    ]
}


def _options(spec: ProblemSpec, options: Mapping[str, Any] | None) -> dict[str, float]:
    values = dict(spec.options)
    for key, value in (options or {}).items():
        if key not in spec.options:
            allowed = ", ".join(spec.options) or "none"
            raise ProblemError(
                f"'{spec.name}' has no option '{key}'{closest(key, spec.options)}; "
                f"allowed: {allowed}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProblemError(f"option '{key}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ProblemError(f"option '{key}' must be finite, got {value!r}")
        values[key] = float(value)
    return values


def get_problem(
    name: str,
    options: Mapping[str, Any] | None = None,
    init: Mapping[str, float] | Sequence[float] | None = None,
) -> Problem:
    """A built-in surface by name, with its options (e.g. ``l1``, ``l2``) and start point."""
    key = str(name).strip().lower()
    spec = PROBLEMS.get(key)
    if spec is None:
        raise ProblemError(
            f"unknown loss '{name}'{closest(key, PROBLEMS)}; choose one of: {', '.join(PROBLEMS)}"
        )
    values = _options(spec, options)
    compiled = compile_expression(spec.expression, constants=values)
    minima = spec.minima_from_options(values) if spec.minima_from_options else spec.minima
    text = spec.expression
    if spec.options:
        bound = ", ".join(f"{k}={v:g}" for k, v in values.items())
        text = f"{text}  [{bound}]"
    problem = Problem(
        spec.name,
        text,
        compiled.param_names,
        spec.init,
        spec.domain,
        minima,
        spec.min_value,
        spec.description,
        compiled,
    )
    return problem.with_init(init)


def expression_problem(
    text: str, init: Mapping[str, float] | Sequence[float] | None = None
) -> Problem:
    """A problem from a user's formula; every parameter starts at 1.0 unless ``init`` says."""
    try:
        compiled = compile_expression(text)
    except ExpressionError as err:
        raise ProblemError(f"expression: {err}") from None
    names = compiled.param_names
    problem = Problem(
        "expression",
        compiled.text,
        names,
        tuple(1.0 for _ in names),
        tuple((-5.0, 5.0) for _ in names),
        (),
        None,
        "your own formula",
        compiled,
    )
    return problem.with_init(init)
