"""HubSpot error bodies and the rolling-window / daily rate limiter.

Bodies follow HubSpot's documented shapes: errors are ``{status: "error", message,
correlationId, category}`` (401 uses category ``INVALID_AUTHENTICATION``); 429 is
``{status, message, errorType: "RATE_LIMIT", correlationId, policyName}`` with policyName
``TEN_SECONDLY_ROLLING`` or ``DAILY`` (HubSpot "API usage details" and the community answer quoting
the 429 format).  Every limited response carries ``X-HubSpot-RateLimit-Max``, ``-Remaining`` and
``-Interval-Milliseconds`` (plus ``-Daily``/``-Daily-Remaining`` when a daily budget is set).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter", "batch_error", "error_body", "rate_limit_body", "throttled_headers"]

# HubSpot's burst limit for a private app on a free/starter account: 100 per 10 s.
DEFAULT_MAX = 100
DEFAULT_INTERVAL_MS = 10_000


def error_body(category: str, message: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return body


def rate_limit_body(policy: str) -> dict[str, object]:
    what = "ten_secondly_rolling" if policy == "TEN_SECONDLY_ROLLING" else "daily"
    return {
        "status": "error",
        "message": f"You have reached your {what} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }


def throttled_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers of an injected TEN_SECONDLY_ROLLING 429, as HubSpot sends them.

    The window is reported full (``Remaining: 0``) with its interval, and there is no
    ``Retry-After``: a client must decide its own wait, which is what storm tests exercise.
    ``headers`` are the limiter's (when the sandbox has one), else HubSpot's defaults are used.
    """
    out = dict(headers)
    out.setdefault("X-HubSpot-RateLimit-Max", str(DEFAULT_MAX))
    out["X-HubSpot-RateLimit-Remaining"] = "0"
    out.setdefault("X-HubSpot-RateLimit-Interval-Milliseconds", str(DEFAULT_INTERVAL_MS))
    return out


def batch_error(
    category: str,
    message: str,
    context: dict[str, list[str]],
    *,
    sub_category: str | None = None,
    details: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """One entry of a 207 ``errors`` list (the SDK's StandardError: all keys required)."""
    err: dict[str, object] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": details or [],
        "links": {},
    }
    if sub_category:
        err["subCategory"] = sub_category
    return err


class RateLimiter:
    """Rolling window of ``max_requests`` per ``interval_s`` plus an optional daily budget.

    Only admitted requests count, as a throttled client would otherwise never recover.
    """

    def __init__(
        self,
        max_requests: int | None,
        interval_s: float,
        *,
        daily: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_requests = max_requests
        self.interval_s = interval_s
        self.daily = daily
        self.used_today = 0
        self._clock = clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> tuple[str | None, dict[str, str]]:
        """(policy that refused or None, headers to send)."""
        with self._lock:
            now = self._clock()
            hits = self._hits
            while hits and hits[0] <= now - self.interval_s:
                hits.popleft()
            refused: str | None = None
            if self.daily is not None and self.used_today >= self.daily:
                refused = "DAILY"
            elif self.max_requests is not None and len(hits) >= self.max_requests:
                refused = "TEN_SECONDLY_ROLLING"
            if refused is None:
                hits.append(now)
                self.used_today += 1
            return refused, self._headers(len(hits))

    def _headers(self, used: int) -> dict[str, str]:
        h: dict[str, str] = {}
        if self.max_requests is not None:
            h["X-HubSpot-RateLimit-Max"] = str(self.max_requests)
            h["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.max_requests - used))
            h["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(self.interval_s * 1000))
        if self.daily is not None:
            h["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            h["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily - self.used_today))
        return h
