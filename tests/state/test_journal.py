"""The undo journal's storage: one row per record, per-field entries out, old stores upgraded."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
    text,
)

from connector.state import JournalEntry, JournalRecord, StateStore
from connector.state import tables as t

KEY = ("hubspot", "contact")


def _rows(store: StateStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.journal)).scalar_one())


def test_one_row_per_record_with_every_before_and_after(store: StateStore) -> None:
    run_id = store.start_run("rescore")
    records = [
        JournalRecord(*KEY, "1", {"score": (58, 61), "grade": ("B2", "A2"), "reasons": ("a", "b")}),
        JournalRecord(*KEY, "2", {"stage": ("mql", "lead"), "recycled_at": (None, "2026-11-01")}),
        JournalRecord(*KEY, "3", {}),  # nothing changed: no row
    ]
    assert store.journal(run_id, records) == 2
    assert _rows(store) == 2
    assert list(store.journal_for_run(run_id)) == [
        JournalEntry(*KEY, "1", "score", 58, 61),
        JournalEntry(*KEY, "1", "grade", "B2", "A2"),
        JournalEntry(*KEY, "1", "reasons", "a", "b"),
        JournalEntry(*KEY, "2", "stage", "mql", "lead"),
        JournalEntry(*KEY, "2", "recycled_at", None, "2026-11-01"),
    ]


def test_open_upgrades_a_per_field_journal_keeping_every_change(
    store_url: str, store: StateStore
) -> None:
    """A store made when the journal held one row per field reads back the same entries."""
    run_id = store.start_run("sync")
    metadata = MetaData()
    t.runs.to_metadata(metadata)
    old = Table(  # the journal as created before it had `changes`
        "journal",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        Column("crm", String(32), nullable=False),
        Column("object", String(64), nullable=False),
        Column("record_id", String(255), nullable=False),
        Column("field", String(128), nullable=False),
        Column("before", Text),
        Column("after", Text),
        Index("ix_journal_run", "run_id", "id"),
    )
    entries = [
        JournalEntry(*KEY, "1", "score", None, 92),
        JournalEntry(*KEY, "1", "reasons", "ü; +10 demo", {"nested": [1.5, False]}),
        JournalEntry(*KEY, "2", "stage", "mql", "lead"),
    ]
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE journal"))
        old.create(conn)
        conn.execute(
            old.insert(),
            [
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
            ],
        )
    with StateStore.open(store_url) as upgraded:
        columns = {c["name"] for c in inspect(upgraded.engine).get_columns("journal")}
        assert "changes" in columns and "field" not in columns
        assert list(upgraded.journal_for_run(run_id)) == entries
        upgraded.journal(run_id, [JournalRecord(*KEY, "3", {"fit": (1, 2)})])
        assert list(upgraded.journal_for_run(run_id))[-1] == JournalEntry(*KEY, "3", "fit", 1, 2)
    with StateStore.open(store_url) as again:  # idempotent
        assert len(list(again.journal_for_run(run_id))) == 4
