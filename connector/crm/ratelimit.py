"""Client-side rate limiting and the retry policy every CRM call goes through.

One :class:`RateLimiter` per CRM account is shared by all threads and requests, so the
connector stays under the provider's rolling window (HubSpot: 100 or 190 per 10 s) instead
of discovering it through 429s. Servers still win: a 429's ``Retry-After`` (``penalize``)
and the rate-limit headers (``note_headers``) push the limiter back, and the daily quota
headers stop the run once mqlsync's share of the day is used (``DailyLimitExceeded``).

A request holds its place in the window from the moment its answer arrives
(:meth:`RateLimiter.release`), not from when it was sent: the server stamps a request when
it receives it, somewhere between the two, so a client that counts from the send refills
its window a little before the server does and meets a 429 at each window edge whenever
the requests it then sends travel faster than the ones leaving the window did.

A 429 the limiter did not predict (its own window had room) means the account allows us
less than ``max_requests`` — other apps share it — so :meth:`RateLimiter.note_throttle`
halves the limiter's allowance (at most once per window) and every success gives one
request back (AIMD, as TCP does), converging on the server's real rate. The wait after a
429 is short and jittered at first and grows to the full window only while 429s follow
one another, instead of a flat window per 429 that stalls a sync in a throttling storm.

:func:`retrying` retries only :class:`~connector.errors.RetriableError` — fatal and
skippable errors propagate at once, because retrying them only burns quota. 429s are not
failures of the request: they do not use up ``attempts``; a per-call wait budget bounds
them instead.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from connector.errors import DailyLimitExceeded, RetriableError

__all__ = ["DailyUsage", "RateLimiter", "retry_policy", "retrying"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_SF_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")

THROTTLE_BASE = 0.1
"""Ceiling of the first wait after a 429 without Retry-After, seconds (jittered to 50–100 %).

Gentler than the hubspot-api-client README's rate-limit example (urllib3
``Retry(total=5, status_forcelist=(429,))``, which retries at once), and it doubles with
every 429 that follows."""
WAIT_BUDGET = 300.0
"""Default most one call waits in all: a server refusing for 5 minutes will not relent soon,
and the next scheduled run picks the work up again."""
_DECREASE = 0.5  # multiplicative decrease of the allowance on an unpredicted 429
_INCREASE = 1.0  # requests given back to the allowance per successful response


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """API calls used today out of the provider's daily limit, as last reported."""

    used: int
    limit: int


class RateLimiter:
    """Thread-safe rolling-window limiter: at most ``max_requests`` per ``per_seconds``.

    A rolling window (not a refilling bucket) because that is what HubSpot and the sandbox
    enforce; a bucket would allow a burst of 2× at window edges. ``clock``/``sleep``/``rng``
    are injectable so tests run on a fake clock with fixed jitter.

    ``max_requests`` is the ceiling; the window actually admits :attr:`allowance` requests,
    which unpredicted 429s lower and successes raise back (see :meth:`note_throttle`).
    """

    def __init__(
        self,
        max_requests: int,
        per_seconds: float,
        *,
        daily_budget_share: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        throttle_base: float = THROTTLE_BASE,
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
        self._rng = rng or random.Random()
        self.throttle_base = throttle_base
        self._allowance = float(max_requests)
        self._streak = 0
        self._next_decrease = float("-inf")
        self.acquired = 0
        """Requests let through so far (API calls made, for run metrics)."""
        self.throttled = 0
        """Rolling-window 429s reported through :meth:`note_throttle` (run metrics)."""
        self.retried = 0
        """Calls sent again after a retriable failure or a 429 (run metrics)."""

    @property
    def daily_usage(self) -> DailyUsage | None:
        """The last daily quota the server reported, if any."""
        return self._daily

    @property
    def allowance(self) -> int:
        """Requests the window admits now: ``max_requests`` unless 429s lowered it."""
        return max(1, int(self._allowance))

    def _prune(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.per_seconds:
            self._sent.popleft()

    def _wait_time(self, now: float) -> float:
        self._prune(now)
        wait = self._blocked_until - now
        allowed = self.allowance
        if len(self._sent) >= allowed:
            # The window admits again once all but allowed-1 of its requests have left it.
            wait = max(wait, self._sent[len(self._sent) - allowed] + self.per_seconds - now)
        return wait

    def acquire(self) -> float:
        """Block until a request may be sent, count it, and return its place in the window.

        Pass the returned stamp to :meth:`release` once the answer (or the failure) is in.

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
                    return now
            # Sleep outside the lock so penalize()/note_headers() from other threads apply;
            # re-check afterwards because the wait may have been extended meanwhile.
            self._sleep(wait)

    @contextmanager
    def request(self) -> Iterator[None]:
        """One request's place in the window: taken before it is sent (`acquire`), counted
        from its answer or failure on the way out (`release`), as the server counts it."""
        stamp = self.acquire()
        try:
            yield
        finally:
            self.release(stamp)

    def release(self, stamp: float) -> None:
        """The request :meth:`acquire` stamped ``stamp`` is answered: it now counts from now.

        The server admitted it no later than this moment, so from here on the window frees
        its place no earlier than the server's does, whatever the network's jitter. The
        cost is one round trip per place, under 1 % of a 10 s window at 100 ms. The clock
        is monotonic, so moving the place to the end keeps the window in time order, which
        :meth:`_wait_time` and :meth:`_prune` rely on; a request answered after more than a
        whole window has already left it and is not counted again.
        """
        with self._lock:
            now = self._clock()
            sent = self._sent
            for i in range(len(sent) - 1, -1, -1):
                if sent[i] == stamp:
                    del sent[i]
                    sent.append(max(now, stamp))
                    return
                if sent[i] < stamp:
                    return

    def penalize(self, retry_after: float) -> None:
        """Hold every caller back for ``retry_after`` seconds (after a 429 or 503)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(retry_after, 0.0))

    def note_retry(self) -> None:
        """A call is about to be sent again (counted for metrics)."""
        with self._lock:
            self.retried += 1

    def note_success(self) -> None:
        """A request succeeded: end the run of 429s and give one request back (additive)."""
        with self._lock:
            self._streak = 0
            self._allowance = min(float(self.max_requests), self._allowance + _INCREASE)

    def note_throttle(self, headers: Mapping[str, str] | None = None) -> float:
        """A rolling-window 429: adapt, hold every caller back, and return the wait in seconds.

        ``Retry-After`` is honoured when the server sends one. Otherwise the wait is short
        and jittered for the first 429 (``throttle_base`` × 0.5–1) and doubles with each 429
        that follows without a success in between, up to the full window (HubSpot's
        ``X-HubSpot-RateLimit-Interval-Milliseconds``, else ``per_seconds``), so one
        collision costs a fraction of a second and only a sustained refusal costs a window.

        If our own window had room (fewer than ``max_requests`` in it), the server allows us
        less than we assumed, so the allowance is halved — once per window, since a burst
        of 429s is one signal — and :meth:`note_success` raises it back one at a time.
        Daily-quota headers on the 429 are recorded as by :meth:`note_headers`; its
        ``Remaining: 0`` rule is not applied, the adaptive wait above replaces it.
        """
        h = {k.lower(): v for k, v in (headers or {}).items()}
        self._note_daily(h)
        retry_after = _float(h.get("retry-after"))
        interval_ms = _int(h.get("x-hubspot-ratelimit-interval-milliseconds"))
        window = interval_ms / 1000 if interval_ms and interval_ms > 0 else self.per_seconds
        with self._lock:
            now = self._clock()
            self._prune(now)
            self.throttled += 1
            self._streak += 1
            unpredicted = len(self._sent) < self.max_requests
            slowed = unpredicted and now >= self._next_decrease
            if slowed:
                self._allowance = max(1.0, self._allowance * _DECREASE)
                self._next_decrease = now + self.per_seconds
            if retry_after is not None and retry_after >= 0:
                wait = retry_after
            else:
                ceiling = self.throttle_base * 2 ** min(self._streak - 1, 30)
                wait = window if ceiling >= window else self._rng.uniform(ceiling / 2, ceiling)
            self._blocked_until = max(self._blocked_until, now + wait)
            allowance = self.allowance
        if slowed:
            log.info(
                "429 with room in our window: %d requests per %gs", allowance, self.per_seconds
            )
        return wait

    def note_headers(self, headers: Mapping[str, str]) -> None:
        """Feed response headers back: rolling-window state, Retry-After and daily quota.

        Understands HubSpot ``X-HubSpot-RateLimit-{Remaining,Interval-Milliseconds,Daily,
        Daily-Remaining}``, Salesforce ``Sforce-Limit-Info: api-usage=used/limit`` and
        ``Retry-After`` (seconds). Unknown or malformed headers are ignored. For a 429 use
        :meth:`note_throttle`, which also decides the wait.
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
        self._note_daily(h)

    def _note_daily(self, h: Mapping[str, str]) -> None:
        """The daily-quota part of lower-cased headers ``h`` (HubSpot and Salesforce)."""
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


def _is_throttle(exc: BaseException | None) -> bool:
    return isinstance(exc, RetriableError) and exc.status == 429


class _Tally:
    """Per-call count of 429s, so they need not use up ``attempts``.

    Keyed by tenacity's per-call state (weakly), so one policy may serve many calls and
    threads at once.
    """

    def __init__(self) -> None:
        self._throttles: weakref.WeakKeyDictionary[tenacity.RetryCallState, int] = (
            weakref.WeakKeyDictionary()
        )

    def record(self, state: tenacity.RetryCallState) -> None:
        """tenacity ``after`` hook: runs once per failed attempt, before wait and stop."""
        if _is_throttle(_exception(state)):
            self._throttles[state] = self._throttles.get(state, 0) + 1

    def throttles(self, state: tenacity.RetryCallState) -> int:
        return self._throttles.get(state, 0)

    def failures(self, state: tenacity.RetryCallState) -> int:
        """Failed attempts that were not 429s."""
        return state.attempt_number - self.throttles(state)


def _exception(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


class _WaitBackoff(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, but never shorter than the server's Retry-After.

    A 429 that carries ``retry_after`` waits exactly that: it is the server's Retry-After or
    the limiter's adaptive wait (:meth:`RateLimiter.note_throttle`), already jittered.
    The exponent counts failures of the same kind only, so 429s do not inflate 5xx waits.
    """

    def __init__(self, max_wait: float, base: float, rng: random.Random, tally: _Tally) -> None:
        self.max_wait = max_wait
        self.base = base
        self.rng = rng
        self.tally = tally

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = _exception(retry_state)
        throttle = _is_throttle(exc)
        retry_after = exc.retry_after if isinstance(exc, RetriableError) else None
        if throttle and retry_after is not None:
            return retry_after
        n = self.tally.throttles(retry_state) if throttle else self.tally.failures(retry_state)
        ceiling = min(self.max_wait, self.base * 2 ** min(max(n, 1) - 1, 30))
        backoff = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            return max(retry_after, backoff)
        return backoff


class _StopPolicy(tenacity.stop.stop_base):
    """Stop after ``attempts`` failures that were not 429s, or when waiting longer would
    take the call's total wait past ``budget`` seconds (which is what bounds 429s)."""

    def __init__(self, attempts: int, budget: float, tally: _Tally) -> None:
        self.attempts = attempts
        self.budget = budget
        self.tally = tally

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if self.tally.failures(retry_state) >= self.attempts:
            return True
        # tenacity >= 8.3 decides the wait before asking stop; older ones have no upcoming_sleep.
        upcoming = float(getattr(retry_state, "upcoming_sleep", 0.0) or 0.0)
        return retry_state.idle_for + upcoming > self.budget


def retry_policy(
    *,
    attempts: int = 5,
    max_wait: float = 60.0,
    base: float = 0.5,
    wait_budget: float | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> tenacity.Retrying:
    """A tenacity policy: retry ``RetriableError`` only, re-raising the last one.

    Waits are full-jitter exponential (``base`` × 2^n, capped at ``max_wait``) and at least
    the error's ``retry_after``; with a ``limiter`` the Retry-After is applied to it too, so
    every thread sharing the account backs off, not only the one that saw the 429.

    ``attempts`` counts failures (5xx, dropped connections); 429s are the server pacing us,
    not failures, so they are retried for as long as the call's total wait stays within
    ``wait_budget`` seconds (default :data:`WAIT_BUDGET`, or ``attempts`` × ``max_wait`` if
    that is more, so the budget never cuts the failure retries short).
    """
    tally = _Tally()
    budget = max(WAIT_BUDGET, attempts * max_wait) if wait_budget is None else wait_budget

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = _exception(state)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if limiter is not None:
            limiter.note_retry()
            if isinstance(exc, RetriableError) and exc.retry_after:
                limiter.penalize(exc.retry_after)
        level = logging.INFO if _is_throttle(exc) else logging.WARNING
        log.log(level, "retrying in %.1fs after attempt %d: %s", wait, state.attempt_number, exc)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetriableError),
        stop=_StopPolicy(attempts, budget, tally),
        wait=_WaitBackoff(max_wait, base, rng or random.Random(), tally),
        sleep=sleep,
        after=tally.record,
        before_sleep=before_sleep,
        reraise=True,
    )


def retrying(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    max_wait: float = 60.0,
    wait_budget: float | None = None,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` under :func:`retry_policy`; returns its result or raises its last error."""
    policy = retry_policy(
        attempts=attempts,
        max_wait=max_wait,
        wait_budget=wait_budget,
        limiter=limiter,
        sleep=sleep,
        rng=rng,
    )
    return policy(fn)
