"""``GET /healthz`` and ``GET /metrics`` on ``[observability] host:port``.

Rules, and why:

- Off unless a port is configured: a daemon should not open a socket nobody asked for.
- Its own thread, standard library server: a health check must answer while a run keeps
  the scheduler busy, and it needs nothing beyond ``http.server``.
- Read-only, no secrets: ``/healthz`` shows redacted reasons and times, ``/metrics``
  counters; binding to 127.0.0.1 by default keeps even that on the host.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connector.errors import ConfigError
from connector.ops.health import Health
from connector.ops.metrics import Metrics

__all__ = ["Endpoints"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            healthy, body = self.server.health.report()
            self._send(200 if healthy else 503, "application/json", json.dumps(body).encode())
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server.metrics.registry))
        else:
            self._send(404, "application/json", b'{"error": "not found"}')

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: probes every few seconds would drown the run lines."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], health: Health, metrics: Metrics) -> None:
        self.health = health
        self.metrics = metrics
        super().__init__(address, _Handler)


class Endpoints:
    """The endpoint server; a context manager that serves in a background thread."""

    def __init__(self, host: str, port: int, health: Health, metrics: Metrics) -> None:
        try:
            self._server = _Server((host, port), health, metrics)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                key="[observability] port",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mqlsync-endpoints", daemon=True
        )

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (port 0 picks a free one)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Endpoints:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
