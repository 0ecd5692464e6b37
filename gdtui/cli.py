"""The command line: ``gdtui launch | run | list | screenshot | serve``.

Thin on purpose: it builds a Scenario and hands it to the engine (headless) or the app. torch is
imported only by the commands that need it, so ``gdtui launch`` paints before torch has loaded.

Exit codes: 0 success, 1 internal error (a bug: one line on stderr naming the log file that holds
the traceback, or output that could not be written: a full disk), 2 bad input (one line on
stderr, never a traceback), 130 interrupted (SIGINT), 128+N stopped by signal N (SIGTERM 143,
SIGHUP 129). A closed pipe on output (``| head``) ends quietly with 0. Every string a user or a
file gave that a message repeats goes through :func:`gdtui.safetext.visible`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from gdtui import settings
from gdtui.files import OutputError, guard_output
from gdtui.report import FORMATS
from gdtui.safetext import visible
from gdtui.values import format_value, parse_value

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

COMMANDS = ("launch", "run", "sweep", "attach", "list", "screenshot", "serve")
LISTS = ("problems", "optimizers", "scenarios", "datasets", "models", "losses", "schedules")
MESSAGE_LIMIT = 1000
"""Longest error line printed; any value a message repeats is cut well before this."""
VALUE_LIMIT = 60
LINE_LIMIT = 100_000  # a summary line: escapes made visible, no real line cut
"""Most characters of a user's value repeated in a message."""
RECORD_FLUSH_S = 0.5
"""``--record``: the file is flushed at least this often (and at the end, and on a signal)."""

# Options whose value may start with "-" (a formula such as -x**2, a negative number): the token
# after them is always their value, unless it is another long option.
VALUE_OPTIONS = ("--expression", "--lr", "--steps", "--seed", "--lr-min", "--lr-max", "--num")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class Stopped(Exception):
    """``gdtui run`` stopped by a signal after writing what it had; exit code 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _lines_shown(lines: Sequence[str]) -> str:
    """Summary lines for a terminal: a scenario's name or title from a file holds no live
    escape (``ESC ] 0 ;`` would retitle the terminal); each line keeps to one line."""
    return "\n".join(visible(line, LINE_LIMIT) for line in lines)


def _shown(text: object) -> str:
    """A value the user typed, as a message repeats it: controls visible, cut short."""
    return visible(text, VALUE_LIMIT)


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
    group.add_argument(
        "--noise",
        metavar="SIGMA",
        help="add N(0, σ²) noise to a formula's gradient, as a mini-batch would",
    )
    group.add_argument(
        "--data",
        metavar="NAME|FILE.csv",
        help="learn from data: a data set (see: gdtui list datasets) or a CSV file",
    )
    group.add_argument("--target", metavar="COLUMN", help="the CSV column to predict")
    group.add_argument(
        "--model", metavar="KIND", help="linear, logistic, mlp or cnn (see: gdtui list models)"
    )
    group.add_argument("--hidden", metavar="N,N,...", help="an mlp's hidden layer sizes")
    group.add_argument(
        "--loss-fn", metavar="NAME", help="a model's loss function (see: gdtui list losses)"
    )
    group.add_argument(
        "--batch-size",
        metavar="N|full",
        help="rows per step: full (gradient descent), N (mini-batch), 1 (stochastic)",
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
    group.add_argument(
        "--schedule",
        metavar="NAME",
        help="a learning-rate schedule from torch.optim.lr_scheduler: step, exponential, cosine, "
        "one-cycle, warmup, plateau (none: drop the scenario's)",
    )
    group.add_argument(
        "--schedule-arg",
        dest="schedule_args",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="an argument of the schedule's constructor, e.g. --schedule-arg T_max=100",
    )
    group.add_argument(
        "--curvature-every",
        metavar="K",
        help="measure λmax (top Hessian eigenvalue) on every K-th step; records carry lambda_max",
    )
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
    launch.add_argument(
        "--ascii",
        action="store_true",
        help="draw without braille, box-drawing or block characters",
    )
    launch.add_argument(
        "--record",
        metavar="FILE.jsonl",
        help="append every step to FILE as it happens (the lines of gdtui run --format jsonl)",
    )

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
    run.add_argument(
        "--record",
        metavar="FILE.jsonl",
        help="also append every step to FILE as it happens (JSON lines: a header, the records, "
        "an end line); flushed every 0.5 s, complete after Ctrl+C, SIGTERM or SIGHUP",
    )
    _add_log(run)

    swp = sub.add_parser(
        "sweep",
        help="a learning-rate range test: where does descent stop converging?",
        description=(
            "Run the scenario once per learning rate, all rates in one batch with the real "
            "optimizer, and mark where descent stops making progress (the edge) next to the "
            "stability bound 2/λmax from the curvature at the start point. json holds lrs, "
            "final_loss, best_loss, status, edge, bound, suggested and rule."
        ),
    )
    swp.add_argument("scenario", nargs="?", help="a built-in name or a .toml file")
    _add_overrides(swp)
    swp.add_argument("--lr-min", metavar="RATE", default="1e-4", help="default 1e-4")
    swp.add_argument("--lr-max", metavar="RATE", default="1", help="default 1")
    swp.add_argument(
        "--num",
        metavar="N",
        default=None,
        help="rates, log-spaced (default 64; 16 for a model, whose runs go one after another)",
    )
    swp.add_argument("--format", choices=("table", "json"), default="table", help="default: table")
    _add_log(swp)

    att = sub.add_parser(
        "attach",
        help="show a record file that gdtui.watch() writes from your own training loop",
        description=(
            "Show a record file written by gdtui.watch(model, optimizer, path) in any PyTorch "
            "training loop: live in the app, or, with --format, once as text (summary: the run "
            "and each layer's last numbers; table: one row per layer; json: header, steps, end)."
        ),
    )
    att.add_argument("file", metavar="FILE", help="the record file (JSON lines)")
    att.add_argument(
        "--format", choices=("summary", "table", "json"), help="print once instead of the app"
    )
    att.add_argument(
        "--rank", metavar="N", help="the file of rank N of a torch.distributed run (default 0)"
    )
    _add_log(att)

    lst = sub.add_parser(
        "list",
        help="list problems, optimizers, scenarios, datasets, models, losses or schedules",
        description="List what can be chosen: " + ", ".join(LISTS) + " (default: all).",
    )
    lst.add_argument("what", nargs="?", choices=LISTS, help="default: all")

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

    srv = sub.add_parser(
        "serve",
        help="serve the app to a web browser (textual-serve), on this machine only by default",
        description=(
            "Serve gdtui in a web browser through textual-serve. Each browser tab starts its own "
            "gdtui launch on this machine, so the server listens on 127.0.0.1 (loopback) unless "
            "--public is given."
        ),
    )
    srv.add_argument("scenario", nargs="?", help="what each session opens (default: seed-example)")
    _add_overrides(srv)
    srv.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", default=None, metavar="N", help="TCP port (default 8000)")
    srv.add_argument(
        "--public",
        action="store_true",
        help="allow a non-loopback --host: anyone who can connect runs gdtui as you",
    )
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
    """``a=1,b=2`` as a dict; a name given twice is refused (which one was meant?)."""
    out: dict[str, str] = {}
    if text is None:
        return out
    if not text.strip():
        raise UsageError(f"--{name} is empty; give NAME=VALUE pairs")
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--{name} expects NAME=VALUE pairs, got '{_shown(part.strip())}'")
        key = key.strip()
        if key in out:
            raise UsageError(f"--{name} names '{_shown(key)}' twice; give each name once")
        out[key] = value.strip()
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got '{_shown(text)}'") from None


def _model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--data``, ``--target``, ``--model``, ``--hidden``, ``--loss-fn``, ``--batch-size``,
    ``--noise`` as scenario overrides (their values are checked by the scenario and engine)."""
    out: dict[str, Any] = {}
    data = _named("--data", getattr(args, "data", None), "datasets")
    target = getattr(args, "target", None)
    if data is not None:
        text = data.strip()
        if text.lower().endswith(".csv") or "/" in text:
            from gdtui.files import FileInputError, expand_path

            try:
                out["data"] = {"path": str(expand_path(text).resolve())}
            except FileInputError as err:
                raise UsageError(f"--data {err}") from None
            if target is None:
                raise UsageError("--data FILE.csv needs --target COLUMN (the column to predict)")
        else:
            out["data"] = {"name": text}
    if target is not None:
        out["data_target"] = _named("--target", target, "datasets")
    kind = _named("--model", getattr(args, "model", None), "models")
    hidden = getattr(args, "hidden", None)
    model: dict[str, Any] = {}
    if kind is not None:
        model["kind"] = kind.strip()
    if hidden is not None:
        try:
            model["hidden"] = [int(v) for v in hidden.split(",") if v.strip()]
        except ValueError:
            raise UsageError(
                f"--hidden expects whole numbers such as 32,32, got '{_shown(hidden)}'"
            ) from None
    if model:
        out["model"] = model
    out["loss_fn"] = _named("--loss-fn", getattr(args, "loss_fn", None), "losses")
    batch = getattr(args, "batch_size", None)
    if batch is not None:
        text = batch.strip()
        out["batch_size"] = int(text) if text.isdigit() else text
    noise = getattr(args, "noise", None)
    if noise is not None:
        value = _number(noise, "--noise")
        if not 0 <= value < math.inf:
            raise UsageError(f"--noise must be a finite number ≥ 0, got {settings.shown(noise)}")
        out["noise"] = value
    return out


def _named(option: str, value: str | None, listing: str) -> str | None:
    """A name typed after ``option``; an empty one is refused, not taken for the default."""
    if value is not None and not value.strip():
        raise UsageError(f"{option} is empty; see: gdtui list {listing}")
    return value


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The scenario overrides given on the command line (validated by the scenario later)."""
    init = {
        k: _number(v, f"--init {_shown(k)}")
        for k, v in _pairs("init", getattr(args, "init", None)).items()
    }
    hyper: dict[str, Any] = {}
    for item in getattr(args, "hyper", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got '{_shown(item)}'")
        hyper[key.strip()] = parse_value(value)
    schedule_args: dict[str, Any] = {}
    for item in getattr(args, "schedule_args", []) or []:
        schedule_args.update({k: parse_value(v) for k, v in _pairs("schedule-arg", item).items()})
    options: dict[str, Any] = {}
    for item in getattr(args, "options", []) or []:
        # Values are checked by the engine, as a scenario file's are: a number, finite.
        options.update({k: parse_value(v) for k, v in _pairs("option", item).items()})
    loss = _named("--loss", args.loss, "problems")
    if args.expression is not None and not args.expression.strip():
        raise UsageError("--expression is empty; give a formula such as '(w - 2)**2'")
    if loss is not None and args.expression is not None:
        raise UsageError("give either --loss or --expression, not both")
    out: dict[str, Any] = {
        "loss": loss,
        "expression": args.expression,
        "optimizer": _named("--optimizer", args.optimizer, "optimizers"),
        "lr": _checked(settings.parse_lr, args.lr),
        "seed": _checked(settings.check_seed, args.seed),
        "dtype": _checked(settings.check_dtype, args.dtype),
        "device": _checked(settings.check_device, args.device),
    }
    if getattr(args, "command", None) != "screenshot":
        out["steps"] = _checked(settings.check_steps, getattr(args, "steps", None))
    out.update(_model_overrides(args))
    out["schedule"] = _named("--schedule", getattr(args, "schedule", None), "schedules")
    if schedule_args:
        out["schedule_args"] = schedule_args
    every = getattr(args, "curvature_every", None)
    if every is not None:
        try:
            out["curvature_every"] = int(every.strip())
        except ValueError:
            raise UsageError(
                f"--curvature-every must be a whole number ≥ 0, got '{_shown(every)}'"
            ) from None
        if out["curvature_every"] < 0:
            raise UsageError(f"--curvature-every must be a whole number ≥ 0, got {every}")
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

    overrides = overrides_from(args)
    record_path = _record_path(args)
    scenario = resolve_scenario(args.scenario, overrides)
    if scenario.race:
        return run_race(args, scenario, record_path)
    run = scenario.build_run()
    names = run.param_names
    fmt = args.format
    out = sys.stdout
    from gdtui.report import RecordWriter

    model = scenario.is_model
    layers = run.layer_names if model and not names else ()
    writer = RecordWriter(out, fmt, names, layers=layers, model=model)
    streaming = fmt != "summary"
    recorder = None if record_path is None else RunRecorder(record_path, scenario, run)
    start = time.perf_counter()
    # One record is held back: when the run stops on the next step (a loss that became inf),
    # the record already taken is the last finite one and gets the final status. SIGTERM and
    # SIGHUP (a dropped SSH session) and SIGINT stop the loop between steps, so the JSON array
    # is closed and every completed step is written.
    held = None
    stop = _SignalFlag()

    def write(record: Any) -> None:
        if record is not None and streaming:
            writer.write(record.to_dict(names))

    with _streaming(writer, recorder, stop, lambda: write(held)):
        for record in _records(run, stop):
            if recorder is not None:
                recorder.write(record)
            write(held)
            held = record
        last, held = held, None  # written once, even if writing it fails
        write(last)
    elapsed = time.perf_counter() - start
    if run.step_count == 0 and run.reason and fmt not in ("table", "summary"):
        # No record to carry the reason (the loss was not finite at the start point).
        print(f"gdtui: {run.status}: {visible(run.reason, MESSAGE_LIMIT)}", file=sys.stderr)
    if fmt in ("table", "summary"):
        last = run.last_record
        rate = run.step_count / elapsed if elapsed > 0 else float("inf")
        lines = [
            f"scenario   {scenario.name} ({scenario.source})",
            *_what_is_descended(scenario, run),
            f"optimizer  {run.optimizer_name}, lr {scenario.effective_lr:g}"
            + (f", {_hyper_text(scenario.hyper)}" if scenario.hyper else "")
            + (f", schedule {scenario.schedule}" if scenario.schedule else ""),
            f"device     {describe_device(run.device)}, {str(run.dtype).replace('torch.', '')}",
            f"steps      {run.step_count}",
            f"status     {run.status}: {run.reason}",
        ]
        if last is not None:
            lines.append(f"loss       {last.loss:.10g} (before the last step)")
            if names:
                point = ", ".join(
                    f"{n} = {v:.10g}" for n, v in zip(names, last.params, strict=True)
                )
                lines.append(f"params     {point}")
            lines.append(f"grad norm  {_number_text(last.grad_norm)}")
        if model and run.step_count:
            lines.append(f"epochs     {run.epoch} ({run.steps_per_epoch} steps each)")
            lines.append(_evaluation_text(run.evaluate()))
        lines.append(f"time       {elapsed:.3f} s ({rate:,.0f} steps/s)")
        print(_lines_shown(lines), file=out)
    return EXIT_OK


def _records(run: Any, stop: _SignalFlag) -> Iterator[Any]:
    """The run's records until it stops or a signal comes; then a model run's records still in
    flight on the GPU are waited for, so every step taken is written."""
    for record in run.steps():
        yield record
        if stop.signum is not None:
            break
    if stop.signum is not None and hasattr(run, "drain"):
        yield from run.drain()


@contextlib.contextmanager
def _streaming(
    writer: Any, recorder: Any, stop: _SignalFlag, write_held: Callable[[], None]
) -> Iterator[None]:
    """How ``gdtui run`` ends its record streams (a single run's and a race's). Inside, the
    signals only set ``stop``. A fault inside a step (CUDA out of memory) still writes the
    records held back (``write_held``) before it goes on to main(), which says it in one line
    (exit 1). The writer and the record file are closed either way, the file's end line naming
    the signal or the fault; after a signal, KeyboardInterrupt (SIGINT) or :class:`Stopped`."""
    fault: Exception | None = None
    try:
        with stop:
            yield
    except Exception as err:
        fault = err
        if not isinstance(err, OSError):  # output that cannot be written: nothing more to write
            write_held()
        raise
    finally:
        writer.close()
        if recorder is not None:
            recorder.close(stop.signum, error=fault)
    if stop.signum is not None:
        raise KeyboardInterrupt if stop.signum == signal.SIGINT else Stopped(stop.signum)


class _SignalFlag:
    """While active, SIGINT, SIGTERM and SIGHUP set ``signum`` instead of stopping the process,
    so the loop that checks it ends between two steps. Only in the main thread."""

    SIGNALS = tuple(
        getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
    )

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        elif signum == signal.SIGINT:  # a second Ctrl+C: stop at once
            raise KeyboardInterrupt

    def __enter__(self) -> _SignalFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _record_path(args: argparse.Namespace) -> Path | None:
    """``--record FILE``, checked before the run starts (None: not given)."""
    text = getattr(args, "record", None)
    if text is None:
        return None
    if not text.strip():
        raise UsageError("--record is empty; give a file name such as run.jsonl")
    from gdtui.files import FileInputError, expand_path

    try:
        path = expand_path(text)
    except FileInputError as err:
        raise UsageError(f"--record {err}") from None
    if path.is_dir():
        raise UsageError(f"--record {_shown(text)}: is a folder, not a file")
    if not path.parent.is_dir():
        raise UsageError(f"--record {_shown(text)}: no such folder: {_shown(path.parent)}")
    return path


class RunRecorder:
    """``gdtui run --record FILE``: JSON lines appended as the run steps.

    A header line ``{"format": "gdtui-run", "version": 1, "scenario", "source", "problem",
    "params", "optimizer", "lr", "hyper", "started"}``, then each step's record as ``--format
    jsonl`` writes it, flushed at least every :data:`RECORD_FLUSH_S` seconds, then an end line
    ``{"end": true, "steps", "status", "reason", "signal"}``. Data only, never pickle.
    """

    def __init__(self, path: Path, scenario: Any, run: Any) -> None:
        self._open(path)
        self.run = run
        self.names = run.param_names
        self._start(
            {
                **self._header(scenario, run),
                "optimizer": run.optimizer_name,
                "lr": run.lr,
                "hyper": {k: format_value(v) for k, v in scenario.hyper.items()},
            }
        )

    def _open(self, path: Path) -> None:
        try:
            self.file = path.open("a", encoding="utf-8")
        except OSError as err:
            raise UsageError(
                f"--record {_shown(path)}: cannot write: {err.strerror or err}"
            ) from None
        self.path = path
        self.count = 0

    @staticmethod
    def _header(scenario: Any, run: Any) -> dict[str, Any]:
        """The header's keys that say what is descended (``run``: the first of a race)."""
        return {
            "format": "gdtui-run",
            "version": 1,
            "scenario": scenario.name,
            "source": scenario.source,
            "problem": None if scenario.is_model else run.problem.expression,
            "data": dict(scenario.data) if scenario.is_model else None,
            "params": list(run.param_names),
        }

    def _start(self, header: dict[str, Any]) -> None:
        """Write the header line (with the time it started) at once."""
        header["started"] = time.time()
        self._write(json.dumps(header, allow_nan=False) + "\n")
        self.file.flush()
        self._flushed = time.monotonic()

    def _write(self, line: str) -> None:
        try:
            self.file.write(line)
        except OSError as err:
            raise OutputError(
                f"cannot write {_shown(self.path)}: {err.strerror or err}", EXIT_INTERNAL_ERROR
            ) from None

    def write(self, record: Any) -> None:
        """Append one step's record; flush when the last flush is :data:`RECORD_FLUSH_S` old."""
        self._append(record.to_dict(self.names))

    def _append(self, row: dict[str, Any]) -> None:
        """Write one record's row as a JSON line; flush when the last flush is old enough."""
        if row.get("layers"):
            from gdtui.report import clean_layers

            row["layers"] = clean_layers(row["layers"])
        self._write(json.dumps(row, allow_nan=False) + "\n")
        self.count += 1
        now = time.monotonic()
        if now - self._flushed >= RECORD_FLUSH_S:
            self.flush()
            self._flushed = now

    def flush(self) -> None:
        """Push the lines written so far to the file."""
        try:
            self.file.flush()
        except OSError as err:
            raise OutputError(
                f"cannot write {_shown(self.path)}: {err.strerror or err}", EXIT_INTERNAL_ERROR
            ) from None

    def close(self, signum: int | None = None, error: BaseException | None = None) -> None:
        """Write the end line (the run's status, or the signal or the fault that stopped it)
        and close."""
        self._end({"status": str(self.run.status), "reason": self.run.reason}, signum, error)

    def _end(self, fields: dict[str, Any], signum: int | None, error: BaseException | None) -> None:
        """The end line: the steps written, ``fields``, the signal and the fault (if any)."""
        end = {
            "end": True,
            "steps": self.count,
            **fields,
            "signal": None if signum is None else signal.Signals(signum).name,
        }
        if error is not None:
            end["error"] = type(error).__name__
        try:
            self._write(json.dumps(end, allow_nan=False) + "\n")
            self.flush()
        finally:
            self.file.close()


def run_race(args: argparse.Namespace, scenario: Any, record_path: Path | None) -> int:
    """``gdtui run`` on a scenario with ``[[race]]``: every contender stepped together, each
    record with its ``run`` label (every format, and ``--record``), the race table at the end of
    table and summary. Signals stop it between two rounds as they stop a single run: the JSON
    array is closed and every completed step is written."""
    from gdtui.report import RecordWriter, race_table

    race = scenario.build_race()
    runs = dict(iter(race))
    first = next(iter(runs.values()))
    names = first.param_names
    model = scenario.is_model
    layers = first.layer_names if model and not names else ()
    fmt = args.format
    out = sys.stdout
    writer = RecordWriter(out, fmt, names, layers=layers, model=model, labels=race.labels)
    streaming = fmt != "summary"
    recorder = None if record_path is None else RaceRecorder(record_path, scenario, race)
    start = time.perf_counter()
    # As in cmd_run, each run's newest record is held back until its next one (or the end):
    # a run that stops on its next step gives the record already taken its final status.
    held: dict[str, Any] = {}
    stop = _SignalFlag()

    def emit(label: str, record: Any) -> None:
        if streaming:
            if writer.count == 0 and fmt == "csv":
                # one state column per key of every optimizer in the race, not only the first's
                rows = [race.record_dict(k, r) for k, r in held.items()]
                writer.use_state_keys([*rows, race.record_dict(label, record)])
            writer.write(race.record_dict(label, record))

    def write_held() -> None:
        for label, record in held.items():
            emit(label, record)

    with _streaming(writer, recorder, stop, write_held):
        while not race.finished and stop.signum is None:
            for label, record in race.step():
                if recorder is not None:
                    recorder.write(label, record)
                if label in held:
                    emit(label, held[label])
                held[label] = record
        if stop.signum is not None:  # a model run's steps in flight on the GPU
            for label, run in runs.items():
                for record in getattr(run, "drain", list)():
                    if recorder is not None:
                        recorder.write(label, record)
                    if label in held:
                        emit(label, held[label])
                    held[label] = record
        last, held = held, {}  # written once, even if writing them fails
        for label, record in last.items():
            emit(label, record)
    elapsed = time.perf_counter() - start
    if fmt in ("table", "summary"):
        what = _what_is_descended(scenario, first)
        steps = sum(run.step_count for run in runs.values())
        lines = [
            f"scenario   {scenario.name} ({scenario.source})",
            *what,
            f"time       {elapsed:.3f} s ({steps} steps in all)",
            *race_table([row.to_dict() for row in race.table()], race.criterion),
        ]
        print(_lines_shown(lines), file=out)  # the name and the labels come from the file
    return EXIT_OK


class RaceRecorder(RunRecorder):
    """``gdtui run --record FILE`` for a race: :class:`RunRecorder`'s JSON lines with a ``run``
    label on every record; the header lists the runs (``race``: ``run``, ``optimizer``, ``lr``,
    ``hyper``) and the end line each one's ``steps``, ``status`` and ``reason`` (``runs``)."""

    def __init__(self, path: Path, scenario: Any, race: Any) -> None:
        self._open(path)
        self.race = race
        race_runs = [
            {
                "run": label,
                "optimizer": run.optimizer_name,
                "lr": run.lr,
                "hyper": {k: format_value(v) for k, v in run.hyper.items()},
            }
            for label, run in race
        ]
        self._start({**self._header(scenario, next(iter(race))[1]), "race": race_runs})

    def write(self, label: str, record: Any) -> None:  # type: ignore[override]
        """Append one step's record with its ``run`` label."""
        self._append(self.race.record_dict(label, record))

    def close(self, signum: int | None = None, error: BaseException | None = None) -> None:
        """The end line: the signal or the fault that stopped the race, if any, and each run's
        status."""
        runs = [
            {"run": label, "steps": run.step_count, "status": str(run.status), "reason": run.reason}
            for label, run in self.race
        ]
        self._end({"runs": runs}, signum, error)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``gdtui sweep``: a learning-rate range test of the scenario's problem and optimizer (or
    of its model on its data: one real training run per rate)."""
    from gdtui.engine.sweep import sweep, sweep_model

    lr_min = _checked_lr("--lr-min", args.lr_min)
    lr_max = _checked_lr("--lr-max", args.lr_max)
    num = None
    if args.num is not None:
        try:
            num = settings.check_steps(args.num, minimum=2)
        except settings.SettingError:
            shown = _shown(args.num)
            raise UsageError(f"--num must be a whole number ≥ 2, got '{shown}'") from None
    if lr_min >= lr_max:
        raise UsageError(f"--lr-min ({lr_min:g}) must be below --lr-max ({lr_max:g})")
    scenario = resolve_scenario(args.scenario, overrides_from(args))
    if scenario.is_model:
        base = scenario.build_run(max_steps=scenario.steps)
        result = sweep_model(
            base,
            lr_min=lr_min,
            lr_max=lr_max,
            num=num or settings.MODEL_SWEEP_RATES,
            steps=scenario.steps,
        )
    else:
        result = sweep(
            scenario.problem(),
            scenario.optimizer,
            lr_min=lr_min,
            lr_max=lr_max,
            num=num or settings.SWEEP_RATES,
            steps=scenario.steps,
            hyper=scenario.hyper,
            dtype=scenario.dtype,
            device="cpu" if scenario.device == "auto" else scenario.device,
        )
    if args.format == "json":
        print(json.dumps(result.to_dict(), allow_nan=False))
        return EXIT_OK
    lines = [
        f"scenario   {scenario.name} ({scenario.source})",
        *(
            _what_is_descended(scenario, base)
            if scenario.is_model
            else [f"problem    {result.problem}"]
        ),
        f"optimizer  {result.optimizer}"
        + (f", {_hyper_text(scenario.hyper)}" if scenario.hyper else "")
        + f"; {result.steps_done} steps per rate, {len(result.lrs)} rates ({result.mode} mode)",
        "",
        f"{'lr':>11} {'final loss':>12} {'best loss':>12}  status",
    ]
    for lr, final, best, status in zip(
        result.lrs, result.final_loss, result.best_loss, result.status, strict=True
    ):
        lines.append(f"{lr:11.4g} {_number_text(final):>12} {_number_text(best):>12}  {status}")
    edge = "none in range" if result.edge is None else f"{result.edge:.4g}"
    lines += [
        "",
        f"edge       {edge} (from here on no rate makes progress)",
        f"bound      {_number_text(result.bound)} ({result.bound_formula})",
        f"suggested  {_number_text(result.suggested)} ({result.rule})",
    ]
    print(_lines_shown(lines))
    return EXIT_OK


def _what_is_descended(scenario: Any, run: Any) -> list[str]:
    """The summary's lines that say what is trained: a formula, or data, a model and a loss."""
    if not scenario.is_model:
        return [f"problem    {run.problem.name}: {run.problem.expression}"]
    from gdtui.engine.models import describe_model

    data = run.dataset
    batch = "full batch" if run.batch_size is None else f"batches of {run.batch_size}"
    return [
        f"data       {data.name}: {data.n_train} training and {len(data.y_val)} validation "
        f"rows, {data.n_features} features ({data.task})",
        f"model      {describe_model(run.model)}; loss {run.loss_fn.name}; {batch}",
    ]


def _evaluation_text(values: dict[str, float | None]) -> str:
    parts = [f"train loss {_number_text(values.get('train_loss'))}"]
    parts.append(f"validation loss {_number_text(values.get('val_loss'))}")
    for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
        value = values.get(key)
        if value is not None:
            parts.append(f"{label} accuracy {value:.1%}")
    return "now        " + ", ".join(parts)


def cmd_attach(args: argparse.Namespace) -> int:
    """``gdtui attach FILE``: a record file of gdtui.watch(), in the app or as text."""
    from gdtui.files import FileInputError, expand_path, open_input_file
    from gdtui.recordfile import format_attach, rank_file, read_records

    if not args.file.strip():
        raise UsageError("the record file name is empty")
    try:
        path = expand_path(args.file)
    except FileInputError as err:
        raise UsageError(str(err)) from None
    if args.rank is not None:
        text = args.rank.strip()
        if not text.isdigit():
            raise UsageError(f"--rank must be a whole number ≥ 0, got '{_shown(args.rank)}'")
        path = rank_file(path, int(text))
    # The reader opens the file itself: a FIFO, a device or a loop is refused here first.
    open_input_file(path, what="record").close()
    fmt = args.format
    if fmt is None:
        from gdtui.ui.app import launch_attach

        # The rank's file is resolved above; the app can still switch ranks (k).
        return launch_attach(path, None) or EXIT_OK
    text = format_attach(read_records(path), fmt)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _checked_lr(option: str, text: str) -> float:
    try:
        return settings.parse_lr(text)
    except settings.SettingError as err:
        raise UsageError(f"{option}: {err}") from None


def _number_text(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.6g}"


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
    if what in (None, "datasets"):
        from gdtui.engine.data import GENERATED, SKLEARN

        lines = [
            "datasets (--data NAME, or --data FILE.csv --target COLUMN; [data] in a scenario):"
        ]
        for name, (task, samples, noise) in GENERATED.items():
            lines.append(f"  {name:14s} generated, {task}: {samples} rows, noise {noise:g}")
        for name, (_, task) in SKLEARN.items():
            lines.append(f"  {name:14s} scikit-learn's, {task} (needs: pip install 'gdtui[data]')")
        blocks.append("\n".join(lines))
    if what in (None, "models"):
        lines = ["models (--model KIND, --hidden N,N for mlp; [model] in a scenario):"]
        about = {
            "linear": "one torch.nn.Linear layer (linear regression, or logits for classes)",
            "logistic": "torch.nn.Linear for class labels (logistic regression)",
            "mlp": "Linear → activation → … → Linear, hidden sizes from --hidden (default 16,16)",
            "cnn": "a small convolutional network, for image data (digits)",
        }
        from gdtui.engine.models import MODEL_KINDS

        lines += [f"  {kind:10s} {about.get(kind, '')}" for kind in MODEL_KINDS]
        blocks.append("\n".join(lines))
    if what in (None, "losses"):
        from gdtui.engine.models import CLASS_ONLY, LOSSES

        lines = ["losses (--loss-fn NAME; [loss] fn in a scenario), from torch.nn.functional:"]
        for name, fn in LOSSES.items():
            kind = "class labels" if name in CLASS_ONLY else "any target"
            lines.append(f"  {name:16s} F.{fn.__name__} ({kind})")
        blocks.append("\n".join(lines))
    if what in (None, "schedules"):
        from gdtui.engine.schedules import SCHEDULES

        lines = ["schedules (--schedule NAME --schedule-arg K=V; [schedule] in a scenario):"]
        for name, spec in SCHEDULES.items():
            lines.append(f"  {name:12s} {spec.torch_name}: {spec.description}")
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))
    return EXIT_OK


def cmd_launch(args: argparse.Namespace) -> int:
    """``gdtui launch``: the app. The engine loads after the first paint."""
    from gdtui.ui.terminal import check_terminal, exit_code_for_signal, signal_name

    overrides = overrides_from(args)
    log = _log_path(args)
    refusal = check_terminal()  # TERM=dumb, no TERM, or not a terminal (gdtui serve passes)
    if refusal is not None:
        raise UsageError(refusal)
    record = None
    if args.record is not None:
        from gdtui.ui.recorder import RecordAppender, RecordError

        try:
            record = RecordAppender(Path(args.record).expanduser())
        except RecordError as err:
            raise UsageError(str(err)) from None
    from gdtui.ui.app import GdtuiApp

    # Without --log, a bug's traceback still goes to a file that the last line names.
    log = log or _default_log()
    app = GdtuiApp(
        scenario=args.scenario, overrides=overrides, log_path=log, ascii=args.ascii, record=record
    )
    app.run()
    if app.stopped_by_signal is not None:
        print(f"gdtui: interrupted ({signal_name(app.stopped_by_signal)})", file=sys.stderr)
        return exit_code_for_signal(app.stopped_by_signal)
    if app.startup_error:
        raise UsageError(app.startup_error)
    if app.internal_error:
        kind = "error" if app.internal_error_is_fault else "internal error"
        print(
            f"gdtui: {kind}: {visible(app.internal_error, MESSAGE_LIMIT)} "
            f"(traceback written to {visible(log, 300)})",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    return app.return_code or EXIT_OK


def _default_log() -> Path:
    """Where a bug's traceback goes when no ``--log`` was given."""
    return Path(tempfile.gettempdir()) / f"gdtui-{os.getpid()}.log"


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
    """Write the traceback of a bug to the log (a temp file without ``--log``); one line names it.

    A device fault (CUDA out of memory, a device-side assert) is not called a bug: the line
    names the fault and the way out (:func:`gdtui.faults.device_fault`). Either way exit 1.
    """
    from gdtui.faults import device_fault

    text = "".join(traceback.format_exception(err))
    path = log or _default_log()
    fault = device_fault(err)
    kind = "device fault" if fault else "internal error"
    what = f"error: {fault}" if fault else f"internal error: {type(err).__name__}: {visible(err)}"
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(f"gdtui {time.strftime('%Y-%m-%d %H:%M:%S')}: {kind}\n{text}\n")
    except OSError as io_err:
        reason = visible(io_err.strerror or io_err)
        where = f"the traceback could not be written to {visible(path, 300)}: {reason}"
    else:
        where = f"traceback written to {visible(path, 300)}"
    _say(f"{what} ({where})")
    return EXIT_INTERNAL_ERROR


def cmd_screenshot(args: argparse.Namespace) -> int:
    """``gdtui screenshot``: a deterministic SVG of the app after N steps."""
    steps = settings.check_steps(args.steps, minimum=0)
    for key in args.press:
        check_key(key)
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


_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})


def check_key(key: str) -> str:
    """A key name as Textual's ``press`` takes it (``n``, ``space``, ``ctrl+p``, ``plus``,
    ``question_mark``), else :class:`UsageError`: an unknown name would be ignored silently."""
    from textual.keys import KEY_ALIASES, KEY_NAME_REPLACEMENTS, Keys

    text = key.strip()
    if len(text) == 1 and text.isprintable():
        return text
    *mods, base = text.split("+")
    names = {k.value.split("+")[-1] for k in Keys} | set(KEY_ALIASES)
    names |= set(KEY_NAME_REPLACEMENTS.values())
    ok = bool(base) and all(m in _MODIFIERS for m in mods)
    if ok and not (base in names or (len(base) == 1 and base.isprintable())):
        try:
            unicodedata.lookup(base.replace("_", " ").upper())  # question_mark, full_stop, …
        except KeyError:
            ok = False
    if not ok:
        raise UsageError(
            f"--press '{_shown(key)}' is not a key; use a character or a key name such as "
            "space, enter, escape, tab, up, plus, ctrl+p"
        )
    return text


def cmd_serve(args: argparse.Namespace) -> int:
    """``gdtui serve``: the app in a browser through textual-serve (:mod:`gdtui.serve`)."""
    from gdtui.serve import DEFAULT_HOST, DEFAULT_PORT, ServeError, serve

    port = DEFAULT_PORT
    if args.port is not None:
        try:
            port = int(args.port.strip())
        except ValueError:
            raise UsageError(
                f"--port must be a whole number from 1 to 65535, got '{_shown(args.port)}'"
            ) from None
    host = DEFAULT_HOST if args.host is None else args.host
    from gdtui.serve import check_address, launch_command

    try:
        check_address(host, port, args.public)
    except ServeError as err:
        raise UsageError(str(err)) from None
    # The scenario and overrides are checked here, once, not in every browser session.
    resolve_scenario(args.scenario, overrides_from(args))
    launch = _launch_args(getattr(args, "argv", []))
    try:
        return serve(host, port, args.public, launch_command(launch))
    except ServeError as err:
        raise UsageError(str(err)) from None


def _launch_args(argv: Sequence[str]) -> list[str]:
    """``gdtui serve``'s arguments less its own (--host, --port, --public): launch's."""
    out: list[str] = []
    skip = False
    for token in list(argv)[1:]:  # argv[0] is "serve"
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if name == "--public":
            continue
        if name in ("--host", "--port"):
            skip = "=" not in token
            continue
        out.append(token)
    return out


HANDLERS = {
    "launch": cmd_launch,
    "run": cmd_run,
    "sweep": cmd_sweep,
    "attach": cmd_attach,
    "list": cmd_list,
    "screenshot": cmd_screenshot,
    "serve": cmd_serve,
}


def _error(message: object) -> None:
    """One ``gdtui: error:`` line on stderr, controls visible and cut; quiet if stderr is gone."""
    _say(f"error: {visible(message, MESSAGE_LIMIT)}")


def _say(text: str) -> None:
    try:
        print(f"gdtui: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed (a dropped SSH session): nothing to tell
        return


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gdtui`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    log: Path | None = None
    try:
        try:
            with guard_output():
                split = _split_argv(argv)
                args = build_parser().parse_args(split)
                args.argv = split
                log = _log_path(args)
                return HANDLERS[args.command](args)
        except (UsageError, settings.SettingError) as err:
            _error(err)
            return EXIT_BAD_INPUT
        except ValueError as err:
            # Every user error of the engine and scenarios is a ValueError with a one-line text.
            from gdtui.engine import USER_ERRORS
            from gdtui.files import FileInputError
            from gdtui.recordfile import RecordFileError
            from gdtui.scenario import ScenarioError

            if isinstance(err, (*USER_ERRORS, ScenarioError, FileInputError, RecordFileError)):
                _error(err)
                return EXIT_BAD_INPUT
            raise
    except OutputError as err:  # a full disk (one line, exit 1) or a closed pipe (quiet, 0)
        if err.message:
            _error(err.message)
        return err.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Stopped as err:
        _say(f"stopped by {err}")
        return 128 + err.signum
    except Exception as err:  # a bug of ours: exit 1, the traceback in a log, not on the screen
        return _report_internal_error(err, log)


def entry() -> NoReturn:
    """``python -m gdtui``."""
    sys.exit(main())
