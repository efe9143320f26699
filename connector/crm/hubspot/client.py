"""Every HubSpot call goes through `HubSpotCalls.call`: rate limit, timeout, retry, classify.

The official SDK has no default timeout and raises one `ApiException` class per API
module; this is the single place that turns them into mqlsync's action-named errors
(style lesson 4) and counts calls for run history and benchmarks.

It is also the one place that sees every response's headers (style lesson 11): the SDK's
plain methods return only the body, so each call goes through the method's generated
``*_with_http_info`` twin, and the ``X-HubSpot-RateLimit-*`` headers of every answer — a
429's too, from the exception — reach the rate limiter. Without them ``[limits]
daily_budget_share`` could never stop a run before HubSpot's own DAILY 429.

And it speeds up the SDK's reading of answers: the generated clients parse every
``createdAt``/``updatedAt`` with ``dateutil``, a third of a sync's CPU (56,540 parses,
7.3 s of a 23 s 10k-contact sync under cProfile). A sync is sequential, so that CPU is
time in which no request is sent: under a rate limit it is window left unused.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import hubspot
import urllib3

from connector.crm.ratelimit import RateLimiter, retrying
from connector.errors import (
    AuthenticationError,
    DailyLimitExceeded,
    FatalSyncError,
    RetriableError,
    safe_url,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_BASE_URL = "https://api.hubapi.com"


def _body(exc: Exception) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {"message": raw[:300]}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _headers(exc: Exception) -> Mapping[str, str]:
    headers = getattr(exc, "headers", None)
    return dict(headers.items()) if headers is not None else {}


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:  # an HTTP-date Retry-After: HubSpot sends none, let the backoff decide
        return None


def _with_http_info(fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """The generated ``<method>_with_http_info`` twin of a bound SDK method, if it has one.

    The twin takes the same arguments and returns ``(body, status, headers)``.
    """
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", None)
    if owner is None or not name:
        return None
    twin = getattr(owner, f"{name}_with_http_info", None)
    return twin if callable(twin) else None


_DATETIME_READER = "_ApiClient__deserialize_datetime"
_fast_clients: set[type] = set()
_fast_lock = threading.Lock()


def _fast_datetimes(api_client: object) -> None:
    """Let an SDK ``ApiClient`` class read datetimes with ``datetime.fromisoformat``.

    Each API module of the SDK generates its own ``ApiClient`` class, so the class of the
    client behind a call is patched the first time a call goes through it. The stdlib
    parser reads HubSpot's ISO 8601 forms (``Z`` or an offset, 0–6 fraction digits) to the
    same instant ``dateutil`` does (0.1 µs a value against 31 µs); anything it refuses goes to the
    SDK's own parser, errors included.
    """
    cls = type(api_client)
    if cls in _fast_clients:
        return
    with _fast_lock:
        original = cls.__dict__.get(_DATETIME_READER)
        if cls not in _fast_clients and callable(original):

            def read_datetime(self: object, value: object) -> object:
                if isinstance(value, str):
                    try:
                        return datetime.fromisoformat(value)
                    except ValueError:
                        pass
                return original(self, value)

            setattr(cls, _DATETIME_READER, read_datetime)
        _fast_clients.add(cls)


def classify(exc: Exception, what: str, base_url: str | None = None) -> Exception:
    """Map an SDK or transport exception onto Fatal / Retriable / DailyLimit errors.

    A connection failure names ``base_url``: "connection failed" alone does not tell an
    operator whether the proxy, the sandbox or HubSpot is unreachable.
    """
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        where = f" to {safe_url(base_url)}" if base_url else ""
        return RetriableError(f"{what}: connection{where} failed ({type(exc).__name__})")
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        return exc
    body = _body(exc)
    message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            return DailyLimitExceeded("DAILY", f"{what}: HubSpot daily API limit reached")
        # Only an explicit Retry-After is a wait; the interval header is the window's length,
        # not how long this request must wait (HubSpotCalls asks the limiter for that).
        headers = {k.lower(): v for k, v in _headers(exc).items()}
        return RetriableError(
            f"{what}: rate limited ({policy or 'unknown policy'})",
            status=429,
            retry_after=_seconds(headers.get("retry-after")),
        )
    if status >= 500:
        return RetriableError(f"{what}: HubSpot server error: {message}", status=status)
    if status in (401, 403):
        return AuthenticationError(
            f"{what}: HubSpot refused the token (HTTP {status}: {message}); "
            "check MQLSYNC_HUBSPOT_TOKEN and the private app's scopes"
        )
    return FatalSyncError(f"{what}: HubSpot rejected the request (HTTP {status}): {message}")


class HubSpotCalls:
    """The SDK client plus the shared rate limiter, timeout and retry policy."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        attempts: int = 5,
        max_wait: float = 60.0,
        wait_budget: float | None = None,
    ) -> None:
        self.client = hubspot.Client.create(access_token=token, host=base_url.rstrip("/"))
        self.base_url = base_url
        self.timeout = timeout
        self.limiter = limiter or RateLimiter(100, 10.0)
        self.attempts = attempts
        self.max_wait = max_wait
        self.wait_budget = wait_budget
        self.calls = 0

    def call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Call an SDK method once per attempt, retrying only retriable failures.

        ``fn`` is a bound SDK method such as ``api.do_search``; it is sent through its
        ``*_with_http_info`` twin so the limiter sees the response headers (a callable
        without a twin is called as is, its headers unseen). 429s do not use up
        ``attempts``; ``wait_budget`` bounds them (see :func:`~connector.ratelimit.retry_policy`).
        """
        twin = _with_http_info(fn)
        owner = getattr(fn, "__self__", None)
        if owner is not None and hasattr(owner, "api_client"):
            _fast_datetimes(owner.api_client)
        limiter = self.limiter

        def attempt() -> T:
            try:
                with limiter.request():
                    self.calls += 1
                    if twin is None:
                        result: T = fn(**kwargs, _request_timeout=self.timeout)
                        headers: Mapping[str, str] = {}
                    else:
                        result, _status, headers = twin(
                            **kwargs, _request_timeout=self.timeout, _return_http_data_only=False
                        )
            except DailyLimitExceeded:  # the quota, before anything was sent
                raise
            except Exception as exc:
                raise self._failed(exc, what) from exc
            limiter.note_headers(headers or {})
            limiter.note_success()
            return result

        return retrying(
            attempt,
            attempts=self.attempts,
            max_wait=self.max_wait,
            wait_budget=self.wait_budget,
            limiter=limiter,
        )

    def _failed(self, exc: Exception, what: str) -> Exception:
        """Classify a failed attempt and feed its headers to the limiter.

        A rolling-window 429 asks the limiter how long to wait (short at first, growing
        while 429s follow one another, slowing the limiter when it did not foresee them).
        """
        error = classify(exc, what, self.base_url)
        headers = _headers(exc)
        if isinstance(error, RetriableError) and error.status == 429:
            error.retry_after = self.limiter.note_throttle(headers)
        elif headers:
            self.limiter.note_headers(headers)
        return error
