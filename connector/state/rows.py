"""Conversions between table rows and the store's frozen values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, Row, and_, select

from . import tables as t
from .values import DeadLetter, JournalRecord, PendingBreach, Run, Snapshot

__all__ = [
    "SNAPSHOT_COLUMNS",
    "SNAPSHOT_JOIN",
    "SNAPSHOT_SELECT",
    "breach",
    "dead_letter",
    "due_update",
    "due_update_sql",
    "journal_insert_sql",
    "journal_row",
    "new_id",
    "record_row",
    "run",
    "snapshot",
    "snapshot_and_record",
    "snapshot_and_record_sql",
    "snapshot_row",
    "snapshot_update",
    "snapshot_update_sql",
]

# Column order snapshot() unpacks; selected explicitly so table changes cannot shift it.
# ``record`` comes from ``snapshot_records`` (NULL, read as ``{}``, when a row has none).
SNAPSHOT_ORDER = (
    "crm", "object", "record_id", "fit", "engagement", "total", "grade", "route", "temperature",
    "stage", "mql_at", "recycled_at", "recycle_reason", "lead_status_at_promotion", "scored_at",
    "written", "record", "due_at", "model",
)  # fmt: skip
SNAPSHOT_COLUMNS = [
    t.snapshot_records.c.record if name == "record" else t.snapshots.c[name]
    for name in SNAPSHOT_ORDER
]
SNAPSHOT_JOIN = t.snapshots.outerjoin(
    t.snapshot_records,
    and_(
        t.snapshot_records.c.crm == t.snapshots.c.crm,
        t.snapshot_records.c.object == t.snapshots.c.object,
        t.snapshot_records.c.record_id == t.snapshots.c.record_id,
    ),
)
"""What `SNAPSHOT_COLUMNS` select from: each snapshot with its record, if it has one."""
SNAPSHOT_SELECT = select(*SNAPSHOT_COLUMNS).select_from(SNAPSHOT_JOIN)
"""Every snapshot with its record, in :data:`SNAPSHOT_ORDER` (add filters and order)."""


def snapshot_row(s: Snapshot) -> dict[str, Any]:
    """Column values of a snapshot's row (its record goes to `record_row`)."""
    return {
        "crm": s.crm,
        "object": s.obj,
        "record_id": s.record_id,
        "fit": s.fit,
        "engagement": s.engagement,
        "total": s.total,
        "grade": s.grade,
        "route": s.route,
        "temperature": s.temperature,
        "stage": s.stage,
        "mql_at": s.mql_at,
        "recycled_at": s.recycled_at,
        "recycle_reason": s.recycle_reason,
        "lead_status_at_promotion": s.lead_status_at_promotion,
        "scored_at": s.scored_at,
        "written": t.dumps_values(s.written),
        "due_at": s.due_at,
        "model": s.model,
    }


def record_row(s: Snapshot) -> dict[str, Any]:
    """Column values of a snapshot's record row."""
    return {"crm": s.crm, "object": s.obj, "record_id": s.record_id, "record": t.dumps(s.record)}


# Columns update_snapshots sets (all but the key, the stored record and the due time, which
# has a statement of its own), in parameter order.
_UPDATE_ORDER = (
    "fit", "engagement", "total", "grade", "route", "temperature", "stage", "mql_at",
    "recycled_at", "recycle_reason", "lead_status_at_promotion", "scored_at", "written", "model",
)  # fmt: skip
_KEY = ("crm", "object", "record_id")


def _mark(dialect: str) -> str:
    """The driver's positional placeholder: qmark for sqlite3, format for psycopg."""
    return "?" if dialect == "sqlite" else "%s"


def snapshot_update_sql(dialect: str, *, written: bool = True) -> str:
    """``UPDATE snapshots`` of one row by key, for the driver's executemany with the
    tuples of :func:`snapshot_update` (``written=False``: the column is left as stored)."""
    mark = _mark(dialect)
    sets = ", ".join(f"{c} = {mark}" for c in _UPDATE_ORDER if written or c != "written")
    key = " AND ".join(f"{c} = {mark}" for c in _KEY)
    return f"UPDATE {t.snapshots.name} SET {sets} WHERE {key}"  # noqa: S608 - constant names


def snapshot_update(s: Snapshot, dialect: str, *, written: bool = True) -> tuple[Any, ...]:
    """Parameters of :func:`snapshot_update_sql` for one snapshot (its record left out)."""
    head = (
        s.fit, s.engagement, s.total, s.grade, s.route, s.temperature, s.stage,
        t.bind_instant(s.mql_at, dialect), t.bind_instant(s.recycled_at, dialect),
        s.recycle_reason, s.lead_status_at_promotion, t.bind_instant(s.scored_at, dialect),
    )  # fmt: skip
    tail = (s.model, s.crm, s.obj, s.record_id)
    return (*head, t.dumps_values(s.written), *tail) if written else (*head, *tail)


def due_update_sql(dialect: str) -> str:
    """``UPDATE snapshots`` of one row's due time by key, only where it differs, for the
    driver's executemany with the tuples of :func:`due_update`.

    Apart from the other columns: SQLite maintains the due-time index for every row an
    ``UPDATE`` naming the column touches, even with the value unchanged (13 µs a row at
    100k snapshots against 6 for the whole rest of the row), and most rescored records
    keep their due time; a row this statement's condition skips is not touched.
    """
    mark = _mark(dialect)
    differs = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"  # NULL-safe on both
    key = " AND ".join(f"{c} = {mark}" for c in _KEY)
    return (
        f"UPDATE {t.snapshots.name} SET due_at = {mark} "  # noqa: S608 - constant names
        f"WHERE {key} AND due_at {differs} {mark}"
    )


def due_update(s: Snapshot, dialect: str) -> tuple[Any, ...]:
    """Parameters of :func:`due_update_sql` for one snapshot."""
    due = t.bind_instant(s.due_at, dialect)
    return (due, s.crm, s.obj, s.record_id, due)


_JOURNAL_ORDER = ("run_id", "crm", "object", "record_id", "changes", "state", "memory")


def journal_insert_sql(dialect: str) -> str:
    """``INSERT INTO journal`` of one row, for the driver's executemany with the tuples of
    :func:`journal_row`."""
    marks = ", ".join(_mark(dialect) for _ in _JOURNAL_ORDER)
    columns = ", ".join(_JOURNAL_ORDER)
    return f"INSERT INTO {t.journal.name} ({columns}) VALUES ({marks})"  # noqa: S608 - constants


def journal_row(run_id: int, r: JournalRecord, state: str) -> tuple[Any, ...]:
    """Parameters of :func:`journal_insert_sql`: the changes as ``{field: [before, after]}``."""
    changes = t.dumps_values({f: list(change) for f, change in r.changes.items()})
    memory = None if r.memory is None else t.dumps_values(r.memory)
    return (run_id, r.crm, r.obj, r.record_id, changes, state, memory)


def snapshot_and_record_sql(dialect: str, ids: int) -> str:
    """``SELECT`` of the snapshots of ``ids`` record ids of one CRM object, each with its
    record's JSON text (NULL when it has none), in :data:`SNAPSHOT_ORDER`; parameters:
    crm, object, then the ids."""
    mark = _mark(dialect)
    s, r = t.snapshots.name, t.snapshot_records.name
    columns = ", ".join("r.record" if c == "record" else f"s.{c}" for c in SNAPSHOT_ORDER)
    key = " AND ".join(f"r.{c} = s.{c}" for c in ("crm", "object", "record_id"))
    marks = ", ".join([mark] * ids)
    return (
        f"SELECT {columns} FROM {s} s LEFT JOIN {r} r ON {key} "  # noqa: S608 - constants
        f"WHERE s.crm = {mark} AND s.object = {mark} AND s.record_id IN ({marks})"
    )


def snapshot_and_record(row: Sequence[Any]) -> tuple[Snapshot, str | None]:
    """A row of :func:`snapshot_and_record_sql`: the snapshot (its ``record`` left empty)
    and the record's text. The driver's raw values: times are converted here."""
    (c, o, rid, fit, eng, total, grade, route, temp, stage, mql, rec, reason, status, at, w, r,
     due, model) = row  # fmt: skip
    instant = t.read_instant
    at = instant(at)
    assert at is not None  # scored_at is NOT NULL
    snap = Snapshot(
        c, o, rid, fit, eng, total, at, grade, route, temp, stage, instant(mql), instant(rec),
        reason, status, t.loads(w), {}, instant(due), model,
    )  # fmt: skip
    return snap, r


def snapshot(row: Sequence[Any]) -> Snapshot:
    """Decode a row; positional unpacking in _SNAPSHOT_ORDER is much faster than row.attr."""
    (c, o, rid, fit, eng, total, grade, route, temp, stage, mql, rec, reason, status, at, w, r,
     due, model) = row  # fmt: skip
    return Snapshot(
        c, o, rid, fit, eng, total, at, grade, route, temp, stage, mql, rec, reason, status,
        t.loads(w), {} if r is None else t.loads(r), due, model,
    )  # fmt: skip


def run(row: Row[Any]) -> Run:
    return Run(
        id=row.id,
        kind=row.kind,
        crm=row.crm,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        counts=t.loads(row.counts),
        api_calls=row.api_calls,
        error=row.error,
        mapping_version=row.mapping_version,
    )


def dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        run_id=row.run_id,
        crm=row.crm,
        obj=row.object,
        record_id=row.record_id,
        payload=t.loads(row.payload),
        error=row.error,
        attempts=row.attempts,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        parked_at=row.parked_at,
    )


def breach(row: Row[Any]) -> PendingBreach:
    return PendingBreach(
        crm=row.crm,
        obj=row.object,
        record_id=row.record_id,
        key=row.key,
        owner=row.owner,
        breached=tuple(w for w in row.breached.split(",") if w),
        mql_at=row.mql_at,
        reasons=row.reasons,
        state=row.state,
        id=int(row.id),
    )


def new_id(result: CursorResult[Any]) -> int:
    """The autoincrement id of a single-row INSERT."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both dialects return the key
        raise RuntimeError("database did not return the new row id")
    return int(key[0])
