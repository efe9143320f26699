"""Salesforce Leads and Contacts as canonical records: the read side.

`SalesforceReader` streams unconverted Leads (``IsConverted = false``) or Contacts changed
at or after a time, ``ORDER BY SystemModstamp, Id``, in pages that follow
``nextRecordsUrl``; each page's activities are read in bulk (`activities.activities_for`).
Records whose Tasks, Events or campaign memberships changed since — which does not touch
the record's own SystemModstamp — are pulled too, after the main query.

Field lists are built from one ``describe`` per object (cached): mapped fields the object
lacks are left out (Contacts take Company, employees, industry and revenue from their
Account, and the country from MailingCountry), and mqlsync's own ``MQLSync_*__c`` fields are
read only when the org has them (before `provision` they read as empty).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connector.core.records import LeadRecord, format_time
from connector.crm.base import STAGE_FIELD, Current, Page, Previous, Pulled, Rejected, Value
from connector.crm.reading import (
    BadTime,
    Malformed,
    NaiveTime,
    Problems,
    clean_text,
    clean_value,
    convert,
    shown,
)
from connector.crm.salesforce.accounts import accounts_for
from connector.crm.salesforce.activities import (
    activities_for,
    in_chunks,
    is_id,
    query_pages,
    sf_time,
    soql_datetime,
    soql_text,
    touched_since,
)
from connector.crm.salesforce.bulk import bulk_rows
from connector.crm.salesforce.client import SalesforceCalls
from connector.crm.values import normalise
from connector.errors import FatalSyncError
from connector.mapping.schema import MappingSpec

log = logging.getLogger(__name__)

SOBJECTS = {"lead": "Lead", "contact": "Contact"}
MODIFIED = "SystemModstamp"
CONTACT_STAGE = "MQLSync_Stage__c"
WRITE_BACK = {
    "fit": "MQLSync_Fit__c",
    "engagement": "MQLSync_Engagement__c",
    "score": "MQLSync_Score__c",
    "grade": "MQLSync_Grade__c",
    "route": "MQLSync_Route__c",
    "temperature": "MQLSync_Temperature__c",
    "reasons": "MQLSync_Reasons__c",
    "scored_at": "MQLSync_Scored_At__c",
    "mql_at": "MQLSync_MQL_At__c",
    "recycle_reason": "MQLSync_Recycle_Reason__c",
    "recycled_at": "MQLSync_Recycled_At__c",
    "sla": "MQLSync_SLA__c",
    "model": "MQLSync_Model__c",
}
"""Logical write-back field → Salesforce custom field."""
EXTRA_SOURCES = {"OwnerId": "owner"}
"""Read beside the mapping's fields unless it maps the canonical name itself."""
CONTACT_ALIASES = {
    "Company": "Account.Name",
    "NumberOfEmployees": "Account.NumberOfEmployees",
    "Industry": "Account.Industry",
    "AnnualRevenue": "Account.AnnualRevenue",
    "Country": "MailingCountry",
}
"""Lead field → where a Contact holds the same fact (its Account, its mailing address)."""
STAGES = ("subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer")
_LONGEST = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BACKFILL = datetime(2000, 1, 1, tzinfo=UTC)
"""A pull from before this is a backfill: every record is read anyway, so records are not
looked for through their changed activities."""


@dataclass(frozen=True, slots=True)
class Schema:
    """What one object's query selects, from its describe."""

    sobject: str
    sources: tuple[tuple[str, str], ...]
    """(field path, canonical property) read into the record."""
    datetimes: frozenset[str]
    """Paths of dateTime fields (rendered as ISO-8601 UTC in the record)."""
    write_back: Mapping[str, str]
    """Logical field → custom field, for the fields this org has."""
    stage_field: str | None
    """Where the stage is read: Status (Lead), MQLSync_Stage__c (Contact) if present."""
    lead_statuses: tuple[str, ...]
    types: Mapping[str, str]
    """Lower-case field name → describe type (how CSV text from a bulk job is typed)."""
    parents: Mapping[str, str]
    """Relationship name → the object it points to (``Account`` → ``Account``)."""
    account_field: str | None = None
    """``AccountId`` when the mapping has account rules and the object has one."""

    @property
    def select(self) -> list[str]:
        names = dict.fromkeys(["Id", MODIFIED, *(p for p, _ in self.sources)])
        if self.account_field:
            names[self.account_field] = None
        if self.stage_field:
            names[self.stage_field] = None
        names.update(dict.fromkeys(self.write_back.values()))
        return list(names)

    @property
    def peek_select(self) -> list[str]:
        names = dict.fromkeys(["Id", MODIFIED, *self.write_back.values()])
        if self.stage_field:
            names[self.stage_field] = None
        return list(names)


def _get(row: Mapping[str, Any], path: str) -> Any:
    """A field of a query row, following ``Relationship.Field`` paths (None if absent)."""
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _number(value: Any) -> Any:
    """Whole floats as ints (Salesforce sends currency as 12000000.0)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


class SalesforceReader:
    """Reads Leads and Contacts with their activities; the read half of the adapter."""

    kind = "salesforce"
    watermark_field = MODIFIED

    def __init__(
        self,
        calls: SalesforceCalls,
        mapping: MappingSpec,
        page_size: int = 2000,
        bulk_threshold: int = 0,
    ) -> None:
        self.calls = calls
        self.bulk_threshold = bulk_threshold
        self.with_account = mapping.reads_account
        self.mapping = mapping
        self.page_size = max(200, min(2000, page_size))
        self.fields = dict(mapping.source_fields.salesforce)
        for name, canonical in EXTRA_SOURCES.items():
            if canonical not in self.fields.values():
                self.fields.setdefault(name, canonical)
        lifecycle = mapping.lifecycle
        statuses = lifecycle.lead_statuses.model_dump()
        self.lead_stage = {
            str(value).casefold(): stage
            for stage, value in statuses.items()
            if value and stage != "lead"
        }
        """Lead Status → canonical stage: the mapping's MQL status is `mql`, statuses sales
        sets (`sal`, `sql` …) are those stages, every other one (open, rejected, custom)
        is `lead`."""
        self.rejected = frozenset(s.casefold() for s in lifecycle.rejected_statuses.salesforce)
        self._schemas: dict[str, Schema] = {}
        self._parent_types: dict[str, dict[str, str]] = {}

    # ----------------------------------------------------------------------- schema
    def _sobject(self, obj: str) -> str:
        try:
            return SOBJECTS[obj]
        except KeyError:
            raise FatalSyncError(f"Salesforce has no object kind {obj!r} to sync") from None

    def schema(self, obj: str) -> Schema:
        """The object's field lists, from one describe call (cached)."""
        sobject = self._sobject(obj)
        found = self._schemas.get(sobject)
        if found is not None:
            return found
        described = self.calls.call(
            f"describe {sobject}", self.calls.client.restful, f"sobjects/{sobject}/describe"
        )
        described = described if isinstance(described, Mapping) else {}
        fields = {str(f["name"]).lower(): f for f in described.get("fields") or ()}
        sources: list[tuple[str, str]] = []
        datetimes: set[str] = set()
        for name, canonical in self.fields.items():
            path = name
            if "." not in name and name.lower() not in fields and sobject == "Contact":
                path = CONTACT_ALIASES.get(name, name)
            if "." in path:
                sources.append((path, canonical))
                continue
            field = fields.get(path.lower())
            if field is None:
                log.info("%s has no field %s: %s stays unknown", sobject, path, canonical)
                continue
            sources.append((str(field["name"]), canonical))
            if field.get("type") == "datetime":
                datetimes.add(str(field["name"]))
        write_back = {f: n for f, n in WRITE_BACK.items() if n.lower() in fields}
        stage_field = "Status" if sobject == "Lead" else None
        if sobject == "Contact" and CONTACT_STAGE.lower() in fields:
            stage_field = CONTACT_STAGE
        status: Mapping[str, Any] = (fields.get("status") or {}) if sobject == "Lead" else {}
        statuses = tuple(
            str(v["value"]) for v in status.get("picklistValues") or () if v.get("active", True)
        )
        types = {name: str(f.get("type") or "") for name, f in fields.items()}
        parents = {
            str(f["relationshipName"]): str(f["referenceTo"][0])
            for f in fields.values()
            if f.get("relationshipName") and f.get("referenceTo")
        }
        schema = Schema(
            sobject,
            tuple(sources),
            frozenset(datetimes),
            write_back,
            stage_field,
            statuses,
            types,
            parents,
            "AccountId" if self.with_account and "accountid" in fields else None,
        )
        self._schemas[sobject] = schema
        return schema

    def _where(self, sobject: str, *terms: str) -> str:
        all_terms = ("IsConverted = false", *terms) if sobject == "Lead" else terms
        return " AND ".join(all_terms)

    # ------------------------------------------------------------------------- pull
    def pull(
        self,
        obj: str,
        since: datetime,
        now: datetime,
        previous: Previous | None = None,
    ) -> Iterator[Page]:
        """Stream records modified at or after `since`, then those whose activities changed.

        Pages follow ``nextRecordsUrl`` (``batchSize`` = `page_size`); a record listed again
        on the next page (it changed mid-pull) is used once, as first seen.
        """
        schema = self.schema(obj)
        touched = touched_since(self.calls, schema.sobject, since) if since >= BACKFILL else set()
        where = self._where(schema.sobject, f"{MODIFIED} >= {soql_datetime(since)}")
        before: set[str] = set()
        for rows in self._changed(schema, where, now):
            ids = {str(r.get("Id") or "") for r in rows}
            forced = touched & ids
            touched -= ids
            yield from self._pages(obj, rows, previous, now, before, forced)
            before = ids
        if touched:
            yield from self.read(obj, sorted(touched), now)

    def _changed(
        self, schema: Schema, where: str, now: datetime
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows matching `where`, by REST pages; when the first page says the pull holds
        more than `bulk_threshold` records, the rest comes from one Bulk API 2.0 job.

        The job reads only records modified up to the run's `now`: it runs after the
        first page is written, and must not read that page again as our own echoes (a
        REST cursor is fixed when the query starts; the next run reads from `now` on)."""
        what = f"pull {schema.sobject}s changed since"
        select = f"SELECT {', '.join(schema.select)} FROM {schema.sobject}"  # noqa: S608
        soql = f"{select} WHERE {where} ORDER BY {MODIFIED}, Id"
        headers = {"Sforce-Query-Options": f"batchSize={self.page_size}"}
        first = self.calls.call(what, self.calls.client.query, soql, headers=headers)
        rows = list(first.get("records") or [])
        total = int(first.get("totalSize") or 0)
        last = rows[-1] if rows else {}
        try:
            stamp = sf_time(last.get(MODIFIED), MODIFIED)
        except BadTime:
            stamp = None  # the page reports it; the rest is read by REST pages
        bulk = (
            self.bulk_threshold > 0
            and total > self.bulk_threshold
            and not first.get("done", True)
            and stamp is not None
            and is_id(str(last.get("Id") or ""))
        )
        if not bulk or stamp is None:
            yield from query_pages(self.calls, soql, what, self.page_size, first=first)
            return
        yield rows
        at, rid = soql_datetime(stamp), str(last["Id"])
        rest = (
            f"{where} AND {MODIFIED} <= {soql_datetime(now)} "
            f"AND ({MODIFIED} > {at} OR ({MODIFIED} = {at} AND Id > '{rid}'))"
        )
        log.info(
            "%d %ss to pull (more than %d): the rest through a Bulk API 2.0 query job",
            total, schema.sobject, self.bulk_threshold,
        )  # fmt: skip
        yield from bulk_rows(
            self.calls,
            schema.sobject,
            f"{select} WHERE {rest}",
            what,
            self._bulk_types(schema),
            page=self.page_size,
        )

    def _bulk_types(self, schema: Schema) -> dict[str, str]:
        """Column → describe type for a bulk job's CSV, parent fields included (one
        describe per parent object, cached)."""
        types = dict(schema.types)
        for path, _ in schema.sources:
            relation, _, name = path.rpartition(".")
            target = schema.parents.get(relation)
            if not relation or target is None:
                continue
            found = self._parent_types.get(target)
            if found is None:
                described = self.calls.call(
                    f"describe {target}", self.calls.client.restful, f"sobjects/{target}/describe"
                )
                found = {
                    str(f["name"]).lower(): str(f.get("type") or "")
                    for f in (described or {}).get("fields") or ()
                }
                self._parent_types[target] = found
            types[path.lower()] = found.get(name.lower(), "")
        return types

    def read(self, obj: str, ids: Sequence[str], now: datetime) -> Iterator[Page]:
        """Fetch specific records (by ``Id IN`` chunks) with their activities."""
        schema = self.schema(obj)
        base = (
            f"SELECT {', '.join(schema.select)} FROM {schema.sobject} "  # noqa: S608
            f"WHERE {self._where(schema.sobject, 'Id IN ({ids})')}"
        )
        rows: list[dict[str, Any]] = []
        for soql in in_chunks(ids, base):
            for page in query_pages(self.calls, soql, f"read {schema.sobject}s", self.page_size):
                rows.extend(page)
                if len(rows) >= self.page_size:
                    yield from self._pages(obj, rows, None, now)
                    rows = []
        if rows:
            yield from self._pages(obj, rows, None, now)

    def peek(self, obj: str, ids: Sequence[str]) -> dict[str, Current]:
        """Current write-back values, stage and SystemModstamp of `ids` (no activities)."""
        schema = self.schema(obj)
        base = (
            f"SELECT {', '.join(schema.peek_select)} FROM {schema.sobject} "  # noqa: S608
            "WHERE Id IN ({ids})"
        )
        out: dict[str, Current] = {}
        for soql in in_chunks(ids, base):
            for page in query_pages(self.calls, soql, f"peek {schema.sobject}s"):
                for row in page:
                    rid = str(row.get("Id") or "")
                    out[rid] = Current(self._current(schema, rid, row), self._modified(rid, row))
        return out

    def find(self, obj: str, key: str) -> str | None:
        """The id `key` names: a Salesforce id as is, else the record with that Email."""
        key = key.strip()
        if is_id(key):
            return key
        if "@" not in key:
            return None
        schema = self.schema(obj)
        where = self._where(schema.sobject, f"Email = {soql_text(key)}")
        soql = f"SELECT Id FROM {schema.sobject} WHERE {where} ORDER BY {MODIFIED} DESC LIMIT 1"  # noqa: S608
        for page in query_pages(self.calls, soql, f"find {schema.sobject} by email"):
            return str(page[0]["Id"])
        return None

    def lead_statuses(self) -> list[str]:
        """The active values of the Lead Status picklist (from the cached describe)."""
        return list(self.schema("lead").lead_statuses)

    # ---------------------------------------------------------------------- records
    def _pages(
        self,
        obj: str,
        rows: list[dict[str, Any]],
        previous: Previous | None,
        now: datetime,
        before: Set[str] = frozenset(),
        forced: Set[str] = frozenset(),
    ) -> Iterator[Page]:
        """Rows as one page of canonical records; activities read in bulk for the fresh ones
        (new, modified since `previous` saw them, or with changed activities: `forced`)."""
        schema = self.schema(obj)
        rejected: list[Rejected] = []
        block: dict[str, tuple[dict[str, Any], datetime]] = {}
        for row in rows:
            rid = str(row.get("Id") or "").strip()
            if not rid:
                log.warning("a record without an Id was skipped: it cannot be reported by id")
                continue
            if rid in block or rid in before:
                log.warning("record %s came twice in one pull: the first copy is used", rid)
                continue
            try:
                block[rid] = (row, self._modified(rid, row))
            except Malformed as exc:
                rejected.append(Rejected(rid, exc.reason))
        ids = list(block)
        known = previous(ids) if previous is not None and ids else {}
        fresh = [
            rid
            for rid in ids
            if rid in forced or rid not in known or known[rid][0] != block[rid][1]
        ]
        problems = Problems()
        activities = activities_for(self.calls, schema.sobject, fresh, problems)
        accounts: dict[str, dict[str, Any]] | None = None
        if schema.account_field:
            field = schema.account_field
            owners = {rid: str(row.get(field) or "") for rid, (row, _) in block.items()}
            accounts = accounts_for(self.calls, owners, now)
        items: list[Pulled] = []
        for rid, (row, modified) in block.items():
            def build(rid: str = rid, row: Any = row, modified: datetime = modified) -> Pulled:
                reuse = known.get(rid) if rid not in activities else None
                found = activities.get(rid, [])
                record = self._record(obj, schema, rid, row, found, reuse)
                if accounts is not None:
                    record = replace(record, account=accounts.get(rid))
                return Pulled(record, self._current(schema, rid, row), modified)

            item = convert(rid, problems, build)
            if isinstance(item, Rejected):
                rejected.append(item)
            else:
                items.append(item)
        if items or rejected:
            yield Page(items, rejected)

    def _modified(self, rid: str, row: Mapping[str, Any]) -> datetime:
        try:
            at = sf_time(row.get(MODIFIED), MODIFIED)
        except BadTime as exc:
            raise Malformed(rid, str(exc)) from None
        if at is None:
            raise Malformed(rid, f"no {MODIFIED}")
        return at

    def stage(self, schema: Schema, rid: str, row: Mapping[str, Any]) -> str | None:
        """The canonical stage: from the Lead Status, or the Contact's MQLSync_Stage__c."""
        if schema.stage_field is None:
            return None
        raw = row.get(schema.stage_field)
        text = "" if raw is None else clean_text(str(raw)).strip()
        if len(text) > _LONGEST or _CONTROL.search(text):
            raise Malformed(rid, f"{schema.stage_field} is not a stage: {shown(raw)}")
        if not text:
            return None
        if schema.sobject == "Lead":
            return self.lead_stage.get(text.casefold(), "lead")
        stage = text.lower()
        if stage not in STAGES:
            raise Malformed(
                rid,
                f"{schema.stage_field} is not a lifecycle stage ({', '.join(STAGES)}): "
                f"{shown(raw)}",
            )
        return stage

    def _record(
        self,
        obj: str,
        schema: Schema,
        rid: str,
        row: Mapping[str, Any],
        activities: list[Any],
        reuse: tuple[datetime, LeadRecord] | None,
    ) -> LeadRecord:
        canonical: dict[str, Any] = {}
        for path, name in schema.sources:
            raw = _get(row, path)
            if path in schema.datetimes:
                try:
                    at = sf_time(raw, path)
                except NaiveTime as exc:
                    raise Malformed(rid, str(exc)) from None
                except BadTime as exc:
                    log.warning("record %s: %s: treated as unknown", rid, exc)
                    continue
                if at is not None:
                    canonical[name] = format_time(at)
                continue
            value = _number(clean_value(raw))
            if value not in (None, ""):
                canonical[name] = value
        canonical["lifecycle_stage"] = self.stage(schema, rid, row)
        if reuse is not None:
            old = reuse[1]
            return LeadRecord(rid, self.kind, obj, canonical, old.activities, old.account)
        return LeadRecord(rid, self.kind, obj, canonical, tuple(activities))

    def _current(self, schema: Schema, rid: str, row: Mapping[str, Any]) -> dict[str, Value]:
        """mqlsync's fields as the org holds them, normalised; fields the org lacks and
        values nobody could parse read as empty (the next write replaces them)."""
        current: dict[str, Value] = {}
        for logical in WRITE_BACK:
            name = schema.write_back.get(logical)
            try:
                current[logical] = normalise(logical, clean_value(row.get(name) if name else None))
            except (ValueError, OverflowError, OSError):
                current[logical] = None
        stage = self.stage(schema, rid, row)
        if schema.sobject == "Lead" and self._rejected_status(row):
            # a status sales rejected with reads as stage `lead`, but it is not the status
            # mqlsync writes for `lead`: a recycle must write over it
            stage = None
        current[STAGE_FIELD] = stage
        return current

    def _rejected_status(self, row: Mapping[str, Any]) -> bool:
        return str(row.get("Status") or "").strip().casefold() in self.rejected
