"""Is the daemon doing its job? The answer ``GET /healthz`` gives.

Rules, and why:

- Healthy while a sync succeeded within the last 3 sync intervals, counted from the
  daemon's start until the first success (so a fresh daemon is healthy while none is due
  yet). One failed sync is noise (a CRM blip, a 5xx storm); three intervals without a
  success mean the CRM's data is going stale and someone should look.
- An authentication failure is unhealthy at once: credentials never fix themselves.
- A hot standby (another process holds the account's lock) is healthy: standing by is its
  job, and it takes over when the holder dies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.errors import redact
from connector.ops.daemon import JobOutcome

__all__ = ["MISSED_INTERVALS", "Health"]

MISSED_INTERVALS = 3


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


class Health:
    """The daemon's health from its job outcomes; thread-safe (the HTTP server reads it)."""

    def __init__(self, interval: timedelta, *, clock: Callable[[], float] = time.time) -> None:
        self.interval = interval.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.last_success: float | None = None
        self.last_failure: str | None = None
        self.auth_failure: str | None = None
        self.standby = False

    def job_done(self, name: str, outcome: JobOutcome) -> None:
        """Note a sync's outcome (rescores do not make the CRM stale or fresh)."""
        with self._lock:
            if outcome.fatal:
                self.auth_failure = redact(str(outcome.error))
            if name != "sync":
                return
            self.standby = outcome.status == "skipped" and outcome.reason == "standby"
            if outcome.status == "ok":
                self.last_success = self._clock()
            elif outcome.status == "failed":
                self.last_failure = redact(str(outcome.error))

    def report(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, body)``: the body ``/healthz`` answers with (200 or 503)."""
        with self._lock:
            now = self._clock()
            base: dict[str, Any] = {
                "last_success": _iso(self.last_success),
                "last_failure": self.last_failure,
                "role": "standby" if self.standby else "active",
                "sync_interval_seconds": self.interval,
            }
            if self.auth_failure is not None:
                reason = f"authentication failed: {self.auth_failure}"
                return False, {"status": "unhealthy", "reason": reason, **base}
            since = self.last_success if self.last_success is not None else self.started
            overdue = now - since > MISSED_INTERVALS * self.interval
            if overdue and not self.standby:
                what = "the last successful sync" if self.last_success else "the start"
                reason = (
                    f"no successful sync for {now - since:.0f} s "
                    f"({MISSED_INTERVALS} intervals of {self.interval:g} s) since {what}"
                )
                return False, {"status": "unhealthy", "reason": reason, **base}
            return True, {"status": "ok", **base}
