"""HubSpot activity sources → canonical activities, read defensively.

Engagement objects come from associations v4 batch reads (≤ 1,000 contacts a call, following
each contact's own `paging.next.after` when it has more associations than one page) and
engagement batch reads (≤ 100 a call) for a whole block of contacts at once — never per
contact (the N+1 pattern style.md warns about) — or, on a first sync, from one read of
every engagement by type with its contacts inline (`connector.crm.hubspot.scan`). Rollup
properties with a companion date add one activity each, as the mapping's
`[[source_activities.hubspot]]` entries say.

CRM data can be odd in ways HubSpot's own validation does not prevent (imports, old
integrations), so every value is read here without trusting it (`hubspot_time`,
`clean_value`). What a bad time costs, and why:

- A time that is not a date at all ("yesterday", "", "²", epoch milliseconds past year
  9999) or is beyond `LATEST` cannot place the activity in any scoring window: that one
  activity is left out and the reason logged (`BadTime`). One broken meeting should not
  hide the rest of the contact's score from sales; the contact is still scored on
  everything else.
- A time without a zone (`NaiveTime`) is a real time read wrongly by hours: HubSpot always
  sends zoned times, so a naive one means whatever wrote it is broken, and guessing a zone
  would silently move windows, decay and MQL dates. The record format makes it a per-record error:
  the contact is rejected with the field named and kept as a dead letter until fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from connector.core.records import Activity
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.hubspot.search import PaginationLoop
from connector.crm.reading import (
    BadTime,
    NaiveTime,
    Problems,
    first_time,
    text_of,
    zoned_time,
)
from connector.mapping.schema import RollupActivity

if TYPE_CHECKING:
    from connector.crm.hubspot.scan import EngagementScan

log = logging.getLogger(__name__)
T = TypeVar("T")

ENGAGEMENTS: dict[str, tuple[str, ...]] = {
    "meetings": ("hs_timestamp", "hs_meeting_start_time", "hs_meeting_title"),
    "calls": ("hs_timestamp", "hs_call_title"),
    "emails": ("hs_timestamp", "hs_email_direction", "hs_email_subject"),
}
"""Engagement types that become activities; notes and tasks are not activities."""

ENGAGEMENT_SHAPES: frozenset[tuple[str, tuple[str, ...]]] = frozenset(
    {
        ("meeting", ("title",)),
        ("call", ("title",)),
        ("email_reply", ("subject",)),
        ("sales_touch", ("subject",)),
    }
)
"""(type, sorted detail keys) of every activity `engagement_activity` makes: how a stored
record's engagement activities are told from its rollup ones."""

_NOUN = {"meetings": "meeting", "calls": "call", "emails": "email"}
_TIMES = {"meetings": ("hs_timestamp", "hs_meeting_start_time")}
"""Where an engagement's time is read, in order; meetings fall back to their start time."""


def hubspot_time(value: object, what: str) -> datetime | None:
    """A HubSpot datetime (ISO-8601 with zone, or epoch milliseconds) in UTC; None when empty
    (see `connector.crm.reading.zoned_time`)."""
    return zoned_time(value, what, epoch_ms=True)


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def associated(
    calls: HubSpotCalls,
    to_type: str,
    ids: Sequence[str],
    batch: int = 1000,
    *,
    from_type: str = "contacts",
) -> dict[str, list[str]]:
    """id → ids of associated `to_type` objects, via associations v4 batch reads.

    HubSpot pages each input on its own: a result holds a limited number of `to` rows
    and, when there are more, `paging.next.after` for that input. Inputs with a cursor are
    asked again — only those, still ≤ `batch` a call — until none has one, so the common
    case (no paging) costs one call per `batch` ids. A cursor seen before for the same
    input, or one that comes with no rows, raises `PaginationLoop` instead of looping.
    """
    api = calls.client.crm.associations.v4.batch_api
    found: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    pending: list[tuple[str, str | None]] = [(i, None) for i in dict.fromkeys(ids)]
    while pending:
        more: list[tuple[str, str | None]] = []
        for chunk in _chunks(pending, batch):
            body = {"inputs": [{"id": i} if a is None else {"id": i, "after": a} for i, a in chunk]}
            page = calls.call(
                f"read {from_type}→{to_type} associations",
                api.get_page,
                from_object_type=from_type,
                to_object_type=to_type,
                batch_input_public_fetch_associations_batch_request=body,
            )
            for row in page.results or ():
                fid = str(row._from.id)
                to = [str(t.to_object_id) for t in row.to or ()]
                found.setdefault(fid, []).extend(to)
                cursor = row.paging.next.after if row.paging and row.paging.next else None
                if cursor is None:
                    continue
                cursors = seen.setdefault(fid, set())
                if cursor in cursors or not to:
                    raise PaginationLoop(
                        f"{from_type}→{to_type} associations of {fid}: "
                        f"cursor {cursor!r} did not advance"
                    )
                cursors.add(cursor)
                more.append((fid, cursor))
        pending = more
    return found


def read_objects(
    calls: HubSpotCalls,
    object_type: str,
    ids: Sequence[str],
    properties: Sequence[str],
    batch: int = 100,
) -> dict[str, Mapping[str, Any]]:
    """id → properties of CRM objects, via batch reads of ≤ `batch` ids."""
    api = calls.client.crm.objects.batch_api
    out: dict[str, Mapping[str, Any]] = {}
    for chunk in _chunks(list(dict.fromkeys(ids)), batch):
        body = {"inputs": [{"id": i} for i in chunk], "properties": list(properties)}
        page = calls.call(
            f"read {object_type}",
            api.read,
            object_type=object_type,
            batch_read_input_simple_public_object_id=body,
        )
        for obj in page.results or ():
            props = obj.properties
            out[str(obj.id)] = props if isinstance(props, Mapping) else {}
    return out


def engagement_activity(kind: str, props: Mapping[str, Any], eid: str = "") -> Activity:
    """One engagement object as a canonical activity at its `hs_timestamp` (a meeting
    without a usable one at its `hs_meeting_start_time`).

    Raises `NaiveTime` (reject the contact) or `BadTime` (leave this activity out)."""
    noun = _NOUN.get(kind, kind)
    at = first_time(props, _TIMES.get(kind, ("hs_timestamp",)), f"{noun} {eid}", epoch_ms=True)
    if kind == "meetings":
        return Activity("meeting", at, {"title": text_of(props.get("hs_meeting_title"))})
    if kind == "calls":
        return Activity("call", at, {"title": text_of(props.get("hs_call_title"))})
    direction = text_of(props.get("hs_email_direction")).strip().upper()
    subject = {"subject": text_of(props.get("hs_email_subject"))}
    return Activity("email_reply" if direction == "INCOMING_EMAIL" else "sales_touch", at, subject)


def engagement_links(
    calls: HubSpotCalls, contact_ids: Sequence[str], assoc_batch: int, read_batch: int
) -> Iterator[tuple[str, dict[str, list[str]], dict[str, Mapping[str, Any]]]]:
    """Per engagement type: contact id → engagement ids, and engagement id → properties,
    read for these contacts (associations v4, then batch reads of the engagements)."""
    for kind, properties in ENGAGEMENTS.items():
        links = associated(calls, kind, contact_ids, assoc_batch)
        ids = [eid for eids in links.values() for eid in eids]
        if ids:
            yield kind, links, read_objects(calls, kind, ids, properties, read_batch)


def engagement_activities(
    calls: HubSpotCalls,
    contact_ids: Sequence[str],
    assoc_batch: int,
    read_batch: int,
    problems: Problems | None = None,
    scan: EngagementScan | None = None,
) -> dict[str, list[Activity]]:
    """contact id → activities from its meetings, calls and emails.

    Read by contact block (`engagement_links`), or looked up in `scan` when one is given
    (a first sync's engagements, read by type). An engagement associated twice with a
    contact counts once. Engagements whose time is unusable are left out; they, and
    contacts to reject for a naive time, are noted in `problems` (logged when no
    `problems` is given).
    """
    out: dict[str, list[Activity]] = {cid: [] for cid in contact_ids}
    if scan is not None:
        found = scan.lookup(contact_ids)
        per_kind: Iterable[tuple[str, dict[str, list[str]], Mapping[str, Mapping[str, Any]]]] = (
            (kind, *found[kind]) for kind in ENGAGEMENTS if kind in found
        )
    else:
        per_kind = engagement_links(calls, contact_ids, assoc_batch, read_batch)
    for kind, links, objects in per_kind:
        for cid, eids in links.items():
            for eid in dict.fromkeys(eids):
                props = objects.get(eid)
                if props is None:
                    continue
                try:
                    activity = engagement_activity(kind, props, eid)
                except BadTime as exc:
                    if problems is None:
                        log.warning("contact %s: %s", cid, exc)
                    elif isinstance(exc, NaiveTime):
                        problems.reject(cid, str(exc))
                    else:
                        problems.drop(cid, str(exc))
                    continue
                out.setdefault(cid, []).append(activity)
    return out


def rollup_properties(rollups: Sequence[RollupActivity]) -> list[str]:
    """Contact properties the rollups read (to request them in the search)."""
    names: dict[str, None] = {}
    for r in rollups:
        names[r.date_property] = None
        names.update(dict.fromkeys(r.detail.values()))
        if r.when_property:
            names[r.when_property] = None
    return list(names)


def rollup_activities(
    props: Mapping[str, Any],
    rollups: Sequence[RollupActivity],
    dropped: list[str] | None = None,
) -> list[Activity]:
    """Activities from contact rollups: the first applicable entry per date property.

    A date that is not usable leaves its activity out (the reason goes to `dropped`); a
    naive one raises `NaiveTime` (the contact is rejected).
    """
    done: set[str] = set()
    out = []
    for r in rollups:
        if r.date_property in done:
            continue
        try:
            at = hubspot_time(props.get(r.date_property), r.date_property)
        except NaiveTime:
            raise
        except BadTime as exc:
            done.add(r.date_property)
            if dropped is not None:
                dropped.append(str(exc))
            continue
        if at is None:
            continue
        if r.when_property is not None:
            text = text_of(props.get(r.when_property)).casefold()
            if not any(word.casefold() in text for word in r.when_contains or ()):
                continue
        done.add(r.date_property)
        detail = {key: text_of(props.get(name)) for key, name in r.detail.items()}
        out.append(Activity(r.type, at, detail))
    return out
