"""The bad-input matrix of issue 10 (docs/bad-input.md): every input refused in one line.

Each case runs :func:`gdtui.cli.main` in-process and checks the exit code and the one line the
user sees. Only what needs a real process runs one: signals (SIGTERM, SIGHUP, SIGINT during
``gdtui run``) and ``>/dev/full``.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gdtui import cli
from gdtui.engine import OptimizerError, check_hyperparameters, get_problem, get_spec
from gdtui.engine.run import Run
from gdtui.scenario import ScenarioError, load_scenario

REPO = Path(__file__).resolve().parent.parent


def gdtui(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``gdtui ARGS`` in-process; return (exit code, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Exit 2, nothing on stdout, exactly one 'gdtui: error:' line on stderr; returns it."""
    code, out, err = gdtui(capsys, *args)
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gdtui: error: "), err
    assert "\x1b" not in err and "\x07" not in err
    return lines[0].removeprefix("gdtui: error: ")


# -- command-line options ------------------------------------------------------------------------

OPTION_CASES = {
    "loss-and-expression": (
        ["run", "--loss", "booth", "--expression", "z**2"],
        "give either --loss or --expression, not both",
    ),
    "empty-loss": (["run", "--loss", ""], "--loss is empty; see: gdtui list problems"),
    "blank-loss": (["run", "--loss", "   "], "--loss is empty; see: gdtui list problems"),
    "empty-optimizer": (
        ["run", "--optimizer", ""],
        "--optimizer is empty; see: gdtui list optimizers",
    ),
    "empty-expression": (["run", "--expression", ""], "--expression is empty"),
    "empty-scenario": (["run", ""], "the scenario name is empty"),
    "empty-init": (["run", "--init", ""], "--init is empty; give NAME=VALUE pairs"),
    "init-twice": (["run", "--init", "w=1,w=3"], "--init names 'w' twice; give each name once"),
    "option-twice": (
        ["run", "--loss", "rosenbrock", "--option", "a=1,a=2"],
        "--option names 'a' twice",
    ),
    "init-not-a-pair": (["run", "--init", "w"], "--init expects NAME=VALUE pairs, got 'w'"),
    "init-not-a-number": (["run", "--init", "w=abc"], "--init w must be a number, got 'abc'"),
    "init-non-ascii": (
        ["run", "--init", "ℌ=3"],
        "parameter name 'ℌ' has the character 'ℌ' (U+210C): use ASCII letters, digits and '_'",
    ),
    "init-keyword": (
        ["run", "--expression", "x**2", "--init", "lambda=1"],
        "'lambda' is a Python keyword",
    ),
    "init-wrong-case": (
        ["run", "--loss", "rosenbrock", "--init", "X=1"],
        "init: unknown parameter 'X' (did you mean 'x'?); 'rosenbrock' has: x, y",
    ),
    "init-unknown": (
        ["run", "--loss", "rosenbrock", "--init", "q=1"],
        "init: unknown parameter 'q'; 'rosenbrock' has: x, y",
    ),
    "init-inf": (["run", "--init", "w=inf"], "init: 'w' must be a finite number, got inf"),
    "set-weight-decay-nan": (
        ["run", "--set", "weight_decay=nan"],
        "sgd: weight_decay must be a finite number, got nan",
    ),
    "set-momentum-inf": (
        ["run", "--set", "momentum=inf"],
        "sgd: momentum must be a finite number, got inf",
    ),
    "set-momentum-1e400": (
        ["run", "--optimizer", "momentum", "--set", "momentum=1e400"],
        "momentum: momentum must be a finite number, got inf",
    ),
    "set-eps-minus-inf": (
        ["run", "--optimizer", "adam", "--set", "eps=-inf"],
        "adam: eps must be a finite number, got -inf",
    ),
    "set-betas-nan": (
        ["run", "--optimizer", "adam", "--set", "betas=0.9,nan"],
        "adam: betas must hold finite numbers, got nan in (0.9, nan)",
    ),
    "set-fused": (
        ["run", "--set", "fused=true"],
        "'sgd' has no hyper-parameter 'fused'; allowed: momentum, dampening, weight_decay, "
        "nesterov, maximize",
    ),
    "set-foreach": (["run", "--set", "foreach=true"], "'sgd' has no hyper-parameter 'foreach'"),
    "set-differentiable": (
        ["run", "--set", "differentiable=true"],
        "'sgd' has no hyper-parameter 'differentiable'",
    ),
    "set-not-a-pair": (["run", "--set", "momentum"], "--set expects KEY=VALUE, got 'momentum'"),
    "set-truthy-text": (["run", "--set", "nesterov=yes"], "sgd: nesterov must be true or false"),
    "lr-nan": (["run", "--lr", "nan"], "learning rate must be finite, got nan"),
    "lr-negative": (["run", "--lr", "-1e-3"], "learning rate must be above 0, got -0.001"),
    "lr-text": (["run", "--lr", "abc"], "learning rate must be a number, got 'abc'"),
    "steps-zero": (["run", "--steps", "0"], "steps must be a whole number ≥ 1, got 0"),
    "seed-negative": (["run", "--seed", "-1"], "seed must be a whole number from 0 to 2**63 - 1"),
    "unknown-loss": (
        ["run", "--loss", "rosenbrok"],
        "unknown loss 'rosenbrok' (did you mean 'rosenbrock'?)",
    ),
    "unknown-optimizer": (["run", "--optimizer", "adan"], "unknown optimizer 'adan'"),
    "unknown-scenario": (["run", "seed-exampel"], "unknown scenario 'seed-exampel'"),
    "bad-formula": (
        ["run", "--expression", "__import__('os')"],
        "expression: names starting with '_' are not allowed: '__import__'",
    ),
    "press-frobnicate": (
        ["screenshot", "--press", "frobnicate", "--out", "x.svg"],
        "--press 'frobnicate' is not a key",
    ),
    "press-bad-modifier": (
        ["screenshot", "--press", "hyperctrl+x", "--out", "x.svg"],
        "--press 'hyperctrl+x' is not a key",
    ),
    "record-empty": (["run", "--record", ""], "--record is empty"),
    "serve-public-host": (
        ["serve", "--host", "0.0.0.0"],
        "--host 0.0.0.0 is not a loopback address",
    ),
    "serve-port-text": (["serve", "--port", "http"], "--port must be a whole number"),
    "serve-port-zero": (["serve", "--port", "0"], "--port must be a whole number from 1 to 65535"),
    "serve-empty-host": (["serve", "--host", ""], "--host is empty"),
    "format-unknown": (["run", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
    "list-unknown": (["list", "datasetz"], "invalid choice: 'datasetz'"),
}


@pytest.mark.parametrize("argv, message", list(OPTION_CASES.values()), ids=list(OPTION_CASES))
def test_bad_option(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    line = refused(capsys, *argv)
    assert message in line


def test_record_into_a_folder_or_a_missing_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = refused(capsys, "run", "--record", str(tmp_path))
    assert line.endswith(": is a folder, not a file")
    line = refused(capsys, "run", "--record", str(tmp_path / "nope" / "r.jsonl"))
    assert "no such folder" in line


# -- every string from a user or a file is shown with its controls visible, and cut -------------

ESC_TITLE = "\x1b]0;pwned\x07"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--loss", f"x{ESC_TITLE}"],
        ["run", "--optimizer", f"x{ESC_TITLE}"],
        ["run", f"x{ESC_TITLE}"],
        ["run", "--init", f"w{ESC_TITLE}=1"],
        ["run", "--set", f"m{ESC_TITLE}=1"],
        ["run", "--init", f"w={ESC_TITLE}"],
    ],
    ids=["loss", "optimizer", "scenario", "init-name", "set-name", "init-value"],
)
def test_escape_sequences_are_made_visible(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    line = refused(capsys, *argv)
    assert "\\x1b]0;pwned\\x07" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--loss", "a" * 1_000_000],
        ["run", "--optimizer", "a" * 1_000_000],
        ["run", "a" * 1_000_000],
        ["run", "--set", "b" * 1_000_000 + "=1"],
    ],
    ids=["loss", "optimizer", "scenario", "set"],
)
def test_huge_input_is_cut_in_the_message(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    line = refused(capsys, *argv)
    assert len(line) < 600
    assert "characters)" in line


# -- scenario files ------------------------------------------------------------------------------

FILE_CASES = {
    "deep-arrays": ("a = " + "[" * 500 + "]" * 500, "arrays or tables nested too deeply"),
    "deep-inline-tables": (
        "a = " + "{b=" * 500 + "1" + "}" * 500,
        "arrays or tables nested too deeply",
    ),
    "syntax-error": ("[problem\nloss = 1", "not valid TOML: "),
    "hyper-nan": (
        '[optimizer]\nname = "sgd"\nweight_decay = nan\n',
        "[optimizer] sgd: weight_decay must be a finite number, got nan",
    ),
    "hyper-inf": (
        '[optimizer]\nname = "sgd"\nmomentum = inf\n',
        "[optimizer] sgd: momentum must be a finite number, got inf",
    ),
    "hyper-1e400": (
        '[optimizer]\nname = "sgd"\nmomentum = 1e400\n',
        "[optimizer] sgd: momentum must be a finite number, got inf",
    ),
    "optimizer-fused": (
        '[optimizer]\nname = "sgd"\nfused = true\n',
        "unknown field 'fused' in [optimizer] (for sgd); allowed: name, lr, momentum, dampening, "
        "weight_decay, nesterov, maximize",
    ),
    "typo-int-with-expression": (
        '[problem]\nexpression = "x**2"\nint = { x = 1 }\n',
        "unknown field 'int' in [problem] (did you mean 'init'?)",
    ),
    "typo-int-with-loss": (
        '[problem]\nloss = "quadratic"\nint = { w = 1 }\n',
        "unknown field 'int' in [problem] (did you mean 'init'?)",
    ),
    "init-wrong-case": (
        '[problem]\nloss = "rosenbrock"\ninit = { X = 1 }\n',
        "[problem] init: unknown parameter 'X' (did you mean 'x'?)",
    ),
    "init-non-ascii": (
        '[problem]\nexpression = "x**2"\ninit = { "ℌ" = 3 }\n',
        "parameter name 'ℌ' has the character",
    ),
    "init-nan": (
        '[problem]\nexpression = "x**2"\ninit = { x = nan }\n',
        "[problem] init.x must be a finite number, got nan",
    ),
    "loss-and-expression": (
        '[problem]\nloss = "booth"\nexpression = "z**2"\n',
        "[problem] give either loss or expression, not both",
    ),
    "escape-in-loss-name": (
        f'[problem]\nloss = "q{ESC_TITLE}"\n'.replace("\x1b", "\\u001b").replace("\x07", "\\u0007"),
        "unknown loss 'q\\x1b]0;pwned\\x07'",
    ),
    "escape-in-key": (
        '[problem]\n"k\\u001b[2J" = 1\n',
        "unknown field 'k\\x1b[2J' in [problem]",
    ),
    "lr-text": ('[optimizer]\nlr = "0.1"\n', "[optimizer] lr: learning rate must be a number"),
    "steps-float": ("[run]\nsteps = 1.5\n", "[run] steps must be a whole number ≥ 1, got 1.5"),
    "data-typo": (
        '[data]\nname = "moons"\nsampels = 10\n',
        "unknown field 'sampels' in [data] (did you mean 'samples'?); allowed: name, path,",
    ),
    "problem-and-data": (
        '[problem]\nloss = "booth"\n[data]\nname = "moons"\n',
        "give either [problem] (a formula) or [data] (a model), not both",
    ),
    "model-without-data": ('[model]\nkind = "mlp"\n', "[model] needs a [data] table"),
    "batch-size-on-a-formula": ("[run]\nbatch_size = 8\n", "[run] batch_size is for a model"),
    "model-typo": (
        '[data]\nname = "moons"\n[model]\nknd = "mlp"\n',
        "unknown field 'knd' in [model] (did you mean 'kind'?)",
    ),
    "loss-fn-unknown": (
        '[data]\nname = "moons"\n[loss]\nfn = "crossentropy"\n',
        "unknown loss function 'crossentropy' (did you mean 'cross_entropy'?)",
    ),
    "noise-negative": ('[problem]\nexpression = "x**2"\nnoise = -1\n', "noise must be a finite"),
}


@pytest.mark.parametrize("text, message", list(FILE_CASES.values()), ids=list(FILE_CASES))
def test_bad_scenario_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    line = refused(capsys, "run", str(path))
    assert line.startswith(f"{path}: "), line
    assert message in line


def test_non_utf8_scenario(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'title = "caf\xe9"\n')
    line = refused(capsys, "run", str(path))
    assert line == (
        f"{path}: not a UTF-8 text scenario file: byte 0xe9 at line 1, column 13 (byte offset 12)"
    )


def test_huge_scenario_is_not_read(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    with path.open("wb") as file:
        file.truncate(5 * 1024 * 1024)
    line = refused(capsys, "run", str(path))
    assert line == f"{path}: scenario file is too large (5.0 MiB; at most 4.0 MiB)"


def test_device_is_not_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "run", "/dev/zero") == "/dev/zero: is a device, not a scenario file"


def test_fifo_does_not_block(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    os.mkfifo(path)
    line = refused(capsys, "run", str(path))
    assert line == f"{path}: is a named pipe (FIFO), not a scenario file"


def test_unknown_user_in_a_tilde_path(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(capsys, "run", "~nosuchuser_gdtui/x.toml")
    assert line == "~nosuchuser_gdtui/x.toml: no user named 'nosuchuser_gdtui'"


def test_symlink_loop(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    assert (
        refused(capsys, "run", str(tmp_path / "a.toml")) == f"{tmp_path / 'a.toml'}: symlink loop"
    )


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert refused(capsys, "run", str(path)) == f"{path}: no such file"


def test_folder_given_as_a_scenario(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = refused(capsys, "run", str(tmp_path))
    assert line == f"{tmp_path}: is a folder, not a scenario file"


def test_byte_order_mark_is_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbf[problem]\nexpression = "(w - 2)**2"\ninit = { w = 5.0 }\n')
    code, out, err = gdtui(capsys, "run", str(path), "--steps", "1", "--format", "json")
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["grad"] == {"w": 6.0}


def test_a_folder_named_like_a_builtin_does_not_hide_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "seed-example").mkdir()
    (tmp_path / "lr-too-large").write_text("not toml at all [", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_scenario("seed-example").source == "built-in seed-example"
    assert load_scenario("lr-too-large").source == "built-in lr-too-large"
    code, out, err = gdtui(capsys, "run", "seed-example", "--steps", "1", "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["params"]["w"] == pytest.approx(4.4)
    # ./NAME still reaches the local file.
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario("./lr-too-large")


def test_a_local_file_without_suffix_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine").write_text('[problem]\nexpression = "x**2"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_scenario("mine").expression == "x**2"


# -- the rule for hyper-parameters lives in the engine, so the app's fields get it too -----------


@pytest.mark.parametrize(
    "optimizer, hyper",
    [
        ("sgd", {"weight_decay": math.nan}),
        ("sgd", {"momentum": math.inf}),
        ("adam", {"betas": (0.9, math.nan)}),
        ("rmsprop", {"alpha": -math.inf}),
    ],
)
def test_check_hyperparameters_refuses_non_finite(optimizer: str, hyper: dict) -> None:
    with pytest.raises(OptimizerError, match="finite"):
        check_hyperparameters(get_spec(optimizer), hyper)


def test_tunable_names_leave_out_implementation_flags() -> None:
    for name in ("sgd", "adam", "adamw", "rmsprop"):
        tunable = get_spec(name).tunable()
        assert not {"foreach", "fused", "differentiable", "capturable", "lr"} & set(tunable)
        assert "maximize" in tunable


# -- a point where the gradient is undefined is not a divergence ---------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--expression", "sqrt(x**2)", "--init", "x=0"],
        ["--loss", "ackley", "--init", "x=0,y=0"],
    ],
    ids=["sqrt-at-0", "ackley-minimum"],
)
def test_undefined_gradient_is_said(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = gdtui(capsys, "run", *argv, "--format", "summary")
    assert code == 0, err
    assert (
        "status     finished: stopped at the start point: the gradient is undefined at this point"
        in out
    )
    assert "diverged" not in out


def test_undefined_gradient_matches_autograd() -> None:
    """The hand check: autograd's gradient of sqrt(x**2) at 0 is nan (0 * inf), the loss 0."""
    x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    loss = torch.sqrt(x**2)
    loss.backward()
    assert loss.item() == 0.0 and math.isnan(x.grad.item())
    run = Run(get_problem("ackley", None, {"x": 1.0, "y": 0.0}), "sgd", lr=0.01, max_steps=3)
    run.run()
    assert run.step_count == 3 and run.status.value == "finished"  # away from 0: fine


def test_undefined_gradient_after_some_steps() -> None:
    """abs(x) by SGD from 0.3 with lr 0.1: 0.3 → 0.2 → 0.1 → 0 (float64 rounding aside) and
    then the gradient at 0 is sign-free: torch gives 0 for abs, so use sqrt(x**2)."""
    from gdtui.engine import expression_problem

    run = Run(expression_problem("sqrt(x**2)", {"x": 0.25}), "sgd", lr=0.125, max_steps=10)
    run.run()
    assert run.step_count == 2  # 0.25 → 0.125 → 0 exactly (powers of two)
    assert run.current == (0.0,)
    assert run.reason.startswith("stopped at step 3: the gradient is undefined at this point")


# -- output that cannot be written ---------------------------------------------------------------


class _Full(io.StringIO):
    """A stdout on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class _Closed(io.StringIO):
    """A stdout whose reader went away (``| head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["run", "--format", "json"],
        ["run", "--format", "table"],
        ["run", "--format", "csv"],
    ],
    ids=["list", "run-json", "run-table", "run-csv"],
)
def test_full_disk_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _Full())
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 1
    assert err == "gdtui: error: cannot write output: No space left on device\n"


@pytest.mark.parametrize("argv", [["list"], ["run", "--format", "jsonl"]], ids=["list", "run"])
def test_closed_pipe_is_quiet_exit_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _Closed())
    code = cli.main(argv)
    assert code == 0
    assert capsys.readouterr().err == ""


def _python_m_gdtui(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.Popen([sys.executable, "-m", "gdtui", *args], env=env, cwd=REPO, **kwargs)


def test_dev_full_in_a_real_process() -> None:
    with open("/dev/full", "w") as full:
        proc = _python_m_gdtui("list", stdout=full, stderr=subprocess.PIPE, text=True)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err == "gdtui: error: cannot write output: No space left on device\n"


# -- signals: nothing recorded is lost -----------------------------------------------------------


@pytest.mark.parametrize(
    "sig, code",
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_signal_during_run_leaves_valid_json_and_record_file(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """Kill a running ``gdtui run --format json --record FILE``; both outputs stay whole."""
    out_path, record_path = tmp_path / "out.json", tmp_path / "run.jsonl"
    # lr = 1 on (w - 2)**2 oscillates 5 ↔ -1 for ever: a run that only a signal ends.
    argv = ["run", "--lr", "1", "--steps", "100000000", "--format", "json"]
    with out_path.open("w") as out:
        proc = _python_m_gdtui(
            *argv, "--record", str(record_path), stdout=out, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 60
            # Wait for steps flushed to the record file (the 0.5 s flush), then signal.
            while time.monotonic() < deadline:
                if record_path.exists() and record_path.read_text().count("\n") >= 3:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("no step was recorded within 60 s")
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    name = "interrupted" if sig == signal.SIGINT else f"stopped by {sig.name}"
    assert err == f"gdtui: {name}\n"
    records = json.loads(out_path.read_text())
    assert records and [r["step"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["params"] == {"w": -1.0}
    lines = [json.loads(line) for line in record_path.read_text().splitlines()]
    header, steps, end = lines[0], lines[1:-1], lines[-1]
    assert header["format"] == "gdtui-run" and header["params"] == ["w"]
    assert [s["step"] for s in steps] == [r["step"] for r in records]
    assert steps[-1]["params"] == records[-1]["params"]
    assert end == {
        "end": True,
        "steps": len(steps),
        "status": "running",
        "reason": None,
        "signal": sig.name,
    }


def test_record_file_of_a_whole_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    path.write_text("", encoding="utf-8")
    for _ in range(2):  # appends: two runs, two headers
        code, out, err = gdtui(
            capsys, "run", "--steps", "3", "--format", "jsonl", "--record", str(path)
        )
        assert code == 0, err
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2 * (1 + 3 + 1)
    assert lines[1:4] == [json.loads(line) for line in out.splitlines()]
    assert lines[4]["status"] == "finished" and lines[4]["signal"] is None
    assert lines[1]["grad"] == {"w": 6.0}


def test_keys_that_screenshot_accepts() -> None:
    for key in ("n", "+", "space", "enter", "ctrl+p", "plus", "question_mark", "f1", "shift+tab"):
        assert cli.check_key(key) == key


# -- record files for gdtui attach -------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: os.mkfifo(p), "is a named pipe (FIFO), not a record file"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a folder, not a record file"),
        (lambda p: p.write_text("title = 1\n"), "not a gdtui record file"),
        (lambda p: p.write_bytes(b"\xff\xfe{}\n"), "not a gdtui record file"),
    ],
    ids=["fifo", "missing", "folder", "toml", "binary"],
)
def test_bad_record_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make, message: str
) -> None:
    path = tmp_path / "run.jsonl"
    make(path)
    line = refused(capsys, "attach", str(path), "--format", "summary")
    assert line.startswith(f"{path}: ") and message in line


def test_attach_devices_and_empty_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, "attach", "/dev/zero", "--format", "json") == (
        "/dev/zero: is a device, not a record file"
    )
    assert refused(capsys, "attach", "", "--format", "json") == "the record file name is empty"
