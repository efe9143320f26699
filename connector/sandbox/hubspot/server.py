"""Loopback HTTP server the official HubSpot SDK talks to unchanged.

Why stdlib ``ThreadingHTTPServer``: no new dependency, HTTP/1.1 keep-alive (urllib3 pools
connections), one thread per connection is plenty for tests and benchmarks; the store is guarded by
one lock held per request, so handlers never see a half-applied batch.

Per request: read the body, apply fault knobs (latency, dropped socket), check ``Authorization:
Bearer <token>`` exactly (else 401 INVALID_AUTHENTICATION), the rate limiter (429 with policyName),
injected 5xx/429, then dispatch.  Every answered or dropped request goes to the request log.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.sandbox.faults import Faults, PreRequestFault, RequestLog, apply_pre_request
from connector.sandbox.hubspot.limits import (
    RateLimiter,
    error_body,
    rate_limit_body,
    throttled_headers,
)
from connector.sandbox.hubspot.routes import Router
from connector.sandbox.hubspot.store import HubSpotStore

__all__ = ["HubSpotSandbox"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: HubSpotSandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # TCP_NODELAY: the headers and the body go out as two writes, and with Nagle's
    # algorithm the body waited for the client's delayed ACK of the headers, ~40 ms on
    # every answer on loopback (a latency no real CRM adds; `Faults.latency_ms` is the
    # way to model one).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record; stdout must stay clean for the CLI."""

    def _handle(self, method: str) -> None:
        sb = self.server.sandbox
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        inputs = body.get("inputs") if isinstance(body, dict) else None
        n_inputs = len(inputs) if isinstance(inputs, list) else 0

        fault = apply_pre_request(sb.faults)
        if fault is PreRequestFault.DROP:
            sb.request_log.add(method, split.path, split.query, n_inputs, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        headers: dict[str, str] = {}
        status: int
        payload: dict[str, object]
        if self.headers.get("Authorization") != f"Bearer {sb.token}":
            status, payload = (
                401,
                error_body(
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                ),
            )
        else:
            refused: str | None = None
            if sb.limiter is not None:
                refused, headers = sb.limiter.admit()
            if refused is not None:
                status, payload = 429, rate_limit_body(refused)
            elif fault is PreRequestFault.SERVER_ERROR:
                status, payload = 502, error_body("INTERNAL_ERROR", "Bad gateway (injected)")
            elif fault is PreRequestFault.THROTTLE:
                status, payload = 429, rate_limit_body("TEN_SECONDLY_ROLLING")
                headers = throttled_headers(headers)
            elif bad_json:
                status, payload = 400, error_body("VALIDATION_ERROR", "Invalid input JSON")
            else:
                parts = [p for p in split.path.split("/") if p]
                with sb.store.lock:
                    try:
                        status, payload = sb.router.dispatch(method, parts, query, body)
                    except Exception as exc:  # noqa: BLE001 - answer 500 like a server would
                        status, payload = 500, error_body("INTERNAL_ERROR", repr(exc))
        sb.request_log.add(method, split.path, split.query, n_inputs, status)  # before the reply
        self._send(status, payload, headers)

    def _send(self, status: int, payload: dict[str, object], headers: dict[str, str]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class HubSpotSandbox:
    """A seeded HubSpot CRM emulator on a loopback port; use as a context manager.

    ``rate=(n, seconds)`` enables the rolling-window limiter (policy TEN_SECONDLY_ROLLING);
    ``daily_limit`` a daily budget (policy DAILY).  ``clock`` (seconds since the epoch) stamps
    writes; see :class:`~connector.sandbox.hubspot.store.ManualClock`.
    """

    def __init__(
        self,
        *,
        contacts: int = 1000,
        seed: int = 7,
        token: str | None = None,
        rate: tuple[int, float] | None = None,
        faults: Faults | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        now: datetime | None = None,
        daily_limit: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.token = token or f"pat-sandbox-{secrets.token_hex(12)}"
        self.store = HubSpotStore(contacts, seed=seed, now=now, clock=clock)
        self.faults = faults or Faults()
        self.request_log = RequestLog()
        self.limiter: RateLimiter | None = None
        if rate is not None or daily_limit is not None:
            n, secs = rate if rate is not None else (None, 10.0)
            self.limiter = RateLimiter(n, secs, daily=daily_limit)
        self.router = Router(self.store, self.faults)
        self.host = host
        self.port = port
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HubSpotSandbox:
        """Bind and serve in a daemon thread; ``base_url`` is set once it accepts connections."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        self._server = server
        self.port = server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
            name=f"hubspot-sandbox-{self.port}",
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
