"""Writing mqlsync's fields and stages to Salesforce Leads and Contacts.

One batch of patches becomes sObject Collections updates (`PATCH composite/sobjects`, ≤ 200
records each, `allOrNone=false`, so one bad record never holds back the others) and one
`Outcome` per patch. API calls per batch of ≤ 600 (three updates), each a composite request that
Salesforce counts as one call:

- 1 reading the current stages first (two queries), only when a patch moves the stage: the
  guard below;
- 1 holding the three `PATCH composite/sobjects` and, after them, the queries of the written
  records' `SystemModstamp` (SaveResults carry no modified time, and `Outcome.modified_at`
  must be the echo of our own write).

Stages: a Lead's stage is its `Status` (mql → "Marketing Qualified", lead → "Open - Not
Contacted", from the mapping's `[lifecycle.stages.salesforce]` `mql` / `lead`);
a Contact's is the text field `MQLSync_Stage__c` holding the canonical name. Salesforce has no
forward-only stage, so a recycle (mql → lead) is one request, unlike HubSpot's clear-then-set.
Leads are always written with `Sforce-Auto-Assign: FALSE` so an update never re-runs the
assignment rules (which would take the lead from its owner).

Guard (the pipeline decides stages; this makes sure): this module reads the current `Status`
(and `IsConverted`) of the Leads whose patch moves the stage, in one SOQL per batch, right
before writing — it does not rely on the caller's `peek`. A patch whose Lead sales has moved
to one of its statuses ("Working - Contacted", "Closed - Converted" by default) is dropped as a
whole (no field written, so the pipeline's state matches the CRM) with an `Outcome` error
naming the status; so is a Contact whose `MQLSync_Stage__c` is past MQL, and a backward move
(recycle) of a record no longer at MQL (a Lead whose Status is neither the MQL status nor a
rejected one, a Contact whose stage is not `mql`) (never a downgrade). Converted Leads are
never written: found by the guard read or answered `CANNOT_UPDATE_CONVERTED_LEAD`, they get
the error "converted lead: not written".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from simple_salesforce.exceptions import SalesforceError

from connector.crm.base import STAGE_FIELD, Outcome, Patch
from connector.crm.salesforce.activities import in_chunks
from connector.crm.salesforce.composite import (
    MAX_HEAVY,
    Answer,
    Subrequest,
    composite,
    query,
    query_rows,
)
from connector.crm.salesforce.fields import (
    CONTACT_STAGE,
    LEAD_STATUS,
    MODIFIED,
    OBJECTS,
    field_specs,
)
from connector.crm.salesforce.fields import (
    sf_value as _sf_value,
)
from connector.crm.values import parse_instant
from connector.errors import FatalSyncError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RECORDS = 200
"""sObject Collections limit per request."""

COLLECTIONS = 3
"""Updates packed in one composite call beside the two queries that read their
SystemModstamps back (Salesforce allows five collections or queries per call)."""

SALES_STATUSES: tuple[str, ...] = ("Working - Contacted", "Closed - Converted")
"""Lead statuses sales sets in a new org (the default `sal` and `sql` of the mapping's
`[lifecycle.stages.salesforce]`); mqlsync never overwrites them."""

PAST_MQL_ORDER = ("sal", "sql", "opportunity", "customer")
PAST_MQL = frozenset(PAST_MQL_ORDER)
"""Canonical stages mqlsync never moves a record out of (forward-only guard)."""

RETRIABLE_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUEST_RUNNING_TOO_LONG",
        "SERVER_UNAVAILABLE",
        "UNKNOWN_EXCEPTION",
        "QUERY_TIMEOUT",
    }
)
"""Per-record status codes that may succeed when the same write is sent again."""

CONVERTED = "converted lead: not written"


class SalesforceCallsLike(Protocol):
    """What this module needs of the Salesforce client wrapper (`SalesforceCalls`):
    the simple-salesforce client, a call counter and one retrying, counting entry point."""

    @property
    def sf(self) -> Any: ...

    @property
    def calls(self) -> int: ...

    def call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T: ...


def lead_stage_values(mql_status: str, recycle_status: str) -> dict[str, str]:
    """Canonical stage → Lead Status, from `[lifecycle.stages.salesforce]` `mql` / `lead`
    (defaults "Marketing Qualified" / "Open - Not Contacted")."""
    return {"mql": mql_status, "lead": recycle_status}


def salesforce_error(exc: BaseException) -> tuple[int | None, str, str] | None:
    """(HTTP status, first errorCode, first message) of a simple-salesforce error, found on
    the exception or anywhere in its cause chain (a client wrapper re-raises it as one of
    mqlsync's errors `from` it); None when there is none."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SalesforceError):
            content = seen.content
            item = content[0] if isinstance(content, list) and content else content
            code = message = ""
            if isinstance(item, dict):
                code = str(item.get("errorCode") or "")
                message = str(item.get("message") or "")
            elif item:
                message = str(item)[:300]
            return seen.status, code, message
        seen = seen.__cause__ or seen.__context__
    return None


def _key(record_id: str) -> str:
    """Ids compare on their case-sensitive 15-character form (Salesforce answers 18)."""
    return record_id[:15]


class _Writer:
    def __init__(
        self,
        calls: SalesforceCallsLike,
        obj: str,
        stage_values: Mapping[str, str],
        names: Mapping[str, str],
        protected: Collection[str],
        rejected: Collection[str],
        collection: int = MAX_RECORDS,
    ) -> None:
        if obj not in OBJECTS:
            raise ValueError(f"unknown Salesforce object {obj!r}: expected lead or contact")
        self.calls = calls
        self.obj = obj
        self.sobject = OBJECTS[obj]
        self.stage_values = stage_values
        self.names = names
        self.protected = {s.casefold() for s in protected}
        mql = stage_values.get("mql")
        self.at_mql = {s.casefold() for s in (*rejected, *([mql] if mql else []))}
        """Lead statuses from which a recycle may move the lead back."""
        self.headers = {"Sforce-Auto-Assign": "FALSE"} if obj == "lead" else {}
        self.collection = max(1, min(MAX_RECORDS, collection))
        """Records per sObject Collections update (`[salesforce] batch_write_size`)."""

    # ------------------------------------------------------------------ batch
    def write(self, patches: Sequence[Patch]) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        batch = self.collection * COLLECTIONS
        for start in range(0, len(patches), batch):
            chunk = patches[start : start + batch]
            outcomes.update(self._chunk(chunk))
        return [outcomes[p.record_id] for p in patches]

    def _chunk(self, patches: Sequence[Patch]) -> dict[str, Outcome]:
        outcomes = self._guard([p for p in patches if STAGE_FIELD in p.values])
        records: list[dict[str, Any]] = []
        for patch in patches:
            if patch.record_id in outcomes:
                continue
            record = self._record(patch)
            if isinstance(record, Outcome):
                outcomes[patch.record_id] = record
            else:
                records.append(record)
        outcomes.update(self._update(records))
        return outcomes

    def _record(self, patch: Patch) -> dict[str, Any] | Outcome:
        body: dict[str, Any] = {"attributes": {"type": self.sobject}, "id": patch.record_id}
        for field, value in patch.values.items():
            if field == STAGE_FIELD:
                continue
            name = self.names.get(field)
            if name is None:
                return Outcome(patch.record_id, f"no Salesforce field for {field!r}")
            body[name] = _sf_value(field, value)
        if STAGE_FIELD in patch.values:
            stage = patch.values[STAGE_FIELD]
            if self.obj == "contact":
                body[CONTACT_STAGE] = None if stage is None else str(stage)
            else:
                status = self.stage_values.get(str(stage))
                if not status:
                    return Outcome(
                        patch.record_id,
                        f"no Lead Status for stage {stage!r}: set it in the mapping's "
                        "[lifecycle.stages.salesforce] (mql / lead)",
                    )
                body[LEAD_STATUS] = status
        return body

    # ------------------------------------------------------------------ guard
    def _guard(self, patches: Sequence[Patch]) -> dict[str, Outcome]:
        """Read the current stage of records whose stage is to change; refuse the patches
        that would overwrite sales' status, move a record back from past MQL, or touch a
        converted lead."""
        if not patches:
            return {}
        ids = [p.record_id for p in patches]
        backward = {p.record_id for p in patches if p.stage_backward}
        stage = f"{LEAD_STATUS}, IsConverted" if self.obj == "lead" else CONTACT_STAGE
        base = f"SELECT Id, {stage} FROM {self.sobject} WHERE Id IN ({{ids}})"  # noqa: S608
        soqls = list(in_chunks(ids, base))
        rows = query_rows(self.calls, f"read {self.obj} stages", soqls)
        current = {_key(str(r["Id"])): r for r in rows}
        refused: dict[str, Outcome] = {}
        for rid in ids:
            row = current.get(_key(rid))
            if row is None:
                continue  # let the write report what Salesforce says (deleted, bad id …)
            if self.obj == "lead":
                status = str(row.get(LEAD_STATUS) or "")
                if row.get("IsConverted"):
                    refused[rid] = Outcome(rid, CONVERTED)
                elif status.casefold() in self.protected:
                    refused[rid] = Outcome(
                        rid, f"Lead Status is {status!r} (set by sales): stage not written"
                    )
                elif rid in backward and status.casefold() not in self.at_mql:
                    refused[rid] = Outcome(
                        rid, f"Lead Status is {status!r}, no longer at MQL: recycle not written"
                    )
            else:
                stage = str(row.get(CONTACT_STAGE) or "").strip().lower()
                if stage in PAST_MQL:
                    refused[rid] = Outcome(
                        rid, f"{CONTACT_STAGE} is {stage!r} (past MQL): stage not written"
                    )
                elif rid in backward and stage != "mql":
                    refused[rid] = Outcome(
                        rid, f"{CONTACT_STAGE} is {stage!r}, no longer mql: recycle not written"
                    )
        for rid, outcome in refused.items():
            log.info("%s %s: %s", self.obj, rid, outcome.error)
        return refused

    # ------------------------------------------------------------------ update
    def _update(self, records: list[dict[str, Any]]) -> dict[str, Outcome]:
        """Write ≤ `COLLECTIONS` updates of records and read their SystemModstamps back,
        in one API call."""
        if not records:
            return {}
        size = self.collection
        groups = [records[i : i + size] for i in range(0, len(records), size)]
        base = f"SELECT Id, {MODIFIED} FROM {self.sobject} WHERE Id IN ({{ids}})"  # noqa: S608
        stamps = list(in_chunks([str(r["id"]) for r in records], base))
        inline = stamps[: max(0, MAX_HEAVY - len(groups))]
        subs = [
            Subrequest(
                "PATCH",
                "composite/sobjects",
                {"allOrNone": False, "records": group},
                self.headers,
            )
            for group in groups
        ]
        answers = composite(
            self.calls, f"update {self.obj}s", [*subs, *map(query, inline)], self.headers
        )
        outcomes: dict[str, Outcome] = {}
        for group, answer in zip(groups, answers, strict=False):
            outcomes.update(self._saved(group, answer))
        modified: dict[str, datetime | None] = {}
        for answer in answers[len(groups) :]:
            if answer.status == 200 and isinstance(answer.body, Mapping):
                modified.update(self._stamps(answer.body.get("records") or ()))
        if stamps[len(inline) :]:
            rows = query_rows(self.calls, f"read {self.obj} modified times", stamps[len(inline) :])
            modified.update(self._stamps(rows))
        for rid, outcome in outcomes.items():
            if outcome.error is None and outcome.modified_at is None:
                outcomes[rid] = Outcome(rid, modified_at=modified.get(_key(rid)))
        return outcomes

    @staticmethod
    def _stamps(rows: Iterable[Mapping[str, Any]]) -> dict[str, datetime | None]:
        return {_key(str(r["Id"])): parse_instant(r.get(MODIFIED)) for r in rows}

    def _saved(self, records: list[dict[str, Any]], answer: Answer) -> dict[str, Outcome]:
        """One Outcome per record of one sObject Collections update, from its answer."""
        if answer.status == 400:
            code, message = answer.error
            self._missing_field(code, message)
            return self._isolate(records, f"{code}: {message}")
        if answer.status != 200 or not isinstance(answer.body, list):
            code, message = answer.error
            return {
                str(r["id"]): Outcome(str(r["id"]), f"{code}: {message}", retriable=True)
                for r in records
            }
        outcomes: dict[str, Outcome] = {}
        for record, result in zip(records, answer.body, strict=False):
            rid = str(record["id"])
            if result.get("success"):
                outcomes[rid] = Outcome(rid)
                continue
            errors = result.get("errors") or [{}]
            code = str(errors[0].get("statusCode") or "UNKNOWN")
            message = str(errors[0].get("message") or "no message")
            self._missing_field(code, message, errors[0].get("fields") or ())
            if code == "CANNOT_UPDATE_CONVERTED_LEAD":
                outcomes[rid] = Outcome(rid, CONVERTED)
            else:
                outcomes[rid] = Outcome(
                    rid, f"{code}: {message}", retriable=code in RETRIABLE_CODES
                )
        for record in records:
            rid = str(record["id"])
            outcomes.setdefault(rid, Outcome(rid, "no result for this record", retriable=True))
        return outcomes

    def _missing_field(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        """A missing mqlsync field fails every record alike: stop and say how to fix it."""
        if code != "INVALID_FIELD":
            return
        ours = {*self.names.values(), CONTACT_STAGE}
        if set(fields) & ours or any(name in message for name in ours):
            raise FatalSyncError(
                f"Salesforce has no such {self.sobject} field ({message}): run "
                "`mqlsync provision` to create mqlsync's fields (or deploy its package)"
            )

    def _isolate(self, records: list[dict[str, Any]], error: str) -> dict[str, Outcome]:
        """A whole request answered 400 (one record Salesforce cannot even parse spoils it):
        write the halves apart until the bad records stand alone and fail on their own."""
        if len(records) == 1:
            rid = str(records[0]["id"])
            return {rid: Outcome(rid, error, retriable=False)}
        half = len(records) // 2
        log.warning("%s update of %d answered 400: writing it in halves", self.obj, len(records))
        return {**self._update(records[:half]), **self._update(records[half:])}


def write(
    calls: SalesforceCallsLike,
    obj: str,
    patches: Sequence[Patch],
    stage_values: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    protected_statuses: Collection[str] = SALES_STATUSES,
    rejected_statuses: Collection[str] = ("Closed - Not Converted",),
    collection: int = MAX_RECORDS,
) -> list[Outcome]:
    """Write `patches` to Salesforce `obj` ("lead" or "contact"); one Outcome per patch, in
    order.

    `stage_values` maps canonical stages to Lead Status values (see `lead_stage_values`;
    unused for Contacts, which take the canonical name). `names` maps logical fields to API
    names (default `fields.field_specs()`); `protected_statuses` are the Lead statuses a
    stage patch must never overwrite; `rejected_statuses` (the mapping's
    `[lifecycle.rejected_statuses] salesforce`) are, with the MQL status, the statuses a
    recycle may move a Lead back from. `collection`: records per sObject Collections
    update (at most 200); three go in one API call.
    """
    if names is None:
        names = {s.field: s.name for s in field_specs()}
    writer = _Writer(
        calls, obj, stage_values, names, protected_statuses, rejected_statuses, collection
    )
    return writer.write(patches)
