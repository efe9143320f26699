"""HubSpot's legacy engagements v1 read: ``GET /engagements/v1/engagements/modified/after``.

Why: Singer's tap-hubspot (singer-io, 4.x) reads its ``engagements`` stream only from this
endpoint, and the sandbox must let other HubSpot clients extract from it, not only mqlsync.
Follows HubSpot's reference "Get engagements modified after": ``after`` is a Unix time in
milliseconds or a cursor a previous answer returned; ``limit`` defaults to 100 and is at most
1,000. Engagements of every type come in one stream, oldest change first; an answer holds
``results``, ``hasMore`` and ``after`` (the cursor to continue from, returned even on the last
page so an incremental reader can resume from it later). Each result is the v1 engagement
object: ``engagement`` (``id``, ``portalId``, ``active``, ``type``, ``createdAt``,
``lastUpdated``, ``timestamp`` in epoch ms, ``ownerId`` when set), ``associations`` (id lists
per object type; the sandbox associates an engagement with at most one contact),
``attachments`` and the type's ``metadata`` (v1 names: ``title``, ``startTime``, ``subject``,
``body``, ``status``, ...), with only the values the record has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from connector.sandbox.hubspot.columns import MISSING, TsColumn
from connector.sandbox.hubspot.cursors import cursor, cursor_text
from connector.sandbox.hubspot.limits import error_body
from connector.sandbox.hubspot.schema import ENGAGEMENT_KINDS
from connector.sandbox.hubspot.store import HubSpotStore
from connector.sandbox.hubspot.table import ROW_BITS, ObjectTable

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "PORTAL_ID", "modified_after"]

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
PORTAL_ID: Final = 62515
"""The sandbox's portal (hub) id: the one HubSpot's own API examples use."""
_ROW_MASK: Final = (1 << ROW_BITS) - 1
_CURSOR_PREFIX: Final = "v1eng-"
_TYPE: Final = {"meetings": "MEETING", "calls": "CALL", "notes": "NOTE", "tasks": "TASK"}
_METADATA: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "meetings": (
        ("title", "hs_meeting_title"), ("body", "hs_meeting_body"),
        ("startTime", "hs_meeting_start_time"), ("endTime", "hs_meeting_end_time"),
        ("meetingOutcome", "hs_meeting_outcome"),
    ),
    "calls": (
        ("title", "hs_call_title"), ("body", "hs_call_body"), ("status", "hs_call_status"),
        ("durationMilliseconds", "hs_call_duration"),
    ),
    "emails": (("subject", "hs_email_subject"), ("text", "hs_email_text"),
               ("html", "hs_email_html")),
    "notes": (("body", "hs_note_body"),),
    "tasks": (
        ("subject", "hs_task_subject"), ("body", "hs_task_body"), ("status", "hs_task_status"),
        ("taskType", "hs_task_type"), ("priority", "hs_task_priority"),
    ),
}  # fmt: skip
"""v1 metadata key ← CRM v3 property, per engagement type."""

_ASSOCIATION_LISTS: Final = (
    "contactIds", "companyIds", "dealIds", "ownerIds", "workflowIds", "ticketIds",
)  # fmt: skip

Position = tuple[int, int, int]
"""(modified ms, index of the kind in ENGAGEMENT_KINDS, row): the stream's total order."""


def modified_after(
    store: HubSpotStore, query: Mapping[str, list[str]]
) -> tuple[int, dict[str, object]]:
    """One page of the engagements changed after ``query["after"]`` (status, JSON body)."""
    raw_limit = query.get("limit", [str(DEFAULT_LIMIT)])[0]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return _bad(f"limit must be an integer between 1 and {MAX_LIMIT}")
    limit = int(raw_limit)
    after = query.get("after", [""])[0]
    position = _position(after)
    if position is None:
        return _bad(f"after must be a Unix time in milliseconds or a returned cursor: {after!r}")
    found: list[Position] = []
    for k, kind in enumerate(ENGAGEMENT_KINDS):
        table = store.tables[kind]
        for key in table.modified_keys_after(_threshold(position, k), limit + 1):
            found.append((key >> ROW_BITS, k, key & _ROW_MASK))
    found.sort()
    page = found[:limit]
    results = [_render(store, ENGAGEMENT_KINDS[k], row) for _, k, row in page]
    next_after = _cursor(page[-1]) if page else after
    return 200, {"results": results, "hasMore": len(found) > limit, "after": next_after}


def _threshold(position: Position, kind: int) -> int:
    """The largest index key of ``kind``'s table at or before ``position``."""
    ms, k, row = position
    if kind < k:
        return (ms << ROW_BITS) | _ROW_MASK
    if kind == k:
        return (ms << ROW_BITS) | row
    return (ms << ROW_BITS) - 1


def _position(after: str) -> Position | None:
    """Where ``after`` points: a time (strictly after it), one of our cursors, else None."""
    if after == "":
        return (-1, len(ENGAGEMENT_KINDS), _ROW_MASK)
    if after.isdigit():
        return (int(after), len(ENGAGEMENT_KINDS), _ROW_MASK)
    parts = (cursor_text(_CURSOR_PREFIX, after) or "").split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    ms, k, row = (int(p) for p in parts)
    return (ms, k, row) if k < len(ENGAGEMENT_KINDS) else None


def _cursor(position: Position) -> str:
    """An opaque cursor naming the last engagement returned."""
    return cursor(_CURSOR_PREFIX, "-".join(str(p) for p in position))


def _ms(table: ObjectTable, name: str, row: int) -> int | None:
    col = table.columns.get(name)
    if not isinstance(col, TsColumn):
        return None
    value = col.vals[row]
    return None if value == MISSING else value


def _render(store: HubSpotStore, kind: str, row: int) -> dict[str, object]:
    table = store.tables[kind]
    kind_name = _TYPE.get(kind) or table.value(row, "hs_email_direction") or "EMAIL"
    engagement: dict[str, object] = {
        "id": int(table.id_of(row)),
        "portalId": PORTAL_ID,
        "active": True,
        "type": kind_name,
        "createdAt": table.created.vals[row],
        "lastUpdated": table.modified.vals[row],
        "timestamp": _ms(table, "hs_timestamp", row),
    }
    owner = table.value(row, "hubspot_owner_id")
    if owner and owner.isdigit():
        engagement["ownerId"] = int(owner)
    metadata: dict[str, object] = {}
    for key, name in _METADATA[kind]:
        if name not in table.columns:
            continue
        value = _ms(table, name, row) if isinstance(table.columns[name], TsColumn) else None
        metadata[key] = value if value is not None else table.value(row, name)
    associations: dict[str, list[int]] = {name: [] for name in _ASSOCIATION_LISTS}
    associations["contactIds"] = [int(i) for i in store.associated(kind, "contacts", row)]
    return {
        "engagement": engagement,
        "associations": associations,
        "attachments": [],
        "metadata": {k: v for k, v in metadata.items() if v is not None},
    }


def _bad(message: str) -> tuple[int, dict[str, object]]:
    return 400, error_body("VALIDATION_ERROR", message)
