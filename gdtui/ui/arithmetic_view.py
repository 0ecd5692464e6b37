"""What the descent thread computes for the arithmetic and curvature displays (never the UI thread).

:func:`step_arithmetic` writes the run's last step out with :func:`gdtui.engine.arithmetic.
explain_step` (the state before the step from the history's record of the step before, when it
still holds it exactly), and :func:`curvature_bound` gives the stability bound for the last λmax
a record carries. The descent loop calls them when it publishes a snapshot and sends the results
along; :mod:`gdtui.ui.widgets.arithmetic` draws them. torch is imported here only inside the
functions, which run in the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gdtui.engine import Run
    from gdtui.engine.arithmetic import StepArithmetic
    from gdtui.engine.curvature import StabilityBound

__all__ = ["curvature_bound", "step_arithmetic"]


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
    if lam is None and record is not None and run.curvature_every:
        measured = run.history.column("lambda_max")
        measured = measured[np.isfinite(measured)]
        lam = float(measured[-1]) if len(measured) else None
    if lam is None:
        return None, None
    return lam, stability_bound(lam, run.optimizer_name, run.hyper)
