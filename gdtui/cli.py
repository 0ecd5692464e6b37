"""The command line: ``gdtui launch | run | list | screenshot``.

Thin on purpose: it builds a Scenario and hands it to the engine (headless) or the app. torch is
imported only by the commands that need it, so ``gdtui launch`` paints before torch has loaded.

Exit codes: 0 success, 1 internal error (a bug: one line on stderr naming the log file that holds
the traceback), 2 bad input (one line on stderr, never a traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from gdtui import settings
from gdtui.report import FORMATS
from gdtui.values import format_value, parse_value

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

COMMANDS = ("launch", "run", "list", "screenshot")

# Options whose value may start with "-" (a formula such as -x**2, a negative number): the token
# after them is always their value, unless it is another long option.
VALUE_OPTIONS = ("--expression", "--lr", "--steps", "--seed")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and a hint), never the whole usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _add_log(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        metavar="FILE",
        help="append the traceback of an internal error (a bug) to FILE, to report it",
    )


def _add_overrides(parser: argparse.ArgumentParser, *, steps: bool = True) -> None:
    group = parser.add_argument_group("overrides (each replaces the scenario's value)")
    group.add_argument("--loss", metavar="NAME", help="a built-in loss (see: gdtui list problems)")
    group.add_argument(
        "--expression",
        metavar="FORMULA",
        help="your own loss, e.g. '(w - 2)**2' or 'x**2 + 10*y**2' (no code is run)",
    )
    group.add_argument(
        "--init",
        metavar="NAME=VALUE,...",
        help="start point, e.g. x=-1.5,y=2 (parameters not named keep their default)",
    )
    group.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="NAME=VALUE,...",
        help="an option of a built-in loss, e.g. --option l2=50 or --option a=1,b=100",
    )
    group.add_argument("--optimizer", metavar="NAME", help="see: gdtui list optimizers")
    group.add_argument("--lr", metavar="RATE", help="learning rate, a number above 0")
    group.add_argument(
        "--set",
        dest="hyper",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an optimizer hyper-parameter, e.g. --set momentum=0.5 --set betas=0.8,0.99",
    )
    if steps:
        group.add_argument("--steps", metavar="N", help="step budget")
    group.add_argument("--seed", metavar="N", help="random seed")
    group.add_argument("--dtype", metavar="|".join(settings.DTYPES), help="default float64")
    group.add_argument("--device", metavar="auto|cpu|cuda|cuda:N", help="default auto")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    from gdtui import __version__

    parser = _Parser(
        prog="gdtui",
        description=(
            "Gradient descent, live in the terminal. Pick a loss, an optimizer and a learning "
            "rate; watch the gradient that backprop computed and the step the optimizer took. "
            "With no command, gdtui opens the app (launch)."
        ),
        epilog=(
            "examples:\n"
            "  gdtui                                   the app, on the worked example\n"
            "  gdtui launch adam-rosenbrock            the app, on a built-in scenario\n"
            "  gdtui run seed-example --steps 1 --format json\n"
            "  gdtui run my.toml --lr 0.05 --format csv > path.csv\n"
            "  gdtui run lr-too-large --format summary\n"
            "  gdtui list scenarios"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gdtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    launch = sub.add_parser(
        "launch",
        help="open the live explorer (the default)",
        description="Open the live explorer on a scenario (default: seed-example).",
    )
    launch.add_argument("scenario", nargs="?", help="a built-in name or a .toml file")
    _add_overrides(launch)
    _add_log(launch)

    run = sub.add_parser(
        "run",
        help="step a scenario headless and print its records",
        description=(
            "Step a scenario (default: seed-example) without the app and print its records: "
            "table (default), csv, "
            "json (an array), jsonl (one object a line) or summary (the final state only). "
            "json/jsonl records hold step (1-based), loss, params, grad, update (objects keyed "
            "by parameter name), grad_norm, update_norm, effective_lr, cos, lr, the optimizer's "
            "state, status and reason."
        ),
    )
    run.add_argument("scenario", nargs="?", help="a built-in name or a .toml file")
    _add_overrides(run)
    run.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    _add_log(run)

    lst = sub.add_parser(
        "list",
        help="list problems, optimizers or scenarios",
        description="List the built-in problems, the optimizers or the built-in scenarios.",
    )
    lst.add_argument(
        "what", nargs="?", choices=("problems", "optimizers", "scenarios"), help="default: all"
    )

    shot = sub.add_parser(
        "screenshot",
        help="step a scenario in the app and save an SVG screenshot",
        description="Open the app headless, take N steps, save the screen as SVG (deterministic).",
    )
    shot.add_argument("scenario", nargs="?", help="a built-in name or a .toml file")
    _add_overrides(shot, steps=False)
    shot.add_argument("--steps", metavar="N", default="0", help="steps to take first (default 0)")
    shot.add_argument("--size", default="120x40", metavar="COLSxROWS", help="default 120x40")
    shot.add_argument("--out", required=True, metavar="FILE.svg", help="where to write the SVG")
    shot.add_argument(
        "--press", action="append", default=[], metavar="KEY", help="keys to press after stepping"
    )
    _add_log(shot)
    return parser


def _split_argv(argv: Sequence[str]) -> list[str]:
    """``gdtui`` alone, or ``gdtui SCENARIO --lr …``, means ``gdtui launch …``."""
    args = list(argv)
    if not args:
        return ["launch"]
    first = args[0]
    if first not in COMMANDS and first not in ("-h", "--help", "--version"):
        args = ["launch", *args]
    return _attach_values(args)


def _attach_values(args: list[str]) -> list[str]:
    """``--expression -x**2`` becomes ``--expression=-x**2``, so argparse does not take the
    formula (or ``--lr -1``'s number) for an option; the value is then checked like any other."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else None
        if token in VALUE_OPTIONS and following is not None and not following.startswith("--"):
            out.append(f"{token}={following}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _checked(check: Any, value: str | None, **kwargs: Any) -> Any:
    """A setting typed on the command line, checked by :mod:`gdtui.settings` (None: not given)."""
    return None if value is None else check(value, **kwargs)


def _pairs(name: str, text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{name} expects NAME=VALUE pairs, got {part.strip()!r}")
        out[key.strip()] = value.strip()
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {text!r}") from None


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The scenario overrides given on the command line (validated by the scenario later)."""
    init = {
        k: _number(v, f"--init {k}") for k, v in _pairs("init", getattr(args, "init", None)).items()
    }
    hyper: dict[str, Any] = {}
    for item in getattr(args, "hyper", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        hyper[key.strip()] = parse_value(value)
    options: dict[str, Any] = {}
    for item in getattr(args, "options", []) or []:
        # Values are checked by the engine, as a scenario file's are: a number, finite.
        options.update({k: parse_value(v) for k, v in _pairs("option", item).items()})
    out: dict[str, Any] = {
        "loss": args.loss,
        "expression": args.expression,
        "optimizer": args.optimizer,
        "lr": _checked(settings.parse_lr, args.lr),
        "seed": _checked(settings.check_seed, args.seed),
        "dtype": _checked(settings.check_dtype, args.dtype),
        "device": _checked(settings.check_device, args.device),
    }
    if getattr(args, "command", None) != "screenshot":
        out["steps"] = _checked(settings.check_steps, getattr(args, "steps", None))
    if init:
        out["init"] = init
    if hyper:
        out["hyper"] = hyper
    if options:
        out["options"] = options
    return out


def resolve_scenario(name: str | None, overrides: dict[str, Any]):  # -> Scenario
    """Load a scenario and apply overrides (see :func:`gdtui.scenario.resolve_scenario`)."""
    from gdtui.scenario import resolve_scenario as resolve

    return resolve(name, overrides)


# -- commands ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """``gdtui run``: step headless, stream records, print the final state."""
    from gdtui.engine import describe_device

    scenario = resolve_scenario(args.scenario, overrides_from(args))
    run = scenario.build_run()
    names = run.param_names
    fmt = args.format
    out = sys.stdout
    start = time.perf_counter()
    if fmt == "summary":
        run.run()
    else:
        from gdtui.report import RecordWriter

        writer = RecordWriter(out, fmt, names)
        # One record is held back: when the run stops on the next step (a loss that became
        # inf), the record already taken is the last finite one and gets the final status.
        held = None
        try:
            for record in run.steps():
                if held is not None:
                    writer.write(held.to_dict(names))
                held = record
            if held is not None:
                writer.write(held.to_dict(names))
        finally:
            writer.close()
    elapsed = time.perf_counter() - start
    if run.step_count == 0 and run.reason and fmt not in ("table", "summary"):
        # No record to carry the reason (the loss was not finite at the start point).
        print(f"gdtui: {run.status}: {run.reason}", file=sys.stderr)
    if fmt in ("table", "summary"):
        last = run.last_record
        rate = run.step_count / elapsed if elapsed > 0 else float("inf")
        lines = [
            f"scenario   {scenario.name} ({scenario.source})",
            f"problem    {run.problem.name}: {run.problem.expression}",
            f"optimizer  {run.optimizer_name}, lr {run.lr:g}"
            + (f", {_hyper_text(scenario.hyper)}" if scenario.hyper else ""),
            f"device     {describe_device(run.device)}, {str(run.dtype).replace('torch.', '')}",
            f"steps      {run.step_count}",
            f"status     {run.status}: {run.reason}",
        ]
        if last is not None:
            point = ", ".join(f"{n} = {v:.10g}" for n, v in zip(names, last.params, strict=True))
            lines += [
                f"loss       {last.loss:.10g} (before the last step)",
                f"params     {point}",
                f"grad norm  {last.grad_norm:.6g}",
            ]
        lines.append(f"time       {elapsed:.3f} s ({rate:,.0f} steps/s)")
        print("\n".join(lines), file=out)
    return EXIT_OK


def _hyper_text(hyper: dict[str, Any]) -> str:
    return ", ".join(f"{k} {format_value(v)}" for k, v in hyper.items())


def cmd_list(args: argparse.Namespace) -> int:
    """``gdtui list``: what can be chosen."""
    what = args.what
    blocks = []
    if what in (None, "problems"):
        from gdtui.engine import PROBLEMS, get_problem

        lines = ["problems (--loss NAME, or --expression FORMULA):"]
        for name in PROBLEMS:
            problem = get_problem(name)
            lines.append(f"  {name:18s} {problem.expression}")
            lines.append(f"  {'':18s} {problem.description}")
        blocks.append("\n".join(lines))
    if what in (None, "optimizers"):
        from gdtui.engine import OPTIMIZERS

        lines = ["optimizers (--optimizer NAME, --set KEY=VALUE):"]
        for name, spec in OPTIMIZERS.items():
            hyper = ", ".join(f"{k}={v}" for k, v in spec.hyperparameters().items())
            lines.append(
                f"  {name:10s} {spec.torch_name}, lr {spec.default_lr:g}: {spec.description}"
            )
            if hyper:
                lines.append(f"  {'':10s} {hyper}")
        blocks.append("\n".join(lines))
    if what in (None, "scenarios"):
        from gdtui.scenario import builtin_names, load_scenario

        lines = ["scenarios (gdtui run NAME, gdtui launch NAME, or a .toml path):"]
        for name in builtin_names():
            lines.append(f"  {name:24s} {load_scenario(name).title}")
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    return EXIT_OK


def cmd_launch(args: argparse.Namespace) -> int:
    """``gdtui launch``: the app. The engine loads after the first paint."""
    overrides = overrides_from(args)
    log = _log_path(args)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "gdtui launch needs a terminal (stdin and stdout); for scripts use: gdtui run SCENARIO"
        )
    from gdtui.ui.app import GdtuiApp

    # log_path only when given, so that an app without that argument still starts.
    extra: dict[str, Any] = {} if log is None else {"log_path": log}
    app = GdtuiApp(scenario=args.scenario, overrides=overrides, **extra)
    app.run()
    if app.startup_error:
        raise UsageError(app.startup_error)
    return app.return_code or EXIT_OK


def _log_path(args: argparse.Namespace) -> Path | None:
    """``--log FILE``, checked up front: its folder must exist (None: not given)."""
    text = getattr(args, "log", None)
    if text is None:
        return None
    path = Path(text).expanduser()
    if path.is_dir():
        raise UsageError(f"--log {text}: is a folder, not a file")
    if not path.parent.is_dir():
        raise UsageError(f"--log {text}: no such folder: {path.parent}")
    return path


def _report_internal_error(err: BaseException, log: Path | None) -> int:
    """Write the traceback of a bug to the log (a temp file without ``--log``); one line names it."""
    text = "".join(traceback.format_exception(err))
    path = log or Path(tempfile.gettempdir()) / f"gdtui-{os.getpid()}.log"
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(f"gdtui {time.strftime('%Y-%m-%d %H:%M:%S')}: internal error\n{text}\n")
    except OSError as io_err:
        print(
            f"gdtui: internal error: {type(err).__name__}: {err} "
            f"(the traceback could not be written to {path}: {io_err.strerror or io_err})",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    print(
        f"gdtui: internal error: {type(err).__name__}: {err} (traceback written to {path})",
        file=sys.stderr,
    )
    return EXIT_INTERNAL_ERROR


def cmd_screenshot(args: argparse.Namespace) -> int:
    """``gdtui screenshot``: a deterministic SVG of the app after N steps."""
    steps = settings.check_steps(args.steps, minimum=0)
    try:
        cols, rows = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 120x40, got {args.size!r}") from None
    if cols < 20 or rows < 8 or cols > 1000 or rows > 500:
        raise UsageError(f"--size {args.size} is out of range (20x8 to 1000x500)")
    overrides = overrides_from(args)
    scenario = resolve_scenario(args.scenario, overrides)
    if steps > scenario.steps:  # "take N steps first": the budget must not stop them early
        scenario = scenario.with_overrides(steps=steps)
    from gdtui.ui.screenshot import save_screenshot

    try:
        path = save_screenshot(scenario, steps, (cols, rows), args.out, press=args.press)
    except OSError as err:
        raise UsageError(f"cannot write {args.out}: {err.strerror or err}") from None
    print(path)
    return EXIT_OK


HANDLERS = {"launch": cmd_launch, "run": cmd_run, "list": cmd_list, "screenshot": cmd_screenshot}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gdtui`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    log: Path | None = None
    try:
        try:
            args = build_parser().parse_args(_split_argv(argv))
            log = _log_path(args)
            return HANDLERS[args.command](args)
        except (UsageError, settings.SettingError) as err:
            print(f"gdtui: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except ValueError as err:
            # Every user error of the engine and scenarios is a ValueError with a one-line text.
            from gdtui.engine import USER_ERRORS
            from gdtui.scenario import ScenarioError

            if isinstance(err, (*USER_ERRORS, ScenarioError)):
                print(f"gdtui: error: {err}", file=sys.stderr)
                return EXIT_BAD_INPUT
            raise
    except KeyboardInterrupt:
        print("gdtui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as err:  # a bug of ours: exit 1, the traceback in a log, not on the screen
        return _report_internal_error(err, log)


def entry() -> NoReturn:
    """``python -m gdtui``."""
    sys.exit(main())
