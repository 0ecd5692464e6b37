"""Property-based tests (hypothesis) for every input surface that takes arbitrary text.

- any text given as a formula compiles or is refused with ExpressionError, and nothing it says is
  ever run (no import, open, eval, exec, compile, shell);
- the engine on random finite formula problems runs, converges or reports divergence, never
  raises;
- any text given as a scenario file yields a Scenario or the loader's one-line ScenarioError.

Plus the formula-hardening examples the issue lists (non-ASCII names, control characters).
"""

from __future__ import annotations

import ast
import builtins
import math
import os
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gdtui.engine import (
    OPTIMIZERS,
    ExpressionError,
    ProblemError,
    Run,
    Status,
    compile_expression,
    expression_problem,
)
from gdtui.engine.expression import MAX_NAME_LENGTH, check_name
from gdtui.scenario import Scenario, ScenarioError, load_scenario

F64 = torch.float64

# -- formulas: never anything but compile or ExpressionError, never run anything ---------------

_WATCHED_BUILTINS = ("__import__", "open", "eval", "exec", "compile", "breakpoint", "input")
_WATCHED_OS = ("system", "popen", "execv", "execvp", "fork", "spawnv", "remove", "unlink")

_HOSTILE_TOKENS = [
    "__import__", "('os')", ".system", "('touch /tmp/gdtui-pwned')", "open", "('f', 'w')",
    "eval", "exec", "compile", "getattr", "globals", "locals", "vars", "__builtins__",
    "__class__", "__subclasses__", "__globals__", "breakpoint", "input", "print", "lambda",
    "x", "y", "w", "sin", "exp", "max", "(", ")", "[", "]", "{", "}", ",", ".", ":", ":=",
    "'", '"', "f'", "{x}", "\\", "#", "\n", ";", "=", "import", "os", "1", "2", "**", "*", "+",
    "-", "/", " ", "@", "yield", "await", "ℌ", "\x1b", "\x00", "\u202e", "１",
]  # fmt: skip

_hostile_text = st.lists(st.sampled_from(_HOSTILE_TOKENS), max_size=30).map("".join)
_any_text = st.one_of(
    st.text(max_size=200),
    _hostile_text,
    st.text(alphabet=st.characters(codec="ascii"), max_size=600),
)


def _warm_up() -> None:
    """Evaluate every function once so torch's own lazy imports happen before watching."""
    from gdtui.engine.expression import FUNCTIONS

    for name, (_, arity) in FUNCTIONS.items():
        args = ", ".join(["x"] * arity)
        compile_expression(f"{name}({args}) + x")(torch.tensor(0.5, dtype=F64, requires_grad=True))
    compile_expression("x**2 - 1/x")(torch.tensor(0.5, dtype=F64, requires_grad=True)).backward()


_warm_up()


def _compile_and_evaluate(text: str) -> None:
    try:
        compiled = compile_expression(text)
    except ExpressionError as err:
        message = str(err)
        assert "\n" not in message
        assert "\x1b" not in message
        return
    params = [torch.tensor(0.3, dtype=F64, requires_grad=True) for _ in compiled.param_names]
    value = compiled(*params)
    assert isinstance(value, torch.Tensor)
    if value.requires_grad:
        value.backward()


class _Watch:
    """Wrap the builtins and os/subprocess functions that could run code, recording calls."""

    def __init__(self) -> None:
        self.stack = ExitStack()
        self.watchers: dict[str, mock.MagicMock] = {}

    def __enter__(self) -> _Watch:
        for name in _WATCHED_BUILTINS:
            self.watchers[name] = self.stack.enter_context(
                mock.patch.object(builtins, name, wraps=getattr(builtins, name))
            )
        for name in _WATCHED_OS:
            self.watchers[f"os.{name}"] = self.stack.enter_context(
                mock.patch.object(os, name, wraps=getattr(os, name))
            )
        self.watchers["subprocess.Popen"] = self.stack.enter_context(
            mock.patch.object(subprocess, "Popen", wraps=subprocess.Popen)
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def imports(self) -> set[tuple[str, str]]:
        """(module imported, importing module) of every ``import`` statement that ran."""
        found = set()
        for call in self.watchers["__import__"].call_args_list:
            importer = call.args[1].get("__name__", "?") if len(call.args) > 1 else "?"
            found.add((call.args[0], importer))
        return found

    def compile_flags(self) -> list[int]:
        flags = []
        for call in self.watchers["compile"].call_args_list:
            flags.append(call.args[3] if len(call.args) > 3 else call.kwargs.get("flags", 0))
        return flags

    def other_calls(self) -> dict[str, list]:
        return {
            name: w.call_args_list
            for name, w in self.watchers.items()
            if w.called and name not in ("__import__", "compile")
        }


def _benign_imports() -> set[tuple[str, str]]:
    """The imports that compiling and evaluating harmless formulas makes (ast's lazy ones)."""
    with _Watch() as watch:
        for text in ["x**2 + sin(y)", "(w - 2)**2", "max(x, 1) + atan2(x, y)", "x +", "1 + 2"]:
            _compile_and_evaluate(text)
    return watch.imports()


_BENIGN_IMPORTS = _benign_imports()


@given(_any_text)
@settings(max_examples=300, deadline=None)
def test_any_formula_compiles_or_is_refused_and_runs_nothing(text: str) -> None:
    with _Watch() as watch:
        _compile_and_evaluate(text)
    # ast.parse calls compile() with PyCF_ONLY_AST: a tree, never a code object.
    assert all(flags & ast.PyCF_ONLY_AST for flags in watch.compile_flags())
    assert watch.imports() <= _BENIGN_IMPORTS
    assert watch.other_calls() == {}


def test_the_watch_would_see_code_being_run() -> None:
    # The property above is only worth something if running text would be seen.
    with _Watch() as watch:
        builtins.eval("__import__('json')")
    assert "json" in {name for name, _ in watch.imports() - _BENIGN_IMPORTS}
    assert "eval" in watch.other_calls()
    with _Watch() as watch:
        builtins.compile("1", "<text>", "eval")
    assert not all(flags & ast.PyCF_ONLY_AST for flags in watch.compile_flags())


# -- the engine on random finite formula problems -----------------------------------------------


def _formulas() -> st.SearchStrategy[str]:
    leaves = st.one_of(
        st.sampled_from(["x", "y", "x", "y", "pi"]),
        st.integers(0, 9).map(str),
        st.floats(0.01, 9.0).map(lambda v: f"{v:.3g}"),
    )
    functions = ["abs", "sin", "cos", "tanh", "exp", "log1p", "sqrt", "softplus", "sigmoid"]

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )
        power = st.tuples(children, st.integers(1, 4)).map(lambda t: f"({t[0]})**{t[1]}")
        call = st.tuples(st.sampled_from(functions), children).map(lambda t: f"{t[0]}({t[1]})")
        two = st.tuples(st.sampled_from(["min", "max", "atan2"]), children, children).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        )
        return st.one_of(binary, power, call, two, children.map(lambda c: f"-{c}"))

    return st.recursive(leaves, extend, max_leaves=10)


_finite = st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False)


@given(
    formula=_formulas(),
    x0=_finite,
    y0=_finite,
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    lr=st.floats(1e-4, 2.0),
    steps=st.integers(1, 30),
    dtype=st.sampled_from(["float64", "float32"]),
)
@example("min(x, 1/x)", 0.0, 0.0, "adadelta", 0.1, 5, "float64")  # found: undefined at the start
@settings(max_examples=120, deadline=None)
def test_engine_runs_converges_or_reports_divergence(formula, x0, y0, optimizer, lr, steps, dtype):
    try:
        problem = expression_problem(formula)
    except ProblemError as err:
        # Only what constant folding can refuse (e.g. "pi + 1", "1/(1 - 1)") is acceptable.
        reasons = ("no parameters", "cannot evaluate", "division by zero", "not finite")
        assert any(reason in str(err) for reason in reasons), str(err)
        return
    start = {"x": x0, "y": y0}
    init = {name: start[name] for name in problem.param_names}
    problem = problem.with_init(init)
    run = Run(problem, optimizer, lr, max_steps=steps, dtype=dtype, tolerance=1e-12)
    run.run()
    assert run.status in (Status.CONVERGED, Status.DIVERGED, Status.FINISHED)
    assert 0 <= run.step_count <= steps
    assert isinstance(run.reason, str)
    assert run.reason
    assert "\n" not in run.reason
    stopped_early = run.status is Status.FINISHED and run.step_count < steps
    if stopped_early:
        # The one early stop that is not a divergence: a finite loss whose gradient is NaN.
        assert "gradient is undefined" in run.reason, run.reason
    elif run.status is Status.FINISHED:
        assert run.step_count == steps
    if run.status is not Status.DIVERGED and run.step_count > 0:
        record = run.last_record
        assert record is not None
        assert math.isfinite(record.loss)
        assert all(math.isfinite(p) for p in record.params)


# -- scenario files: a Scenario or ScenarioError, nothing else -----------------------------------

_TOML_TOKENS = [
    "[problem]", "[optimizer]", "[run]", "[[problem]]", "[problem.init]", "title", "description",
    "loss", "expression", "init", "name", "lr", "steps", "seed", "tolerance", "dtype", "device",
    "momentum", "weight_decay", "betas", "a", "b", "w", "x", "int", " = ", "=", "\n", "\n",
    " ", "\"quadratic\"", "\"rosenbrock\"", "\"booth\"", "\"adam\"", "\"sgd\"", "\"x**2 + y\"",
    "\"ℌ**2\"", "\"\x1b]0;t\x07\"", "\"cpu\"", "\"cuda:7\"", "\"float16\"", "0.1", "-1", "1e400",
    "nan", "inf", "-inf", "0", "200", "9999999999999999999999", "true", "[", "]", "{", "}", ",",
    ".", "'", "\"", "\"\"\"", "#", "1979-05-27", "[1, 2]", "{ w = 5.0 }", "{ x = nan }",
]  # fmt: skip

_toml_soup = st.lists(st.sampled_from(_TOML_TOKENS), max_size=40).map("".join)
_deep = st.tuples(st.integers(1, 3000), st.sampled_from(["[", "{ a = "])).map(
    lambda t: "x = " + t[1] * t[0]
)
_scenario_text = st.one_of(
    _toml_soup,
    _deep,
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300),
)


@pytest.fixture(scope="module")
def scenario_dir():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@given(text=_scenario_text)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_scenario_text_loads_or_is_refused_in_one_line(scenario_dir, text):
    path = scenario_dir / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        message = str(err)
        assert message
        assert "\n" not in message
        return
    assert isinstance(scenario, Scenario)


# -- formula hardening: examples -----------------------------------------------------------------


def _refusal(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    return str(info.value)


def test_non_ascii_names_are_refused_not_rewritten():
    # Python's parser would read ℌ as H; the formula must not silently mean another name.
    assert _refusal("ℌ**2") == (
        "non-ASCII character 'ℌ' (U+210C) at column 1: formulas use ASCII letters, digits, "
        "'_' and + - * / ** ( )"
    )
    assert "U+FF11" in _refusal("x + １")
    assert "line 2, column 3" in _refusal("x +\n  ℌ")


def test_lookalike_operators_get_a_hint():
    assert _refusal("x − 1").endswith("(did you mean '-'?)")
    assert _refusal("2 × x").endswith("(did you mean '*'?)")
    assert _refusal("x²").endswith("(did you mean '**2'?)")


def test_control_characters_are_refused_and_shown_escaped():
    assert _refusal("x\x1b]0;title\x07") == "character '\\x1b' (U+001B) at column 2 is not allowed"
    assert _refusal("x + \u202ey") == "character '\\u202e' (U+202E) at column 5 is not allowed"
    assert _refusal("x\x00") == "character '\\x00' (U+0000) at column 2 is not allowed"


def test_whitespace_inside_a_formula_is_still_fine():
    compiled = compile_expression("(x\t+\r\n y)**2")
    assert compiled.param_names == ("x", "y")


def test_huge_and_deep_formulas_are_one_line():
    assert _refusal("x" * 1_000_000) == "expression is longer than 500 characters"
    assert _refusal("(" * 100_000 + "x" + ")" * 100_000) == (
        "expression is longer than 500 characters"
    )
    assert _refusal("(" * 240 + "x" + ")" * 240).startswith("expression is nested too deeply")
    assert _refusal("-" * 499 + "x").startswith("expression is nested too deeply")
    assert _refusal("x" + "**x" * 166).startswith("expression is nested too deeply")


@pytest.mark.parametrize("name", ["w", "x1", "lr_scale", "a" * MAX_NAME_LENGTH, "match"])
def test_check_name_accepts_what_formulas_accept(name):
    assert check_name(name) == name
    assert compile_expression(f"{name}**2").param_names == (name,)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ℌ", "parameter name 'ℌ' has the character 'ℌ' (U+210C): use ASCII letters, digits and '_'"),
        ("", "parameter name is empty"),
        ("1a", "'1a' is not a valid parameter name: use ASCII letters, digits and '_', "
         "not starting with a digit"),
        ("_w", "names starting with '_' are not allowed: '_w'"),
        ("lambda", "'lambda' is a Python keyword and cannot be a parameter name"),
        ("a" * 33, f"parameter name '{'a' * 33}' is too long (at most 32 characters)"),
        ("w\x1b[2J", "parameter name 'w\\x1b[2J' has the character '\\x1b' (U+001B): "
         "use ASCII letters, digits and '_'"),
        (3, "parameter name must be text, not int"),
    ],
)  # fmt: skip
def test_check_name_refuses_in_one_line(name, message):
    with pytest.raises(ExpressionError) as info:
        check_name(name)
    assert str(info.value) == message


def test_check_name_agrees_with_formulas_on_refusals():
    for name in ["ℌ", "_w", "lambda", "a" * 33]:
        with pytest.raises(ExpressionError):
            check_name(name)
        with pytest.raises(ExpressionError):
            compile_expression(f"{name}**2")
