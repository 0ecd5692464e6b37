"""Safe compilation of user-written loss formulas into torch callables.

A formula such as ``(w - 2)**2`` or ``sin(x) + y**2`` is parsed with :mod:`ast` and walked
against a strict whitelist: numbers, names, ``+ - * / **``, unary ``-``/``+`` and calls of the
functions in :data:`FUNCTIONS`. Every node becomes a small closure, so calling the result never
walks the tree again and applies exactly the torch operations a hand-written Python expression
would (``(w - 2)**2`` gives the autograd graph ``PowBackward0 <- SubBackward0 <- w``).

User text is never executed: it is only parsed, and only the whitelisted node types are turned
into code.
"""

from __future__ import annotations

import ast
import keyword as _keyword
import math
import numbers
import operator
import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gdtui.safetext import visible

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PARAMS",
    "CompiledExpression",
    "ExpressionError",
    "check_name",
    "compile_expression",
]

MAX_LENGTH = 500
"""Longest accepted expression, in characters (after stripping)."""
MAX_DEPTH = 40
"""Deepest accepted nesting (brackets, calls, unary operators, right operands)."""
MAX_EXPONENT = 64
"""Largest accepted absolute value of a constant exponent."""
MAX_PARAMS = 8
"""Most free parameters an expression may have."""
MAX_NAME_LENGTH = 32
"""Longest accepted parameter name."""
MAX_LITERAL = 1e15
"""Largest accepted absolute value of a number literal."""

_SNIPPET_LENGTH = 40


class ExpressionError(ValueError):
    """A rejected expression; str(err) is one line that names the offending token."""

    def __init__(self, message: str) -> None:
        # Control characters of user text are shown escaped, never sent to the terminal.
        super().__init__(visible(" ".join(str(message).splitlines()), _MESSAGE_LIMIT))


_MESSAGE_LIMIT = 1000

# Characters people paste from documents, with the ASCII they meant.
_LOOKALIKES = {
    "\u2212": "-",  # MINUS SIGN
    "\u2013": "-",  # EN DASH
    "\u00d7": "*",  # MULTIPLICATION SIGN
    "\u22c5": "*",  # DOT OPERATOR
    "\u00b7": "*",  # MIDDLE DOT
    "\u00f7": "/",  # DIVISION SIGN
    "\u00b2": "**2",  # SUPERSCRIPT TWO
    "\u00b3": "**3",  # SUPERSCRIPT THREE
    "\u03c0": "pi",  # GREEK SMALL LETTER PI
}


def _describe_character(ch: str) -> str:
    """``'ℌ' (U+210C)``, with a control or format character shown escaped."""
    return f"'{visible(ch)}' (U+{ord(ch):04X})"


def _check_characters(text: str) -> None:
    """Refuse anything but printable ASCII and whitespace, before Python's parser sees it.

    Python's parser NFKC-normalises identifiers (``ℌ`` becomes ``H``), so a non-ASCII name
    would silently stand for another one; control characters have no place in a formula.
    """
    for index, ch in enumerate(text):
        if " " <= ch <= "~" or ch in "\t\n\r":
            continue
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        where = f"column {column}" if line == 1 else f"line {line}, column {column}"
        if ord(ch) < 128 or unicodedata.category(ch)[0] in "CZ":
            raise ExpressionError(f"character {_describe_character(ch)} at {where} is not allowed")
        hint = _LOOKALIKES.get(ch)
        advice = f" (did you mean '{hint}'?)" if hint else ""
        raise ExpressionError(
            f"non-ASCII character {_describe_character(ch)} at {where}: formulas use ASCII "
            f"letters, digits, '_' and + - * / ** ( ){advice}"
        )


def check_name(name: object, what: str = "parameter") -> str:
    """Return ``name`` if formulas accept it as a parameter name, else raise ExpressionError.

    The rule formulas apply, for names given elsewhere (``--init w=3``, a scenario's ``init``):
    ASCII letters, digits and ``_``, not starting with a digit or ``_``, not a Python keyword,
    at most :data:`MAX_NAME_LENGTH` characters. Non-ASCII names are refused because Python's
    parser would read ``ℌ`` as ``H``.
    """
    if not isinstance(name, str):
        raise ExpressionError(f"{what} name must be text, not {type(name).__name__}")
    if not name:
        raise ExpressionError(f"{what} name is empty")
    shown = visible(name, _SNIPPET_LENGTH)
    for ch in name:
        if not ("!" <= ch <= "~"):
            raise ExpressionError(
                f"{what} name '{shown}' has the character {_describe_character(ch)}: "
                "use ASCII letters, digits and '_'"
            )
    if not name.isidentifier():
        raise ExpressionError(
            f"'{shown}' is not a valid {what} name: use ASCII letters, digits and '_', "
            "not starting with a digit"
        )
    if name.startswith("_"):
        raise ExpressionError(f"names starting with '_' are not allowed: '{shown}'")
    if _keyword.iskeyword(name):
        raise ExpressionError(f"'{shown}' is a Python keyword and cannot be a {what} name")
    if len(name) > MAX_NAME_LENGTH:
        raise ExpressionError(
            f"{what} name '{shown}' is too long (at most {MAX_NAME_LENGTH} characters)"
        )
    return name


def _sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    z = math.exp(v)
    return z / (1.0 + z)


def _softplus(v: float) -> float:
    # Same as torch.nn.functional.softplus with its defaults (beta=1, threshold=20).
    return float(v) if v > 20 else math.log1p(math.exp(v))


FUNCTIONS: dict[str, tuple[Callable[..., torch.Tensor], int]] = {
    "abs": (torch.abs, 1),
    "acos": (torch.acos, 1),
    "asin": (torch.asin, 1),
    "atan": (torch.atan, 1),
    "atan2": (torch.atan2, 2),
    "cos": (torch.cos, 1),
    "cosh": (torch.cosh, 1),
    "exp": (torch.exp, 1),
    "expm1": (torch.expm1, 1),
    "log": (torch.log, 1),
    "log10": (torch.log10, 1),
    "log1p": (torch.log1p, 1),
    "log2": (torch.log2, 1),
    "max": (torch.maximum, 2),
    "min": (torch.minimum, 2),
    "relu": (torch.relu, 1),
    "sigmoid": (torch.sigmoid, 1),
    "sin": (torch.sin, 1),
    "sinh": (torch.sinh, 1),
    "softplus": (F.softplus, 1),
    "sqrt": (torch.sqrt, 1),
    "tan": (torch.tan, 1),
    "tanh": (torch.tanh, 1),
}
"""Callable functions: name -> (torch function, number of positional arguments)."""

# Plain-float versions of FUNCTIONS, used to fold calls whose arguments are all constants.
_FOLD: dict[str, Callable[..., float]] = {
    "abs": lambda v: float(abs(v)),
    "acos": math.acos,
    "asin": math.asin,
    "atan": math.atan,
    "atan2": math.atan2,
    "cos": math.cos,
    "cosh": math.cosh,
    "exp": math.exp,
    "expm1": math.expm1,
    "log": math.log,
    "log10": math.log10,
    "log1p": math.log1p,
    "log2": math.log2,
    "max": lambda a, b: float(max(a, b)),
    "min": lambda a, b: float(min(a, b)),
    "relu": lambda v: float(max(v, 0)),
    "sigmoid": _sigmoid,
    "sin": math.sin,
    "sinh": math.sinh,
    "softplus": _softplus,
    "sqrt": math.sqrt,
    "tan": math.tan,
    "tanh": math.tanh,
}
assert _FOLD.keys() == FUNCTIONS.keys()

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants always available in expressions."""

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}

_REJECTED_BINOPS: dict[type[ast.operator], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}

_COMPARE_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

_COLLECTIONS: dict[type[ast.expr], str] = {
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression",
}

_TOKEN_RE = re.compile(r"\w+|\*\*|//|<<|>>|[<>=!]=|:=|\S")

# A compiled node is either a folded constant or a thunk: args tuple -> tensor.
_Thunk = Callable[[tuple[torch.Tensor, ...]], Any]


@dataclass(frozen=True, slots=True)
class _Const:
    value: int | float


@dataclass(frozen=True)
class CompiledExpression:
    """A compiled loss formula.

    Attributes:
        text: the source as given (stripped).
        param_names: the free names of the formula, sorted alphabetically.
        fn: ``fn(*tensors)`` with one tensor per name in ``param_names`` order; returns a tensor.
            Works for 0-d tensors that require grad as well as for broadcastable grids.
    """

    text: str
    param_names: tuple[str, ...]
    fn: Callable[..., torch.Tensor]

    def __call__(self, *params: Any) -> torch.Tensor:
        """Evaluate the formula; same as ``self.fn(*params)``."""
        return self.fn(*params)


def _nested_error() -> ExpressionError:
    return ExpressionError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest


def _format_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < MAX_LITERAL:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _syntax_message(exc: SyntaxError) -> str:
    msg = exc.msg or "invalid syntax"
    line = (exc.text or "").rstrip("\r\n")
    offset = exc.offset
    if offset is None or offset < 1 or offset > len(line):
        column = len(line) + 1
        if msg == "invalid syntax":
            msg = "unexpected end of expression"
    else:
        column = offset
        token = _TOKEN_RE.match(line, offset - 1)
        if token is not None:
            msg = f"{msg} near '{token.group()}'"
    where = f"column {column}"
    if exc.lineno is not None and exc.lineno > 1:
        where = f"line {exc.lineno}, {where}"
    return f"syntax error at {where}: {msg}"


def _bind_constants(constants: Mapping[str, float] | None) -> dict[str, int | float]:
    bound: dict[str, int | float] = {}
    for name, value in (constants or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ExpressionError(f"invalid constant name {name!r}")
        number: int | float
        if isinstance(value, bool | str | bytes):
            kind = type(value).__name__
            raise ExpressionError(f"constant '{name}' must be a number, not {kind}")
        if isinstance(value, numbers.Integral):
            number = int(value)
            if abs(number) > MAX_LITERAL:
                number = float(number)
        else:
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise ExpressionError(
                    f"constant '{name}' must be a number, not {type(value).__name__}"
                ) from None
        if not math.isfinite(number):
            raise ExpressionError(f"constant '{name}' is not finite: {number}")
        bound[name] = number
    return bound


class _Compiler:
    """Turns a whitelisted ast into a tree of closures over an argument tuple."""

    def __init__(self, text: str, constants: Mapping[str, int | float], tree: ast.Expression):
        self.text = text
        self.constants = constants
        self.index = {name: i for i, name in enumerate(self._collect_params(tree))}

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.index)

    def _collect_params(self, tree: ast.Expression) -> list[str]:
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        names = {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name)
            and id(node) not in called
            and not node.id.startswith("_")
            and node.id not in self.constants
            and node.id not in CONSTANTS
            and node.id not in FUNCTIONS
        }
        return sorted(names)

    def snippet(self, node: ast.AST) -> str:
        seg = ast.get_source_segment(self.text, node) or type(node).__name__
        seg = " ".join(seg.split())
        if len(seg) > _SNIPPET_LENGTH:
            seg = seg[: _SNIPPET_LENGTH - 3] + "..."
        return seg

    # -- dispatch -------------------------------------------------------------------------

    def build(self, node: ast.expr, depth: int) -> _Const | _Thunk:
        if depth > MAX_DEPTH:
            raise _nested_error()
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self._unaryop(node, depth)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise ExpressionError(self._rejection(node))

    def _rejection(self, node: ast.AST) -> str:
        if isinstance(node, ast.Attribute):
            return f"attribute access '.{node.attr}' is not allowed"
        if isinstance(node, ast.Subscript):
            return f"indexing '{self.snippet(node)}' is not allowed"
        if isinstance(node, ast.Lambda):
            return "'lambda' is not allowed"
        if isinstance(node, ast.IfExp):
            return f"conditional 'if ... else' is not allowed: '{self.snippet(node)}'"
        if isinstance(node, ast.Compare):
            return f"comparison '{_COMPARE_OPS.get(type(node.ops[0]), '?')}' is not allowed"
        if isinstance(node, ast.BoolOp):
            return f"'{'and' if isinstance(node.op, ast.And) else 'or'}' is not allowed"
        if isinstance(node, ast.NamedExpr):
            return "assignment ':=' is not allowed"
        if isinstance(node, ast.JoinedStr):
            return f"f-string {self.snippet(node)} is not allowed"
        if isinstance(node, ast.Starred):
            return "'*' unpacking is not allowed"
        if isinstance(node, ast.Await):
            return "'await' is not allowed"
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return "'yield' is not allowed"
        kind = _COLLECTIONS.get(type(node))
        if kind is not None:
            return f"{kind} '{self.snippet(node)}' is not allowed"
        return f"'{self.snippet(node)}' ({type(node).__name__}) is not allowed"

    # -- constants ------------------------------------------------------------------------

    def _checked(self, node: ast.AST, value: Any) -> _Const:
        """Validate the result of folding ``node`` to a Python number."""
        if isinstance(value, complex):
            raise ExpressionError(f"'{self.snippet(node)}' is not a real number")
        if isinstance(value, int) and abs(value) > MAX_LITERAL:
            try:
                value = float(value)
            except OverflowError:
                raise ExpressionError(f"'{self.snippet(node)}' is too large") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError(f"'{self.snippet(node)}' is not finite")
        return _Const(value)

    def _fold(self, node: ast.AST, fn: Callable[..., Any], *values: int | float) -> _Const:
        try:
            result = fn(*values)
        except ZeroDivisionError:
            raise ExpressionError(f"division by zero in '{self.snippet(node)}'") from None
        except (OverflowError, ValueError) as exc:
            raise ExpressionError(f"cannot evaluate '{self.snippet(node)}': {exc}") from None
        return self._checked(node, result)

    def _constant(self, node: ast.Constant) -> _Const:
        value = node.value
        if isinstance(value, bool):
            raise ExpressionError(f"boolean '{value}' is not allowed")
        if value is None:
            raise ExpressionError("'None' is not allowed")
        if value is Ellipsis:
            raise ExpressionError("'...' is not allowed")
        if isinstance(value, str):
            raise ExpressionError(f"string {self.snippet(node)} is not allowed")
        if isinstance(value, bytes):
            raise ExpressionError(f"bytes {self.snippet(node)} is not allowed")
        if isinstance(value, complex):
            raise ExpressionError(f"complex number '{self.snippet(node)}' is not allowed")
        if not isinstance(value, int | float):
            raise ExpressionError(f"constant '{self.snippet(node)}' is not allowed")
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError(f"number '{self.snippet(node)}' is not finite")
        if abs(value) > MAX_LITERAL:
            raise ExpressionError(f"number '{self.snippet(node)}' is too large (at most 1e15)")
        return _Const(value)

    # -- names ----------------------------------------------------------------------------

    def _name(self, node: ast.Name) -> _Const | _Thunk:
        name = node.id
        if name.startswith("_"):
            raise ExpressionError(f"names starting with '_' are not allowed: '{name}'")
        if name in self.constants:
            return _Const(self.constants[name])
        if name in CONSTANTS:
            return _Const(CONSTANTS[name])
        if name in FUNCTIONS:
            example = f"{name}(x, y)" if FUNCTIONS[name][1] == 2 else f"{name}(x)"
            raise ExpressionError(f"function '{name}' must be called, e.g. {example}")
        if len(name) > MAX_NAME_LENGTH:
            shown = name[:_SNIPPET_LENGTH]
            raise ExpressionError(
                f"name '{shown}' is too long (at most {MAX_NAME_LENGTH} characters)"
            )
        return operator.itemgetter(self.index[name])

    # -- operators ------------------------------------------------------------------------

    def _binop(self, node: ast.BinOp, depth: int) -> _Const | _Thunk:
        op_type = type(node.op)
        if op_type not in _BINOPS:
            symbol = _REJECTED_BINOPS.get(op_type, op_type.__name__)
            hint = " (use ** for powers)" if symbol == "^" else ""
            raise ExpressionError(f"operator '{symbol}' is not allowed{hint}")
        op = _BINOPS[op_type]
        # A left-leaning chain such as a + b + c + d does not count as nesting.
        left = self.build(node.left, depth)
        right = self.build(node.right, depth + 1)
        if op_type is ast.Pow and isinstance(right, _Const) and abs(right.value) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponent {_format_number(right.value)} is too large (at most {MAX_EXPONENT})"
            )
        if isinstance(left, _Const) and isinstance(right, _Const):
            return self._fold(node, op, left.value, right.value)
        if isinstance(left, _Const):
            a = left.value
            f = right

            def const_left(args: tuple[torch.Tensor, ...]) -> Any:
                return op(a, f(args))

            return const_left
        if isinstance(right, _Const):
            b = right.value
            g = left

            def const_right(args: tuple[torch.Tensor, ...]) -> Any:
                return op(g(args), b)

            return const_right
        lf, rf = left, right

        def both(args: tuple[torch.Tensor, ...]) -> Any:
            return op(lf(args), rf(args))

        return both

    def _unaryop(self, node: ast.UnaryOp, depth: int) -> _Const | _Thunk:
        if isinstance(node.op, ast.Not):
            raise ExpressionError("'not' is not allowed")
        if isinstance(node.op, ast.Invert):
            raise ExpressionError("operator '~' is not allowed")
        operand = self.build(node.operand, depth + 1)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(operand, _Const):
            return _Const(-operand.value)
        neg = operator.neg
        f = operand

        def negate(args: tuple[torch.Tensor, ...]) -> Any:
            return neg(f(args))

        return negate

    # -- calls ----------------------------------------------------------------------------

    def _call(self, node: ast.Call, depth: int) -> _Const | _Thunk:
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Attribute | ast.Lambda | ast.Subscript | ast.Call):
                raise ExpressionError(self._rejection(func))
            raise ExpressionError(f"calling '{self.snippet(func)}' is not allowed")
        name = func.id
        if name.startswith("_"):
            raise ExpressionError(f"names starting with '_' are not allowed: '{name}'")
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function '{name}' (allowed: {allowed})")
        torch_fn, arity = FUNCTIONS[name]
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ExpressionError("'**' unpacking is not allowed")
            raise ExpressionError(f"keyword argument '{keyword.arg}=' is not allowed in {name}()")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ExpressionError("'*' unpacking is not allowed")
        if len(node.args) != arity:
            plural = "" if arity == 1 else "s"
            raise ExpressionError(f"{name}() takes {arity} argument{plural}, got {len(node.args)}")
        children = [self.build(arg, depth + 1) for arg in node.args]
        if all(isinstance(child, _Const) for child in children):
            return self._fold(node, _FOLD[name], *(c.value for c in children))  # type: ignore[union-attr]
        if arity == 1:
            (f,) = children

            def unary(args: tuple[torch.Tensor, ...]) -> Any:
                return torch_fn(f(args))

            return unary
        return self._binary_call(torch_fn, children[0], children[1])

    @staticmethod
    def _binary_call(
        torch_fn: Callable[..., torch.Tensor], left: _Const | _Thunk, right: _Const | _Thunk
    ) -> _Thunk:
        """Two-argument torch functions need tensors on both sides; wrap a constant side."""
        as_tensor = torch.as_tensor
        if isinstance(left, _Const):
            a = left.value
            g = right

            def const_first(args: tuple[torch.Tensor, ...]) -> Any:
                y = g(args)  # type: ignore[operator]
                return torch_fn(as_tensor(a, dtype=y.dtype, device=y.device), y)

            return const_first
        if isinstance(right, _Const):
            b = right.value
            f = left

            def const_second(args: tuple[torch.Tensor, ...]) -> Any:
                x = f(args)
                return torch_fn(x, as_tensor(b, dtype=x.dtype, device=x.device))

            return const_second
        lf, rf = left, right

        def both(args: tuple[torch.Tensor, ...]) -> Any:
            return torch_fn(lf(args), rf(args))

        return both


def _to_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    tensor = torch.as_tensor(value)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def _make_callable(root: _Const | _Thunk, names: tuple[str, ...]) -> Callable[..., torch.Tensor]:
    count = len(names)
    if isinstance(root, _Const):
        value = root.value

        def thunk(args: tuple[torch.Tensor, ...]) -> Any:
            return value

    else:
        thunk = root

    def fn(*params: Any) -> torch.Tensor:
        if len(params) != count:
            raise TypeError(
                f"expected {count} parameter tensor(s) ({', '.join(names)}), got {len(params)}"
            )
        for p in params:
            if not isinstance(p, torch.Tensor):
                params = tuple(_to_tensor(q) for q in params)
                break
        result = thunk(params)
        if not isinstance(result, torch.Tensor):
            result = torch.zeros_like(params[0]) + result
        return result

    return fn


def compile_expression(
    text: str, constants: Mapping[str, float] | None = None
) -> CompiledExpression:
    """Compile a loss formula over named scalar parameters into a torch callable.

    Args:
        text: the formula, e.g. ``"x**2 + 10*y**2"``; surrounding whitespace is ignored.
        constants: extra names bound to numbers (e.g. problem options); they are substituted
            as constants and are not parameters.

    Returns:
        A :class:`CompiledExpression` whose ``param_names`` are the remaining free names, sorted.

    Raises:
        ExpressionError: the text is not an allowed expression; the one-line message names
            the offending token.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ExpressionError("expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
    _check_characters(text)
    if _bracket_depth(text) > MAX_DEPTH:
        raise _nested_error()
    bound = _bind_constants(constants)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning: invalid decimal literal
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(_syntax_message(exc)) from None
    except RecursionError:
        raise _nested_error() from None
    except (ValueError, MemoryError) as exc:
        raise ExpressionError(f"syntax error: {exc}") from None
    try:
        compiler = _Compiler(text, bound, tree)
        root = compiler.build(tree.body, 0)
    except RecursionError:
        raise _nested_error() from None
    except MemoryError:
        raise ExpressionError("expression is too complex") from None
    names = compiler.param_names
    if not names:
        raise ExpressionError("expression has no parameters")
    if len(names) > MAX_PARAMS:
        raise ExpressionError(f"too many parameters (at most {MAX_PARAMS}): {', '.join(names)}")
    return CompiledExpression(text=text, param_names=names, fn=_make_callable(root, names))
