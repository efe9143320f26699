"""SLA breach → a HubSpot task for the contact's owner (opt-in).

A breached SLA is only useful if the person who owns the lead sees it where they work, so
each breach becomes one HIGH-priority to-do due now, assigned to the contact owner and
associated with the contact. Tasks are created with the CRM v3 batch create endpoint
(`POST /crm/v3/objects/tasks/batch/create`, ≤ 100 inputs a call) — never one call per
task. Property names and values follow HubSpot's tasks API guide ("Create a task":
`hs_timestamp` is the due date and required, `hs_task_priority` LOW/MEDIUM/HIGH,
`hs_task_type` EMAIL/CALL/TODO, `hubspot_owner_id` the assignee); the task→contact
association is HUBSPOT_DEFINED type 204 (associations v4 "Association type IDs"; the
tasks guide's create example uses it).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.crm.hubspot.activities import associated, read_objects
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.tasks import keys_in, task_lines
from connector.crm.tasks import task_subject as subject_of

TASK_TO_CONTACT = 204
"""HubSpot-defined association type id, task → contact."""
BATCH_LIMIT = 100
"""Inputs per batch create (CRM v3 batch limit)."""


@dataclass(frozen=True, slots=True)
class SlaTask:
    """One task to create: the contact, its owner and what was breached."""

    contact_id: str
    owner_id: str | None
    breached: tuple[str, ...]
    mql_at: datetime
    reasons: str
    key: str = ""
    """The breach's key, written into the body (see `REF`) so the task can be found."""


def _epoch_ms(at: datetime) -> str:
    return str(round(at.timestamp() * 1000))


def task_subject(task: SlaTask) -> str:
    """E.g. "MQL SLA breached: first_touch — follow up now"."""
    return subject_of(task.breached)


def task_body(task: SlaTask) -> str:
    """What was missed, since when, and why the lead scored; HTML, as HubSpot stores bodies."""
    lines = task_lines(task.breached, task.mql_at, task.reasons, task.key)
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def tasks_present(calls: HubSpotCalls, tasks: Sequence[SlaTask]) -> set[str]:
    """Keys of `tasks` whose task already exists on its contact (found by the key in its
    body): two reads, associations then task bodies, for any number of contacts."""
    wanted = {t.key for t in tasks if t.key}
    if not wanted:
        return set()
    linked = associated(calls, "tasks", [t.contact_id for t in tasks])
    task_ids = [tid for ids in linked.values() for tid in ids]
    bodies = read_objects(calls, "tasks", task_ids, ["hs_task_body"]) if task_ids else {}
    return keys_in(props.get("hs_task_body") for props in bodies.values()) & wanted


def task_input(task: SlaTask, now: datetime) -> dict[str, Any]:
    """One batch-create input: properties plus the association to the contact."""
    properties = {
        "hs_task_subject": task_subject(task),
        "hs_task_body": task_body(task),
        "hs_timestamp": _epoch_ms(now),
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "TODO",
    }
    if task.owner_id:
        properties["hubspot_owner_id"] = task.owner_id
    association = {
        "to": {"id": task.contact_id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_CONTACT}],
    }
    return {"properties": properties, "associations": [association]}


def create_sla_tasks(
    calls: HubSpotCalls, tasks: Sequence[SlaTask], *, now: datetime, batch: int = BATCH_LIMIT
) -> int:
    """Create the tasks in batches of ≤ `batch`, due `now`; returns how many were created.

    A rejected batch (e.g. a contact deleted meanwhile) raises the classified error from
    `HubSpotCalls.call`; batches already sent stay created.
    """
    api = calls.client.crm.objects.tasks.batch_api
    created = 0
    for start in range(0, len(tasks), batch):
        inputs = [task_input(t, now) for t in tasks[start : start + batch]]
        res = calls.call(
            "create SLA tasks",
            api.create,
            batch_input_simple_public_object_batch_input_for_create={"inputs": inputs},
        )
        created += len(res.results or ())
    return created
