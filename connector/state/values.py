"""Immutable values the state store takes and returns; no SQL here.

Keeping them plain frozen dataclasses (not ORM objects) means callers can hold, compare and
pass them across threads without a session, and the store can stream a million of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from connector.core.timers import NEVER

__all__ = [
    "EPOCH",
    "NEVER",
    "DeadLetter",
    "JournalEntry",
    "JournalRecord",
    "Run",
    "RunKind",
    "Snapshot",
    "Watermark",
    "require_aware",
]

RunKind = Literal["sync", "rescore", "undo"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""``due_at`` of a snapshot that time alone never changes (``None`` means "not known yet")."""


def require_aware(value: datetime, what: str) -> datetime:
    """Reject naive datetimes: a cursor off by the server's UTC offset silently loses records."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


@dataclass(frozen=True, slots=True)
class Watermark:
    """Incremental-pull cursor for one (crm, object): pull changes since ``value - lookback``.

    A value passed into a pull and returned advanced (style lesson 2), never a global. The
    lookback overlap re-reads recent rows to catch late-indexed writes; callers dedup by id
    and query with a closed bound (``>=``).
    """

    field: str
    value: datetime
    lookback: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        require_aware(self.value, "watermark value")
        if self.lookback < timedelta(0):
            raise ValueError("lookback must not be negative")

    @classmethod
    def initial(cls, field: str, lookback: timedelta = timedelta(0)) -> Watermark:
        """The cursor of a first sync: everything since the epoch (a full backfill)."""
        return cls(field, EPOCH, lookback)

    @property
    def since(self) -> datetime:
        """Lower bound (inclusive) of the next pull."""
        return max(EPOCH, self.value - self.lookback)

    def advance(self, max_seen: datetime | None, run_started_at: datetime) -> Watermark:
        """The cursor after a successful run: ``min(max_seen, run_started_at)`` (lesson 3).

        Capping at the run's start means rows edited while the run was paging are re-read
        next time. The cursor never moves backwards, and stays put when nothing was seen.
        """
        if max_seen is None:
            return self
        require_aware(max_seen, "max_seen")
        require_aware(run_started_at, "run_started_at")
        return replace(self, value=max(self.value, min(max_seen, run_started_at)))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What mqlsync last computed and wrote for one record, enough to rescore it offline.

    ``written`` is the write-back field values last sent to the CRM (for diffing without a
    read); ``record`` is the canonical record JSON (``LeadRecord.to_json()``) so the daily
    rescore needs zero CRM reads.
    """

    crm: str
    obj: str
    record_id: str
    fit: int
    engagement: int
    total: int
    scored_at: datetime
    grade: str | None = None
    route: str | None = None
    temperature: str | None = None
    stage: str | None = None
    mql_at: datetime | None = None
    recycled_at: datetime | None = None
    recycle_reason: str | None = None
    lead_status_at_promotion: str | None = None
    written: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None
    """When time alone may next change the written values (``connector.core.timers``); ``None``
    = not known, so the rescore treats it as due; ``NEVER`` = no time-based change."""
    model: str | None = None
    """The mapping version (``<stem>@<hex12>``) that computed it; another version means
    the next sync rescores it from the store."""

    def __post_init__(self) -> None:
        # Inline checks: the rescore builds a million of these from the store.
        if self.scored_at.tzinfo is None:
            require_aware(self.scored_at, "scored_at")
        if self.mql_at is not None and self.mql_at.tzinfo is None:
            require_aware(self.mql_at, "mql_at")
        if self.recycled_at is not None and self.recycled_at.tzinfo is None:
            require_aware(self.recycled_at, "recycled_at")
        if self.due_at is not None and self.due_at.tzinfo is None:
            require_aware(self.due_at, "due_at")

    @property
    def key(self) -> tuple[str, str, str]:
        """Primary key (crm, object, record_id)."""
        return (self.crm, self.obj, self.record_id)


@dataclass(frozen=True, slots=True)
class PreparedUpdates:
    """Snapshot updates as the store's driver binds them (see
    ``StateStore.prepare_updates``): picklable, so a worker process can build them."""

    dialect: str
    rows: list[tuple[Any, ...]]
    """Every column but the due time, a row each."""
    dues: list[tuple[Any, ...]]
    """The due times, set only where they differ (see ``rows.due_update_sql``)."""
    written: bool = True
    """False: the updates leave each row's ``written`` as stored."""

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Run:
    """One sync, rescore or undo run as recorded in the run history."""

    id: int
    kind: str
    started_at: datetime
    status: str
    crm: str | None = None
    finished_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    error: str | None = None
    mapping_version: str | None = None
    """``<mapping stem>@<12 hex of its sha256>``: which model the run scored with."""

    @property
    def duration(self) -> timedelta | None:
        """Wall time of a finished run."""
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One field change written to the CRM by a run; ``before`` is what undo restores."""

    crm: str
    obj: str
    record_id: str
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """Every field change a run wrote to one record: ``field -> (before, after)``.

    The journal stores one row per record (not per field): a rescore writes ~6 fields on
    each of 100k+ records, and per-field rows made the journal most of its write time.
    """

    crm: str
    obj: str
    record_id: str
    changes: dict[str, tuple[Any, Any]]
    memory: dict[str, Any] | None = None
    """The lifecycle memory the write carries (stage, mql_at …, as JSON values), so a run
    that died between the CRM write and its state commit can be settled: if the CRM shows
    the write, the snapshot takes this memory instead of the next run re-stamping it."""


JournalState = Literal["pending", "applied", "failed"]
"""A journal row is written ``pending`` before its CRM write (so a crash leaves a record of
what may have been written), then settled ``applied`` or ``failed`` (not written)."""


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A journal row not yet settled: its run died or its write failed mid-way."""

    id: int
    run_id: int
    crm: str
    obj: str
    record_id: str
    changes: dict[str, tuple[Any, Any]]
    memory: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that kept failing; kept with its payload and reason until resolved."""

    id: int
    run_id: int | None
    crm: str
    obj: str
    record_id: str
    payload: Any
    error: str
    attempts: int
    created_at: datetime
    resolved_at: datetime | None = None
    parked_at: datetime | None = None
    """Set once the letter used up its attempts: no longer retried, shown in ``status``."""


BreachState = Literal["pending", "sent", "done"]
"""An SLA breach is stored ``pending`` with the write that records it, marked ``sent``
just before its task is requested and ``done`` once the CRM confirms the task; a ``sent``
one (the answer was lost) is looked up in the CRM before it is requested again."""


@dataclass(frozen=True, slots=True)
class PendingBreach:
    """An SLA breach whose follow-up task is not known to exist yet."""

    crm: str
    obj: str
    record_id: str
    key: str
    owner: str | None
    breached: tuple[str, ...]
    mql_at: datetime
    reasons: str
    state: BreachState = "pending"
    id: int | None = None
