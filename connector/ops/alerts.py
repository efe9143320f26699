"""Webhook alerts: a JSON POST when something needs a person.

Rules, and why:

- Sent from a background thread through a bounded queue: a slow or dead webhook must
  never hold up a sync. When the queue is full, the alert is dropped and logged.
- The body carries no secret and no email address (every string is redacted and
  scrubbed as log lines are): webhooks land in chat channels and ticket systems.
- A failed POST is logged once and not retried: the next run that still has the problem
  alerts again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from connector.ops.logs import scrub

__all__ = ["QUEUE_SIZE", "Alerts"]

log = logging.getLogger(__name__)

QUEUE_SIZE = 100

Post = Callable[[str, bytes, float], None]


def _post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(  # noqa: S310 - the URL is validated http(s) config
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
        pass


class Alerts:
    """Queue alerts for ``url``; :meth:`close` sends what is queued and stops the thread."""

    def __init__(self, url: str, *, timeout: float = 5.0, post: Post = _post) -> None:
        self.url = url
        self.timeout = timeout
        self._post = post
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._send_all, name="mqlsync-alerts", daemon=True)
        self._thread.start()
        self.sent = 0

    @property
    def where(self) -> str:
        """The webhook's host, for log lines (its path may embed a key, e.g. Slack's)."""
        return urlsplit(self.url).netloc

    def send(self, alert: str, message: str, **fields: Any) -> None:
        """Queue one alert: ``alert`` names what happened, ``message`` says it to a person."""
        payload: dict[str, Any] = {
            "source": "mqlsync",
            "alert": alert,
            "message": message,
            "timestamp": datetime.now(UTC).isoformat(),
            **fields,
        }
        body = json.dumps(scrub(None, "", payload)).encode()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            log.warning("alert %s dropped: %d alerts already waiting for %s", alert,
                        QUEUE_SIZE, self.where)  # fmt: skip

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (waiting at most ``timeout`` s), then stop the sender."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _send_all(self) -> None:
        while (body := self._queue.get()) is not None:
            try:
                self._post(self.url, body, self.timeout)
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - a broken webhook must not stop alerts
                log.warning("alert to %s failed: %s: %s", self.where, type(exc).__name__, exc)
