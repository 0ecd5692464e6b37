"""Tests for gdtui.settings: each run setting has one rule and one message, whoever asks.

The same bad values go through the command line, a scenario file and the function the app's
controls call, and all three must say the same thing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gdtui import cli, settings
from gdtui.engine import OptimizerError, Run, RunError, get_problem, parse_lr
from gdtui.scenario import ScenarioError, load_file

# setting -> (the check, the command-line flag, the scenario file's [section] and key,
#             [(text typed on the command line or in the app, the same value in TOML)])
BAD = {
    "lr": (
        settings.parse_lr,
        "--lr",
        ("optimizer", "lr"),
        [
            ("abc", '"abc"'),
            ("-1", "-1"),
            ("nan", "nan"),
            ("0", "0"),
            ("inf", "inf"),
            ("1e400", "1e400"),
            ("-1e-3", "-1e-3"),
            ("0.1", '"0.1"'),  # text where the file has real numbers: refused
        ],
    ),
    "steps": (
        settings.check_steps,
        "--steps",
        ("run", "steps"),
        [("0", "0"), ("-5", "-5"), ("1.5", "1.5"), ("abc", '"abc"')],
    ),
    "seed": (
        settings.check_seed,
        "--seed",
        ("run", "seed"),
        [("-1", "-1"), (str(2**63), str(2**63)), ("abc", '"abc"')],
    ),
    "dtype": (settings.check_dtype, "--dtype", ("run", "dtype"), [("float16", '"float16"')]),
    "device": (
        settings.check_device,
        "--device",
        ("run", "device"),
        [("tpu", '"tpu"'), ("cuda:x", '"cuda:x"'), ("cuda:", '"cuda:"')],
    ),
}
CASES = [
    pytest.param(name, text, toml, id=f"{name}={text}")
    for name, (_, _, _, values) in BAD.items()
    for text, toml in values
]


def message_of(check, value, **kwargs) -> str:
    with pytest.raises(settings.SettingError) as err:
        check(value, **kwargs)
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(("name", "text", "toml"), CASES)
def test_cli_scenario_file_and_app_give_the_same_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str, toml: str
) -> None:
    check, flag, (section, key) = BAD[name][:3]
    # What the app's field calls with the text as typed (strings from a TOML file are refused:
    # the file has real numbers, so ``lr = "0.1"`` is a mistake there, not here).
    typed_ok = text == "0.1"
    app_message = None if typed_ok else message_of(check, text)

    # The file: the same value written in TOML.
    path = tmp_path / "bad.toml"
    path.write_text(f"[{section}]\n{key} = {toml}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_file(path)
    prefix = f"{path}: [{section}] " + ("lr: " if key == "lr" else "")
    assert str(err.value).startswith(prefix)
    file_message = str(err.value).removeprefix(prefix)

    if typed_ok:
        assert check(text) == 0.1
        assert file_message == "learning rate must be a number, got '0.1'"
        return
    assert file_message == app_message

    # The command line, with the value as its own argument (even one that starts with "-").
    code = cli.main(["run", "seed-example", flag, text, "--format", "summary"])
    out, stderr = capsys.readouterr()
    assert (code, out) == (2, "")
    assert stderr == f"gdtui: error: {app_message}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "learning rate must be a number, got 'abc'"),
        ("", "learning rate must be a number, got ''"),
        ("-1", "learning rate must be above 0, got -1"),
        ("0", "learning rate must be above 0, got 0"),
        ("nan", "learning rate must be finite, got nan"),
        ("inf", "learning rate must be finite, got inf"),
        ("1e400", "learning rate must be finite, got inf"),
        (True, "learning rate must be a number, got True"),
        ([0.1], "learning rate must be a number, got [0.1]"),
        (10**400, "learning rate must be finite, got inf"),
    ],
)
def test_lr_messages(text: object, message: str) -> None:
    assert message_of(settings.parse_lr, text) == message


def test_lr_accepts() -> None:
    assert settings.parse_lr(" 0.25 ") == 0.25
    assert settings.parse_lr(2) == 2.0 and type(settings.parse_lr(2)) is float
    assert settings.parse_lr(1e-300) == 1e-300
    assert message_of(settings.parse_lr, "0.25", text=False).endswith("got '0.25'")


def test_steps_seed_tolerance() -> None:
    assert settings.check_steps("12") == 12
    assert settings.check_steps(0, minimum=0) == 0
    assert message_of(settings.check_steps, "0") == "steps must be a whole number ≥ 1, got 0"
    assert message_of(settings.check_steps, True) == "steps must be a whole number ≥ 1, got True"
    assert message_of(settings.check_steps, "-1", minimum=0) == (
        "steps must be a whole number ≥ 0, got -1"
    )
    assert settings.check_seed(str(settings.MAX_SEED)) == 2**63 - 1
    assert settings.check_seed(0) == 0
    assert message_of(settings.check_seed, 2**63) == (
        f"seed must be a whole number from 0 to 2**63 - 1, got {2**63}"
    )
    assert settings.check_tolerance(0) == 0.0
    assert settings.check_tolerance("1e-8") == 1e-8
    for bad in (-1, float("nan"), float("inf"), True, "abc"):
        assert message_of(settings.check_tolerance, bad).startswith(
            "tolerance must be a finite number ≥ 0, got "
        )


def test_dtype_and_device() -> None:
    assert settings.check_dtype(" FLOAT32 ") == "float32"
    assert message_of(settings.check_dtype, "float16") == (
        "unknown dtype 'float16'; choose one of: float64, float32"
    )
    for good, clean in (("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1")):
        assert settings.check_device(good) == clean
    for bad in ("tpu", "", "cuda:", "cuda:-1", "cuda:²", "cuda:0:1"):
        assert message_of(settings.check_device, bad) == (
            f"unknown device '{bad}'; use auto, cpu, cuda or cuda:N"
        )


def test_engine_raises_its_own_error_types_with_the_settings_messages() -> None:
    """USER_ERRORS keep working: the engine's errors carry the settings module's messages."""
    with pytest.raises(OptimizerError) as lr_err:
        parse_lr("-1")
    assert str(lr_err.value) == message_of(settings.parse_lr, "-1")
    problem = get_problem("quadratic")
    for kwargs, check, value in (
        ({"max_steps": 0}, settings.check_steps, 0),
        ({"seed": -1}, settings.check_seed, -1),
        ({"tolerance": -1.0}, settings.check_tolerance, -1.0),
        ({"dtype": "float16"}, settings.check_dtype, "float16"),
        ({"device": "tpu"}, settings.check_device, "tpu"),
    ):
        with pytest.raises(RunError) as err:
            Run(problem, "sgd", lr=0.1, **kwargs)
        assert str(err.value) == message_of(check, value)


def test_settings_and_suggest_load_without_torch() -> None:
    """The CLI checks settings before torch loads: neither module may import it."""
    code = (
        "import sys, gdtui.settings, gdtui.suggest, gdtui.cli; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_engine_imports_only_the_torch_free_leaf_modules() -> None:
    """gdtui.engine may use the torch-free leaf modules (safetext, settings, suggest, summaries), nothing else above it, no terminal."""
    code = (
        "import sys, gdtui.engine\n"
        "mods = sorted(m for m in sys.modules if m.startswith('gdtui'))\n"
        "extra = [m for m in mods if not m.startswith('gdtui.engine')]\n"
        "allowed = {'gdtui', 'gdtui.files', 'gdtui.safetext', 'gdtui.settings', 'gdtui.suggest', 'gdtui.summaries'}\n"
        "assert set(extra) <= allowed and 'gdtui.settings' in extra, extra\n"
        "assert not any(m.split('.')[0] in ('textual', 'plotext') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
