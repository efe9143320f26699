"""Every Salesforce call goes through `SalesforceCalls.call`: rate limit, timeout, retry,
classify — the Salesforce twin of `connector.crm.hubspot.client.HubSpotCalls`.

simple-salesforce is used as it is (no hand-rolled HTTP); three hooks on the
`requests.Session` it is given make it safe for a daemon:

- a transport adapter that puts a timeout on every request that has none (simple-salesforce
  sets none, and some of its methods, e.g. ``SFType.describe``, take no ``timeout``);
- a response hook that hands every answer's ``Sforce-Limit-Info: api-usage=used/limit`` to
  the shared `RateLimiter` — error answers too, which simple-salesforce's own ``api_usage``
  never records — so ``[limits] daily_budget_share`` stops a run before the org's quota is
  spent, for every other integration sharing the org;
- no retries in the transport (``max_retries=0``): tenacity, through
  `connector.crm.ratelimit.retrying`, is the one retry policy, so a request is never sent
  more times than ``attempts`` says.

Each function given to `call` must send exactly one request (`query`, `query_more`,
`restful` …, never `query_all`), so that `calls` and the limiter count HTTP requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connector.crm.ratelimit import RateLimiter, retrying
from connector.errors import (
    AuthenticationError,
    DailyLimitExceeded,
    FatalSyncError,
    RetriableError,
    redact,
    safe_url,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_VERSION = "59.0"
RETRIABLE_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}
)
"""Request-level error codes that a later identical request may not get."""


class TimeoutAdapter(HTTPAdapter):
    """An HTTPS transport that gives every request without a timeout the default one."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=dict(proxies) if proxies is not None else None,
        )


def make_session(ca_bundle: str | Path | None, timeout: float) -> requests.Session:
    """A requests session with a default timeout, trusting ``ca_bundle`` when given.

    With a CA bundle, ``trust_env`` is off: requests lets ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` (which many machines export) override a session's ``verify``. Proxies
    from the environment are still honoured, copied in explicitly.
    """
    session = requests.Session()
    if ca_bundle is not None:
        proxies = requests.utils.get_environ_proxies("https://salesforce.invalid")
        session.trust_env = False
        session.verify = str(ca_bundle)
        session.proxies.update(proxies)
    adapter = TimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _errors(exc: SalesforceError) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error body ``[{"errorCode", "message"}]``."""
    content: Any = exc.content
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        return str(first.get("errorCode") or ""), str(first.get("message") or "")
    if isinstance(content, Mapping):
        return str(content.get("errorCode") or content.get("error") or ""), str(
            content.get("message") or content.get("error_description") or ""
        )
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return "", str(content or "")[:300]


def classify(exc: Exception, what: str, instance_url: str | None = None) -> Exception:
    """Map a simple-salesforce or transport exception onto mqlsync's action-named errors.

    Messages name the call and Salesforce's error code and message, never a request URL
    (a query URL carries the SOQL, and with it e-mail addresses); a connection failure
    names the org's host (`instance_url`), so an operator knows what was unreachable.
    """
    if isinstance(exc, requests.exceptions.SSLError):
        return FatalSyncError(
            f"{what}: the TLS certificate of Salesforce was not trusted ({type(exc).__name__}); "
            "check [salesforce] ca_bundle"
        )
    if isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError
        | ConnectionError
        | TimeoutError,
    ):
        where = f" to {safe_url(instance_url)}" if instance_url else ""
        return RetriableError(f"{what}: connection{where} failed ({type(exc).__name__})")
    if not isinstance(exc, SalesforceError):
        return exc
    status = int(exc.status or 0)
    code, message = _errors(exc)
    said = f"{code}: {message}" if code else message or "no message"
    if code == "REQUEST_LIMIT_EXCEEDED":
        if "totalrequests" in message.replace(" ", "").lower():
            return DailyLimitExceeded("DAILY", f"{what}: the org's daily API limit is used up")
        # Concurrent-request limits: the same request succeeds once others finish.
        return RetriableError(f"{what}: Salesforce throttled the request: {said}", status=status)
    if status >= 500 or code in RETRIABLE_CODES:
        return RetriableError(f"{what}: Salesforce could not answer now: {said}", status=status)
    if status == 401 or code == "INVALID_SESSION_ID":
        return AuthenticationError(
            f"{what}: Salesforce refused the session: {message or 'no message'} ({code or status})"
            "; check MQLSYNC_SF_SESSION_ID "
            "or the username/password/token or JWT settings"
        )
    return FatalSyncError(f"{what}: Salesforce rejected the request (HTTP {status}): {said}")


class SalesforceCalls:
    """A simple-salesforce client plus the shared rate limiter, timeout and retry policy."""

    def __init__(
        self,
        instance_url: str,
        session_id: str,
        *,
        version: str = DEFAULT_VERSION,
        ca_bundle: str | Path | None = None,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        attempts: int = 5,
        max_wait: float = 60.0,
        wait_budget: float | None = None,
        refresh: Callable[[], str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """Connect with a ready session id (``MQLSYNC_SF_SESSION_ID``, the sandbox's token).

        ``refresh`` returns a new session id when Salesforce answers ``INVALID_SESSION_ID``
        (tried once per call); without it an expired session is an `AuthenticationError`.
        ``session`` replaces the requests session built from ``ca_bundle`` (the timeout
        transport and the limit hook are added to it).
        """
        self.timeout = timeout
        self.instance_url = instance_url.rstrip("/")
        self.limiter = limiter or RateLimiter(100, 10.0)
        self.attempts = attempts
        self.max_wait = max_wait
        self.wait_budget = wait_budget
        self.refresh = refresh
        self.session = session or make_session(ca_bundle, timeout)
        if session is not None:
            adapter = TimeoutAdapter(timeout)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session.hooks["response"].append(self._saw)
        self.client = Salesforce(
            instance_url=instance_url.rstrip("/"),
            session_id=session_id,
            session=self.session,
            version=version,
        )
        self.calls = 0
        """HTTP requests attempted through `call` (for run history and benchmarks)."""

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client (same as `client`)."""
        return self.client

    def _saw(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests response hook: every answer's headers reach the limiter (daily quota)."""
        self.limiter.note_headers(response.headers)

    def call(self, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call a simple-salesforce method once per attempt, retrying retriable failures.

        ``fn`` must send one request (``client.query``, ``client.query_more``,
        ``client.restful`` …). `DailyLimitExceeded` (the org's quota, or mqlsync's share of
        it) and other fatal errors propagate at once.
        """
        limiter = self.limiter
        refreshed = False

        def attempt() -> T:
            nonlocal refreshed
            try:
                with limiter.request():
                    self.calls += 1
                    result = fn(*args, **kwargs)
            except DailyLimitExceeded:  # the quota, before anything was sent
                raise
            except Exception as exc:
                error = classify(exc, what, self.instance_url)
                if isinstance(error, AuthenticationError) and self._renew(refreshed):
                    refreshed = True
                    raise RetriableError(f"{what}: session renewed") from exc
                if error is exc:
                    raise
                raise error from exc
            limiter.note_success()
            return result

        return retrying(
            attempt,
            attempts=self.attempts,
            max_wait=self.max_wait,
            wait_budget=self.wait_budget,
            limiter=limiter,
        )

    def _renew(self, already: bool) -> bool:
        """Get a new session id from ``refresh`` (once per call); True when there is one."""
        if already or self.refresh is None:
            return False
        try:
            session_id = self.refresh()
        except Exception as exc:  # noqa: BLE001 - a failed login is the authentication error itself
            log.warning("renewing the Salesforce session failed: %s", redact(str(exc)))
            return False
        client = self.client
        client.session_id = session_id
        client.headers = {**client.headers, "Authorization": "Bearer " + session_id}
        return True
