"""HubSpot behind the `CrmAdapter` protocol: contacts in, scores and stages out."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence, Set
from datetime import UTC, datetime
from typing import Any

from connector.core.records import Activity, LeadRecord
from connector.crm.base import (
    STAGE_FIELD,
    Current,
    Outcome,
    Page,
    Patch,
    Previous,
    ProvisionReport,
    Pulled,
    Rejected,
    SlaBreach,
    Value,
)
from connector.crm.hubspot.accounts import accounts_for
from connector.crm.hubspot.activities import (
    ENGAGEMENT_SHAPES,
    ENGAGEMENTS,
    engagement_activities,
    hubspot_time,
    rollup_activities,
    rollup_properties,
)
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.hubspot.fields import (
    MODIFIED,
    MQL_DATE,
    STAGE_PROPERTY,
    hubspot_value,
    property_specs,
)
from connector.crm.hubspot.provision import provision_properties
from connector.crm.hubspot.scan import EngagementScan
from connector.crm.hubspot.search import ContactSearch, changed_since
from connector.crm.hubspot.tasks import SlaTask, create_sla_tasks, tasks_present
from connector.crm.hubspot.touched import touched_since
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
from connector.crm.values import normalise, parse_instant
from connector.errors import FatalSyncError
from connector.mapping.schema import MappingSpec

log = logging.getLogger(__name__)

_OPTIONS = {STAGE_PROPERTY: ("a lifecycle stage", 32), "hs_lead_status": ("a lead status", 255)}
"""Enumerations mqlsync acts on, and the longest value believable for each. HubSpot's own
values (custom stages' are numeric ids) are far shorter; the state store keeps a stage in
32 characters and the lead status recorded at promotion in 255."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _contact_id(contact: Any) -> str:
    raw = getattr(contact, "id", None)
    return "" if raw is None else str(raw)


def _properties(contact: Any) -> Mapping[str, Any]:
    props = getattr(contact, "properties", None)
    return props if isinstance(props, Mapping) else {}


def _shape(activity: Activity) -> tuple[str, tuple[str, ...]]:
    return activity.type, tuple(sorted(activity.detail))


def _task(breach: SlaBreach) -> SlaTask:
    return SlaTask(
        breach.record_id, breach.owner, breach.breached, breach.mql_at, breach.reasons, breach.key
    )


class HubSpotAdapter:
    """Pulls changed contacts with their activities; writes mqlsync properties in batches."""

    kind = "hubspot"
    objects: tuple[str, ...] = ("contact",)
    watermark_field = MODIFIED
    tracks_activity_changes: bool = True
    """Meetings, calls and emails changed since the watermark are searched for by type
    (`touched_since`); rollup activities are contact properties, read with every pull."""

    def __init__(
        self,
        calls: HubSpotCalls,
        mapping: MappingSpec,
        *,
        page_size: int = 200,
        write_batch_size: int = 100,
        read_batch_size: int = 100,
        association_batch_size: int = 1000,
        activity_block: int = 5000,
        scan_first_sync: bool = True,
        prefix: str = "mqlsync_",
    ) -> None:
        self.calls = calls
        self.mapping = mapping
        self.page_size = page_size
        self.write_batch_size = write_batch_size
        self.read_batch_size = read_batch_size
        self.association_batch_size = association_batch_size
        self.activity_block = max(activity_block, association_batch_size)
        """Contacts whose activities are fetched together: engagement reads of ≤ 100 ids
        are rounded up once per block, so bigger blocks waste fewer calls."""
        self.scan_first_sync = scan_first_sync
        """A pull from the epoch (a first sync: every contact) reads the engagements by
        type with their contacts inline instead of by contact block (`EngagementScan`)."""
        self.specs = property_specs(prefix)
        self.names = {s.field: s.name for s in self.specs}
        self.fields = dict(mapping.source_fields.hubspot)
        self.rollups = mapping.source_activities.hubspot
        stages = mapping.lifecycle.stages.hubspot.model_dump()
        self.stage_value = {k: v for k, v in stages.items() if v}
        self.stage_of_value = {v.lower(): k for k, v in self.stage_value.items()}
        self.accepted = {s.casefold() for s in mapping.lifecycle.hubspot_accepted_statuses}
        self.with_account = mapping.reads_account
        self.engagement_dates = list(dict.fromkeys(r.date_property for r in self.rollups))
        rollup_shapes = {(r.type, tuple(sorted(r.detail))) for r in self.rollups}
        if rollup_shapes & ENGAGEMENT_SHAPES:
            # A stored record's engagement activities could not be told from its rollup
            # ones, so an echo could not keep the first and recompute the second: echoes
            # are read again in full, as before activity changes were tracked.
            self.tracks_activity_changes = False

    @property
    def api_calls(self) -> int:
        """HTTP requests made so far."""
        return self.calls.calls

    # ------------------------------------------------------------------ provision
    def provision(self, *, dry_run: bool = False) -> ProvisionReport:
        """Create the `mqlsync` property group and the write-back properties that are missing."""
        return provision_properties(self.calls, self.specs, dry_run=dry_run)

    # ----------------------------------------------------------------------- pull
    def _search_properties(self) -> list[str]:
        names = dict.fromkeys(
            [*self.fields, *rollup_properties(self.rollups), *self.names.values()]
        )
        names.update(dict.fromkeys([STAGE_PROPERTY, "hs_lead_status", MODIFIED, MQL_DATE]))
        return list(names)

    def _mql_date(self, cid: str, props: Mapping[str, Any]) -> datetime | None:
        """HubSpot's became-an-MQL date; an unreadable one counts as none (logged)."""
        try:
            return hubspot_time(props.get(MQL_DATE), MQL_DATE)
        except BadTime as exc:
            log.warning("contact %s: %s: treated as unknown", cid, exc)
            return None

    def pull(
        self,
        obj: str,
        since: datetime,
        now: datetime,
        previous: Previous | None = None,
    ) -> Iterator[Page]:
        """Stream contacts modified at or after `since`, in pages of `page_size`.

        A contact the search returns twice (a search index caught mid-reindex can list a
        record twice, on one page or across a page boundary) is used once, as first seen:
        within a block of `activity_block` contacts, and against the block before, so
        no id set of a million-contact pull is kept in memory. A pull from the epoch reads
        the engagements by type, on disk (`EngagementScan`), unless `scan_first_sync` is off.

        An incremental pull first finds the contacts whose meetings, calls or emails
        changed since `since` (`touched_since`): those read their engagements again even
        when their modified time is still the one `previous` knows (the echo of mqlsync's
        own write), and those the contact search does not list are read by id at the end.
        """
        backfill = since.timestamp() <= 0
        touched = set() if backfill or not self.tracks_activity_changes else self._touched(since)
        groups = changed_since(since)
        search = ContactSearch(self.calls, groups, self._search_properties(), self.page_size)
        block: list[Any] = []
        before: set[str] = set()
        scan = self._scan() if self.scan_first_sync and backfill else None
        try:
            for results in search.pages():
                block.extend(results)
                if len(block) >= self.activity_block:
                    forced = self._forced(block, touched)
                    yield from self._pages(block, previous, now, before, scan, forced)
                    before = {_contact_id(c) for c in block}
                    block = []
            if block:
                forced = self._forced(block, touched)
                yield from self._pages(block, previous, now, before, scan, forced)
        finally:
            if scan is not None:
                scan.close()
        rest = sorted(touched, key=lambda i: (len(i), i))
        for start in range(0, len(rest), self.activity_block):
            yield from self.read(obj, rest[start : start + self.activity_block], now)

    def _touched(self, since: datetime) -> set[str]:
        """Contacts with a meeting, call or email modified at or after `since`."""
        return touched_since(
            self.calls,
            ENGAGEMENTS,
            since,
            page_size=self.page_size,
            association_batch=self.association_batch_size,
        )

    @staticmethod
    def _forced(block: list[Any], touched: set[str]) -> set[str]:
        """The contacts of `block` among `touched`, taken out of it (read once)."""
        forced = {cid for c in block if (cid := _contact_id(c)) in touched}
        touched -= forced
        return forced

    def _scan(self) -> EngagementScan:
        """Every engagement by type, read when the first block needs activities.

        Worth it only when every contact is pulled: it reads engagements of contacts an
        incremental pull would not touch, and saves the association reads a first sync
        would make for all of them."""
        return EngagementScan(
            self.calls, ENGAGEMENTS, association_batch=self.association_batch_size
        )

    def read(self, obj: str, ids: Sequence[str], now: datetime) -> Iterator[Page]:
        """Batch-read specific contacts (≤ 100 a call) with their activities."""
        found = self._read_contacts(ids, self._search_properties())
        if found:
            yield from self._pages(found, None, now)

    def _read_contacts(self, ids: Sequence[str], properties: list[str]) -> list[Any]:
        api = self.calls.client.crm.contacts.batch_api
        found: list[Any] = []
        for start in range(0, len(ids), self.read_batch_size):
            chunk = ids[start : start + self.read_batch_size]
            body = {"inputs": [{"id": i} for i in chunk], "properties": properties}
            page = self.calls.call(
                "read contacts", api.read, batch_read_input_simple_public_object_id=body
            )
            found.extend(page.results or ())
        return found

    def peek(self, obj: str, ids: Sequence[str]) -> dict[str, Current]:
        """Current write-back values, stage and modified time of `ids`: no activities."""
        properties = [*self.names.values(), STAGE_PROPERTY, "hs_lead_status", MODIFIED]
        return {
            str(c.id): Current(self._current(c.properties or {}), self._modified(c))
            for c in self._read_contacts(ids, properties)
        }

    def lead_statuses(self) -> list[str]:
        """The options of the contact property `hs_lead_status`."""
        api = self.calls.client.crm.properties.core_api
        prop = self.calls.call(
            "read hs_lead_status", api.get_by_name, object_type="contacts",
            property_name="hs_lead_status",
        )  # fmt: skip
        return [str(o.value) for o in prop.options or ()]

    def find(self, obj: str, key: str) -> str | None:
        """The id of the contact `key` names: an id as is, else an email address."""
        if key.strip().isdigit():
            return key.strip()
        groups = [[{"propertyName": "email", "operator": "EQ", "value": key.strip()}]]
        search = ContactSearch(self.calls, groups, ["email"], page_size=2)
        for page in search.pages():
            return str(page[0].id)
        return None

    def _pages(
        self,
        contacts: list[Any],
        previous: Previous | None,
        now: datetime,
        before: Set[str] = frozenset(),
        scan: EngagementScan | None = None,
        forced: Set[str] = frozenset(),
    ) -> Iterator[Page]:
        """A block of contacts as canonical records, in pages of `page_size`.

        Engagements are read for the contacts `previous` does not know as of their current
        modified time, and for those in `forced` (their engagements changed); the others
        keep their stored engagement activities.

        Total: a contact whose data cannot make a canonical record goes into the first
        page's `rejected` with the reason, and the others are still yielded. A contact
        seen earlier in the block, or in `before`, is skipped (the first copy counts).
        """
        rejected: list[Rejected] = []
        block: dict[str, tuple[Mapping[str, Any], datetime]] = {}
        seen: set[str] = set()
        for contact in contacts:
            cid = _contact_id(contact)
            if not cid.strip():
                log.warning("a contact without an id was skipped: it cannot be reported by id")
                continue
            if cid in seen or cid in before:
                log.warning("contact %s came twice in one pull: the first copy is used", cid)
                continue
            seen.add(cid)
            try:
                block[cid] = (_properties(contact), self._modified(contact))
            except Malformed as exc:
                rejected.append(Rejected(cid, exc.reason))
        ids = list(block)
        known = previous(ids) if previous is not None and ids else {}
        fresh = [
            cid
            for cid in ids
            if cid in forced or cid not in known or known[cid][0] != block[cid][1]
        ]
        problems = Problems()
        activities = (
            engagement_activities(
                self.calls,
                fresh,
                self.association_batch_size,
                self.read_batch_size,
                problems,
                scan,
            )
            if fresh
            else {}
        )
        accounts: dict[str, dict[str, Any]] = {}
        if self.with_account and fresh:
            accounts = accounts_for(
                self.calls,
                fresh,
                {cid: props for cid, (props, _) in block.items()},
                self.engagement_dates,
                now,
                association_batch=self.association_batch_size,
                read_batch=self.read_batch_size,
            )
        items = []
        for cid, (props, modified) in block.items():

            def build(cid: str = cid, props: Any = props, modified: datetime = modified) -> Pulled:
                reuse = known.get(cid) if cid not in activities else None
                engagements = activities.get(cid, [])
                dropped = problems.dropped.setdefault(cid, [])  # _record adds to it
                account = accounts.get(cid)
                record = self._record(cid, props, engagements, account, reuse, dropped)
                mql_date = self._mql_date(cid, props)
                return Pulled(record, self._current(props), modified, crm_mql_at=mql_date)

            item = convert(cid, problems, build)
            if isinstance(item, Rejected):
                rejected.append(item)
            else:
                items.append(item)
        for start in range(0, max(len(items), 1 if rejected else 0), self.page_size):
            yield Page(items[start : start + self.page_size], rejected if start == 0 else [])

    def _modified(self, contact: Any) -> datetime:
        """The contact's last-modified time: `lastmodifieddate`, else the object's `updatedAt`
        (the same instant; HubSpot sends both). Raises `Malformed` when neither is a
        usable zoned time: without it the contact can be neither checkpointed nor guarded."""
        cid = _contact_id(contact)
        problem = None
        try:
            at = hubspot_time(_properties(contact).get(MODIFIED), MODIFIED)
        except BadTime as exc:
            at, problem = None, str(exc)
        if at is None:
            try:
                at = hubspot_time(getattr(contact, "updated_at", None), "updatedAt")
            except BadTime:
                at = None
        if at is None:
            raise Malformed(cid, problem or f"no {MODIFIED}")
        return at

    def canonical_stage(self, props: Mapping[str, Any]) -> str | None:
        """The canonical stage of a contact (HubSpot has no SAL: MQL + accepted status)."""
        value = clean_text(str(props.get(STAGE_PROPERTY) or "")).strip().lower()
        if not value:
            return None
        stage = self.stage_of_value.get(value, value)
        status = clean_text(str(props.get("hs_lead_status") or "")).casefold()
        if stage == "mql" and status in self.accepted:
            return "sal"  # HubSpot has no SAL stage: sales accepted by working the lead
        return stage

    def _record(
        self,
        cid: str,
        props: Mapping[str, Any],
        engagements: list[Any],
        account: dict[str, Any] | None,
        reuse: tuple[datetime, LeadRecord] | None,
        dropped: list[str] | None = None,
    ) -> LeadRecord:
        """One contact as a canonical record, or `Malformed` saying why not.

        Tolerated, as the record format and the rules read them: missing properties
        (unknown), numbers in odd
        strings or odd types (scoring reads numeric strings, anything else is missing),
        long or unusual text (NUL removed, unpaired surrogates → U+FFFD, see `clean_text`),
        rollup dates that are no date (that activity is left out, noted in `dropped`).
        Rejected: a naive rollup date (HubSpot's are zoned, so the data is malformed), and
        a stage or lead status no HubSpot option could hold (mqlsync moves stages on them).
        """
        for name, (what, longest) in _OPTIONS.items():
            raw = props.get(name)
            text = "" if raw is None else str(raw).strip()
            if len(text) > longest or _CONTROL.search(text):
                raise Malformed(cid, f"{name} is not {what}: {shown(raw)}")
        canonical: dict[str, Any] = {}
        for name, field in self.fields.items():
            value = clean_value(props.get(name))
            if value not in (None, ""):
                canonical[field] = value
        canonical["lifecycle_stage"] = self.canonical_stage(props)
        if reuse is not None:
            old = reuse[1]
            if not self.tracks_activity_changes:  # unchanged since read: rollups too
                return LeadRecord(
                    cid, self.kind, "contact", canonical, old.activities, old.account
                )
            # `reuse` may be as of mqlsync's own write (an echo), which hides any change
            # made between its read and that write: rollups are contact properties, so they
            # come from `props`, read now; only the engagement activities are kept.
            engagements = [a for a in old.activities if _shape(a) in ENGAGEMENT_SHAPES]
            account = old.account
        try:
            rollups = rollup_activities(props, self.rollups, dropped)
        except NaiveTime as exc:
            raise Malformed(cid, str(exc)) from None
        activities = (*engagements, *rollups)
        return LeadRecord(cid, self.kind, "contact", canonical, activities, account)

    def _current(self, props: Mapping[str, Any]) -> dict[str, Value]:
        """mqlsync's fields as the CRM holds them, normalised. A value that cannot be one
        (a number or date nobody could parse) reads as empty, so the next write replaces it."""
        current: dict[str, Value] = {}
        for f, name in self.names.items():
            try:
                current[f] = normalise(f, clean_value(props.get(name)))
            except (ValueError, OverflowError, OSError):
                current[f] = None
        current[STAGE_FIELD] = self.canonical_stage(props)
        return current

    # ------------------------------------------------------------------- SLA tasks
    def notify_sla_breaches(
        self, obj: str, breaches: Sequence[SlaBreach], *, now: datetime | None = None
    ) -> int:
        """One HIGH-priority task per breach, assigned to the contact owner (opt-in)."""
        tasks = [_task(b) for b in breaches]
        return create_sla_tasks(self.calls, tasks, now=now or datetime.now(UTC))

    def sla_tasks_present(self, obj: str, breaches: Sequence[SlaBreach]) -> set[str]:
        """Keys of the breaches whose task is already on the contact."""
        return tasks_present(self.calls, [_task(b) for b in breaches])

    # ---------------------------------------------------------------------- write
    def write(self, obj: str, patches: list[Patch]) -> list[Outcome]:
        """Batch-update ≤ 100 contacts; backward stage moves clear first, then set."""
        inputs, second = [], {}
        for patch in patches:
            props = {
                self.names[f]: hubspot_value(v) for f, v in patch.values.items() if f != STAGE_FIELD
            }
            if STAGE_FIELD in patch.values:
                value = self.stage_value.get(str(patch.values[STAGE_FIELD]), "")
                props[STAGE_PROPERTY] = "" if patch.stage_backward else value
                if patch.stage_backward:
                    second[patch.record_id] = value
            inputs.append({"id": patch.record_id, "properties": props})
        outcomes = self._update(inputs)
        if second:
            ok = [rid for rid in second if outcomes[rid].error is None]
            retry = [{"id": rid, "properties": {STAGE_PROPERTY: second[rid]}} for rid in ok]
            for rid, outcome in self._update(retry, verify=second).items():
                outcomes[rid] = outcome
        return [outcomes[p.record_id] for p in patches]

    def _update(
        self, inputs: list[dict[str, Any]], verify: Mapping[str, str] | None = None
    ) -> dict[str, Outcome]:
        if not inputs:
            return {}
        api = self.calls.client.crm.contacts.batch_api
        try:
            res = self.calls.call(
                "update contacts",
                api.update,
                batch_input_simple_public_object_batch_input={"inputs": inputs},
            )
        except FatalSyncError as exc:
            if getattr(exc.__cause__, "status", None) != 400:
                raise
            return self._isolate(inputs, verify, str(exc))
        outcomes: dict[str, Outcome] = {}
        for result in res.results or ():
            rid = str(result.id)
            at = parse_instant(result.updated_at) or parse_instant(
                (result.properties or {}).get(MODIFIED)
            )
            outcomes[rid] = Outcome(rid, modified_at=at)
            if verify is not None and rid in verify:
                got = str((result.properties or {}).get(STAGE_PROPERTY) or "")
                if got.lower() != verify[rid].lower():
                    outcomes[rid] = Outcome(
                        rid,
                        f"lifecyclestage is {got!r} after clear-then-set, expected {verify[rid]!r}",
                        retriable=True,
                        modified_at=at,
                    )
        for error in getattr(res, "errors", None) or ():
            context = error.context or {}
            category = str(error.category or "")
            message = f"{category}: {error.message}"
            codes = {str(getattr(e, "code", "")) for e in getattr(error, "errors", None) or ()}
            if "PROPERTY_DOESNT_EXIST" in codes:
                raise FatalSyncError(
                    f"HubSpot has no such contact property ({error.message}): "
                    "run `mqlsync provision` to create mqlsync's properties"
                )
            for rid in context.get("ids") or ():
                outcomes[str(rid)] = Outcome(
                    str(rid), message, retriable=category not in ("VALIDATION_ERROR",)
                )
        for item in inputs:
            outcomes.setdefault(
                str(item["id"]), Outcome(str(item["id"]), "no result for this input", True)
            )
        return outcomes

    def _isolate(
        self, inputs: list[dict[str, Any]], verify: Mapping[str, str] | None, error: str
    ) -> dict[str, Outcome]:
        """A whole batch answered 400 (one bad input spoils it): write the halves apart until
        the bad inputs stand alone and fail on their own, so the rest is still written."""
        if len(inputs) == 1:
            rid = str(inputs[0]["id"])
            return {rid: Outcome(rid, error, retriable=False)}
        half = len(inputs) // 2
        log.warning("batch of %d answered 400: writing it in halves", len(inputs))
        return {**self._update(inputs[:half], verify), **self._update(inputs[half:], verify)}
