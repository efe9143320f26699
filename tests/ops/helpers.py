"""A configured sandbox, a webhook receiver and HTTP probes for the daemon tests."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from connector.cli.app import app
from connector.sandbox.hubspot import HubSpotSandbox
from tests.conftest import MAPPINGS

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, sandbox: HubSpotSandbox, **extra: str) -> Path:
    """A config for the sandbox; `extra` maps a section name to its TOML body."""
    config = tmp_path / "mqlsync.toml"
    text = (
        f'[hubspot]\nbase_url = "{sandbox.base_url}"\n'
        f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        "[limits]\nrequests_per_10s = 10000\n"
        "[sync]\nretry_attempts = 2\nretry_max_wait_seconds = 0.05\n"
    )
    for section, body in extra.items():
        text += f"[{section}]\n{body}\n"
    config.write_text(text)
    return config


def provision(config: Path) -> None:
    result = CliRunner().invoke(app, ["provision", "--config", str(config)])
    assert result.exit_code == 0, result.output


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:
        return 0, b""  # not listening (yet, or any more)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


class Receiver:
    """A local webhook: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("alert") == name]


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@contextmanager
def daemon_process(args: list[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """A child process with piped output, killed if the test leaves it running."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def terminate(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, wait for the exit, and return the rest of stderr."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=20)[1]
