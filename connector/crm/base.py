"""The one interface every CRM adapter implements; the sync loop knows nothing else.

An adapter turns its CRM into a stream of canonical records (with the current values of
mqlsync's write-back fields, so diffing needs no extra reads) and writes patches back in
batches, reporting per-record outcomes. Field names here are *logical* (`fit`, `stage` …);
each adapter maps them onto its CRM's names and formats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connector.core.records import LeadRecord

STAGE_FIELD = "stage"
"""Logical name of the lifecycle stage; its values are canonical stages."""

RIDE_ALONG = frozenset({"scored_at", "model"})
"""Fields that ride along with real changes but never cause a write on their own: the
scoring time and the mapping version. An edited mapping that changes nobody's score
writes nobody; the records it does change carry the new version."""

Value = str | int | None
"""Write-back values in normalised form: integers, strings, None for empty."""

Previous = Callable[[Sequence[str]], Mapping[str, tuple[datetime, LeadRecord]]]
"""Look-up of what a previous run pulled: id → (modified time then, canonical record)."""


@dataclass(frozen=True, slots=True)
class Pulled:
    """One record as read from the CRM, with what mqlsync can compare without another read."""

    record: LeadRecord
    current: Mapping[str, Value]
    """Current values of the logical write-back fields (and `stage`), normalised."""
    modified_at: datetime
    """The CRM's last-modified time of the record when it was read (the watermark field):
    its activities are valid as of this time."""
    echo_at: datetime | None = None
    """The CRM's last-modified time after mqlsync's own latest write of the record, when
    that is newer than `modified_at` (records rescored from the store). A current
    modified time newer than both means someone else changed the record since."""

    crm_mql_at: datetime | None = None
    """The CRM's own date the record became an MQL (HubSpot's "became a marketing qualified
    lead" date), if it has one: the MQL time of a record mqlsync did not promote."""

    @property
    def seen_at(self) -> datetime:
        """The newest modified time mqlsync accounts for (its read, or its own write)."""
        echo = self.echo_at
        return self.modified_at if echo is None or echo < self.modified_at else echo


@dataclass(frozen=True, slots=True)
class Current:
    """What a record holds now of mqlsync's fields, read just before a guarded write."""

    values: Mapping[str, Value]
    """Current values of the logical write-back fields (and `stage`), normalised."""
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the adapter could not turn into a canonical record, and why (in words a
    RevOps user can act on: which field, what was wrong)."""

    record_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """A page of pulled records; the sync commits state once per page."""

    items: list[Pulled]
    rejected: list[Rejected] = field(default_factory=list)
    """Records of this page left out because their CRM data could not be read; the sync
    reports each and keeps it as a dead letter, and syncs the rest."""


@dataclass(frozen=True, slots=True)
class Patch:
    """Changes to write to one record: logical field → new value (only changed fields)."""

    object: str
    record_id: str
    values: Mapping[str, Value]
    stage_backward: bool = False
    """True when `stage` moves back (mql → lead): HubSpot must clear it first."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one patch; `error` None means written."""

    record_id: str
    error: str | None = None
    retriable: bool = False
    modified_at: datetime | None = None
    """The CRM's last-modified time after the write (the echo of mqlsync's own write)."""


@dataclass(slots=True)
class ProvisionReport:
    """What `provision` found and did."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SlaBreach:
    """An MQL that has just passed SLA windows, for a follow-up task in the CRM.

    Carries what the record's owner needs to act without opening mqlsync: which windows
    were missed, since when the lead has been an MQL, and why it scored.
    """

    record_id: str
    owner: str | None
    """The CRM owner (user) id, when the record has one; the task is assigned to them."""
    breached: tuple[str, ...]
    """Windows newly exceeded: `handoff`, `first_touch`, `disposition`."""
    mql_at: datetime
    reasons: str
    """The written top score reasons."""

    @property
    def key(self) -> str:
        """Names this breach (record, MQL time, windows): written into the task so a task
        whose creation was cut short can be found instead of created twice."""
        text = f"{self.record_id}|{self.mql_at.isoformat()}|{','.join(self.breached)}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class CrmAdapter(Protocol):
    """A CRM as the sync loop sees it (HubSpot, Salesforce, or their sandboxes)."""

    kind: str
    """`hubspot` or `salesforce`: the `crm` of the records it yields."""
    objects: tuple[str, ...]
    """Object kinds synced, e.g. `("contact",)` or `("lead", "contact")`."""
    watermark_field: str
    write_batch_size: int
    tracks_activity_changes: bool
    """True when `pull` finds, by itself, the records whose activities changed since
    `since` even if the record's own modified time did not move (Salesforce: a new Task
    leaves its Lead's SystemModstamp alone, so the reader asks the activity objects). Then a
    record whose modified time is still the echo of mqlsync's own write holds the
    activities mqlsync last read, and `previous` may offer that echo time, so the echo
    costs no activity reads. False: an activity shows only through the record's modified
    time, so an echo is read again in full (an activity logged between mqlsync's read and
    its write would hide behind the echo)."""

    @property
    def api_calls(self) -> int:
        """HTTP requests made so far (for run history and benchmarks)."""
        ...

    def provision(self, *, dry_run: bool = False) -> ProvisionReport:
        """Create mqlsync's fields in the CRM if missing; idempotent."""
        ...

    def pull(
        self,
        obj: str,
        since: datetime,
        now: datetime,
        previous: Previous | None = None,
    ) -> Iterator[Page]:
        """Stream every record modified at or after `since`, our own writes' echoes included.

        Echoes are not filtered out on the server: a filter that tells our write from a
        human edit made in the same seconds cannot exist, and a re-read echo costs one
        pull and yields no write through the diff. `now` is the run's clock (for anything
        time-relative an adapter computes, e.g. 30-day account engagement). `previous`
        tells what an earlier run pulled; a record whose modified time is unchanged reuses
        that record's activities instead of reading them again.
        """
        ...

    def read(self, obj: str, ids: Sequence[str], now: datetime) -> Iterator[Page]:
        """Fetch specific records (dead letters to retry) in the same shape as `pull`."""
        ...

    def lead_statuses(self) -> list[str]:
        """The values the CRM's lead-status field allows (to check a mapping's statuses)."""
        ...

    def find(self, obj: str, key: str) -> str | None:
        """The id of the record `key` names (an id, or an email address), if any."""
        ...

    def peek(self, obj: str, ids: Sequence[str]) -> dict[str, Current]:
        """Current values of mqlsync's fields, the stage and the modified time of `ids`
        (no activities): the cheap read a guarded write or an undo makes first. Ids the
        CRM no longer has are absent."""
        ...

    def write(self, obj: str, patches: list[Patch]) -> list[Outcome]:
        """Write one batch (≤ `write_batch_size`) and report every patch's outcome."""
        ...

    def notify_sla_breaches(
        self, obj: str, breaches: Sequence[SlaBreach], *, now: datetime | None = None
    ) -> int:
        """Create one follow-up task per breach for the record's owner; returns tasks created.

        Only for the mapping's opt-in `sla.create_task_on_breach`. Not idempotent: pass each
        breach once (when a window is first exceeded), not on every sync that still sees it;
        each task carries the breach's `key`. `now` (the sync's clock; default the wall
        clock) is the tasks' due time.
        """
        ...

    def sla_tasks_present(self, obj: str, breaches: Sequence[SlaBreach]) -> set[str]:
        """Keys of the breaches that already have their task in the CRM (a creation whose
        answer was lost, e.g. to a crash, may have landed)."""
        ...
