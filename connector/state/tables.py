"""Table definitions (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Core rather than ORM: the hot paths are bulk upserts of a page and streaming a million
snapshots for the daily rescore; the ORM's identity map and per-object bookkeeping would
cost memory and time there and buy nothing, since the store hands out frozen values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "bind_instant",
    "dead_letters",
    "dumps",
    "journal",
    "loads",
    "metadata",
    "read_instant",
    "runs",
    "sla_breaches",
    "snapshots",
    "watermarks",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    PostgreSQL gets ``timestamptz``. SQLite has no datetime type, so values are stored as
    fixed-width ISO-8601 UTC text (``2026-11-01T03:00:00.000000+00:00``): it sorts and
    compares correctly as text, and reads back with the C-fast ``datetime.fromisoformat``
    (the rescore decodes millions of them).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return bind_instant(value, dialect.name)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return read_instant(value)


def read_instant(value: Any) -> datetime | None:
    """A stored :class:`UtcDateTime` as the driver returns it (SQLite: ISO text;
    PostgreSQL: an aware datetime) → an aware UTC datetime (for driver-level SQL)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def bind_instant(value: datetime | None, dialect: str) -> Any:
    """A datetime as :class:`UtcDateTime` stores it on ``dialect`` (for driver-level SQL)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the state store")
    value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds") if dialect == "sqlite" else value


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """Compact JSON; datetimes become ISO-8601 strings."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


_encode_values = msgspec.json.Encoder().encode


def dumps_values(value: Any) -> str:
    """:func:`dumps` of plain values (text, numbers, None, and lists and dicts of them, as
    the written fields, journal changes and lifecycle memory are), 8× faster: the same
    text for text, whole numbers and None, the same values for finite floats. Not for
    records, whose properties may hold times or NaN (``json`` writes those differently)."""
    return _encode_values(value).decode()


_decode = json.JSONDecoder().decode
_fast_decode = msgspec.json.Decoder().decode


def loads(text: str | None) -> Any:
    """Inverse of :func:`dumps`; NULL reads as ``None``.

    msgspec decodes about twice as fast as `json` (a whole-store rescore decodes two
    documents per snapshot); what it refuses (``NaN``, which `json` writes) goes to `json`.
    """
    if text is None:
        return None
    try:
        return _fast_decode(text)
    except msgspec.DecodeError:
        return _decode(text)


metadata = MetaData()

_ID = String(255)
_CRM = String(32)
_OBJ = String(64)

watermarks = Table(
    "watermarks",
    metadata,
    Column("crm", _CRM, primary_key=True),
    Column("object", _OBJ, primary_key=True),
    Column("field", String(128), primary_key=True),
    Column("value", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    sqlite_with_rowid=False,
)

def _record_key() -> tuple[Column[str], ...]:
    """The key of a table with one row per CRM record (a column belongs to one table, so
    each table gets its own copies)."""
    return (
        Column("crm", _CRM, primary_key=True),
        Column("object", _OBJ, primary_key=True),
        Column("record_id", _ID, primary_key=True),
    )


snapshots = Table(
    "snapshots",
    metadata,
    *_record_key(),
    Column("fit", Integer, nullable=False),
    Column("engagement", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("grade", String(8)),
    Column("route", String(32)),
    Column("temperature", String(16)),
    Column("stage", String(32)),
    Column("mql_at", UtcDateTime()),
    Column("recycled_at", UtcDateTime()),
    Column("recycle_reason", Text),
    Column("lead_status_at_promotion", String(255)),
    Column("scored_at", UtcDateTime(), nullable=False),
    Column("written", Text, nullable=False),  # JSON: write-back field -> last written value
    # When time alone may next change what was written (connector.core.timers); NULL = not known
    # yet (due now). The daily rescore reads only due rows through ix_snapshots_due.
    Column("due_at", UtcDateTime()),
    Column("model", String(160)),  # mapping version that computed it (<stem>@<hex12>)
    # Clustered on the key in SQLite: the rescore's key-ordered scan reads pages in order
    # instead of an index plus a rowid lookup per row (~20 % faster, smaller file).
    sqlite_with_rowid=False,
)

# Each snapshot's canonical record JSON (``LeadRecord.to_json()``), for the offline rescore,
# kept apart from the scores: SQLite rewrites a whole row (overflow pages included) on any
# update, so a rescore updating scores beside a ~5 KB record paid ~4x per row for rewriting
# a record it never changed. Stores made before keep it in ``snapshots.record`` until
# ``connector.state.migrate`` moves it here.
snapshot_records = Table(
    "snapshot_records",
    metadata,
    *_record_key(),
    Column("record", Text, nullable=False),
    sqlite_with_rowid=False,
)

# Pinned crm/object first: the rescore seeks one object's due rows in (due_at, id) order.
Index(
    "ix_snapshots_due",
    snapshots.c.crm,
    snapshots.c.object,
    snapshots.c.due_at,
    snapshots.c.record_id,
)

runs = Table(
    "runs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("kind", String(16), nullable=False),
    Column("crm", _CRM),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("status", String(16), nullable=False),
    Column("counts", Text, nullable=False, default="{}"),  # JSON: pulled/scored/written/…
    Column("api_calls", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("mapping_version", String(160)),  # <stem>@<hex12> of the mapping it scored with
)

journal = Table(
    "journal",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("crm", _CRM, nullable=False),
    Column("object", _OBJ, nullable=False),
    Column("record_id", _ID, nullable=False),
    # JSON {field: [before, after]} in write order: one row per record, not per field
    # (stores made before hold one field per row; see connector.state.migrate).
    Column("changes", Text, nullable=False),
    # pending (journaled before the CRM write) → applied | failed; see JournalState.
    Column("state", String(16), nullable=False, server_default="applied"),
    Column("memory", Text),  # JSON lifecycle memory the write carries (settles a crash)
    Index("ix_journal_run", "run_id", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", ForeignKey("runs.id", ondelete="SET NULL")),
    Column("crm", _CRM, nullable=False),
    Column("object", _OBJ, nullable=False),
    Column("record_id", _ID, nullable=False),
    Column("payload", Text),  # JSON
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    Column("parked_at", UtcDateTime()),  # attempts used up: kept open, no longer retried
)
# Unsettled journal rows are looked up at every run start; keep that an index seek.
Index("ix_journal_pending", journal.c.crm, journal.c.object, journal.c.state, journal.c.id)
# At most one open dead letter per record; repeat failures merge into it (upsert target).
_open = dead_letters.c.resolved_at.is_(None)
Index(
    "uq_dead_letters_open",
    dead_letters.c.crm,
    dead_letters.c.object,
    dead_letters.c.record_id,
    unique=True,
    sqlite_where=_open,
    postgresql_where=_open,
)

# SLA breaches waiting for their follow-up task (see connector.state.values.PendingBreach).
sla_breaches = Table(
    "sla_breaches",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("crm", _CRM, nullable=False),
    Column("object", _OBJ, nullable=False),
    Column("record_id", _ID, nullable=False),
    Column("key", String(32), nullable=False),
    Column("owner", String(255)),
    Column("breached", String(255), nullable=False),  # comma-separated windows
    Column("mql_at", UtcDateTime(), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("done_at", UtcDateTime()),
    Index("uq_sla_breaches_key", "crm", "object", "key", unique=True),
    Index("ix_sla_breaches_open", "crm", "object", "state", "id"),
)
