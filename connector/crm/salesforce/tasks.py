"""SLA breach → a Salesforce Task for the lead's or contact's owner (opt-in).

Each breach becomes one High-priority Task due today, ``WhoId`` the record (a Task on a
Lead or a Contact both use ``WhoId``) and ``OwnerId`` the record's owner, so it lands in
the owner's task list where they work. Tasks are created with sObject Collections
(``POST composite/sobjects``, ≤ 200 a call, ``allOrNone`` false), never one call per task.
The Description holds the breach key, so `tasks_present` finds a task whose creation was
cut short instead of creating it twice; Subject and Description are the same words HubSpot
tasks carry.

A record Salesforce refuses for good (deleted, owner inactive …) is logged and counted as
handled, so one bad record is not retried on every run; a refusal that may pass later
(``UNABLE_TO_LOCK_ROW`` …) raises, and the whole chunk is looked up and retried next run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from connector.crm.base import SlaBreach
from connector.crm.salesforce.activities import in_chunks
from connector.crm.salesforce.composite import query_rows
from connector.crm.salesforce.write import (
    MAX_RECORDS,
    RETRIABLE_CODES,
    SalesforceCallsLike,
)
from connector.crm.tasks import keys_in, task_lines, task_subject
from connector.errors import RetriableError

__all__ = ["create_sla_tasks", "tasks_present"]

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "MQL SLA breached"
"""What every mqlsync SLA task's Subject starts with (how `tasks_present` narrows its query)."""


def task_record(breach: SlaBreach, now: datetime) -> dict[str, object]:
    """One Task to create, in sObject Collections form."""
    record: dict[str, object] = {
        "attributes": {"type": "Task"},
        "WhoId": breach.record_id,
        "Subject": task_subject(breach.breached),
        "Description": "\n".join(
            task_lines(breach.breached, breach.mql_at, breach.reasons, breach.key)
        ),
        "ActivityDate": now.date().isoformat(),
        "Status": "Not Started",
        "Priority": "High",
    }
    if breach.owner:
        record["OwnerId"] = breach.owner
    return record


def create_sla_tasks(
    calls: SalesforceCallsLike, breaches: Sequence[SlaBreach], *, now: datetime
) -> int:
    """Create one Task per breach; returns how many Salesforce created."""
    created = 0
    for start in range(0, len(breaches), MAX_RECORDS):
        chunk = breaches[start : start + MAX_RECORDS]
        results = calls.call(
            "create SLA tasks",
            calls.sf.restful,
            path="composite/sobjects",
            method="POST",
            json={"allOrNone": False, "records": [task_record(b, now) for b in chunk]},
        )
        retry: list[str] = []
        for breach, result in zip(chunk, results or (), strict=False):
            if result.get("success"):
                created += 1
                continue
            error = (result.get("errors") or [{}])[0]
            code = str(error.get("statusCode") or "UNKNOWN")
            said = f"{code}: {error.get('message') or 'no message'}"
            if code in RETRIABLE_CODES:
                retry.append(breach.record_id)
            else:
                log.warning("SLA task for %s refused, not retried: %s", breach.record_id, said)
        if retry:
            raise RetriableError(
                f"create SLA tasks: {len(retry)} refused for now (e.g. {retry[0]}); "
                "they are looked up and retried next run"
            )
    return created


def tasks_present(calls: SalesforceCallsLike, breaches: Sequence[SlaBreach]) -> set[str]:
    """Keys of `breaches` whose Task already exists on its record (found by the key in its
    Description): one query per ~550 records, five to a call."""
    wanted = {b.key for b in breaches}
    if not wanted:
        return set()
    # a constant prefix and ids in_chunks checks: no outside text reaches the query
    base = f"SELECT Id, Description FROM Task WHERE WhoId IN ({{ids}}) AND Subject LIKE '{SUBJECT_PREFIX}%'"  # noqa: E501, S608
    soqls = list(in_chunks([b.record_id for b in breaches], base))
    rows = query_rows(calls, "look up SLA tasks", soqls)
    return keys_in(r.get("Description") for r in rows) & wanted
