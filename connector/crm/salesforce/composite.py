"""Several REST requests in one API call, through Salesforce's composite resource.

Salesforce counts a whole ``POST composite`` as one call toward the org's daily limit, and
allows up to 25 subrequests in it, at most 5 of them sObject Collections or queries. The
writer packs three 200-record updates and the reads of their ``SystemModstamp`` into one, and
reads the stages of 600 records with two queries in one call: the org's quota is shared with
every other integration, so mqlsync spends as little of it as the data allows.

Subrequests run in order and answer one by one (``allOrNone`` false): a failed subrequest is
reported in its own `Answer`, the others still run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from connector.crm.salesforce.activities import query_pages
from connector.crm.salesforce.client import RETRIABLE_CODES
from connector.errors import FatalSyncError, RetriableError

if TYPE_CHECKING:
    from connector.crm.salesforce.write import SalesforceCallsLike

__all__ = ["MAX_HEAVY", "Answer", "Subrequest", "composite", "query", "query_rows"]

MAX_HEAVY = 5
"""sObject Collections and query subrequests allowed in one composite request."""


@dataclass(frozen=True, slots=True)
class Subrequest:
    """One REST request inside a composite call; `path` is relative to the versioned base
    (``composite/sobjects``, ``query?q=…``)."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """A subrequest's HTTP status and decoded body."""

    status: int
    body: Any

    @property
    def error(self) -> tuple[str, str]:
        """(errorCode, message) of an error body ``[{"errorCode", "message"}]``."""
        item = self.body[0] if isinstance(self.body, list) and self.body else self.body
        if isinstance(item, Mapping):
            return str(item.get("errorCode") or "UNKNOWN"), str(item.get("message") or "")
        return "UNKNOWN", str(item or "no message")[:300]

    def failure(self, what: str) -> Exception:
        """The error to raise for a failed subrequest whose answer the caller needs."""
        code, message = self.error
        if self.status >= 500 or code in RETRIABLE_CODES:
            return RetriableError(f"{what}: Salesforce could not answer now: {code}: {message}")
        return FatalSyncError(f"{what}: Salesforce rejected the request: {code}: {message}")


def query(soql: str) -> Subrequest:
    """A Query subrequest."""
    return Subrequest("GET", "query?" + urlencode({"q": soql}))


def composite(
    calls: SalesforceCallsLike,
    what: str,
    subrequests: Sequence[Subrequest],
    headers: Mapping[str, str] | None = None,
) -> list[Answer]:
    """Send `subrequests` as one composite call (one API call, retried as a whole by
    `SalesforceCalls.call`: every subrequest mqlsync packs is safe to repeat)."""
    base = f"/services/data/v{calls.sf.sf_version}/"
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {
                "method": sub.method,
                "url": base + sub.path,
                "referenceId": f"r{n}",
                **({"body": sub.body} if sub.body is not None else {}),
                **({"httpHeaders": dict(sub.headers)} if sub.headers else {}),
            }
            for n, sub in enumerate(subrequests)
        ],
    }
    result = calls.call(
        what,
        calls.sf.restful,
        path="composite",
        method="POST",
        json=body,
        headers=dict(headers or {}),
    )
    answers = (result or {}).get("compositeResponse") or []
    out = [Answer(int(a.get("httpStatusCode") or 0), a.get("body")) for a in answers]
    while len(out) < len(subrequests):  # never expected; a missing answer is a failure
        out.append(Answer(0, [{"errorCode": "NO_ANSWER", "message": "no answer"}]))
    return out


def query_rows(
    calls: SalesforceCallsLike, what: str, soqls: Sequence[str]
) -> Iterator[dict[str, Any]]:
    """Rows of several queries, five first pages per call (one query alone goes as a plain
    Query request); a result longer than a page is followed by its ``nextRecordsUrl``."""
    for start in range(0, len(soqls), MAX_HEAVY):
        group = soqls[start : start + MAX_HEAVY]
        if len(group) == 1:
            results: list[Any] = [calls.call(what, calls.sf.query, query=group[0])]
        else:
            answers = composite(calls, what, [query(s) for s in group])
            results = []
            for answer in answers:
                if answer.status != 200:
                    raise answer.failure(what)
                results.append(answer.body)
        for result in results:
            for page in query_pages(calls, "", what, first=result):
                yield from page
