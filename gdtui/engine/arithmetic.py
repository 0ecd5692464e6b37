"""The arithmetic of a step: an optimizer's update rule written out with this step's numbers.

For the optimizers whose rule is short (manual, sgd, momentum, nesterov, adagrad, rmsprop, adam,
adamw), :func:`explain_step` takes a :class:`~gdtui.engine.records.StepRecord` (the gradient
backward() left, the parameter before, the optimizer's state after the step) and writes, per
parameter, the rule as torch applies it (``torch/optim/sgd.py``, ``adam.py``, ``adagrad.py``,
``rmsprop.py``), e.g. ``w ← w − lr·∇ = 5.0 − 0.1 × 6.0 = 4.4``. The value it predicts is then
checked against the update torch actually applied, and the state it predicts (m, v, the momentum
buffer, …) against the state torch kept; a difference beyond rounding is reported, never hidden.

The state before the step comes from the previous record (``previous``); without one, a first
step starts from torch's initial state, and a later step takes m, v, … from the state after the
step (they are exactly what the update used), so only the last line is checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gdtui.engine.optimizers import get_spec
from gdtui.engine.records import StepRecord

EXPLAINED = ("manual", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
"""The optimizers :func:`explain_step` writes out."""

RELATIVE_TOLERANCE = 1e-9
"""How close (relative, float64) a written result must be to torch's to count as the same."""


class StepArithmeticError(ValueError):
    """The step cannot be written out (an optimizer not in :data:`EXPLAINED`); one line."""


@dataclass(frozen=True)
class StepArithmetic:
    """One step written out: ``lines`` of text, the ``predicted`` parameters the rule gives, the
    ``actual`` ones torch left, ``matches`` (every parameter and every predicted state value agree
    within rounding) and the ``worst`` relative difference found."""

    optimizer: str
    lines: tuple[str, ...]
    predicted: tuple[float, ...]
    actual: tuple[float, ...]
    matches: bool
    worst: float


def fmt(x: float) -> str:
    """A number as the panel shows it: 6 significant digits, ``5.0`` rather than ``5``."""
    if x == 0:
        return "0"
    text = f"{x:.6g}"
    if text.lstrip("-").isdigit():
        text += ".0"
    return text


def _o(x: float) -> str:
    """An operand: negative numbers in parentheses, so ``0.1 × (-6.0)`` reads right."""
    return f"({fmt(x)})" if x < 0 else fmt(x)


class _Writer:
    """Collects the lines of one parameter and the checks of predicted against actual."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.worst = 0.0
        self.ok = True

    def line(self, text: str) -> None:
        self.lines.append(text)

    def check(self, label: str, predicted: float, actual: float | None, scale: float) -> None:
        """``predicted`` against torch's ``actual`` within rounding of ``scale``'s size."""
        if actual is None:
            return
        error = abs(predicted - actual)
        allowed = RELATIVE_TOLERANCE * abs(scale) + 8 * math.ulp(max(abs(actual), abs(predicted)))
        relative = error / abs(scale) if scale else (0.0 if error == 0 else math.inf)
        if not math.isfinite(error):
            relative = 0.0 if predicted == actual else math.inf
        self.worst = max(self.worst, relative)
        if not (error <= allowed or predicted == actual):
            self.ok = False
            self.line(
                f"✗ mismatch: torch has {label} = {fmt(actual)}, the rule gives {fmt(predicted)}"
            )


def _get(state: Mapping[str, Sequence[float | None]], key: str, i: int) -> float | None:
    column = state.get(key)
    if column is None or i >= len(column):
        return None
    return column[i]


def explain_step(
    optimizer: str,
    record: StepRecord,
    hyper: Mapping[str, Any] | None = None,
    previous: StepRecord | None = None,
    names: Sequence[str] | None = None,
) -> StepArithmetic:
    """Write ``record``'s step as ``optimizer``'s update rule with its numbers, and check it.

    ``hyper`` are the run's hyper-parameters (the preset's and the constructor's defaults fill
    the rest); ``previous`` is the record of the step before (its state is this step's state
    before); ``names`` name the parameters (``w`` for one, ``θ1, θ2, …`` otherwise).
    """
    spec = get_spec(optimizer)
    if spec.name not in EXPLAINED:
        raise StepArithmeticError(
            f"the arithmetic of a step is written for {', '.join(EXPLAINED)}; not for {spec.name}"
        )
    h = {**spec.defaults(), **(hyper or {})}
    n = len(record.grad)
    if names is None:
        names = ("w",) if n == 1 else tuple(f"θ{i + 1}" for i in range(n))
    before_state = previous.state if previous is not None else None
    lines: list[str] = []
    predicted: list[float] = []
    worst = 0.0
    ok = True
    for i in range(n):
        out = _Writer()
        new = _RULES[spec.name](out, names[i], i, record, h, before_state)
        out.check(f"{names[i]} after the step", new, record.params[i], _scale(record, i))
        lines.extend(out.lines)
        predicted.append(new)
        worst = max(worst, out.worst)
        ok = ok and out.ok
    return StepArithmetic(spec.name, tuple(lines), tuple(predicted), record.params, ok, worst)


def _scale(record: StepRecord, i: int) -> float:
    """The size a parameter's rounding is measured against: its update, else the value."""
    update = abs(record.update[i])
    return update if update > 0 else max(abs(record.params[i]), 1e-300)


def _grad(out: _Writer, name: str, g: float, w: float, h: Mapping[str, Any], l2: bool) -> float:
    """The gradient the rule uses: negated for ``maximize``, plus L2 weight decay λ·w."""
    if h.get("maximize"):
        g = -g
        out.line(f"∇ ← −∇ (maximize) = {fmt(g)}")
    wd = float(h.get("weight_decay", 0.0) or 0.0)
    if l2 and wd:
        new = g + wd * w
        out.line(f"∇ ← ∇ + λ·{name} = {fmt(g)} + {_o(wd)} × {_o(w)} = {fmt(new)}")
        g = new
    return g


def _state_before(
    before: Mapping[str, Sequence[float | None]] | None,
    after: Mapping[str, Sequence[float | None]],
    key: str,
    i: int,
    initial: float,
) -> float | None:
    """A state value before the step: the previous record's, torch's initial value on the first
    step, or None when unknown (a later step with no previous record)."""
    if before is not None:
        value = _get(before, key, i)
        return initial if value is None else value
    step = _get(after, "step", i)
    if step is not None and step == 1.0:
        return initial
    return None


# -- the rules, one per optimizer (torch's order of operations) ----------------------------------


def _manual(out, name, i, record, h, before):  # type: ignore[no-untyped-def]
    w, g, lr = record.params_before[i], record.grad[i], record.lr
    new = w - lr * g
    out.line(f"{name} ← {name} − lr·∇ = {fmt(w)} − {_o(lr)} × {_o(g)} = {fmt(new)}")
    return new


def _sgd(out, name, i, record, h, before):  # type: ignore[no-untyped-def]
    w, lr = record.params_before[i], record.lr
    g = _grad(out, name, record.grad[i], w, h, l2=True)
    mu = float(h.get("momentum", 0.0) or 0.0)
    if mu == 0.0:
        new = w + (-lr) * g
        out.line(f"{name} ← {name} − lr·∇ = {fmt(w)} − {_o(lr)} × {_o(g)} = {fmt(new)}")
        return new
    damp = float(h.get("dampening", 0.0) or 0.0)
    torch_buf = _get(record.state, "momentum_buffer", i)
    prev = None if before is None else _get(before, "momentum_buffer", i)
    first = (before is not None and prev is None) or (before is None and record.step == 1)
    if first:
        buf = g
        out.line(f"v ← ∇ (first step) = {fmt(buf)}")
        out.check("v", buf, torch_buf, max(abs(buf), 1e-300))
    elif prev is not None:
        buf = mu * prev + (1 - damp) * g
        if damp:
            out.line(
                f"v ← μ·v + (1−d)·∇ = {_o(mu)} × {_o(prev)} + {fmt(1 - damp)} × {_o(g)} = {fmt(buf)}"
            )
        else:
            out.line(f"v ← μ·v + ∇ = {_o(mu)} × {_o(prev)} + {_o(g)} = {fmt(buf)}")
        out.check("v", buf, torch_buf, max(abs(buf), abs(mu * prev), abs(g), 1e-300))
    else:
        if torch_buf is None:
            raise StepArithmeticError("the momentum buffer is not in the record")
        buf = torch_buf
        out.line(f"v = {fmt(buf)} (torch's buffer after the step)")
    if h.get("nesterov"):
        d = g + mu * buf
        new = w + (-lr) * d
        out.line(
            f"{name} ← {name} − lr·(∇ + μ·v) = {fmt(w)} − {_o(lr)} × ({fmt(g)} + {_o(mu)} × "
            f"{_o(buf)}) = {fmt(new)}"
        )
        return new
    new = w + (-lr) * buf
    out.line(f"{name} ← {name} − lr·v = {fmt(w)} − {_o(lr)} × {_o(buf)} = {fmt(new)}")
    return new


def _adagrad(out, name, i, record, h, before):  # type: ignore[no-untyped-def]
    w, lr = record.params_before[i], record.lr
    g = _grad(out, name, record.grad[i], w, h, l2=True)
    eps = float(h["eps"])
    lr_decay = float(h.get("lr_decay", 0.0) or 0.0)
    step = _get(record.state, "step", i) or float(record.step)
    torch_sum = _get(record.state, "sum", i)
    prev = _state_before(before, record.state, "sum", i, float(h["initial_accumulator_value"]))
    if prev is not None:
        total = prev + g * g
        out.line(f"G ← G + ∇² = {fmt(prev)} + {_o(g)}² = {fmt(total)}")
        out.check("G", total, torch_sum, max(total, 1e-300))
    else:
        if torch_sum is None:
            raise StepArithmeticError("the sum of squared gradients is not in the record")
        total = torch_sum
        out.line(f"G = {fmt(total)} (torch's sum after the step)")
    clr = lr / (1 + (step - 1) * lr_decay)
    rate = "lr"
    if lr_decay:
        out.line(f"lr_t = lr/(1 + (t−1)·decay) = {fmt(lr)}/(1 + {fmt(step - 1)} × {fmt(lr_decay)})")
        rate = "lr_t"
    std = math.sqrt(total) + eps
    new = w - clr * g / std
    out.line(
        f"{name} ← {name} − {rate}·∇/(√G + ε) = {fmt(w)} − {_o(clr)} × {_o(g)}/"
        f"({fmt(math.sqrt(total))} + {fmt(eps)}) = {fmt(new)}"
    )
    return new


def _rmsprop(out, name, i, record, h, before):  # type: ignore[no-untyped-def]
    w, lr = record.params_before[i], record.lr
    g = _grad(out, name, record.grad[i], w, h, l2=True)
    alpha, eps = float(h["alpha"]), float(h["eps"])
    mu = float(h.get("momentum", 0.0) or 0.0)
    torch_sq = _get(record.state, "square_avg", i)
    prev = _state_before(before, record.state, "square_avg", i, 0.0)
    if prev is not None:
        sq = alpha * prev + (1 - alpha) * g * g
        out.line(
            f"s ← α·s + (1−α)·∇² = {fmt(alpha)} × {_o(prev)} + {fmt(1 - alpha)} × {_o(g)}² "
            f"= {fmt(sq)}"
        )
        out.check("s", sq, torch_sq, max(sq, 1e-300))
    else:
        if torch_sq is None:
            raise StepArithmeticError("the squared average is not in the record")
        sq = torch_sq
        out.line(f"s = {fmt(sq)} (torch's average after the step)")
    root = "√s"
    if h.get("centered"):
        torch_ga = _get(record.state, "grad_avg", i)
        prev_ga = _state_before(before, record.state, "grad_avg", i, 0.0)
        if prev_ga is not None:
            ga = prev_ga + (1 - alpha) * (g - prev_ga)
            out.line(f"ḡ ← α·ḡ + (1−α)·∇ = {fmt(ga)}")
            out.check("ḡ", ga, torch_ga, max(abs(ga), abs(g), 1e-300))
        else:
            ga = torch_ga if torch_ga is not None else 0.0
            out.line(f"ḡ = {fmt(ga)} (torch's average after the step)")
        avg = math.sqrt(sq - ga * ga) + eps
        root = "√(s − ḡ²)"
    else:
        avg = math.sqrt(sq) + eps
    if mu:
        torch_buf = _get(record.state, "momentum_buffer", i)
        prev_buf = _state_before(before, record.state, "momentum_buffer", i, 0.0)
        if prev_buf is not None:
            buf = mu * prev_buf + g / avg
            out.line(f"b ← μ·b + ∇/({root} + ε) = {_o(mu)} × {_o(prev_buf)} + {_o(g)}/{fmt(avg)}")
            out.check("b", buf, torch_buf, max(abs(buf), abs(g / avg), 1e-300))
        else:
            buf = torch_buf if torch_buf is not None else 0.0
            out.line(f"b = {fmt(buf)} (torch's buffer after the step)")
        new = w - lr * buf
        out.line(f"{name} ← {name} − lr·b = {fmt(w)} − {_o(lr)} × {_o(buf)} = {fmt(new)}")
        return new
    new = w - lr * g / avg
    out.line(
        f"{name} ← {name} − lr·∇/({root} + ε) = {fmt(w)} − {_o(lr)} × {_o(g)}/"
        f"({fmt(avg - eps)} + {fmt(eps)}) = {fmt(new)}"
    )
    return new


def _adam(out, name, i, record, h, before, decoupled=False):  # type: ignore[no-untyped-def]
    w, lr = record.params_before[i], record.lr
    beta1, beta2 = (float(b) for b in h["betas"])
    eps = float(h["eps"])
    wd = float(h.get("weight_decay", 0.0) or 0.0)
    decoupled = decoupled or bool(h.get("decoupled_weight_decay"))
    g = _grad(out, name, record.grad[i], w, h, l2=not decoupled)
    start = w
    if decoupled and wd:
        w = start * (1 - lr * wd)
        out.line(
            f"{name} ← {name}·(1 − lr·λ) = {fmt(start)} × (1 − {_o(lr)} × {_o(wd)}) = {fmt(w)}"
        )
    t = _get(record.state, "step", i) or float(record.step)
    torch_m = _get(record.state, "exp_avg", i)
    torch_v = _get(record.state, "exp_avg_sq", i)
    prev_m = _state_before(before, record.state, "exp_avg", i, 0.0)
    prev_v = _state_before(before, record.state, "exp_avg_sq", i, 0.0)
    if prev_m is not None and prev_v is not None:
        m = prev_m + (1 - beta1) * (g - prev_m)  # torch's lerp
        v = beta2 * prev_v + (1 - beta2) * g * g
        out.line(
            f"m ← β1·m + (1−β1)·∇ = {fmt(beta1)} × {_o(prev_m)} + {fmt(1 - beta1)} × {_o(g)} "
            f"= {fmt(m)}"
        )
        out.line(
            f"v ← β2·v + (1−β2)·∇² = {fmt(beta2)} × {_o(prev_v)} + {fmt(1 - beta2)} × {_o(g)}² "
            f"= {fmt(v)}"
        )
        out.check("m", m, torch_m, max(abs(m), abs(g), abs(prev_m), 1e-300))
        out.check("v", v, torch_v, max(v, g * g, prev_v, 1e-300))
    else:
        if torch_m is None or torch_v is None:
            raise StepArithmeticError("Adam's m and v are not in the record")
        m, v = torch_m, torch_v
        out.line(f"m = {fmt(m)}, v = {fmt(v)} (torch's state after the step)")
    vmax = v
    if h.get("amsgrad"):
        torch_max = _get(record.state, "max_exp_avg_sq", i)
        prev_max = _state_before(before, record.state, "max_exp_avg_sq", i, 0.0)
        vmax = max(prev_max, v) if prev_max is not None else (torch_max or v)
        out.line(f"v_max ← max(v_max, v) = {fmt(vmax)}")
        out.check("v_max", vmax, torch_max, max(vmax, 1e-300))
    bc1 = 1 - beta1**t
    bc2 = 1 - beta2**t
    m_hat = m / bc1
    v_hat = vmax / bc2
    vname = "v_max" if h.get("amsgrad") else "v"
    out.line(
        f"m̂ = m/(1−β1^t) = {_o(m)}/(1 − {fmt(beta1)}^{t:g}) = {fmt(m_hat)};  "
        f"v̂ = {vname}/(1−β2^t) = {fmt(vmax)}/(1 − {fmt(beta2)}^{t:g}) = {fmt(v_hat)}"
    )
    # torch: step_size = lr/bc1, denom = √v/√bc2 + ε, w += −step_size·m/denom
    denom = math.sqrt(vmax) / math.sqrt(bc2) + eps
    step = (lr / bc1) * m / denom
    new = w - step
    out.line(
        f"{name} ← {name} − lr·m̂/(√v̂ + ε) = {fmt(w)} − {_o(lr)} × {_o(m_hat)}/"
        f"({fmt(math.sqrt(v_hat))} + {fmt(eps)}) = {fmt(w)} − {_o(step)} = {fmt(new)}"
    )
    return new


def _adamw(out, name, i, record, h, before):  # type: ignore[no-untyped-def]
    return _adam(out, name, i, record, h, before, decoupled=True)


_RULES = {
    "manual": _manual,
    "sgd": _sgd,
    "momentum": _sgd,
    "nesterov": _sgd,
    "adagrad": _adagrad,
    "rmsprop": _rmsprop,
    "adam": _adam,
    "adamw": _adamw,
}
