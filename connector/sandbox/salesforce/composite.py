"""``POST /services/data/vXX.X/composite``: several REST requests in one API call.

Follows the REST API Developer Guide, "Send Multiple Requests Using Composite": the body is
``{"allOrNone": bool, "compositeRequest": [{"method", "url", "referenceId", "body"?,
"httpHeaders"?}]}``; at most 25 subrequests, of which at most 5 are sObject Collections or
query operations (Query, QueryAll, query more); each ``url`` starts with
``/services/data/vXX.X/``; subrequests run in order as the same user, and the answer is
``{"compositeResponse": [{"body", "httpHeaders", "httpStatusCode", "referenceId"}]}`` in
request order. The whole series counts as **one** call toward the org's daily limit — the
reason a client packs a write and the read of its results into one request.

Not modelled (answered ``400 INVALID_INPUT`` rather than silently done wrong):
``allOrNone: true`` (rolling back earlier subrequests) and ``@{ref.field}`` references.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MAX_HEAVY", "MAX_SUBREQUESTS", "CompositeError", "run_composite"]

MAX_SUBREQUESTS = 25
MAX_HEAVY = 5
"""sObject Collections and query operations allowed in one composite request."""

_HEAVY = re.compile(r"^/services/data/v\d+\.\d/(query|queryAll|composite/sobjects)(/|\?|$)")
_VERSIONED = re.compile(r"^/services/data/v\d+\.\d/")
_REFERENCE = re.compile(r"@\{[^}]*\}")

Route = Callable[[str, str, str, Any, dict[str, str]], tuple[int, Any]]
"""(method, path, query, body, headers) → (status, body) of one subrequest."""


class CompositeError(Exception):
    """The composite request as a whole is malformed (HTTP 400, nothing run)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _check(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise CompositeError("JSON_PARSER_ERROR", "Expected a JSON object with compositeRequest")
    if body.get("allOrNone"):
        raise CompositeError(
            "INVALID_INPUT", "allOrNone=true is not modelled by the sandbox composite resource"
        )
    subs: list[dict[str, Any]] = body["compositeRequest"]
    if not subs or len(subs) > MAX_SUBREQUESTS:
        raise CompositeError(
            "INVALID_BATCH_REQUEST",
            f"compositeRequest must hold 1 to {MAX_SUBREQUESTS} subrequests",
        )
    heavy = 0
    for sub in subs:
        if not isinstance(sub, dict) or not isinstance(sub.get("url"), str):
            raise CompositeError("JSON_PARSER_ERROR", "Each subrequest needs method and url")
        if not _VERSIONED.match(sub["url"]):
            raise CompositeError(
                "INVALID_INPUT", f"A subrequest url starts /services/data/vXX.X/: {sub['url']}"
            )
        if not isinstance(sub.get("referenceId"), str) or not sub["referenceId"]:
            raise CompositeError("INVALID_INPUT", "Each subrequest needs a referenceId")
        if _REFERENCE.search(sub["url"]) or _REFERENCE.search(str(sub.get("body") or "")):
            raise CompositeError(
                "INVALID_INPUT", "@{reference} values are not modelled by the sandbox"
            )
        if _HEAVY.match(sub["url"]):
            heavy += 1
    if heavy > MAX_HEAVY:
        raise CompositeError(
            "INVALID_BATCH_REQUEST",
            f"A composite request may contain at most {MAX_HEAVY} sObject Collections or "
            "query operations",
        )
    return subs


def run_composite(body: Any, route: Route) -> dict[str, Any]:
    """Run each subrequest through `route` (the REST handler, without counting the call
    again) and collect the answers in request order."""
    answers: list[dict[str, Any]] = []
    for sub in _check(body):
        url = urlsplit(sub["url"])
        headers = {str(k): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
        status, out = route(str(sub.get("method") or "GET").upper(), url.path, url.query,
                            sub.get("body"), headers)  # fmt: skip
        answers.append(
            {
                "body": out,
                "httpHeaders": {},
                "httpStatusCode": status,
                "referenceId": sub["referenceId"],
            }
        )
    return {"compositeResponse": answers}
