"""The descent engine: pure PyTorch and NumPy, no terminal.

Build a run from Python::

    from gdtui.engine import Run, get_problem

    run = Run(get_problem("quadratic"), "sgd", lr=0.1, max_steps=100)
    record = run.step()
    record.grad, record.update, record.params   # (6.0,) (-0.6...,) (4.4,)
"""

from gdtui.engine.arithmetic import StepArithmeticError
from gdtui.engine.curvature import CurvatureError
from gdtui.engine.data import DataError, Dataset, load_data
from gdtui.engine.expression import ExpressionError, compile_expression
from gdtui.engine.history import History, HistoryView
from gdtui.engine.landscape import (
    LandscapeError,
    Regions,
    Surface,
    decision_regions,
    landscape,
    loss_slice,
    regression_surface,
)
from gdtui.engine.model_run import ModelRecord, ModelRun, build_model_run
from gdtui.engine.models import LOSSES, MODEL_KINDS, Loss, ModelError, build_model
from gdtui.engine.optimizers import (
    OPTIMIZERS,
    OptimizerError,
    OptimizerSpec,
    check_hyperparameters,
    get_spec,
    make_optimizer,
    parse_lr,
)
from gdtui.engine.problems import PROBLEMS, Problem, ProblemError, expression_problem, get_problem
from gdtui.engine.race import MAX_CONTENDERS, Race, RaceError, RaceRow
from gdtui.engine.records import Status, StepRecord
from gdtui.engine.rewind import Checkpoint, Checkpoints
from gdtui.engine.run import (
    DTYPES,
    Run,
    RunError,
    describe_device,
    format_graph,
    resolve_device,
    resolve_dtype,
)
from gdtui.engine.schedules import SCHEDULES, ScheduleError
from gdtui.engine.sweep import SweepError
from gdtui.settings import SettingError

# Errors that mean "the user asked for something wrong": one line each, never a traceback.
# The engine raises its own types with the settings module's messages; SettingError is here for
# callers of gdtui.settings.
USER_ERRORS = (
    CurvatureError,
    DataError,
    ExpressionError,
    LandscapeError,
    ModelError,
    OptimizerError,
    ProblemError,
    RaceError,
    RunError,
    ScheduleError,
    SettingError,
    StepArithmeticError,
    SweepError,
)

__all__ = [
    "DTYPES",
    "LOSSES",
    "MAX_CONTENDERS",
    "MODEL_KINDS",
    "OPTIMIZERS",
    "PROBLEMS",
    "SCHEDULES",
    "USER_ERRORS",
    "Checkpoint",
    "Checkpoints",
    "CurvatureError",
    "DataError",
    "Dataset",
    "ExpressionError",
    "History",
    "HistoryView",
    "LandscapeError",
    "Loss",
    "ModelError",
    "ModelRecord",
    "ModelRun",
    "OptimizerError",
    "OptimizerSpec",
    "Problem",
    "ProblemError",
    "Race",
    "RaceError",
    "RaceRow",
    "Regions",
    "Run",
    "RunError",
    "ScheduleError",
    "SettingError",
    "Status",
    "StepArithmeticError",
    "StepRecord",
    "Surface",
    "SweepError",
    "build_model",
    "build_model_run",
    "check_hyperparameters",
    "compile_expression",
    "decision_regions",
    "describe_device",
    "expression_problem",
    "format_graph",
    "get_problem",
    "get_spec",
    "landscape",
    "load_data",
    "loss_slice",
    "make_optimizer",
    "parse_lr",
    "regression_surface",
    "resolve_device",
    "resolve_dtype",
]
