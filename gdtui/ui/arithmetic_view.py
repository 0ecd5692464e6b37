"""What the descent thread computes for the arithmetic and curvature displays (never the UI thread).

:func:`step_arithmetic` writes the run's last step out with :func:`gdtui.engine.arithmetic.
explain_step` (the state before the step from the history's record of the step before, when it
still holds it exactly), and :func:`curvature_bound` gives the stability bound for the last λmax
a record carries. :func:`arithmetic_for` adds why a run has no arithmetic to show,
:func:`newest_curvature` merges the λmax the records carry with those measured on demand, and
:func:`rate_curves` thins the rate and the sharpness over the run to a plot's width. The descent
loop calls them when it publishes a snapshot and sends the results along;
:mod:`gdtui.ui.widgets.arithmetic` and the loss plot draw them. torch is imported here only inside
the functions, which run in the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from gdtui.engine import ModelRun, Run
    from gdtui.engine.arithmetic import StepArithmetic
    from gdtui.engine.curvature import StabilityBound
    from gdtui.ui.messages import RateCurves

__all__ = [
    "arithmetic_for",
    "curvature_bound",
    "newest_curvature",
    "rate_curves",
    "step_arithmetic",
]


def step_arithmetic(run: Run) -> StepArithmetic | None:
    """The last step of ``run`` written out and checked against torch's update.

    None before the first step, for optimizers whose rule is not written out (see
    :data:`gdtui.engine.arithmetic.EXPLAINED`) and where the record lacks the state the rule
    needs (:class:`~gdtui.engine.arithmetic.StepArithmeticError`). A mismatch is in the result
    (``matches``, ``lines``), never dropped.
    """
    from gdtui.engine.arithmetic import EXPLAINED, StepArithmeticError, explain_step
    from gdtui.engine.optimizers import get_spec

    record = run.last_record
    if record is None or get_spec(run.optimizer_name).name not in EXPLAINED:
        return None
    previous = run.history.record_at(record.step - 1) if record.step > 1 else None
    try:
        return explain_step(
            run.optimizer_name, record, run.hyper, previous=previous, names=run.param_names
        )
    except StepArithmeticError:
        return None


def curvature_bound(run: Run) -> tuple[float | None, StabilityBound | None]:
    """The newest λmax a record of ``run`` carries and the optimizer's stability bound for it.

    ``(None, None)`` until a step has measured λmax (``curvature_every``).
    """
    import numpy as np

    from gdtui.engine.curvature import stability_bound

    record = run.last_record
    lam = None if record is None else record.lambda_max
    if lam is None and record is not None and getattr(run, "curvature_every", 0):
        measured = run.history.column("lambda_max")
        measured = measured[np.isfinite(measured)]
        lam = float(measured[-1]) if len(measured) else None
    if lam is None:
        return None, None
    return lam, stability_bound(lam, run.optimizer_name, run.hyper)


def arithmetic_for(run: Run | ModelRun) -> tuple[StepArithmetic | None, str]:
    """:func:`step_arithmetic` for any run, with a short note where there is none to show.

    The engine checks the written result in float64 (its tolerance is float64 rounding), so a
    run in another float type gets the note instead of a mismatch that is only its rounding;
    a model above 8 scalars keeps per-tensor summaries, not the vectors the rule needs (its
    layer panel shows those).
    """
    import torch

    from gdtui.engine.arithmetic import EXPLAINED
    from gdtui.engine.optimizers import get_spec

    record = run.last_record
    if record is None:
        return None, ""
    name = get_spec(run.optimizer_name).name
    if name not in EXPLAINED:
        return None, f"{name}: no short update rule to write out"
    if not record.grad:
        return None, ""
    if run.dtype != torch.float64:
        dtype = str(run.dtype).replace("torch.", "")
        return None, f"arithmetic in float64 only ({dtype})"
    return step_arithmetic(run), ""  # type: ignore[arg-type]


def newest_curvature(
    run: Run | ModelRun, measured: Sequence[tuple[int, float]] = ()
) -> tuple[float | None, int, StabilityBound | None]:
    """The newest λmax, the step whose start point it was measured at, and its bound.

    From the records (``curvature_every``) and ``measured`` on demand, ``(step, λmax)`` pairs
    in the order taken (a value measured before step ``s`` has step ``s``); the later wins.
    """
    import numpy as np

    from gdtui.engine.curvature import stability_bound

    lam, at = None, 0
    if getattr(run, "curvature_every", 0) and run.last_record is not None:
        values = run.history.column("lambda_max")
        held = np.flatnonzero(np.isfinite(values))
        if len(held):
            lam = float(values[held[-1]])
            at = int(run.history.column("step")[held[-1]])
    if measured and measured[-1][0] >= at:
        at, lam = measured[-1]
    if lam is None:
        return None, 0, None
    return lam, at, stability_bound(lam, run.optimizer_name, run.hyper)


def _last_per_bucket(steps: np.ndarray, width: int) -> np.ndarray:
    """Indices of the last entry of each power-of-two span of steps, at most ``width`` of them
    (the buckets of :meth:`gdtui.engine.History.view`, so both plots bucket alike)."""
    import numpy as np

    if not len(steps):
        return np.zeros(0, dtype=np.int64)
    span = 1
    while int(steps[-1]) > span * width:
        span *= 2
    if span == 1 and len(steps) <= width:
        return np.arange(len(steps))
    keys = (steps - 1) // span
    return np.append(np.flatnonzero(np.diff(keys)), len(steps) - 1)


def rate_curves(
    run: Run | ModelRun,
    width: int,
    measured: Sequence[tuple[int, float]] = (),
    *,
    varied: bool = False,
) -> RateCurves | None:
    """The rate each step used and the λmax measured, thinned to ``width`` points each.

    None when there is nothing worth a plot: the rate never changed (``varied`` says it was
    changed by hand; a schedule shows in the rates themselves) and no λmax was measured.
    ``edge`` is the optimizer's stability bound read as a curvature, ``c/lr`` where the bound
    on the rate is ``c/λmax`` (``2/lr`` for plain descent; 2 for optimizers with no closed
    form, Cohen et al.'s line).
    """
    import numpy as np

    from gdtui.engine.curvature import stability_bound
    from gdtui.ui.messages import RateCurves

    history = run.history
    steps = history.column("step")
    if not len(steps):
        return None
    lr = history.column("lr")
    lam = history.column("lambda_max")
    held = np.flatnonzero(np.isfinite(lam))
    lam_steps = np.concatenate([steps[held], [s for s, _ in measured]]).astype(np.int64)
    lam_values = np.concatenate([lam[held], [v for _, v in measured]]).astype(np.float64)
    varies = varied or bool(np.nanmax(lr) != np.nanmin(lr))
    if not varies and not len(lam_steps):
        return None
    order = np.argsort(lam_steps, kind="stable")
    lam_steps, lam_values = lam_steps[order], lam_values[order]
    keep = _last_per_bucket(lam_steps, width)
    lam_steps, lam_values = lam_steps[keep], lam_values[keep]
    index = _last_per_bucket(steps, width)
    rates = lr[index]
    # The bound is c/(λmax + weight_decay) on the rate: the edge is the λmax where it binds.
    decay = float(run.hyper.get("weight_decay", 0.0) or 0.0)
    bound = stability_bound(1.0, run.optimizer_name, {**run.hyper, "weight_decay": 0.0})
    constant = bound.lr if bound.lr is not None else 2.0
    label = bound.formula.removeprefix("lr < ").split(",")[0].replace("λmax", "lr")
    if bound.lr is None:
        label, decay = "2/lr", 0.0
    elif decay:
        label += " − weight_decay"
    with np.errstate(divide="ignore", invalid="ignore"):
        edge = np.where(rates > 0, constant / rates - decay, np.nan)
    return RateCurves(steps[index], rates, edge, label, lam_steps, lam_values, varies)
