"""gdtui in a web browser: the app served through textual-serve, on loopback unless told.

Every browser tab that connects starts its own ``gdtui launch`` process on this machine, so
anyone who can reach the port can run gdtui as you. The server therefore listens on
``127.0.0.1`` by default; any other address is refused unless ``public=True``, and then a
warning is printed.

    python -m gdtui.serve [--host 127.0.0.1] [--port 8000] [--public] [-- LAUNCH ARGS...]

Importing this module is cheap: textual-serve (aiohttp) loads only when :func:`serve` runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import sys
from collections.abc import Sequence
from typing import TextIO

from gdtui.safetext import visible

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServeError",
    "check_address",
    "is_loopback",
    "launch_command",
    "main",
    "serve",
    "under_textual_serve",
]

DEFAULT_HOST = "127.0.0.1"
"""Loopback: only this machine can connect."""
DEFAULT_PORT = 8000

_WEB_DRIVER = "textual.drivers.web_driver:WebDriver"


class ServeError(ValueError):
    """A refused host or port, or a server that could not listen; one line."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``).

    Other host names are not resolved and count as not loopback: a name may point anywhere.
    """
    text = host.strip().lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(host: str, port: int, public: bool = False) -> str | None:
    """Validate where to listen; return the warning to print for a public address, else None.

    Raises:
        ServeError: a port outside 1..65535, an empty host, or a non-loopback host without
            ``public``.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ServeError(f"--port must be a whole number from 1 to 65535, got {visible(port)}")
    if not isinstance(host, str) or not host.strip():
        raise ServeError("--host is empty; use 127.0.0.1 (this machine only)")
    if is_loopback(host):
        return None
    shown = visible(host, 80)
    if not public:
        raise ServeError(
            f"--host {shown} is not a loopback address: other machines could connect and run "
            "gdtui as you; add --public if that is what you want"
        )
    return (
        f"warning: serving on {shown}:{port}, reachable from other machines; anyone who can "
        "connect runs gdtui as you, with no password"
    )


def launch_command(args: Sequence[str] = ()) -> str:
    """The shell command each browser session runs: ``python -m gdtui launch ARGS...``, quoted."""
    return shlex.join([sys.executable, "-m", "gdtui", "launch", *args])


def under_textual_serve() -> bool:
    """True inside a process started by textual-serve (it drives the app over its own pipes)."""
    return os.environ.get("TEXTUAL_DRIVER", "") == _WEB_DRIVER


def _url(host: str, port: int) -> str:
    text = host.strip()
    if ":" in text and not text.startswith("["):  # IPv6 literal
        text = f"[{text}]"
    return f"http://{text}:{port}"


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    public: bool = False,
    command: str | None = None,
    *,
    public_url: str | None = None,
    err: TextIO | None = None,
) -> int:
    """Serve gdtui in the browser until SIGINT or SIGTERM; return the exit code (0).

    Args:
        host: address to listen on; loopback unless ``public``.
        port: TCP port, 1..65535.
        public: allow a non-loopback ``host`` (a warning line is printed on ``err``).
        command: the shell command of each session; default :func:`launch_command`.
        public_url: the URL browsers use to reach the server, when it differs from
            ``http://host:port`` (e.g. behind a proxy, or when listening on 0.0.0.0).
        err: where the warning goes (default ``sys.stderr``).

    Raises:
        ServeError: a refused host or port, or the port cannot be listened on.
    """
    warning = check_address(host, port, public)
    if warning is not None:
        print(f"gdtui: {warning}", file=err if err is not None else sys.stderr, flush=True)
    from textual_serve.server import Server

    server = Server(
        command if command is not None else launch_command(),
        host=host.strip().strip("[]"),
        port=port,
        title="gdtui",
        public_url=public_url or _url(host, port),
    )
    try:
        server.serve()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ServeError(f"cannot listen on {visible(host, 80)}:{port}: {reason}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gdtui.serve``: the same as ``gdtui serve``; arguments after ``--`` go to launch."""
    argv = list(sys.argv[1:] if argv is None else argv)
    launch_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, launch_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m gdtui.serve", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--public", action="store_true")
    args = parser.parse_args(argv)
    try:
        return serve(args.host, args.port, args.public, launch_command(launch_args))
    except ServeError as exc:
        print(f"gdtui: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
