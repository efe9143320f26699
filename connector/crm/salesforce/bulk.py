"""Reading a large pull through a Bulk API 2.0 query job instead of REST pages.

A REST query answers 2,000 records a call; a Bulk API 2.0 query job answers the same rows
as CSV in sets of up to 50,000 after a create and a few status polls. For a backfill of a
big org that is a fraction of the calls, and of the daily limit shared with every other
integration. The job is driven step by step through simple-salesforce's Bulk 2.0 client
(create, get job, get results), each step one request through `SalesforceCalls.call`, so
the rate limiter, the retry policy and the call count see every one of them.

CSV carries text only: values are turned back into what a REST query returns, by the
field types of the object's describe (numbers, booleans; dateTimes stay ISO text, as in
REST), an empty value is null, and ``Account.Name`` columns become nested ``{"Account":
{"Name": …}}`` so the rest of the reader does not know which path the rows came by.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from simple_salesforce.bulk2 import Operation

from connector.crm.salesforce.client import SalesforceCalls
from connector.errors import FatalSyncError

__all__ = ["bulk_rows", "typed_row"]

log = logging.getLogger(__name__)

SET_SIZE = 50_000
"""Records per result set asked for (Salesforce's own upper bound per set)."""
NUMBERS = frozenset({"int", "double", "currency", "percent", "long"})


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def typed_row(row: Mapping[str, str], types: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row as a REST query row: typed values, parent fields nested."""
    out: dict[str, Any] = {}
    for column, text in row.items():
        kind = types.get(column.lower(), "")
        value: Any
        if text == "":
            value = None
        elif kind in NUMBERS:
            try:
                value = _number(text)
            except ValueError:
                value = text  # left for the record check to report
        elif kind == "boolean":
            value = text.lower() == "true"
        else:
            value = text
        target = out
        *parents, name = column.split(".")
        for parent in parents:
            nested = target.get(parent)
            if not isinstance(nested, dict):
                nested = target[parent] = {}
            target = nested
        target[name] = value
    return out


def bulk_rows(
    calls: SalesforceCalls,
    sobject: str,
    soql: str,
    what: str,
    types: Mapping[str, str],
    *,
    page: int = 2000,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = 3600.0,
) -> Iterator[list[dict[str, Any]]]:
    """Rows of `soql` run as a Bulk API 2.0 query job, in lists of `page` (the size the
    reader reads activities for). `types` maps lower-case column names to describe types.

    The job is polled with a wait that grows from 0.5 s to 5 s; a job still running after
    `max_wait` seconds, or one Salesforce failed or aborted, stops the pull with the reason.
    """
    client = getattr(calls.client.bulk2, sobject)._client
    job = calls.call(f"{what}: create bulk query job", client.create_job, Operation.query, soql)
    job_id = str(job["id"])
    waited, delay = 0.0, 0.5
    while True:
        info = calls.call(f"{what}: bulk job status", client.get_job, job_id, True)
        state = str(info.get("state") or "")
        if state == "JobComplete":
            break
        if state in ("Failed", "Aborted"):
            raise FatalSyncError(
                f"{what}: the Bulk API query job {job_id} {state.lower()}: "
                f"{info.get('errorMessage') or 'no message'}"
            )
        if waited >= max_wait:
            raise FatalSyncError(
                f"{what}: the Bulk API query job {job_id} is still {state} after "
                f"{waited:.0f} s; raise [salesforce] bulk_threshold or retry later"
            )
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 5.0)
    locator = ""
    rows: list[dict[str, Any]] = []
    while True:
        result = calls.call(
            f"{what}: bulk results", client.get_query_results, job_id, locator, SET_SIZE
        )
        for row in csv.DictReader(io.StringIO(result["records"])):
            rows.append(typed_row(row, types))
            if len(rows) >= page:
                yield rows
                rows = []
        locator = str(result.get("locator") or "")
        if not locator:
            break
    if rows:
        yield rows
    log.info("%s: read through Bulk API 2.0 job %s", what, job_id)
