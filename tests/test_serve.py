"""gdtui.serve: the app in a browser through textual-serve, on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import io
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from gdtui.serve import (
    DEFAULT_HOST,
    ServeError,
    check_address,
    is_loopback,
    launch_command,
    serve,
    under_textual_serve,
)

# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_addresses(host):
    assert is_loopback(host)
    assert check_address(host, 8000) is None


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "my-laptop"]
)
def test_non_loopback_addresses_need_public(host):
    assert not is_loopback(host)
    with pytest.raises(ServeError) as info:
        check_address(host, 8000)
    assert str(info.value) == (
        f"--host {host} is not a loopback address: other machines could connect and run gdtui "
        "as you; add --public if that is what you want"
    )
    assert check_address(host, 8000, public=True) == (
        f"warning: serving on {host}:8000, reachable from other machines; anyone who can "
        "connect runs gdtui as you, with no password"
    )


def test_default_is_loopback():
    assert DEFAULT_HOST == "127.0.0.1"
    assert is_loopback(DEFAULT_HOST)


@pytest.mark.parametrize("port", [0, -1, 65536, True, "80"])
def test_bad_ports(port):
    with pytest.raises(ServeError, match="--port must be a whole number from 1 to 65535"):
        check_address("127.0.0.1", port)


def test_hostile_host_is_shown_visibly():
    with pytest.raises(ServeError) as info:
        check_address("evil\x1b]0;t\x07", 8000)
    assert "evil\\x1b]0;t\\x07" in str(info.value)
    assert "\x1b" not in str(info.value)
    with pytest.raises(ServeError, match="--host is empty"):
        check_address("  ", 8000)


def test_launch_command_is_quoted_for_the_shell():
    command = launch_command(["my scenario.toml", "--lr", "0.1"])
    assert shlex.split(command) == [
        sys.executable, "-m", "gdtui", "launch", "my scenario.toml", "--lr", "0.1"
    ]  # fmt: skip


def test_under_textual_serve(monkeypatch):
    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    assert not under_textual_serve()
    monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.web_driver:WebDriver")
    assert under_textual_serve()


# -- serve() with textual-serve's Server recorded, not run ------------------------------------


class RecordingServer:
    """Stands in for textual_serve.server.Server: records how it was built."""

    made: list[RecordingServer] = []
    error: OSError | None = None

    def __init__(self, command, host, port, title, public_url):
        self.command, self.host, self.port = command, host, port
        self.title, self.public_url = title, public_url
        self.served = False
        RecordingServer.made.append(self)

    def serve(self) -> None:
        if RecordingServer.error is not None:
            raise RecordingServer.error
        self.served = True


@pytest.fixture
def recorder(monkeypatch):
    import textual_serve.server

    RecordingServer.made = []
    RecordingServer.error = None
    monkeypatch.setattr(textual_serve.server, "Server", RecordingServer)
    return RecordingServer


def test_serve_defaults(recorder):
    err = io.StringIO()
    assert serve(err=err) == 0
    (made,) = recorder.made
    assert (made.host, made.port, made.title) == ("127.0.0.1", 8000, "gdtui")
    assert made.public_url == "http://127.0.0.1:8000"
    assert made.command == launch_command()
    assert made.served
    assert err.getvalue() == ""


def test_serve_public_prints_a_warning(recorder):
    err = io.StringIO()
    serve("0.0.0.0", 8123, public=True, public_url="http://box.lan:8123", err=err)
    assert err.getvalue() == (
        "gdtui: warning: serving on 0.0.0.0:8123, reachable from other machines; anyone who "
        "can connect runs gdtui as you, with no password\n"
    )
    assert recorder.made[0].public_url == "http://box.lan:8123"


def test_serve_refuses_before_listening(recorder):
    with pytest.raises(ServeError, match="not a loopback address"):
        serve("0.0.0.0")
    assert recorder.made == []


def test_ipv6_loopback_url_has_brackets(recorder):
    serve("::1", 8001)
    assert recorder.made[0].host == "::1"
    assert recorder.made[0].public_url == "http://[::1]:8001"


def test_port_in_use_is_one_line(recorder):
    recorder.error = OSError(98, "Address already in use")
    with pytest.raises(ServeError) as info:
        serve(port=8002)
    assert str(info.value) == "cannot listen on 127.0.0.1:8002: Address already in use"


# -- a real server in a subprocess ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int, *extra: str, command: str | None = None) -> subprocess.Popen:
    if command is None:
        code = [sys.executable, "-m", "gdtui.serve", "--port", str(port), *extra]
    else:
        script = f"from gdtui.serve import serve; serve(port={port}, command={command!r})"
        code = [sys.executable, "-c", script]
    return subprocess.Popen(
        code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "80"}
    )


def _get_index(port: int, process: subprocess.Popen, deadline: float) -> str:
    url = f"http://127.0.0.1:{port}/"
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no HTTP 200 from {url} in time")


def _stop(process: subprocess.Popen, sig: int) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=30)  # a session may still be loading torch on a busy machine
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_http_200_on_loopback_and_stops_cleanly(sig):
    port = _free_port()
    process = _start(port)
    try:
        page = _get_index(port, process, time.monotonic() + 20)
    finally:
        code = _stop(process, sig)
    assert f"ws://127.0.0.1:{port}/ws" in page
    assert code == 0


def test_non_loopback_host_is_refused_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "gdtui.serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "gdtui: error: --host 0.0.0.0 is not a loopback address: other machines could connect "
        "and run gdtui as you; add --public if that is what you want\n"
    )


async def _first_paint(port: int, deadline: float) -> bytes:
    import aiohttp

    received = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30") as websocket,
    ):
        while time.monotonic() < deadline and b"loading" not in received:
            message = await websocket.receive(timeout=max(0.1, deadline - time.monotonic()))
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            received += message.data
    return received


def test_a_browser_session_gets_the_app():
    # The session is `gdtui launch` under textual's web driver (no terminal: the CLI lets it).
    port = _free_port()
    process = _start(port, command=launch_command())
    try:
        deadline = time.monotonic() + 30
        _get_index(port, process, deadline)
        painted = asyncio.run(_first_paint(port, deadline))
    finally:
        code = _stop(process, signal.SIGTERM)
    assert b"\x1b[?1049h" in painted  # the app switched the browser terminal to its screen
    assert b"loading" in painted
    assert code == 0
