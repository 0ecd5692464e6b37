"""Scenarios: TOML files that name a problem, an optimizer and how long to run.

Every field has a default; a wrong field is one :class:`ScenarioError` line that names the file,
the field and what is allowed. Files are read with :mod:`tomllib` and never execute anything.
Built-ins live in the top-level ``scenarios/`` folder (``gdtui/builtin_scenarios`` in a wheel).

A ``[[race]]`` array races several runs on the scenario's problem: each entry may set ``label``,
``optimizer``, ``lr``, ``hyper``, ``batch_size`` (a model on ``[data]``), ``schedule``,
``schedule_args``, ``seed`` and ``noise`` (a formula); everything else is the scenario's, and
:func:`gdtui.engine.race.inherit` says what an entry takes of the optimizer's settings. Each
entry is checked as a scenario of its own; an error names the entry: ``[[race]] 2: …``.
"""

from __future__ import annotations

import math
import os
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
    OptimizerError,
    Problem,
    ProblemError,
    Run,
    RunError,
    check_hyperparameters,
    expression_problem,
    get_problem,
    get_spec,
)
from gdtui.engine.data import DATA_KEYS
from gdtui.engine.expression import check_name
from gdtui.engine.model_run import (
    LOSS_KEYS,
    MODEL_KEYS,
    ModelRun,
    build_model_run,
    parse_batch_size,
)
from gdtui.engine.models import LOSSES, MODEL_KINDS, ModelError
from gdtui.engine.race import ENTRY_KEYS, MAX_CONTENDERS, TOLERANCE, Race, inherit
from gdtui.engine.schedules import (
    SCHEDULES,
    check_schedule,
    get_schedule,
)
from gdtui.files import FileInputError, expand_path, read_text_file
from gdtui.safetext import visible
from gdtui.suggest import closest

DEFAULT_SCENARIO = "seed-example"
NAME_LIMIT = 60
"""Most characters of a name from a file or a user repeated in a message (the rest is cut)."""
PATH_LIMIT = 120


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
    schedule: str | None = None
    schedule_args: Mapping[str, Any] = field(default_factory=dict)
    curvature_every: int = 0
    noise: float = 0.0
    data: Mapping[str, Any] | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    loss_fn: str | None = None
    batch_size: int | str | None = None
    base_dir: str | None = None
    race: tuple[Mapping[str, Any], ...] = ()
    """The ``[[race]]`` entries as the file gave them (checked; see :meth:`contender`)."""

    @property
    def is_model(self) -> bool:
        """True for learning from data (``[data]``): a torch.nn model, not a formula."""
        return self.data is not None

    @property
    def effective_lr(self) -> float:
        """The learning rate a run starts with: the scenario's, else the optimizer's default."""
        return self.lr if self.lr is not None else get_spec(self.optimizer).default_lr

    def base_problem(self) -> Problem:
        """The problem this scenario descends, from the problem's own start point."""
        if self.expression is not None:
            return expression_problem(self.expression)
        return get_problem(self.loss or "quadratic", self.options)

    def problem(self) -> Problem:
        """The problem this scenario descends, from its start point."""
        if self.is_model:
            raise ScenarioError(
                f"{self.source}: a scenario with [data] trains a model; it has no formula"
            )
        return self.base_problem().with_init(self.init or None)

    def build_model_run(self, max_steps: int | bool | None = True, **kwargs: Any) -> ModelRun:
        """A fresh :class:`~gdtui.engine.ModelRun` from ``[data]``, ``[model]``, ``[loss]``."""
        budget = self.steps if max_steps is True else max_steps
        run: dict[str, Any] = {
            "batch_size": "full" if self.batch_size is None else self.batch_size,
            "seed": self.seed,
            "tolerance": self.tolerance,
            "dtype": self.dtype,
            "device": self.device,
            "curvature_every": self.curvature_every,
        }
        if budget:
            run["steps"] = budget
        try:
            return build_model_run(
                dict(self.data or {}),
                dict(self.model),
                {} if self.loss_fn is None else {"fn": self.loss_fn},
                run,
                optimizer=self.optimizer,
                lr=self.effective_lr,
                hyper=self.hyper,
                base_dir=self.base_dir,
                schedule=self.schedule,
                schedule_args=dict(self.schedule_args) or None,
                **kwargs,
            )
        except USER_ERRORS as err:
            raise ScenarioError(f"{visible(self.source, PATH_LIMIT)}: {err}") from None

    def build_run(self, max_steps: int | bool | None = True, **kwargs: Any) -> Run:
        """A fresh run; ``max_steps=True`` means the scenario's own step budget."""
        if self.is_model:
            return self.build_model_run(max_steps, **kwargs)
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
            noise=self.noise,
            schedule=self.schedule,
            schedule_args=dict(self.schedule_args) or None,
            curvature_every=self.curvature_every,
            **kwargs,
        )

    def contender(self, entry: Mapping[str, Any], index: int | None = None) -> Scenario:
        """The scenario one race entry runs: this one with the entry's overrides, checked.

        ``index`` (1-based) names the entry in an error (``[[race]] 2: …``); without it the
        message is the bare reason (a contender added in the app).
        """
        prefix = "" if index is None else f"[[race]] {index}: "
        entry = race_entry(entry, index)
        try:
            optimizer, lr, hyper = inherit(entry, self.optimizer, self.lr, self.hyper)
        except USER_ERRORS as err:
            raise _fail(None, f"{prefix}{err}") from None
        changes: dict[str, Any] = {"optimizer": optimizer, "lr": lr, "hyper": hyper, "race": ()}
        for key in ("batch_size", "seed", "noise"):
            if key in entry:
                changes[key] = entry[key]
        if "batch_size" in entry and not self.is_model:
            raise _fail(None, f"{prefix}batch_size is for a model on [data]; a formula has no data")
        if "noise" in entry and self.is_model:
            raise _fail(None, f"{prefix}noise is for a formula; a model's batches are its noise")
        if "schedule" in entry:  # a schedule of its own: only its own arguments
            changes["schedule"] = entry["schedule"]
            changes["schedule_args"] = dict(entry.get("schedule_args") or {})
        elif "schedule_args" in entry:
            changes["schedule_args"] = {**self.schedule_args, **entry["schedule_args"]}
        try:
            return _validated(replace(self, **changes), None)
        except ScenarioError as err:
            raise _fail(None, f"{prefix}{err}") from None

    def build_race(
        self, max_steps: int | bool | None = True, tolerance: float = TOLERANCE, **kwargs: Any
    ) -> Race:
        """A :class:`~gdtui.engine.Race` of the ``[[race]]`` entries, each run built as
        :meth:`build_run` builds it (a Run, or a ModelRun for ``[data]``); ``kwargs`` go to every
        run. An entry without a label is named ``"adam lr=0.01"``."""
        race = Race(tolerance=tolerance)
        for i, entry in enumerate(self.race, start=1):
            try:
                run = self.contender(entry, i).build_run(max_steps, **kwargs)
            except ScenarioError as err:
                # a [data] error names the file, the entry says which
                text = str(err)
                if not text.startswith("[[race]]"):
                    text = f"[[race]] {i}: {text}"
                raise ScenarioError(f"{visible(self.source, PATH_LIMIT)}: {text}") from None
            race.add(entry.get("label"), run)
        return race

    def with_overrides(self, **changes: Any) -> Scenario:
        """A copy with command-line overrides applied and checked (None means: keep).

        A new ``loss`` or ``expression`` drops the old start point and options; a new optimizer
        drops hyper-parameters meant for the old one. A new problem (``loss``, ``expression``,
        ``data``) drops the ``[[race]]`` entries, which were written for the old one.
        """
        given = {k: v for k, v in changes.items() if v is not None}
        if any(key in given for key in ("loss", "expression", "data")):
            given.setdefault("race", ())
        if "loss" in given or "expression" in given:  # a formula: no data, no model
            for key in ("data", "model", "loss_fn", "batch_size"):
                given.setdefault(key, None if key != "model" else {})
        new_data = given.get("data") is not None
        if new_data and not self.is_model:  # a model's default float type
            given.setdefault("dtype", "float32")
        if new_data:  # learning from data: no formula
            given.setdefault("loss", None)
            given.setdefault("expression", None)
            given.setdefault("init", {})
            given.setdefault("options", {})
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


def _shown(value: Any) -> str:
    """A value from a file or a user as a message repeats it (text quoted, as Python writes it):
    control characters visible, cut."""
    return visible(repr(value), NAME_LIMIT)


def _name(text: str) -> str:
    """A name from a file or a user, for a message that quotes it: controls visible, cut."""
    return visible(text, NAME_LIMIT)


def _check_keys(where: str, table: Mapping[str, Any], allowed: list[str], section: str) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(
                where,
                f"unknown field '{_name(key)}' in {section}{closest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}",
            )


def _number(where: str, field_name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"{_name(field_name)} must be a finite number, got {_shown(value)}")
    return float(value)


def _check_init(init: Mapping[str, float], problem: Problem) -> None:
    """Start-point names: the formula rule (ASCII, no keyword), and known to the problem, with a
    suggestion that ignores case (``X`` for ``x``)."""
    names = problem.param_names
    for key in init:
        check_name(key)
        if key not in names:
            lower = {n.lower(): n for n in names}
            hint = lower.get(key.lower())
            suggestion = f" (did you mean '{hint}'?)" if hint else closest(key, names)
            raise ProblemError(
                f"init: unknown parameter '{_name(key)}'{suggestion}; "
                f"'{problem.name}' has: {', '.join(names)}"
            )


def _setting(where: str | None, section: str, check: Any, value: Any, **kwargs: Any) -> Any:
    """One of :mod:`gdtui.settings`' checks; its message, after ``section``, names the file."""
    try:
        return check(value, **kwargs)
    except settings.SettingError as err:
        raise _fail(where, f"{section}{err}") from None


def _string(where: str, field_name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{field_name} must be a string, got {_shown(value)}")
    return value


def parse_scenario(
    data: Mapping[str, Any], name: str, source: str, base_dir: str | None = None
) -> Scenario:
    """Check a parsed TOML table and build a :class:`Scenario`; errors name ``source``.

    ``base_dir`` (the file's folder) anchors a relative ``[data] path``."""
    where = source
    _check_keys(
        where,
        data,
        [
            "title",
            "description",
            "problem",
            "data",
            "model",
            "loss",
            "optimizer",
            "run",
            "schedule",
            "race",
        ],
        "the file",
    )
    for section in ("problem", "data", "model", "loss", "optimizer", "run", "schedule"):
        if section in data and not isinstance(data[section], dict):
            raise _fail(where, f"[{section}] must be a table, got {_shown(data[section])}")
    problem = dict(data.get("problem", {}))
    optimizer = dict(data.get("optimizer", {}))
    run = dict(data.get("run", {}))

    values: dict[str, Any] = {"name": name, "source": source}
    values["title"] = _string(where, "title", data.get("title", name))
    values["description"] = _string(where, "description", data.get("description", ""))

    if "data" in data:
        if "problem" in data:
            raise _fail(where, "give either [problem] (a formula) or [data] (a model), not both")
        values.update(_data_tables(where, data, run))
        values["base_dir"] = base_dir
        problem = {"loss": "quadratic"}  # placeholder, dropped below
    else:
        for section in ("model", "loss"):
            if section in data:
                raise _fail(where, f"[{section}] needs a [data] table (the data to learn from)")
        if "batch_size" in run:
            raise _fail(where, "[run] batch_size is for a model on [data]; a formula has no data")
    if "noise" in problem:
        values["noise"] = _number(where, "[problem] noise", problem.pop("noise"))
    loss = problem.pop("loss", None)
    expression = problem.pop("expression", None)
    init = problem.pop("init", {})
    if loss is not None and expression is not None:
        raise _fail(where, "[problem] give either loss or expression, not both")
    if expression is not None:
        values["expression"] = _string(where, "[problem] expression", expression)
        values["loss"] = None
        _check_keys(where, problem, ["loss", "expression", "init"], "[problem]")
    else:
        loss = "quadratic" if loss is None else _string(where, "[problem] loss", loss)
        spec = PROBLEMS.get(loss.strip().lower())
        if spec is None:
            raise _fail(
                where,
                f"[problem] loss: unknown loss '{_name(loss)}'{closest(loss, PROBLEMS)}; "
                f"choose one of: {', '.join(PROBLEMS)}",
            )
        values["loss"] = spec.name
        _check_keys(where, problem, ["loss", "expression", "init", *spec.options], "[problem]")
        values["options"] = problem  # checked by the engine, as command-line options are
    if not isinstance(init, dict):
        raise _fail(where, f"[problem] init must be a table like {{ x = 1.0 }}, got {_shown(init)}")
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
    allowed = ["name", "lr", *spec.tunable()]
    _check_keys(where, optimizer, allowed, f"[optimizer] (for {spec.name})")
    values["hyper"] = optimizer

    schedule = dict(data.get("schedule", {}))
    if schedule:
        if "name" not in schedule:
            raise _fail(where, f"[schedule] needs a name; choose one of: {', '.join(SCHEDULES)}")
        values["schedule"] = _string(where, "[schedule] name", schedule.pop("name"))
        values["schedule_args"] = schedule  # checked against the real constructor below

    run_keys = ["steps", "seed", "tolerance", "dtype", "device", "curvature_every"]
    if "data" in data:
        run_keys.append("batch_size")
        values["dtype"] = "float32"  # a model's default; [run] dtype says otherwise
        values["loss"] = None
        values["options"] = {}
        values["init"] = {}
    _check_keys(where, run, run_keys, "[run]")
    if "curvature_every" in run:
        values["curvature_every"] = _every(where, run["curvature_every"])
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
    if "race" in data:
        values["race"] = _race_entries(where, data["race"])
    return _validated(Scenario(**values), where)


def race_entry(entry: Any, index: int | None = None) -> dict[str, Any]:
    """One ``[[race]]`` table's own checks (names and types; the values that need the scenario
    are checked by :meth:`Scenario.contender`): a plain dict copy, ``lr`` and ``seed`` parsed.
    ``index`` names the entry in the one-line :class:`ScenarioError`."""
    at = "" if index is None else f"[[race]] {index}: "
    if not isinstance(entry, Mapping):
        raise ScenarioError(f"{at}an entry must be a table, got {_shown(entry)}")
    entry = dict(entry)
    for key in entry:
        if key not in ENTRY_KEYS:
            raise ScenarioError(
                f"{at}unknown field '{_name(str(key))}'{closest(str(key), ENTRY_KEYS)}; "
                f"allowed: {', '.join(ENTRY_KEYS)}"
            )
    label = entry.get("label")
    if label is not None and (
        not isinstance(label, str) or not label.strip() or len(label.splitlines()) > 1
    ):
        raise ScenarioError(f"{at}label must be one line of text, got {_shown(label)}")
    if label is not None:
        entry["label"] = label.strip()
    for key in ("optimizer", "schedule"):
        if key in entry and not isinstance(entry[key], str):
            raise ScenarioError(f"{at}{key} must be text, got {_shown(entry[key])}")
    for key in ("hyper", "schedule_args"):
        if key in entry and not isinstance(entry[key], Mapping):
            raise ScenarioError(f"{at}{key} must be a table, got {_shown(entry[key])}")
        if key in entry:
            entry[key] = dict(entry[key])
    try:
        if "lr" in entry:
            entry["lr"] = settings.parse_lr(entry["lr"], text=False)
        if "seed" in entry:
            entry["seed"] = settings.check_seed(entry["seed"], text=False)
        if "batch_size" in entry:
            parse_batch_size(entry["batch_size"])
    except (settings.SettingError, *USER_ERRORS) as err:
        raise ScenarioError(f"{at}{err}") from None
    if "noise" in entry:
        value = entry["noise"]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value < math.inf
        ):
            raise ScenarioError(f"{at}noise must be a finite number ≥ 0, got {_shown(value)}")
    return entry


def _race_entries(where: str, entries: Any) -> tuple[dict[str, Any], ...]:
    """The ``[[race]]`` array: at most :data:`MAX_CONTENDERS` tables, labels unique."""
    if isinstance(entries, Mapping):
        raise _fail(where, "race must be an array of tables: write [[race]], not [race]")
    if not isinstance(entries, list):
        raise _fail(where, f"[[race]] must be an array of tables, got {_shown(entries)}")
    if len(entries) > MAX_CONTENDERS:
        raise _fail(
            where, f"[[race]] holds at most {MAX_CONTENDERS} entries (runs), got {len(entries)}"
        )
    out: list[dict[str, Any]] = []
    labels: dict[str, int] = {}
    for i, entry in enumerate(entries, start=1):
        try:
            checked = race_entry(entry, i)
        except ScenarioError as err:
            raise _fail(where, str(err)) from None
        label = checked.get("label")
        if label is not None:
            if label in labels:
                raise _fail(
                    where,
                    f"[[race]] {i}: label '{_name(label)}' is already entry {labels[label]}'s; "
                    "labels must differ",
                )
            labels[label] = i
        out.append(checked)
    return tuple(out)


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
    checked["curvature_every"] = _every(where, scenario.curvature_every)
    schedule = scenario.schedule
    if schedule is not None and schedule.strip().lower() == "none":
        schedule = None
    checked["schedule"] = schedule
    if schedule is not None:
        try:
            spec = get_schedule(schedule)
            check_schedule(
                spec.name,
                scenario.schedule_args,
                total_steps=checked["steps"],
                lr=checked.get("lr", scenario.effective_lr),
            )
        except USER_ERRORS as err:
            message = f"[schedule] {visible(str(err), 300)}" if where else str(err)
            raise _fail(where, message) from None
        checked["schedule"] = spec.name
    elif scenario.schedule_args:
        raise _fail(where, "schedule arguments given without a schedule name")
    if scenario.is_model:
        return _raced(_validated_model(scenario, where, checked), where)
    if scenario.loss is not None and scenario.loss.strip().lower() not in PROBLEMS:
        loss = scenario.loss
        raise _fail(
            where,
            f"unknown loss '{_name(loss)}'{closest(loss.strip().lower(), PROBLEMS)}; "
            f"choose one of: {', '.join(PROBLEMS)}",
        )
    if scenario.expression is not None and scenario.options:
        raise _fail(
            where,
            f"option '{next(iter(scenario.options))}' is for a built-in loss, not an expression",
        )
    try:
        spec = get_spec(scenario.optimizer)
        hyper = check_hyperparameters(spec, scenario.hyper)
        base = scenario.base_problem()
        _check_init(scenario.init, base)
        base.with_init(scenario.init or None)
    except USER_ERRORS as err:
        section = _section_of(err) if where else ""
        raise _fail(where, f"{section}{err}") from None
    options = {k: float(v) for k, v in scenario.options.items()}
    checked["noise"] = _noise(where, scenario.noise)
    return _raced(
        replace(scenario, optimizer=spec.name, hyper=hyper, options=options, **checked), where
    )


def _raced(scenario: Scenario, where: str | None) -> Scenario:
    """Every ``[[race]]`` entry checked as the scenario it runs (after the scenario's own)."""
    if len(scenario.race) > MAX_CONTENDERS:
        raise _fail(
            where,
            f"[[race]] holds at most {MAX_CONTENDERS} entries (runs), got {len(scenario.race)}",
        )
    entries = []
    for i, entry in enumerate(scenario.race, start=1):
        try:
            scenario.contender(entry, i)
        except ScenarioError as err:
            raise _fail(where, str(err)) from None
        entries.append(race_entry(entry, i))
    return replace(scenario, race=tuple(entries))


def _noise(where: str | None, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise _fail(where, f"[problem] noise must be a finite number ≥ 0, got {_shown(value)}")
    return float(value)


def _validated_model(scenario: Scenario, where: str | None, checked: dict[str, Any]) -> Scenario:
    """The cheap checks of a model scenario; the data is loaded when the run is built."""
    if scenario.noise:
        raise _fail(where, "[problem] noise is for a formula; a model's batches are its noise")
    try:
        spec = get_spec(scenario.optimizer)
        hyper = check_hyperparameters(spec, scenario.hyper)
        if scenario.batch_size is not None:
            parse_batch_size(scenario.batch_size)
        if scenario.loss_fn is not None and scenario.loss_fn.strip().lower() not in LOSSES:
            fn = scenario.loss_fn
            raise ModelError(
                f"unknown loss function '{_name(fn)}'{closest(fn.strip().lower(), LOSSES)}; "
                f"choose one of: {', '.join(LOSSES)}"
            )
        kind = scenario.model.get("kind")
        if kind is not None and str(kind).strip().lower() not in MODEL_KINDS:
            raise ModelError(
                f"unknown model kind '{_name(str(kind))}'{closest(str(kind), MODEL_KINDS)}; "
                f"choose one of: {', '.join(MODEL_KINDS)}"
            )
    except USER_ERRORS as err:
        section = {OptimizerError: "[optimizer] ", RunError: "[run] ", ModelError: ""}
        prefix = section.get(type(err), "") if where else ""
        raise _fail(where, f"{prefix}{err}") from None
    return replace(scenario, optimizer=spec.name, hyper=hyper, **checked)


def _data_tables(where: str, data: Mapping[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """``[data]``, ``[model]``, ``[loss]`` and ``[run] batch_size``: names checked here, values by
    the engine when the run is built (:func:`gdtui.engine.build_model_run`)."""
    table = dict(data["data"])
    _check_keys(where, table, list(DATA_KEYS), "[data]")
    model = dict(data.get("model", {}))
    _check_keys(where, model, list(MODEL_KEYS), "[model]")
    loss = dict(data.get("loss", {}))
    _check_keys(where, loss, list(LOSS_KEYS), "[loss]")
    out: dict[str, Any] = {"data": table, "model": model}
    if "fn" in loss:
        out["loss_fn"] = _string(where, "[loss] fn", loss["fn"])
    if "batch_size" in run:
        out["batch_size"] = run.pop("batch_size")
    return out


def _every(where: str | None, value: Any) -> int:
    """``curvature_every``: a whole number ≥ 0 (0: never)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(where, f"[run] curvature_every must be a whole number ≥ 0, got {_shown(value)}")
    return value


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


def load_file(path: str | Path, name: str | None = None) -> Scenario:
    """Read and check one scenario file (through :func:`gdtui.files.read_text_file`: no FIFO,
    device, symlink loop, huge or non-UTF-8 file is read; a byte-order mark is accepted)."""
    where = visible(str(path), PATH_LIMIT)
    try:
        text = read_text_file(path, what="scenario")
    except FileInputError as err:
        raise ScenarioError(str(err)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{where}: not valid TOML: {visible(err, 200)}") from None
    except RecursionError:
        raise ScenarioError(
            f"{where}: not valid TOML: arrays or tables nested too deeply"
        ) from None
    try:
        folder = str(expand_path(path).resolve().parent)
        return parse_scenario(data, name or Path(path).stem, where, folder)
    except RecursionError:  # a deeply nested value shown in a message
        raise ScenarioError(f"{where}: a value is nested too deeply") from None


def load_scenario(spec: str | Path | None = None) -> Scenario:
    """A built-in by name (default ``seed-example``) or a ``.toml`` file by path.

    A name without ``/`` and without ``.toml`` is a built-in first: a folder or file of that name
    in the working directory does not hide it (``./NAME`` reaches the file). An empty name is
    refused, not taken for the default.
    """
    if spec is None:
        spec = DEFAULT_SCENARIO
    text = str(spec).strip()
    if not text:
        raise ScenarioError(
            "the scenario name is empty; give a built-in name (see: gdtui list scenarios) "
            "or the path of a .toml file"
        )
    names = builtin_names()
    is_path = isinstance(spec, Path) or text.endswith(".toml") or "/" in text or "~" in text[:1]
    if not is_path and text not in names and os.path.lexists(text):
        is_path = True
    if is_path:
        return load_file(spec if isinstance(spec, Path) else text)
    if text not in names:
        shown = visible(text, NAME_LIMIT)
        raise ScenarioError(
            f"unknown scenario '{shown}'{closest(text, names)}; built-ins: {', '.join(names)}; "
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
    schedule_args = changes.pop("schedule_args", None)
    model = changes.pop("model", None)
    target = changes.pop("data_target", None)
    if changes.get("data") is not None and target is not None:
        changes["data"] = {**changes["data"], "target": target}
    elif target is not None:
        if not scenario.is_model:
            raise ScenarioError("--target is for a scenario with data (give --data FILE.csv)")
        changes["data"] = {**(scenario.data or {}), "target": target}
    if model:
        if not scenario.is_model and changes.get("data") is None:
            raise ScenarioError("--model and --hidden are for a scenario with data (give --data)")
        base = {} if changes.get("data") is not None else dict(scenario.model)
        if "kind" in model and model["kind"] != base.get("kind"):
            base = {}  # a new kind: its own defaults (hidden is for mlp only)
        changes["model"] = {**base, **model}
    if changes.get("schedule") is not None:  # a new schedule: only the arguments given with it
        changes["schedule_args"] = dict(schedule_args or {})
    elif schedule_args:
        changes["schedule_args"] = {**scenario.schedule_args, **schedule_args}
    scenario = scenario.with_overrides(**changes)
    if hyper:
        scenario = scenario.with_overrides(hyper={**scenario.hyper, **hyper})
    if options:
        scenario = scenario.with_overrides(options={**scenario.options, **options})
    return scenario
