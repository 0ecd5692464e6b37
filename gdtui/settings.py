"""The run settings a person types, each checked here once with its one message.

The command line, the scenario loader, the app's controls and the engine all call these, so
``--lr -1``, ``lr = -1`` in a scenario file and ``-1`` typed in the app say the same thing.
Torch-free on purpose: the CLI checks its arguments before torch has loaded.

Each check takes what a person wrote (text from a field or the command line) or a value already
typed (a TOML number, a Python argument) and returns the clean value, or raises
:class:`SettingError` whose ``str()`` is one line. ``text=False`` refuses text, for sources that
have real types (a TOML file, where ``lr = "0.1"`` is a mistake).
"""

from __future__ import annotations

import math
from typing import Any

MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit integer
DTYPES = ("float64", "float32")
SWEEP_RATES = 64  # a learning-rate sweep's rates by default: a formula's run in one batch
MODEL_SWEEP_RATES = 16  # a model's: its training runs go one after another


class SettingError(ValueError):
    """A setting that can't be used; ``str()`` is one line naming the setting and the value."""


def shown(value: Any, *, text: bool = True) -> str:
    """A value as a message shows it: a number as Python and TOML read it (``-1``, ``-0.001``
    for ``-1e-3``, ``inf`` for ``1e400``), other text quoted (``'abc'``).

    Text that is a number shows as that number, so that ``--lr -1e-3`` on the command line and
    ``lr = -1e-3`` in a scenario file give the same message. With ``text=False`` (a source with
    real types) text is always quoted: ``lr = "0.1"`` shows as ``'0.1'``.
    """
    if isinstance(value, str) and text:
        for read in (int, float):
            try:
                return shown(read(value.strip()))
            except ValueError:
                continue
        return repr(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e308:
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _number(value: Any, *, text: bool) -> float | None:
    """``value`` as a float, or None when it is not a number (bools and lists are not)."""
    if isinstance(value, bool) or (isinstance(value, str) and not text):
        return None
    try:
        return float(value.strip()) if isinstance(value, str) else float(value)
    except OverflowError:  # an int too large for a float
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        return None


def _whole(value: Any, *, text: bool) -> int | None:
    """``value`` as an int, or None unless it is a whole number written as one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str) and text:
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def parse_lr(value: Any, *, text: bool = True) -> float:
    """A learning rate: a finite number above 0.

    Messages: ``learning rate must be a number, got 'abc'``; ``learning rate must be finite, got
    inf``; ``learning rate must be above 0, got -1``.
    """
    lr = _number(value, text=text)
    got = shown(value, text=text)
    if lr is None:
        raise SettingError(f"learning rate must be a number, got {got}")
    if not math.isfinite(lr):
        raise SettingError(f"learning rate must be finite, got {got}")
    if lr <= 0:
        raise SettingError(f"learning rate must be above 0, got {got}")
    return lr


def check_steps(value: Any, *, minimum: int = 1, text: bool = True) -> int:
    """A step count: a whole number ≥ ``minimum`` (1 for a budget, 0 for "steps to take first").

    Message: ``steps must be a whole number ≥ 1, got 0``.
    """
    steps = _whole(value, text=text)
    if steps is None or steps < minimum:
        got = shown(value, text=text)
        raise SettingError(f"steps must be a whole number ≥ {minimum}, got {got}")
    return steps


def check_seed(value: Any, *, text: bool = True) -> int:
    """A random seed: a whole number from 0 to 2**63 - 1 (what ``torch.manual_seed`` takes).

    Message: ``seed must be a whole number from 0 to 2**63 - 1, got -1``.
    """
    seed = _whole(value, text=text)
    if seed is None or not 0 <= seed <= MAX_SEED:
        got = shown(value, text=text)
        raise SettingError(f"seed must be a whole number from 0 to 2**63 - 1, got {got}")
    return seed


def check_tolerance(value: Any, *, text: bool = True) -> float:
    """The convergence tolerance: a finite number ≥ 0.

    Message: ``tolerance must be a finite number ≥ 0, got -1``.
    """
    tolerance = _number(value, text=text)
    if tolerance is None or not 0 <= tolerance < math.inf:
        got = shown(value, text=text)
        raise SettingError(f"tolerance must be a finite number ≥ 0, got {got}")
    return tolerance


def check_dtype(value: Any) -> str:
    """A float type by name, ``float64`` or ``float32`` (any case); returns it in lower case.

    Message: ``unknown dtype 'float16'; choose one of: float64, float32``.
    """
    key = str(value).strip().lower()
    if key not in DTYPES:
        raise SettingError(f"unknown dtype '{value}'; choose one of: {', '.join(DTYPES)}")
    return key


def check_device(value: Any) -> str:
    """A device by name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; returns it in lower case.

    Whether that device exists is the engine's question (it needs torch). Message: ``unknown
    device 'tpu'; use auto, cpu, cuda or cuda:N``.
    """
    key = str(value).strip().lower()
    index = key.removeprefix("cuda:")
    if key in ("auto", "cpu", "cuda") or (index != key and index.isascii() and index.isdigit()):
        return key
    raise SettingError(f"unknown device '{value}'; use auto, cpu, cuda or cuda:N")
