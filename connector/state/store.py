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
    Engine,
    Row,
    Select,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from ..errors import ConfigError, redact
from . import rows as conv
from . import tables as t
from .engine import IMMEDIATE, make_engine
from .migrate import upgrade
from .values import (
    BreachState,
    DeadLetter,
    JournalEntry,
    JournalRecord,
    JournalState,
    PendingBreach,
    PendingWrite,
    PreparedUpdates,
    Run,
    RunKind,
    Snapshot,
    Watermark,
    require_aware,
)

__all__ = ["StateStore"]

IN_CHUNK = 1_000
"""Ids per ``IN (…)`` list: under SQLite's old 999-variable limit with room for the keys."""

_SNAPSHOT_KEY = ("crm", "object", "record_id")


def _now() -> datetime:
    return datetime.now(UTC)


class StateStore:
    """Watermarks, score snapshots, run history, undo journal and dead letters.

    Open with :meth:`open`; use as a context manager or call :meth:`close`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported state store database {self.dialect!r}")
        self._writer = engine.execution_options(**{IMMEDIATE: True})

    @classmethod
    def open(cls, url: str, **engine_options: Any) -> StateStore:
        """Connect to ``url`` (a SQLAlchemy URL) and create missing tables.

        Raises:
            ConfigError: the URL is unusable, or the database cannot be reached or
                written; one line naming the database (password masked) and the cause.
        """
        engine = make_engine(url, **engine_options)
        try:
            t.metadata.create_all(engine)
            upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            cause = str(exc.orig).strip().splitlines()[-1] if exc.orig else type(exc).__name__
            shown = engine.url.render_as_string(hide_password=True)
            raise ConfigError(
                f"cannot open the state store {shown}: {cause}", key="[state] url"
            ) from None
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

    def sync_watermarks(self, crm: str) -> list[Watermark]:
        """Every object's pull cursor of one CRM (for ``status``)."""
        w = t.watermarks.c
        query = select(w.field, w.value).where(w.crm == crm, ~w.field.startswith("mqlsync:"))
        with self.engine.connect() as conn:
            return [Watermark(f, v) for f, v in conn.execute(query)]

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
        self,
        kind: RunKind,
        *,
        crm: str | None = None,
        started_at: datetime | None = None,
        mapping_version: str | None = None,
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
                    mapping_version=mapping_version,
                )
            )
        return conv.new_id(result)

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

    def mark_crashed(self, crm: str | None, *, before: int | None = None) -> int:
        """Mark runs still ``running`` as ``crashed``; returns how many.

        Called by a run that holds the account's lock: no other live process can be in
        the middle of a run, so a ``running`` row is one whose process died (kill -9,
        power loss). ``before`` spares the caller's own run."""
        r = t.runs.c
        query = update(t.runs).where(r.status == "running")
        if crm is not None:
            query = query.where(r.crm == crm)
        if before is not None:
            query = query.where(r.id < before)
        with self._writer.begin() as conn:
            result = conn.execute(query.values(status="crashed", finished_at=None))
        return int(result.rowcount)

    def get_run(self, run_id: int) -> Run | None:
        """One run by id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
        return conv.run(row) if row else None

    def recent_runs(self, limit: int = 20, *, kind: RunKind | None = None) -> list[Run]:
        """Newest runs first."""
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if kind:
            query = query.where(t.runs.c.kind == kind)
        with self.engine.connect() as conn:
            return [conv.run(row) for row in conn.execute(query)]

    def api_calls_since(self, since: datetime, crm: str | None = None) -> int:
        """API calls of the runs started at or after ``since`` (a day's use of the quota)."""
        query = select(func.coalesce(func.sum(t.runs.c.api_calls), 0)).where(
            t.runs.c.started_at >= since
        )
        if crm:
            query = query.where(t.runs.c.crm == crm)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- snapshots -------------------------------------------------------------------

    def get_snapshots(self, crm: str, obj: str, ids: Iterable[str]) -> dict[str, Snapshot]:
        """Snapshots of ``ids`` that exist, by record id; ``IN`` lists of ≤ 1,000 ids."""
        s = t.snapshots.c
        found: dict[str, Snapshot] = {}
        unique = list(dict.fromkeys(ids))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), IN_CHUNK):
                chunk = unique[start : start + IN_CHUNK]
                query = conv.SNAPSHOT_SELECT.where(
                    s.crm == crm, s.object == obj, s.record_id.in_(chunk)
                )
                for row in conn.execute(query):
                    snap = conv.snapshot(row)
                    found[snap.record_id] = snap
        return found

    def get_snapshot_texts(
        self, crm: str, obj: str, ids: Iterable[str]
    ) -> dict[str, tuple[Snapshot, str | None]]:
        """Snapshots of ``ids`` that exist, by record id, each with its record as JSON text
        (None when it has none) and its ``record`` left empty.

        For the rescore, which decodes the text straight into typed records (twice as fast
        as plain JSON values validated after), through the driver alone: SQLAlchemy's
        per-row processing cost as much as the query."""
        found: dict[str, tuple[Snapshot, str | None]] = {}
        unique = list(dict.fromkeys(ids))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), IN_CHUNK):
                chunk = unique[start : start + IN_CHUNK]
                sql = conv.snapshot_and_record_sql(self.dialect, len(chunk))
                for row in conn.exec_driver_sql(sql, (crm, obj, *chunk)):
                    pair = conv.snapshot_and_record(row)
                    found[pair[0].record_id] = pair
        return found

    def upsert_snapshots(
        self, snapshots: Iterable[Snapshot], *, conn: Connection | None = None
    ) -> int:
        """Insert or replace snapshots, records included, in one transaction (one page);
        returns how many."""
        # Last one wins for a key repeated in a page (PostgreSQL refuses to upsert a row twice).
        unique = list({s.key: s for s in snapshots}.values())
        with self._conn(conn) as c:
            self._upsert(c, t.snapshots, [conv.snapshot_row(s) for s in unique], _SNAPSHOT_KEY)
            self._upsert(c, t.snapshot_records, [conv.record_row(s) for s in unique], _SNAPSHOT_KEY)
        return len(unique)

    def update_snapshots(
        self, snapshots: Iterable[Snapshot], *, conn: Connection | None = None
    ) -> int:
        """Update existing snapshots in place, leaving their records as stored.

        For the rescore, which rescored the stored record and changes only what was
        computed from it. Rows that do not exist are skipped; returns how many were updated.
        """
        return self.apply_updates(self.prepare_updates(snapshots), conn=conn)

    def prepare_updates(
        self, snapshots: Iterable[Snapshot], *, written: bool = True
    ) -> PreparedUpdates:
        """The parameters :meth:`update_snapshots` binds, computed ahead: a rescore worker
        process prepares them so the one process that writes only executes them.

        ``written=False`` leaves each row's ``written`` as stored: for records the rescore
        wrote nothing to, whose CRM values (and so ``written``) did not change."""
        unique = {s.key: s for s in snapshots}.values()
        dialect = self.dialect
        rows = [conv.snapshot_update(s, dialect, written=written) for s in unique]
        dues = [conv.due_update(s, dialect) for s in unique]
        return PreparedUpdates(dialect, rows, dues, written)

    def apply_updates(self, prepared: PreparedUpdates, *, conn: Connection | None = None) -> int:
        """Execute prepared snapshot updates; returns how many rows were updated."""
        if not prepared.rows:
            return 0
        if prepared.dialect != self.dialect:
            raise ValueError(f"updates prepared for {prepared.dialect}, not {self.dialect}")
        # Plain tuples straight to the driver's executemany: SQLAlchemy's per-row parameter
        # processing cost the rescore more than the SQL itself.
        with self._conn(conn) as c:
            sql = conv.snapshot_update_sql(self.dialect, written=prepared.written)
            result = c.exec_driver_sql(sql, prepared.rows)
            c.exec_driver_sql(conv.due_update_sql(self.dialect), prepared.dues)
        return int(result.rowcount)

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
        base = conv.SNAPSHOT_SELECT.order_by(*key).limit(batch)
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
                page = conn.execute(query).all()
            for row in page:
                yield conv.snapshot(row)
            if len(page) < batch:
                return
            after = [page[-1][i] for i in free]

    def iter_due_snapshots(
        self,
        now: datetime,
        crm: str | None = None,
        obj: str | None = None,
        *,
        batch: int = 5_000,
    ) -> Iterator[Snapshot]:
        """Stream the snapshots the rescore must look at: ``due_at <= now`` or not known.

        Rows with no ``due_at`` (written before it existed, or by a writer that does not
        compute it) come first in key order, then due rows in ``(due_at, key)`` order, both
        by keyset pagination over ``ix_snapshots_due``. A row the caller rescored between
        batches gets a later ``due_at`` (> ``now``) and so never comes back in this pass.
        """
        for page in self._due_pages(now, crm, obj, batch, conv.SNAPSHOT_SELECT):
            for row in page:
                yield conv.snapshot(row)

    def iter_due_ids(
        self,
        now: datetime,
        crm: str,
        obj: str,
        *,
        batch: int = 5_000,
    ) -> Iterator[list[str]]:
        """Record ids of one object's due snapshots, a page at a time, in the order and
        with the guarantees of :meth:`iter_due_snapshots` (an index-only scan).

        For rescore workers that each read their own snapshots by id.
        """
        s = t.snapshots.c
        ids = select(s.crm, s.object, s.record_id, s.due_at)
        for page in self._due_pages(now, crm, obj, batch, ids):
            yield [str(row.record_id) for row in page]

    def iter_stale_model_ids(
        self, version: str, crm: str, obj: str, *, batch: int = 5_000
    ) -> Iterator[list[str]]:
        """Record ids of one object's snapshots computed by another mapping version than
        ``version`` (or by a version that recorded none), a page at a time in key order.

        A row the caller rescores between pages gets ``version`` and is not read again."""
        s = t.snapshots.c
        stale = select(s.crm, s.object, s.record_id).where(
            or_(s.model.is_(None), s.model != version)
        )
        for page in self._keyset(stale, (s.crm, s.object, s.record_id), crm, obj, batch):
            yield [str(row.record_id) for row in page]

    def _due_pages(
        self,
        now: datetime,
        crm: str | None,
        obj: str | None,
        batch: int,
        base: Select[Any],
    ) -> Iterator[Sequence[Row[Any]]]:
        require_aware(now, "now")
        s = t.snapshots.c
        unknown = base.where(s.due_at.is_(None))
        yield from self._keyset(unknown, (s.crm, s.object, s.record_id), crm, obj, batch)
        due = base.where(s.due_at <= now)
        yield from self._keyset(due, (s.crm, s.object, s.due_at, s.record_id), crm, obj, batch)

    def _keyset(
        self,
        base: Select[Any],
        key: tuple[Any, ...],
        crm: str | None,
        obj: str | None,
        batch: int,
    ) -> Iterator[Sequence[Row[Any]]]:
        """Keyset pages of ``base`` ordered by ``key`` (whose first columns are crm, object).

        As in :meth:`iter_snapshots`, the "after" predicate covers only the columns not
        pinned by equality, so SQLite seeks instead of re-scanning from the start.
        """
        pinned = {0: crm, 1: obj}
        free = [i for i in range(len(key)) if pinned.get(i) is None]
        for i, value in pinned.items():
            if value is not None:
                base = base.where(key[i] == value)
        selected = [c.name for c in base.selected_columns]
        positions = [selected.index(c.name) for c in key]
        base = base.order_by(*key).limit(batch)
        cols = [key[i] for i in free]
        types = [c.type for c in cols]  # bind as the columns do (SQLite: ISO text times)
        after: list[Any] | None = None
        while True:
            query = base
            if after is not None:
                query = query.where(
                    cols[0] > after[0]
                    if len(cols) == 1
                    else tuple_(*cols) > tuple_(*after, types=types)
                )
            with self.engine.connect() as conn:
                page = conn.execute(query).all()
            if page:
                yield page
            if len(page) < batch:
                return
            after = [page[-1][positions[i]] for i in free]

    def count_snapshots(self, crm: str | None = None) -> int:
        """Number of stored snapshots (for progress bars)."""
        query = select(func.count()).select_from(t.snapshots)
        if crm is not None:
            query = query.where(t.snapshots.c.crm == crm)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # --- journal ---------------------------------------------------------------------

    def journal(
        self,
        run_id: int,
        records: Iterable[JournalRecord],
        *,
        state: JournalState = "applied",
        conn: Connection | None = None,
    ) -> int:
        """Record the changes a run writes (for undo and crash recovery), one row per record,
        in one transaction; returns how many records.

        The writer journals ``pending`` before each CRM write and settles the rows after it
        (:meth:`settle`), so a run killed in between still left a record of what it may
        have written."""
        rows = [conv.journal_row(run_id, r, state) for r in records if r.changes]
        if rows:  # tuples to the driver's executemany, as in update_snapshots
            with self._conn(conn) as c:
                c.exec_driver_sql(conv.journal_insert_sql(self.dialect), rows)
        return len(rows)

    def settle(
        self,
        run_id: int,
        crm: str,
        obj: str,
        record_ids: Sequence[str],
        state: JournalState,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Move a run's ``pending`` rows of ``record_ids`` to ``state``."""
        j = t.journal.c
        with self._conn(conn) as c:
            for start in range(0, len(record_ids), IN_CHUNK):
                chunk = record_ids[start : start + IN_CHUNK]
                c.execute(
                    update(t.journal)
                    .where(
                        j.run_id == run_id,
                        j.crm == crm,
                        j.object == obj,
                        j.state == "pending",
                        j.record_id.in_(chunk),
                    )
                    .values(state=state)
                )

    def settle_rows(
        self, row_ids: Sequence[int], state: JournalState, *, conn: Connection | None = None
    ) -> None:
        """Move journal rows (by row id, see :meth:`pending_writes`) to ``state``."""
        j = t.journal.c
        with self._conn(conn) as c:
            for start in range(0, len(row_ids), IN_CHUNK):
                chunk = row_ids[start : start + IN_CHUNK]
                c.execute(update(t.journal).where(j.id.in_(chunk)).values(state=state))

    def pending_writes(
        self, crm: str, obj: str, *, batch: int = 500
    ) -> Iterator[list[PendingWrite]]:
        """Unsettled journal rows of one object, oldest first, a page at a time.

        Callers settle each page before asking for the next; keyset on the row id, so a
        row left pending is not returned twice in one pass."""
        j = t.journal.c
        columns = (j.id, j.run_id, j.record_id, j.changes, j.memory)
        last_id = 0
        while True:
            query = (
                select(*columns)
                .where(j.crm == crm, j.object == obj, j.state == "pending", j.id > last_id)
                .order_by(j.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                page = conn.execute(query).all()
            if page:
                yield [
                    PendingWrite(
                        int(row_id), int(run_id), crm, obj, str(record_id),
                        {f: (b, a) for f, (b, a) in t.loads(changes).items()},
                        t.loads(memory),
                    )
                    for row_id, run_id, record_id, changes, memory in page
                ]  # fmt: skip
            if len(page) < batch:
                return
            last_id = page[-1].id

    def journal_for_run(
        self, run_id: int, *, batch: int = 5_000, newest_first: bool = False
    ) -> Iterator[JournalEntry]:
        """The run's field changes in the order they were written (or the reverse, for
        undo), streamed; a record's fields come together.

        Rows settled ``failed`` (the CRM never took them) are left out; rows still
        ``pending`` are kept, because their write may have landed."""
        j = t.journal.c
        columns = (j.id, j.crm, j.object, j.record_id, j.changes)
        last_id: int | None = None
        while True:
            query = select(*columns).where(j.run_id == run_id, j.state != "failed")
            if last_id is not None:
                query = query.where(j.id < last_id if newest_first else j.id > last_id)
            query = query.order_by(j.id.desc() if newest_first else j.id).limit(batch)
            with self.engine.connect() as conn:
                page = conn.execute(query).all()
            for _, crm, obj, record_id, changes in page:
                for f, (before, after) in t.loads(changes).items():
                    yield JournalEntry(crm, obj, record_id, f, before, after)
            if len(page) < batch:
                return
            last_id = page[-1].id

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
        max_attempts: int | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Keep a record that kept failing, to retry by id; returns the dead letter's id.

        A record has at most one open dead letter: a repeat failure updates it (latest run,
        payload and error; attempts add up) instead of piling up duplicates. Once the
        attempts reach ``max_attempts`` the letter is parked: still open and shown, no
        longer retried, so one record the CRM always refuses costs nothing per run.
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
            letter_id = int(c.execute(merge).scalar_one())
            if max_attempts is not None:
                c.execute(
                    update(t.dead_letters)
                    .where(
                        d.id == letter_id,
                        d.attempts >= max_attempts,
                        d.parked_at.is_(None),
                    )
                    .values(parked_at=_now())
                )
            return letter_id

    def open_dead_letters(
        self,
        crm: str | None = None,
        obj: str | None = None,
        *,
        limit: int | None = None,
        retrying: bool = False,
    ) -> list[DeadLetter]:
        """Unresolved dead letters, oldest first; ``retrying`` leaves out parked ones."""
        d = t.dead_letters.c
        query = select(t.dead_letters).where(d.resolved_at.is_(None)).order_by(d.id)
        if retrying:
            query = query.where(d.parked_at.is_(None))
        if crm is not None:
            query = query.where(d.crm == crm)
        if obj is not None:
            query = query.where(d.object == obj)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [conv.dead_letter(row) for row in conn.execute(query)]

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

    # --- SLA breaches ----------------------------------------------------------------

    def queue_breaches(
        self, breaches: Iterable[PendingBreach], *, conn: Connection | None = None
    ) -> int:
        """Keep breaches until their task exists; one already queued (same key) is left
        as it is. Join the transaction that records the write showing the breach, so a
        breach is never seen as old without its task being owed."""
        rows = [
            {
                "crm": b.crm, "object": b.obj, "record_id": b.record_id, "key": b.key,
                "owner": b.owner, "breached": ",".join(b.breached), "mql_at": b.mql_at,
                "reasons": b.reasons, "state": "pending", "created_at": _now(),
            }
            for b in breaches
        ]  # fmt: skip
        if not rows:
            return 0
        dialect_insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        stmt = dialect_insert(t.sla_breaches).on_conflict_do_nothing(
            index_elements=["crm", "object", "key"]
        )
        with self._conn(conn) as c:
            c.execute(stmt, rows)
        return len(rows)

    def open_breaches(self, crm: str, obj: str, *, limit: int = 1_000) -> list[PendingBreach]:
        """Breaches whose task is not confirmed yet (pending or sent), oldest first."""
        b = t.sla_breaches.c
        query = (
            select(t.sla_breaches)
            .where(b.crm == crm, b.object == obj, b.state != "done")
            .order_by(b.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [conv.breach(row) for row in conn.execute(query)]

    def mark_breaches(self, ids: Sequence[int], state: BreachState) -> None:
        """Move breaches to ``state`` (``done`` stamps the time)."""
        b = t.sla_breaches.c
        values: dict[str, Any] = {"state": state}
        if state == "done":
            values["done_at"] = _now()
        with self._writer.begin() as conn:
            for start in range(0, len(ids), IN_CHUNK):
                chunk = list(ids[start : start + IN_CHUNK])
                conn.execute(update(t.sla_breaches).where(b.id.in_(chunk)).values(**values))
