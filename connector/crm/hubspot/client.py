"""Every HubSpot call goes through `HubSpotCalls.call`: rate limit, timeout, retry, classify.

The official SDK has no default timeout and raises one `ApiException` class per API
module; this is the single place that turns them into mqlsync's action-named errors
(style lesson 4) and counts calls for run history and benchmarks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hubspot
import urllib3

from connector.errors import (
    AuthenticationError,
    DailyLimitExceeded,
    FatalSyncError,
    RetriableError,
)
from connector.ratelimit import RateLimiter, retrying

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


def classify(exc: Exception, what: str) -> Exception:
    """Map an SDK or transport exception onto Fatal / Retriable / DailyLimit errors."""
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return RetriableError(f"{what}: connection failed ({type(exc).__name__})")
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        return exc
    body = _body(exc)
    message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            return DailyLimitExceeded("DAILY", f"{what}: HubSpot daily API limit reached")
        headers = {k.lower(): v for k, v in _headers(exc).items()}
        retry_after = headers.get("retry-after")
        interval = headers.get("x-hubspot-ratelimit-interval-milliseconds")
        wait = float(retry_after) if retry_after else (float(interval) / 1000 if interval else 1.0)
        return RetriableError(
            f"{what}: rate limited ({policy or 'unknown policy'})", status=429, retry_after=wait
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
    ) -> None:
        self.client = hubspot.Client.create(access_token=token, host=base_url.rstrip("/"))
        self.timeout = timeout
        self.limiter = limiter or RateLimiter(100, 10.0)
        self.attempts = attempts
        self.max_wait = max_wait
        self.calls = 0

    def call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Call an SDK method once per attempt, retrying only retriable failures."""

        def attempt() -> T:
            self.limiter.acquire()
            self.calls += 1
            try:
                return fn(**kwargs, _request_timeout=self.timeout)
            except Exception as exc:
                raise classify(exc, what) from exc

        return retrying(
            attempt, attempts=self.attempts, max_wait=self.max_wait, limiter=self.limiter
        )
