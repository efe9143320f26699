"""Client-side rate limiting and the retry policy every CRM call goes through.

One :class:`RateLimiter` per CRM account is shared by all threads and requests, so the
connector stays under the provider's rolling window (HubSpot: 100 or 190 per 10 s) instead
of discovering it through 429s. Servers still win: a 429's ``Retry-After`` (``penalize``)
and the rate-limit headers (``note_headers``) push the limiter back, and the daily quota
headers stop the run once mqlsync's share of the day is used (``DailyLimitExceeded``).

:func:`retrying` retries only :class:`~connector.errors.RetriableError` — fatal and
skippable errors propagate at once, because retrying them only burns quota.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from .errors import DailyLimitExceeded, RetriableError

__all__ = ["DailyUsage", "RateLimiter", "retry_policy", "retrying"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_SF_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """API calls used today out of the provider's daily limit, as last reported."""

    used: int
    limit: int


class RateLimiter:
    """Thread-safe rolling-window limiter: at most ``max_requests`` per ``per_seconds``.

    A rolling window (not a refilling bucket) because that is what HubSpot and the sandbox
    enforce; a bucket would allow a burst of 2× at window edges. ``clock``/``sleep`` are
    injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        max_requests: int,
        per_seconds: float,
        *,
        daily_budget_share: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be >= 1")
        if per_seconds <= 0:
            raise ValueError("per_seconds must be > 0")
        if daily_budget_share is not None and not 0 < daily_budget_share <= 1:
            raise ValueError("daily_budget_share must be in (0, 1]")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self.daily_budget_share = daily_budget_share
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._daily: DailyUsage | None = None
        self._daily_exhausted: str | None = None
        self.acquired = 0
        """Requests let through so far (API calls made, for run metrics)."""

    @property
    def daily_usage(self) -> DailyUsage | None:
        """The last daily quota the server reported, if any."""
        return self._daily

    def _wait_time(self, now: float) -> float:
        while self._sent and now - self._sent[0] >= self.per_seconds:
            self._sent.popleft()
        wait = self._blocked_until - now
        if len(self._sent) >= self.max_requests:
            wait = max(wait, self._sent[0] + self.per_seconds - now)
        return wait

    def acquire(self) -> None:
        """Block until a request may be sent, then count it.

        Raises:
            DailyLimitExceeded: the daily quota (or mqlsync's share of it) is used up.
        """
        while True:
            with self._lock:
                if self._daily_exhausted:
                    raise DailyLimitExceeded(self._daily_exhausted)
                now = self._clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.acquired += 1
                    return
            # Sleep outside the lock so penalize()/note_headers() from other threads apply;
            # re-check afterwards because the wait may have been extended meanwhile.
            self._sleep(wait)

    def penalize(self, retry_after: float) -> None:
        """Hold every caller back for ``retry_after`` seconds (after a 429 or 503)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(retry_after, 0.0))

    def note_headers(self, headers: Mapping[str, str]) -> None:
        """Feed response headers back: rolling-window state, Retry-After and daily quota.

        Understands HubSpot ``X-HubSpot-RateLimit-{Remaining,Interval-Milliseconds,Daily,
        Daily-Remaining}``, Salesforce ``Sforce-Limit-Info: api-usage=used/limit`` and
        ``Retry-After`` (seconds). Unknown or malformed headers are ignored.
        """
        h = {k.lower(): v for k, v in headers.items()}
        retry_after = _float(h.get("retry-after"))
        if retry_after is not None:
            self.penalize(retry_after)
        remaining = _int(h.get("x-hubspot-ratelimit-remaining"))
        if remaining is not None and remaining <= 0:
            interval_ms = _int(h.get("x-hubspot-ratelimit-interval-milliseconds"))
            interval = interval_ms / 1000 if interval_ms else self.per_seconds
            with self._lock:
                # The server's window is full; its oldest request leaves it no later than
                # our oldest one does, or one full interval from now if we sent none.
                now = self._clock()
                until = self._sent[0] + interval if self._sent else now + interval
                self._blocked_until = max(self._blocked_until, until)
        daily = _int(h.get("x-hubspot-ratelimit-daily"))
        daily_left = _int(h.get("x-hubspot-ratelimit-daily-remaining"))
        if daily is not None and daily_left is not None:
            self.note_daily_usage(daily - daily_left, daily)
        match = _SF_LIMIT_INFO.search(h.get("sforce-limit-info", ""))
        if match:
            self.note_daily_usage(int(match[1]), int(match[2]))

    def note_daily_usage(self, used: int, limit: int) -> None:
        """Record the daily quota; once our share is used, every later acquire() raises.

        A later report under the threshold (a new day) lifts the stop again, so a daemon can
        keep one limiter; calling this directly is how a scheduler resets it.
        """
        with self._lock:
            self._daily = DailyUsage(used, limit)
            share = self.daily_budget_share
            self._daily_exhausted = None
            if limit > 0 and share is not None and used >= share * limit:
                self._daily_exhausted = "daily_budget_share"
            elif limit > 0 and used >= limit:
                self._daily_exhausted = "DAILY"


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _WaitBackoff(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(self, max_wait: float, base: float, rng: random.Random) -> None:
        self.max_wait = max_wait
        self.base = base
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        ceiling = min(self.max_wait, self.base * 2 ** (retry_state.attempt_number - 1))
        backoff = self.rng.uniform(0, ceiling)
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetriableError) and exc.retry_after is not None:
            return max(exc.retry_after, backoff)
        return backoff


def retry_policy(
    *,
    attempts: int = 5,
    max_wait: float = 60.0,
    base: float = 0.5,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> tenacity.Retrying:
    """A tenacity policy: retry ``RetriableError`` only, re-raising the last one.

    Waits are full-jitter exponential (``base`` × 2^n, capped at ``max_wait``) and at least
    the error's ``retry_after``; with a ``limiter`` the Retry-After is applied to it too, so
    every thread sharing the account backs off, not only the one that saw the 429.
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if limiter is not None and isinstance(exc, RetriableError) and exc.retry_after:
            limiter.penalize(exc.retry_after)
        log.warning("retrying in %.1fs after attempt %d: %s", wait, state.attempt_number, exc)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetriableError),
        stop=tenacity.stop_after_attempt(attempts),
        wait=_WaitBackoff(max_wait, base, rng or random.Random()),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def retrying(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    max_wait: float = 60.0,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` under :func:`retry_policy`; returns its result or raises its last error."""
    policy = retry_policy(
        attempts=attempts, max_wait=max_wait, limiter=limiter, sleep=sleep, rng=rng
    )
    return policy(fn)
