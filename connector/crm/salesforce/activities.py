"""Salesforce activity sources → canonical activities, in bulk and defensively.

Tasks, Events and CampaignMembers are read for a whole page of Leads or Contacts at once —
``WhoId IN (…)`` / ``LeadId IN (…)`` / ``ContactId IN (…)`` over as many ids as fit in one
request URI — never per record (the N+1 pattern). Each query pages by ``nextRecordsUrl``.

Times are read by `connector.crm.reading.zoned_time`, as HubSpot's are: an
activity whose time is not a date is left out with the reason (`BadTime`), a time without a
zone rejects the record (`NaiveTime`); Salesforce always sends zoned times, so a
naive one means the data is broken and guessing a zone would move scoring windows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from connector.core.records import Activity
from connector.crm.reading import (
    BadTime,
    NaiveTime,
    Problems,
    first_time,
    shown,
    text_of,
    zoned_time,
)
from connector.crm.salesforce.client import SalesforceCalls
from connector.errors import FatalSyncError

if TYPE_CHECKING:
    from connector.crm.salesforce.write import SalesforceCallsLike

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 15_000
"""Most bytes of URL-encoded SOQL in one GET: Salesforce (and the sandbox) refuse request
URIs over 16,384 bytes, and the instance URL and path need the rest."""
_ID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

TASK_FIELDS = ("Id", "WhoId", "TaskSubtype", "Subject", "CompletedDateTime", "CreatedDate")
EVENT_FIELDS = ("Id", "WhoId", "Subject", "StartDateTime", "ActivityDateTime")
MEMBER_FIELDS = (
    "Id", "LeadId", "ContactId", "Status", "HasResponded", "FirstRespondedDate", "CreatedDate",
    "Campaign.Type", "Campaign.Name",
)  # fmt: skip
TASK_TYPES = {"call": "call", "email": "sales_touch"}
"""TaskSubtype (case-insensitive) → activity type; other subtypes are not activities."""
INVITED = frozenset({"sent", "planned"})
"""Webinar member statuses of invitees, who did nothing yet (not activities)."""


class PaginationLoop(FatalSyncError):
    """Salesforce returned the same ``nextRecordsUrl`` twice; following it would loop."""


def is_id(value: str) -> bool:
    """A well-formed Salesforce id (15 or 18 letters and digits)."""
    return len(value) in (15, 18) and all(c in _ID_CHARS for c in value)


def soql_text(value: str) -> str:
    """A SOQL string literal (backslash escapes, as the SOQL reference defines them)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{escaped}'"


def soql_datetime(at: datetime) -> str:
    """A SOQL dateTime literal in UTC, whole seconds rounded down (``>=`` then includes
    the instant itself; a second too early only re-reads a record)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_chunks(ids: Sequence[str], soql: str) -> Iterator[str]:
    """``soql`` with ``{ids}`` filled by as many ids as fit in one request URI, per chunk.

    Ids that are not well-formed are left out (nothing but ids goes into the query text).
    """
    room = MAX_QUERY_BYTES - len(quote_plus(soql))
    chunk: list[str] = []
    used = 0
    for rid in dict.fromkeys(ids):
        if not is_id(rid):
            log.warning("not a Salesforce id, left out of a query: %s", shown(rid))
            continue
        cost = len(quote_plus(f"'{rid}',"))
        if chunk and used + cost > room:
            yield soql.replace("{ids}", ",".join(f"'{i}'" for i in chunk))
            chunk, used = [], 0
        chunk.append(rid)
        used += cost
    if chunk:
        yield soql.replace("{ids}", ",".join(f"'{i}'" for i in chunk))


def query_pages(
    calls: SalesforceCallsLike,
    soql: str,
    what: str,
    batch: int | None = None,
    *,
    first: Mapping[str, Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of records of one SOQL query, following ``nextRecordsUrl``; one call each.

    ``batch`` asks for pages of that size (``Sforce-Query-Options: batchSize``, 200–2,000;
    Salesforce may return fewer). ``first``: the query's first answer when the caller has
    read it already (its records are the first page yielded; the next pages are read here).
    """
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    client = calls.sf
    result = first or calls.call(what, client.query, query=soql, headers=headers)
    seen: set[str] = set()
    while True:
        records = result.get("records") or []
        if records:
            yield list(records)
        nxt = result.get("nextRecordsUrl")
        if result.get("done", True) or not nxt:
            return
        if nxt in seen:
            raise PaginationLoop(f"{what}: nextRecordsUrl {nxt!r} came twice")
        seen.add(nxt)
        result = calls.call(
            f"{what} (more)",
            client.query_more,
            next_records_identifier=nxt,
            identifier_is_url=True,
            headers=headers,
        )


def sf_time(value: object, what: str) -> datetime | None:
    """A Salesforce dateTime (``2026-10-30T12:00:00.000+0000``) or date (midnight UTC) in
    UTC; None when empty (see `connector.crm.reading.zoned_time`)."""
    return zoned_time(value, what)


def task_activity(row: Mapping[str, Any]) -> Activity | None:
    """A Task as an activity (Call → call, Email → sales_touch) at its completion time,
    else its creation (open tasks count when logged); other subtypes are none."""
    kind = TASK_TYPES.get(text_of(row.get("TaskSubtype")).strip().casefold())
    if kind is None:
        return None
    at = first_time(row, ("CompletedDateTime", "CreatedDate"), f"task {text_of(row.get('Id'))}")
    return Activity(kind, at, {"subject": text_of(row.get("Subject"))})


def event_activity(row: Mapping[str, Any]) -> Activity:
    """An Event as a meeting at its start."""
    at = first_time(row, ("StartDateTime", "ActivityDateTime"), f"event {text_of(row.get('Id'))}")
    return Activity("meeting", at, {"title": text_of(row.get("Subject"))})


def member_activity(row: Mapping[str, Any]) -> Activity | None:
    """A CampaignMember as an activity: webinar attendance or registration (invitees are
    none), a response to another campaign a form submission; at the first response date
    (midnight UTC), else when the member was added."""
    campaign = row.get("Campaign")
    campaign = campaign if isinstance(campaign, Mapping) else {}
    ctype = text_of(campaign.get("Type")).strip()
    name = text_of(campaign.get("Name"))
    status = text_of(row.get("Status")).strip().casefold()
    if ctype.casefold() == "webinar":
        if status in INVITED:
            return None
        kind = "webinar_attendance" if status == "attended" else "webinar_registration"
        detail = {"name": name}
    elif row.get("HasResponded") in (True, "true"):
        kind = "form_submission"
        detail = {"form": name, "campaign_type": ctype}
    else:
        return None
    at = first_time(
        row, ("FirstRespondedDate", "CreatedDate"), f"campaign member {text_of(row.get('Id'))}"
    )
    return Activity(kind, at, detail)


_SOURCES = (
    ("Task", TASK_FIELDS, "WhoId", task_activity),
    ("Event", EVENT_FIELDS, "WhoId", event_activity),
)


def activities_for(
    calls: SalesforceCalls,
    sobject: str,
    ids: Sequence[str],
    problems: Problems,
    batch: int = 2000,
) -> dict[str, list[Activity]]:
    """record id → its activities from Tasks, Events and CampaignMembers, in bulk.

    Activities whose time is unusable are left out (noted in ``problems.dropped``); records
    with a naive time are noted in ``problems.rejected``.
    """
    out: dict[str, list[Activity]] = {rid: [] for rid in ids}
    if not ids:
        return out
    member_key = "LeadId" if sobject == "Lead" else "ContactId"
    sources = (*_SOURCES, ("CampaignMember", MEMBER_FIELDS, member_key, member_activity))
    for source, fields, key, convert in sources:
        soql = f"SELECT {', '.join(fields)} FROM {source} WHERE {key} IN ({{ids}})"  # noqa: S608
        for chunk in in_chunks(ids, soql):
            for rows in query_pages(calls, chunk, f"read {source} of {sobject}s", batch):
                for row in rows:
                    rid = text_of(row.get(key))
                    if rid not in out:
                        continue
                    try:
                        activity = convert(row)
                    except NaiveTime as exc:
                        problems.reject(rid, str(exc))
                        continue
                    except BadTime as exc:
                        problems.drop(rid, str(exc))
                        continue
                    if activity is not None:
                        out[rid].append(activity)
    return out


def touched_since(calls: SalesforceCalls, sobject: str, since: datetime) -> set[str]:
    """Ids of ``sobject`` records whose Tasks, Events or campaign memberships changed at or
    after ``since``: a new Task does not change its Lead's SystemModstamp, so an
    incremental pull by the record's own modstamp alone would miss the activity."""
    prefix = "00Q" if sobject == "Lead" else "003"
    member_key = "LeadId" if sobject == "Lead" else "ContactId"
    literal = soql_datetime(since)
    found: set[str] = set()
    for source, key in (("Task", "WhoId"), ("Event", "WhoId"), ("CampaignMember", member_key)):
        soql = (
            f"SELECT {key} FROM {source} "  # noqa: S608 - names are constants, time a literal
            f"WHERE SystemModstamp >= {literal} AND {key} != null"
        )
        for rows in query_pages(calls, soql, f"find {source} changed since"):
            for row in rows:
                rid = text_of(row.get(key))
                if rid.startswith(prefix):
                    found.add(rid)
    return found
