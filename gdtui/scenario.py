"""Scenarios: TOML files that name a problem, an optimizer and how long to run.

Every field has a default; a wrong field is one :class:`ScenarioError` line that names the file,
the field and what is allowed. Files are read with :mod:`tomllib` and never execute anything.
Built-ins live in the top-level ``scenarios/`` folder (``gdtui/builtin_scenarios`` in a wheel).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from gdtui import settings
from gdtui.engine import (
    PROBLEMS,
    USER_ERRORS,
    Problem,
    Run,
    check_hyperparameters,
    expression_problem,
    get_problem,
    get_spec,
)
from gdtui.suggest import closest

DEFAULT_SCENARIO = "seed-example"


class ScenarioError(ValueError):
    """A scenario that can't be used; ``str()`` is one line naming the file and field."""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: everything needed to build a :class:`~gdtui.engine.Run`."""

    name: str
    source: str
    title: str = ""
    description: str = ""
    loss: str | None = "quadratic"
    expression: str | None = None
    init: Mapping[str, float] = field(default_factory=dict)
    options: Mapping[str, float] = field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float | None = None
    hyper: Mapping[str, Any] = field(default_factory=dict)
    steps: int = 500
    seed: int = 0
    tolerance: float = 1e-10
    dtype: str = "float64"
    device: str = "auto"

    @property
    def effective_lr(self) -> float:
        """The learning rate a run starts with: the scenario's, else the optimizer's default."""
        return self.lr if self.lr is not None else get_spec(self.optimizer).default_lr

    def problem(self) -> Problem:
        """The problem this scenario descends, from its start point."""
        if self.expression is not None:
            return expression_problem(self.expression, self.init or None)
        return get_problem(self.loss or "quadratic", self.options, self.init or None)

    def build_run(self, max_steps: int | bool | None = True, **kwargs: Any) -> Run:
        """A fresh run; ``max_steps=True`` means the scenario's own step budget."""
        budget = self.steps if max_steps is True else max_steps
        return Run(
            self.problem(),
            self.optimizer,
            self.effective_lr,
            self.hyper,
            max_steps=budget or None,
            tolerance=self.tolerance,
            dtype=self.dtype,
            device=self.device,
            seed=self.seed,
            **kwargs,
        )

    def with_overrides(self, **changes: Any) -> Scenario:
        """A copy with command-line overrides applied and checked (None means: keep).

        A new ``loss`` or ``expression`` drops the old start point and options; a new optimizer
        drops hyper-parameters meant for the old one.
        """
        given = {k: v for k, v in changes.items() if v is not None}
        if "loss" in given:
            given.setdefault("expression", None)
            given.setdefault("init", {})
            given.setdefault("options", {})
        if "expression" in given and given["expression"] is not None:
            given["loss"] = None
            given.setdefault("init", {})
            given.setdefault("options", {})
        if "optimizer" in given and given["optimizer"] != self.optimizer:
            given.setdefault("hyper", {})
        updated = replace(self, **given)
        return _validated(updated, None)


def _fail(where: str | None, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}" if where else message)


def _check_keys(where: str, table: Mapping[str, Any], allowed: list[str], section: str) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(
                where,
                f"unknown field '{key}' in {section}{closest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}",
            )


def _number(where: str, field_name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"{field_name} must be a finite number, got {value!r}")
    return float(value)


def _setting(where: str | None, section: str, check: Any, value: Any, **kwargs: Any) -> Any:
    """One of :mod:`gdtui.settings`' checks; its message, after ``section``, names the file."""
    try:
        return check(value, **kwargs)
    except settings.SettingError as err:
        raise _fail(where, f"{section}{err}") from None


def _string(where: str, field_name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{field_name} must be a string, got {value!r}")
    return value


def parse_scenario(data: Mapping[str, Any], name: str, source: str) -> Scenario:
    """Check a parsed TOML table and build a :class:`Scenario`; errors name ``source``."""
    where = source
    _check_keys(where, data, ["title", "description", "problem", "optimizer", "run"], "the file")
    for section in ("problem", "optimizer", "run"):
        if section in data and not isinstance(data[section], dict):
            raise _fail(where, f"[{section}] must be a table, got {data[section]!r}")
    problem = dict(data.get("problem", {}))
    optimizer = dict(data.get("optimizer", {}))
    run = dict(data.get("run", {}))

    values: dict[str, Any] = {"name": name, "source": source}
    values["title"] = _string(where, "title", data.get("title", name))
    values["description"] = _string(where, "description", data.get("description", ""))

    loss = problem.pop("loss", None)
    expression = problem.pop("expression", None)
    init = problem.pop("init", {})
    if loss is not None and expression is not None:
        raise _fail(where, "[problem] give either loss or expression, not both")
    if expression is not None:
        values["expression"] = _string(where, "[problem] expression", expression)
        values["loss"] = None
        if problem:
            key = next(iter(problem))
            raise _fail(
                where, f"unknown field '{key}' in [problem]; allowed: loss, expression, init"
            )
    else:
        loss = "quadratic" if loss is None else _string(where, "[problem] loss", loss)
        spec = PROBLEMS.get(loss.strip().lower())
        if spec is None:
            raise _fail(
                where,
                f"[problem] loss: unknown loss '{loss}'{closest(loss, PROBLEMS)}; "
                f"choose one of: {', '.join(PROBLEMS)}",
            )
        values["loss"] = spec.name
        _check_keys(where, problem, ["loss", "expression", "init", *spec.options], "[problem]")
        values["options"] = problem  # checked by the engine, as command-line options are
    if not isinstance(init, dict):
        raise _fail(where, f"[problem] init must be a table like {{ x = 1.0 }}, got {init!r}")
    values["init"] = {k: _number(where, f"[problem] init.{k}", v) for k, v in init.items()}

    opt_name = optimizer.pop("name", "sgd")
    values["optimizer"] = _string(where, "[optimizer] name", opt_name)
    if "lr" in optimizer:
        lr = optimizer.pop("lr")
        values["lr"] = _setting(where, "[optimizer] lr: ", settings.parse_lr, lr, text=False)
    spec = None
    try:
        spec = get_spec(values["optimizer"])
    except USER_ERRORS as err:
        raise _fail(where, f"[optimizer] name: {err}") from None
    allowed = ["name", "lr", *(k for k in spec.signature_defaults() if k != "lr")]
    _check_keys(where, optimizer, allowed, f"[optimizer] (for {spec.name})")
    values["hyper"] = optimizer

    _check_keys(where, run, ["steps", "seed", "tolerance", "dtype", "device"], "[run]")
    checks = {
        "steps": settings.check_steps,
        "seed": settings.check_seed,
        "tolerance": settings.check_tolerance,
    }
    for key, check in checks.items():
        if key in run:
            values[key] = _setting(where, "[run] ", check, run[key], text=False)
    if "dtype" in run:
        values["dtype"] = _setting(where, "[run] ", settings.check_dtype, run["dtype"])
    if "device" in run:
        values["device"] = _setting(where, "[run] ", settings.check_device, run["device"])
    return _validated(Scenario(**values), where)


def _validated(scenario: Scenario, where: str | None) -> Scenario:
    """Check what needs the engine: the problem builds, the optimizer and its values exist.

    ``where`` names the file for error messages; None for command-line overrides.
    """
    checked = {
        "steps": _setting(where, "", settings.check_steps, scenario.steps),
        "seed": _setting(where, "", settings.check_seed, scenario.seed),
        "tolerance": _setting(where, "", settings.check_tolerance, scenario.tolerance),
        "dtype": _setting(where, "", settings.check_dtype, scenario.dtype),
        "device": _setting(where, "", settings.check_device, scenario.device),
    }
    if scenario.lr is not None:
        checked["lr"] = _setting(where, "", settings.parse_lr, scenario.lr)
    if scenario.expression is not None and scenario.options:
        raise _fail(
            where,
            f"option '{next(iter(scenario.options))}' is for a built-in loss, not an expression",
        )
    try:
        spec = get_spec(scenario.optimizer)
        hyper = check_hyperparameters(spec, scenario.hyper)
        scenario.problem()
    except USER_ERRORS as err:
        section = _section_of(err) if where else ""
        raise _fail(where, f"{section}{err}") from None
    options = {k: float(v) for k, v in scenario.options.items()}
    return replace(scenario, optimizer=spec.name, hyper=hyper, options=options, **checked)


def _section_of(err: Exception) -> str:
    from gdtui.engine import ExpressionError, OptimizerError, ProblemError

    if isinstance(err, OptimizerError):
        return "[optimizer] "
    if isinstance(err, ProblemError | ExpressionError):
        return "[problem] "
    return ""


def builtin_dir() -> Path:
    """Where the built-in scenarios are: inside the wheel, or the repository's folder."""
    packaged = resources.files("gdtui") / "builtin_scenarios"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "scenarios"


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def load_file(path: Path, name: str | None = None) -> Scenario:
    """Read and check one scenario file."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{where}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: not a text file (UTF-8 expected)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{where}: not valid TOML: {err}") from None
    return parse_scenario(data, name or path.stem, where)


def load_scenario(spec: str | Path | None = None) -> Scenario:
    """A built-in by name (default ``seed-example``) or a ``.toml`` file by path."""
    if spec is None or str(spec).strip() == "":
        spec = DEFAULT_SCENARIO
    text = str(spec).strip()
    path = Path(text).expanduser()
    if path.suffix == ".toml" or path.exists() or "/" in text:
        if not path.exists():
            raise ScenarioError(f"{text}: no such file")
        if path.is_dir():
            raise ScenarioError(f"{text}: is a folder, not a scenario file")
        return load_file(path)
    names = builtin_names()
    if text not in names:
        raise ScenarioError(
            f"unknown scenario '{text}'{closest(text, names)}; built-ins: {', '.join(names)}; "
            "or give the path of a .toml file"
        )
    scenario = load_file(builtin_dir() / f"{text}.toml", text)
    return replace(scenario, source=f"built-in {text}")


def resolve_scenario(
    spec: str | Path | None, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Load a scenario and apply overrides; hyper-parameters and problem options are merged,
    not replaced."""
    scenario = load_scenario(spec)
    changes = dict(overrides or {})
    hyper = changes.pop("hyper", None)
    options = changes.pop("options", None)
    scenario = scenario.with_overrides(**changes)
    if hyper:
        scenario = scenario.with_overrides(hyper={**scenario.hyper, **hyper})
    if options:
        scenario = scenario.with_overrides(options={**scenario.options, **options})
    return scenario
