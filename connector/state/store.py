"""The state store: one class over SQLite (default) or PostgreSQL, same code path.

Every write method is one transaction, so a crash never leaves half a page: either the
page's snapshots, journal rows and watermark are all there or none are. Reads of many rows
stream by keyset pagination (short queries, no long-held cursor or transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Row,
    Table,
    and_,
    create_engine,
    event,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import ConfigError, redact
from . import tables as t
from .values import DeadLetter, JournalEntry, Run, RunKind, Snapshot, Watermark, require_aware

__all__ = ["StateStore"]

IN_CHUNK = 1_000
"""Ids per ``IN (…)`` list: under SQLite's old 999-variable limit with room for the keys."""

# Column order _snapshot() unpacks; selected explicitly so table changes cannot shift it.
_SNAPSHOT_ORDER = (
    "crm", "object", "record_id", "fit", "engagement", "total", "grade", "route", "temperature",
    "stage", "mql_at", "recycled_at", "recycle_reason", "lead_status_at_promotion", "scored_at",
    "written", "record",
)  # fmt: skip
_SNAPSHOT_COLUMNS = [t.snapshots.c[name] for name in _SNAPSHOT_ORDER]
_SNAPSHOT_KEY = ("crm", "object", "record_id")


def _now() -> datetime:
    return datetime.now(UTC)


_IMMEDIATE = "mqlsync_begin_immediate"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside a writer; FKs keep journal rows tied to runs.

    The driver's own transaction handling is switched off so :func:`_sqlite_begin` decides
    how each transaction starts.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",  # durable at checkpoints in WAL mode; far fewer fsyncs
        "busy_timeout=10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Write transactions take the write lock up front (``BEGIN IMMEDIATE``).

    A deferred transaction that reads then writes (dead-letter merge, upserts) can fail with
    SQLITE_BUSY when another process wrote in between; taking the lock first makes it wait
    (busy_timeout) instead. Reads stay deferred so they never block on a writer.
    """
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class StateStore:
    """Watermarks, score snapshots, run history, undo journal and dead letters.

    Open with :meth:`open`; use as a context manager or call :meth:`close`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported state store database {self.dialect!r}")
        self._writer = engine.execution_options(**{_IMMEDIATE: True})

    @classmethod
    def open(cls, url: str, **engine_options: Any) -> StateStore:
        """Connect to ``url`` (a SQLAlchemy URL) and create missing tables."""
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"not a database URL: {exc}", key="[state] url") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"unsupported database {parsed.get_backend_name()!r}; use sqlite:///FILE or "
                "postgresql+psycopg://…",
                key="[state] url",
            )
        engine = create_engine(parsed, **engine_options)
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        t.metadata.create_all(engine)
        return cls(engine)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _upsert(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
    ) -> None:
        """INSERT … ON CONFLICT DO UPDATE, in the dialect's own syntax, as one executemany."""
        if not rows:
            return
        dialect_insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        stmt = dialect_insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={c: stmt.excluded[c] for c in rows[0] if c not in key},
        )
        conn.execute(stmt, list(rows))

    # --- watermarks ------------------------------------------------------------------

    def get_watermark(
        self, crm: str, obj: str, field: str, *, lookback: timedelta = timedelta(0)
    ) -> Watermark | None:
        """The stored cursor, or ``None`` before the first successful sync (= backfill).

        ``lookback`` comes from current config, not the database, so changing it applies
        to the next run.
        """
        w = t.watermarks.c
        query = select(w.value).where(w.crm == crm, w.object == obj, w.field == field)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else Watermark(field, value, lookback)

    def save_watermark(
        self, crm: str, obj: str, watermark: Watermark, *, conn: Connection | None = None
    ) -> None:
        """Store the cursor; pass ``conn`` (see :meth:`transaction`) to commit it with a page."""
        row = {
            "crm": crm,
            "object": obj,
            "field": watermark.field,
            "value": watermark.value,
            "updated_at": _now(),
        }
        with self._conn(conn) as c:
            self._upsert(c, t.watermarks, [row], ("crm", "object", "field"))

    # --- transactions ----------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[Connection]:
        """``with store.transaction() as conn:`` — several writes committed atomically.

        Write methods take ``conn=`` to join it, e.g. a page's snapshots, journal entries
        and advanced watermark in one commit.
        """
        return self._writer.begin()

    def _conn(self, conn: Connection | None) -> AbstractContextManager[Connection]:
        """A new transaction, or the caller's (joined, committed by the caller)."""
        return self._writer.begin() if conn is None else nullcontext(conn)

    # --- runs ------------------------------------------------------------------------

    def start_run(
        self, kind: RunKind, *, crm: str | None = None, started_at: datetime | None = None
    ) -> int:
        """Record a run as ``running`` and return its id."""
        started = require_aware(started_at, "started_at") if started_at else _now()
        with self._writer.begin() as conn:
            result = conn.execute(
                insert(t.runs).values(
                    kind=kind,
                    crm=crm,
                    started_at=started,
                    status="running",
                    counts="{}",
                    api_calls=0,
                )
            )
        return _new_id(result)

    def finish_run(
        self,
        run_id: int,
        status: str,
        counts: Mapping[str, int],
        api_calls: int,
        error: str | None = None,
        *,
        finished_at: datetime | None = None,
    ) -> None:
        """Close a run with its outcome; ``error`` is redacted before it is stored."""
        finished = require_aware(finished_at, "finished_at") if finished_at else _now()
        with self._writer.begin() as conn:
            result = conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=finished,
                    counts=t.dumps(dict(counts)),
                    api_calls=api_calls,
                    error=redact(error) if error else None,
                )
            )
            if result.rowcount != 1:
                raise KeyError(f"no run {run_id}")

    def get_run(self, run_id: int) -> Run | None:
        """One run by id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return _run(row) if row else None

    def recent_runs(self, limit: int = 20, *, kind: RunKind | None = None) -> list[Run]:
        """Newest runs first."""
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if kind:
            query = query.where(t.runs.c.kind == kind)
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(query)]

    # --- snapshots -------------------------------------------------------------------

    def get_snapshots(self, crm: str, obj: str, ids: Iterable[str]) -> dict[str, Snapshot]:
        """Snapshots of ``ids`` that exist, by record id; ``IN`` lists of ≤ 1,000 ids."""
        s = t.snapshots.c
        found: dict[str, Snapshot] = {}
        unique = list(dict.fromkeys(ids))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), IN_CHUNK):
                chunk = unique[start : start + IN_CHUNK]
                query = select(*_SNAPSHOT_COLUMNS).where(
                    s.crm == crm, s.object == obj, s.record_id.in_(chunk)
                )
                for row in conn.execute(query):
                    snap = _snapshot(row)
                    found[snap.record_id] = snap
        return found

    def upsert_snapshots(
        self, snapshots: Iterable[Snapshot], *, conn: Connection | None = None
    ) -> int:
        """Insert or replace snapshots in one transaction (one page); returns how many."""
        # Last one wins for a key repeated in a page (PostgreSQL refuses to upsert a row twice).
        rows = [_snapshot_row(s) for s in {s.key: s for s in snapshots}.values()]
        with self._conn(conn) as c:
            self._upsert(c, t.snapshots, rows, _SNAPSHOT_KEY)
        return len(rows)

    def iter_snapshots(
        self, crm: str | None = None, obj: str | None = None, *, batch: int = 5_000
    ) -> Iterator[Snapshot]:
        """Stream every snapshot (optionally of one CRM/object) in primary-key order.

        Keyset pagination: each batch is a short indexed query starting after the last key
        seen, so memory stays at one batch and no transaction is held while the caller works
        (the rescore writes between batches).
        """
        s = t.snapshots.c
        key = (s.crm, s.object, s.record_id)
        base = select(*_SNAPSHOT_COLUMNS).order_by(*key).limit(batch)
        # The "after" predicate covers only key columns not pinned by equality: SQLite uses
        # just ``crm = ?`` from ``crm = ? AND (crm, object, id) > (…)`` and would re-scan the
        # CRM's rows from the start on every batch (quadratic over a million rows).
        pinned = {0: crm, 1: obj}
        free = [i for i in range(3) if pinned.get(i) is None]
        for i, value in pinned.items():
            if value is not None:
                base = base.where(key[i] == value)
        after: list[Any] | None = None
        while True:
            query = base
            if after is not None:
                cols = [key[i] for i in free]
                query = query.where(
                    cols[0] > after[0] if len(cols) == 1 else tuple_(*cols) > tuple_(*after)
                )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield _snapshot(row)
            if len(rows) < batch:
                return
            after = [rows[-1][i] for i in free]

    def count_snapshots(self, crm: str | None = None) -> int:
        """Number of stored snapshots (for progress bars)."""
        query = select(func.count()).select_from(t.snapshots)
        if crm is not None:
            query = query.where(t.snapshots.c.crm == crm)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- journal ---------------------------------------------------------------------

    def journal(
        self, run_id: int, entries: Iterable[JournalEntry], *, conn: Connection | None = None
    ) -> int:
        """Record field changes a run wrote (for undo) in one transaction; returns how many."""
        rows = [
            {
                "run_id": run_id,
                "crm": e.crm,
                "object": e.obj,
                "record_id": e.record_id,
                "field": e.field,
                "before": t.dumps(e.before),
                "after": t.dumps(e.after),
            }
            for e in entries
        ]
        if rows:
            with self._conn(conn) as c:
                c.execute(insert(t.journal), rows)
        return len(rows)

    def journal_for_run(self, run_id: int, *, batch: int = 5_000) -> Iterator[JournalEntry]:
        """The run's changes in the order they were written, streamed."""
        j = t.journal.c
        last_id = 0
        while True:
            query = (
                select(t.journal)
                .where(j.run_id == run_id, j.id > last_id)
                .order_by(j.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield JournalEntry(
                    row.crm,
                    row.object,
                    row.record_id,
                    row.field,
                    t.loads(row.before),
                    t.loads(row.after),
                )
            if len(rows) < batch:
                return
            last_id = rows[-1].id

    # --- dead letters ----------------------------------------------------------------

    def dead_letter(
        self,
        run_id: int | None,
        crm: str,
        obj: str,
        record_id: str,
        payload: Any,
        error: str,
        attempts: int,
        *,
        conn: Connection | None = None,
    ) -> int:
        """Park a record that kept failing; returns the dead letter's id.

        A record has at most one open dead letter: a repeat failure updates it (latest run,
        payload and error; attempts add up) instead of piling up duplicates.
        """
        d = t.dead_letters.c
        dialect_insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        stmt = dialect_insert(t.dead_letters).values(
            run_id=run_id,
            crm=crm,
            object=obj,
            record_id=record_id,
            payload=t.dumps(payload),
            error=redact(error),
            attempts=attempts,
            created_at=_now(),
        )
        # Atomic merge via the partial unique index on open letters: no read-then-write race.
        merge = stmt.on_conflict_do_update(
            index_elements=[d.crm, d.object, d.record_id],
            index_where=d.resolved_at.is_(None),
            set_={
                "run_id": stmt.excluded.run_id,
                "payload": stmt.excluded.payload,
                "error": stmt.excluded.error,
                "attempts": d.attempts + stmt.excluded.attempts,
            },
        ).returning(d.id)
        with self._conn(conn) as c:
            return int(c.execute(merge).scalar_one())

    def open_dead_letters(
        self, crm: str | None = None, obj: str | None = None, *, limit: int | None = None
    ) -> list[DeadLetter]:
        """Unresolved dead letters, oldest first."""
        d = t.dead_letters.c
        query = select(t.dead_letters).where(d.resolved_at.is_(None)).order_by(d.id)
        if crm is not None:
            query = query.where(d.crm == crm)
        if obj is not None:
            query = query.where(d.object == obj)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_dead_letter(row) for row in conn.execute(query)]

    def resolve_dead_letter(
        self,
        dead_letter_id: int,
        *,
        resolved_at: datetime | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """Mark a dead letter resolved (written later, or dismissed); False if already closed."""
        at = require_aware(resolved_at, "resolved_at") if resolved_at else _now()
        d = t.dead_letters.c
        with self._conn(conn) as c:
            result = c.execute(
                update(t.dead_letters)
                .where(and_(d.id == dead_letter_id, d.resolved_at.is_(None)))
                .values(resolved_at=at)
            )
            return bool(result.rowcount)


def _snapshot_row(s: Snapshot) -> dict[str, Any]:
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
        "written": t.dumps(s.written),
        "record": t.dumps(s.record),
    }


def _snapshot(row: Sequence[Any]) -> Snapshot:
    """Decode a row; positional unpacking in _SNAPSHOT_ORDER is much faster than row.attr."""
    (c, o, rid, fit, eng, total, grade, route, temp, stage, mql, rec, reason, status, at, w, r) = (
        row
    )
    return Snapshot(
        c, o, rid, fit, eng, total, at, grade, route, temp, stage, mql, rec, reason, status,
        t.loads(w), t.loads(r),
    )  # fmt: skip


def _run(row: Row[Any]) -> Run:
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
    )


def _dead_letter(row: Row[Any]) -> DeadLetter:
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
    )


def _new_id(result: CursorResult[Any]) -> int:
    """The autoincrement id of a single-row INSERT."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both dialects return the key
        raise RuntimeError("database did not return the new row id")
    return int(key[0])
