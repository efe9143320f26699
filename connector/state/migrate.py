"""In-place upgrades of stores made by earlier versions, run by ``StateStore.open``.

There is no migration framework: ``create_all`` only creates missing tables, so each later
change to an existing table is one small, idempotent step here. A concurrent opener may
win the race to apply a step; the loser sees the change done and carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from . import tables as t
from .engine import IMMEDIATE

__all__ = ["upgrade"]

log = logging.getLogger(__name__)

# One journal row per field (field, before, after) → one per record (changes); each old
# row becomes a one-field record, so ids and write order stay as they were.
_FILL_JOURNAL_CHANGES = {
    "sqlite": 'UPDATE journal SET changes = json_object(field, json_array(json("before"), '
    'json("after")))',
    "postgresql": "UPDATE journal SET changes = json_build_object(field, json_build_array("
    '"before"::json, "after"::json))::text',
}


def upgrade(engine: Engine) -> None:
    """Bring an existing store's tables up to the current definitions."""
    _step(engine, _needs_due_at, _add_due_at)
    _step(engine, _needs_journal_changes, _journal_per_record)
    _step(engine, _needs_journal_state, _add_journal_state)
    _step(engine, _needs_parked_at, _add_parked_at)
    _step(engine, _needs_mapping_version, _add_mapping_version)
    _step(engine, _needs_snapshot_model, _add_snapshot_model)
    _step(engine, _needs_record_table, _move_records)
    for table in (t.snapshots, t.journal):
        for index in table.indexes:
            index.create(engine, checkfirst=True)


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _step(
    engine: Engine,
    needed: Callable[[Connection], bool],
    apply: Callable[[Connection], None],
) -> None:
    """Apply one step in one transaction (write lock first on SQLite) if still needed."""
    try:
        with engine.execution_options(**{IMMEDIATE: True}).begin() as conn:
            if needed(conn):
                apply(conn)
    except DBAPIError:
        with engine.connect() as conn:
            if needed(conn):  # not a lost race: a real failure
                raise


def _needs_due_at(conn: Connection) -> bool:
    return "due_at" not in _columns(conn, "snapshots")


def _add_due_at(conn: Connection) -> None:
    """``snapshots.due_at`` (its index is created by :func:`upgrade`)."""
    ddl = t.snapshots.c.due_at.type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE snapshots ADD COLUMN due_at {ddl}"))


def _needs_journal_changes(conn: Connection) -> bool:
    return "changes" not in _columns(conn, "journal")


def _journal_per_record(conn: Connection) -> None:
    """``journal.changes`` filled from the per-field columns, which are then dropped."""
    conn.execute(text("ALTER TABLE journal ADD COLUMN changes TEXT"))
    conn.execute(text(_FILL_JOURNAL_CHANGES[conn.dialect.name]))
    for column in ("field", "before", "after"):
        conn.execute(text(f'ALTER TABLE journal DROP COLUMN "{column}"'))


def _needs_journal_state(conn: Connection) -> bool:
    return "state" not in _columns(conn, "journal")


def _add_journal_state(conn: Connection) -> None:
    """``journal.state`` (rows of older stores were written after their CRM write: applied)
    and ``journal.memory``."""
    conn.execute(
        text("ALTER TABLE journal ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT 'applied'")
    )
    conn.execute(text("ALTER TABLE journal ADD COLUMN memory TEXT"))


def _needs_parked_at(conn: Connection) -> bool:
    return "parked_at" not in _columns(conn, "dead_letters")


def _add_parked_at(conn: Connection) -> None:
    """``dead_letters.parked_at``: letters that used up their attempts."""
    ddl = t.dead_letters.c.parked_at.type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE dead_letters ADD COLUMN parked_at {ddl}"))


def _needs_mapping_version(conn: Connection) -> bool:
    return "mapping_version" not in _columns(conn, "runs")


def _add_mapping_version(conn: Connection) -> None:
    """``runs.mapping_version``: the model each run scored with."""
    conn.execute(text("ALTER TABLE runs ADD COLUMN mapping_version VARCHAR(160)"))


def _needs_snapshot_model(conn: Connection) -> bool:
    return "model" not in _columns(conn, "snapshots")


def _add_snapshot_model(conn: Connection) -> None:
    """``snapshots.model``: NULL for rows of older versions, so the next sync rescores them
    under the configured mapping once."""
    conn.execute(text("ALTER TABLE snapshots ADD COLUMN model VARCHAR(160)"))


def _needs_record_table(conn: Connection) -> bool:
    return "record" in _columns(conn, "snapshots")


def _move_records(conn: Connection) -> None:
    """Each snapshot's record moves to ``snapshot_records`` (created empty by
    ``create_all``), so updating scores no longer rewrites the record with them. Minutes
    for a million snapshots on SQLite, once."""
    log.warning("moving stored records to their own table (once; minutes for 1M snapshots)")
    conn.execute(
        text(
            "INSERT INTO snapshot_records (crm, object, record_id, record) "
            "SELECT crm, object, record_id, record FROM snapshots"
        )
    )
    conn.execute(text("ALTER TABLE snapshots DROP COLUMN record"))
