"""A model scenario for the app while :mod:`gdtui.scenario` does not know ``[data]`` yet.

It has the interface the descent loop reads of a scenario that trains a model (``is_model``,
``build_run()``, ``with_overrides(...)``, ``name``, ``title``, ``description``, ``steps``,
``lr``, ``hyper``, ``optimizer``), the one :class:`gdtui.scenario.Scenario` has once it carries
``data``/``model``/``loss_fn``/``batch_size``. Every value is checked by the engine's
:func:`~gdtui.engine.build_model_run` when the run is built (one-line errors). Delete this module
once ``gdtui.scenario`` produces model scenarios.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gdtui.engine import ModelRun, build_model_run, get_spec
from gdtui.files import read_text_file


@dataclass(frozen=True)
class ModelScenario:
    """A model trained on data: the ``[data]``, ``[model]``, ``[loss]`` tables and the run's."""

    name: str
    data: Mapping[str, Any]
    model: Mapping[str, Any] = field(default_factory=dict)
    loss_fn: str | None = None
    batch_size: int | str | None = None
    optimizer: str = "sgd"
    lr: float | None = None
    hyper: Mapping[str, Any] = field(default_factory=dict)
    steps: int = 500
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    title: str = ""
    description: str = ""
    base_dir: str | None = None
    expression: None = None

    @property
    def is_model(self) -> bool:
        """Always True: this scenario trains a model."""
        return True

    @property
    def effective_lr(self) -> float:
        """The scenario's learning rate, else the optimizer's default."""
        return self.lr if self.lr is not None else get_spec(self.optimizer).default_lr

    def build_run(self, max_steps: int | bool | None = True, **kwargs: Any) -> ModelRun:
        """A fresh :class:`~gdtui.engine.ModelRun` (every table checked by the engine)."""
        budget = self.steps if max_steps is True else max_steps
        run: dict[str, Any] = {
            "batch_size": "full" if self.batch_size is None else self.batch_size,
            "seed": self.seed,
            "dtype": self.dtype,
            "device": self.device,
        }
        if budget:
            run["steps"] = budget
        return build_model_run(
            dict(self.data),
            dict(self.model),
            {} if self.loss_fn is None else {"fn": self.loss_fn},
            run,
            optimizer=self.optimizer,
            lr=self.effective_lr,
            hyper=dict(self.hyper),
            base_dir=self.base_dir,
            **kwargs,
        )

    def with_overrides(self, **changes: Any) -> ModelScenario:
        """A copy with these fields changed (None means: keep); a new optimizer drops the
        old one's hyper-parameters; a ``loss`` or ``expression`` gives a formula's scenario."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "loss" in given or "expression" in given:  # a formula: no data, no model any more
            from gdtui.scenario import load_scenario

            formula = {k: v for k, v in given.items() if k in ("loss", "expression", "init")}
            return load_scenario().with_overrides(**formula)  # type: ignore[return-value]
        if "optimizer" in given and given["optimizer"] != self.optimizer:
            given.setdefault("hyper", {})
        return replace(self, **given)

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> ModelScenario:
        """Read the tables of a scenario file with ``[data]`` (values checked when built)."""
        path = Path(path)
        # Through gdtui.files: a FIFO named *.toml must not block the descent thread forever.
        tables = tomllib.loads(read_text_file(path, what="scenario"))
        optimizer = dict(tables.get("optimizer", {}))
        run = dict(tables.get("run", {}))
        return cls(
            name=name or path.stem,
            data=dict(tables["data"]),
            model=dict(tables.get("model", {})),
            loss_fn=tables.get("loss", {}).get("fn"),
            batch_size=run.pop("batch_size", None),
            optimizer=optimizer.pop("name", "sgd"),
            lr=optimizer.pop("lr", None),
            hyper=optimizer,
            steps=run.pop("steps", 500),
            seed=run.pop("seed", 0),
            title=tables.get("title", path.stem),
            description=tables.get("description", ""),
            base_dir=str(path.resolve().parent),
        )

    @classmethod
    def builtin(cls, name: str) -> ModelScenario:
        """A built-in scenario with ``[data]`` by name (``full-batch-vs-sgd`` …)."""
        from gdtui.scenario import builtin_dir

        return cls.from_file(builtin_dir() / f"{name}.toml", name)
