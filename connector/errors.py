"""Errors named by the action the runner must take, and the one place secrets are redacted.

The sync loop decides what to do from the class alone (style lesson 4):

- ``FatalSyncError``: stop the run (bad credentials, daily quota spent, a 4xx that will not
  change on retry). ``DailyLimitExceeded`` is the quota case, named after the policy.
- ``RetriableError``: try the same call again later (429, 5xx, dropped connection); carries
  the server's ``retry_after`` so backoff can honour it.
- ``SkippableRecordError``: one record failed; retry it, then dead-letter it, and go on.
- ``ConfigError`` / ``MappingError``: the user must fix a file; they say which file and key.

Every message goes through :func:`redact` in ``__str__`` and ``__repr__`` so a token pasted
into an exception (URL, response body, header dump) never reaches a log (style lesson 5).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DailyLimitExceeded",
    "FatalSyncError",
    "Interrupted",
    "LockHeld",
    "MappingError",
    "MqlsyncError",
    "RetriableError",
    "SkippableRecordError",
    "redact",
    "safe_url",
]

MASK = "***"

# Names whose value is a secret wherever they appear as key=value, key: value or "key": "value".
_SENSITIVE_KEYS = (
    r"access_token|refresh_token|id_token|client_secret|client_assertion|hapikey|api_key|apikey"
    r"|password|passwd|pwd|security_token|session_?id|sid|private_key|secret|token"
)
# Salesforce session ids / OAuth access tokens: 15/18-char org id starting 00D, '!', then the key.
_SF_SESSION = re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+")
# The credential after "Bearer"/"OAuth": a lowercase word there is prose ("OAuth
# authentication failed"), not a token, so it needs a digit, capital or symbol in it.
_BEARER = re.compile(
    r"(?i:\b(bearer|oauth))(\s+)(?![a-z]+\b(?![._~+/=\-!]))[A-Za-z0-9._~+/=\-!]+"
)
# HubSpot private-app tokens, e.g. pat-na1-1b2c3d4e-....
_HUBSPOT_PAT = re.compile(r"\bpat-[a-z]{2,4}\d?-[A-Za-z0-9\-]{8,}")
# key=value (query strings, form bodies, log lines) and key: value / "key": "value" (JSON, YAML).
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b(?:\w*?_)?(?:{_SENSITIVE_KEYS})\b["']?)
    (?P<sep>\s*[=:]\s*)
    (?P<quote>["'])?
    (?P<value>(?(quote)[^"']*|[^\s&,;"'}}<>]+))
    """
)
# user:password@host in URLs (database URLs, proxies).
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")


# "token: export MQLSYNC_…": after a colon, a lowercase word followed by more words is a
# sentence going on, not a value (a value ends its line, or is quoted, or is key=value).
_PROSE = re.compile(r"[a-z]+ +\S")


def redact(text: str) -> str:
    """Return ``text`` with bearer tokens, session ids, passwords and API keys masked.

    Values are masked, never the words of a message: "no HubSpot token: export
    MQLSYNC_HUBSPOT_TOKEN=…" and "OAuth authentication failed" come out unchanged.
    Conservative otherwise: a false positive costs a little log detail, a miss leaks a
    credential. Idempotent, so messages can be redacted at every layer.
    """
    text = _URL_USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", text)
    text = _BEARER.sub(rf"\1\2{MASK}", text)
    text = _SF_SESSION.sub(MASK, text)
    text = _HUBSPOT_PAT.sub(MASK, text)
    return _KEY_VALUE.sub(_mask_value, text)


def _mask_value(m: re.Match[str]) -> str:
    value = m["value"]
    prose = not m["quote"] and ":" in m["sep"] and _PROSE.match(m.string, m.start("value"))
    if not value or prose or value == MASK:
        return m[0]
    return f"{m['key']}{m['sep']}{m['quote'] or ''}{MASK}"


def safe_url(url: str | None) -> str | None:
    """Strip credentials from a URL for error context: userinfo and secret query values go.

    Non-secret query parameters (``after``, ``limit``) stay because they help debugging.
    """
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (k, MASK if re.fullmatch(rf"(?:\w*?_)?(?:{_SENSITIVE_KEYS})", k, re.IGNORECASE) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


class MqlsyncError(Exception):
    """Base of every mqlsync error; its text is always redacted."""

    def __str__(self) -> str:
        return redact(super().__str__())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class FatalSyncError(MqlsyncError):
    """Stop the run: retrying cannot help (auth failure, quota spent, rejected request)."""


class AuthenticationError(FatalSyncError):
    """Credentials missing, invalid or expired beyond refresh."""


class DailyLimitExceeded(FatalSyncError):
    """The daily API quota (or mqlsync's configured share of it) is used up.

    Stops the run cleanly instead of spinning on 429s until midnight; ``policy`` is the
    server's policy name (HubSpot ``policyName`` e.g. ``DAILY``) or ``daily_budget_share``.
    """

    def __init__(self, policy: str, message: str | None = None) -> None:
        self.policy = policy
        super().__init__(message or f"daily API limit reached (policy {policy})")


class RetriableError(MqlsyncError):
    """A transient failure (429, 5xx, connection): the same call may succeed later.

    ``retry_after`` is the server's hint in seconds (``Retry-After``, HubSpot interval), or
    ``None`` to let the backoff decide. ``url`` is stored via :func:`safe_url`.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.url = safe_url(url)
        self.retry_after = retry_after
        context = " ".join(p for p in (f"HTTP {status}" if status else "", self.url or "") if p)
        super().__init__(f"{message} ({context})" if context else message)


class Interrupted(MqlsyncError):
    """A run stopped on request (SIGTERM) at a page boundary: what it wrote is committed,
    and the next run continues from the same watermark."""


class LockHeld(MqlsyncError):
    """Another process holds the CRM account's lock: it is running, or standing by."""


class SkippableRecordError(MqlsyncError):
    """One record cannot be processed now; retry it, then dead-letter it and carry on."""

    def __init__(self, record_id: str, reason: str) -> None:
        self.record_id = record_id
        self.reason = redact(reason)
        super().__init__(f"record {record_id}: {reason}")


class ConfigError(MqlsyncError):
    """The configuration is invalid; names the file and the key so the user can fix it.

    Rendered as ``file: [section] key: message`` (or less when file/key are unknown).
    """

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None) -> None:
        self.key = key
        self.file = file
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        # Redact the message alone: "[hubspot] token: …" must not mask the message's first word.
        prefix = "".join(
            p for p in (f"{self.file}: " if self.file else "", f"{self.key}: " if self.key else "")
        )
        return prefix + redact(self.message)


class MappingError(MqlsyncError):
    """A mapping file is invalid; rendered ``file:line: message`` like ``mqlsync validate``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.message = message
        where = file or ""
        if file and line is not None:
            where = f"{file}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
