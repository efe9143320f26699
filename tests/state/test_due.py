"""`due_at` and `iter_due_snapshots` (the daily rescore's read path), on both backends."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, inspect, text

from connector.state import NEVER, PreparedUpdates, StateStore
from tests.state.test_store import T0, snap

DAY = timedelta(days=1)


def test_due_at_round_trips_with_never_and_unknown(store: StateStore) -> None:
    rows = [snap("1", due_at=T0 + DAY), snap("2", due_at=NEVER), snap("3")]
    store.upsert_snapshots(rows)
    got = store.get_snapshots("hubspot", "contact", ["1", "2", "3"])
    assert [got[r.record_id] for r in rows] == rows
    assert got["3"].due_at is None


@pytest.mark.parametrize("batch", [1, 2, 5_000])
def test_iter_due_yields_unknown_then_due_in_time_order_only(store: StateStore, batch: int) -> None:
    store.upsert_snapshots(
        [
            snap("a", due_at=T0 + 2 * DAY),  # not yet due
            snap("b", due_at=T0),  # due exactly now
            snap("c", due_at=T0 - 3 * DAY),
            snap("d", due_at=NEVER),
            snap("e"),  # unknown: due
            snap("f", due_at=T0 - DAY),
            snap("g", due_at=T0 - DAY),  # same time: key order
            snap("h", crm="salesforce", obj="Lead", due_at=T0 - DAY),
            snap("i", crm="salesforce", obj="Lead"),
        ]
    )
    ids = [s.record_id for s in store.iter_due_snapshots(T0, "hubspot", "contact", batch=batch)]
    assert ids == ["e", "c", "f", "g", "b"]
    every = [s.record_id for s in store.iter_due_snapshots(T0, batch=batch)]
    assert every == ["e", "i", "c", "f", "g", "b", "h"]
    assert [s.record_id for s in store.iter_due_snapshots(T0, "salesforce", batch=batch)] == [
        "i",
        "h",
    ]
    assert [s.record_id for s in store.iter_due_snapshots(T0, obj="Lead", batch=batch)] == [
        "i",
        "h",
    ]
    early = store.iter_due_snapshots(T0 - 10 * DAY, "hubspot", batch=batch)
    assert [s.record_id for s in early] == ["e"]


def test_rows_rescored_between_batches_do_not_come_back(store: StateStore) -> None:
    """The rescore pushes each row's due_at past now while iterating: one pass, no repeats."""
    store.upsert_snapshots(snap(f"{i:03d}", due_at=T0 - i * DAY) for i in range(20))
    store.upsert_snapshots(snap(f"n{i}") for i in range(5))
    seen = []
    for s in store.iter_due_snapshots(T0, "hubspot", "contact", batch=3):
        seen.append(s.record_id)
        store.upsert_snapshots([snap(s.record_id, due_at=T0 + DAY)])
    assert seen == [f"n{i}" for i in range(5)] + [f"{i:03d}" for i in reversed(range(20))]
    assert list(store.iter_due_snapshots(T0)) == []


def test_naive_now_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        list(store.iter_due_snapshots(T0.replace(tzinfo=None)))


def test_open_adds_due_at_to_a_store_made_before_it(store_url: str, store: StateStore) -> None:
    store.upsert_snapshots([snap("1", due_at=T0)])
    with store.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_snapshots_due"))
        conn.execute(text("ALTER TABLE snapshots DROP COLUMN due_at"))
    assert "due_at" not in {c["name"] for c in inspect(store.engine).get_columns("snapshots")}
    with StateStore.open(store_url) as upgraded:
        got = upgraded.get_snapshots("hubspot", "contact", ["1"])["1"]
        assert got.due_at is None and got.fit == 35  # old row kept, due time unknown
        names = {i["name"] for i in inspect(upgraded.engine).get_indexes("snapshots")}
        assert "ix_snapshots_due" in names
        assert [s.record_id for s in upgraded.iter_due_snapshots(T0)] == ["1"]
    with StateStore.open(store_url) as again:  # idempotent
        assert again.count_snapshots() == 1


def test_sqlite_due_query_seeks_the_due_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The due pages, records joined in, seek ix_snapshots_due past the last key."""
    with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as s:
        s.upsert_snapshots(snap(str(i), due_at=T0 + i * DAY) for i in range(6))
        statements: list[tuple[str, Any]] = []

        def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if "FROM snapshots" in statement and "due_at <=" in statement:
                statements.append((statement, params))

        event.listen(s.engine, "before_cursor_execute", capture)
        assert len(list(s.iter_due_snapshots(T0 + 9 * DAY, "hubspot", "contact", batch=2))) == 6
        statement, params = statements[-1]
        assert "snapshot_records" in statement
        with s.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
        detail = " ".join(str(row[-1]) for row in plan)
        assert "ix_snapshots_due" in detail and "SCAN" not in detail, detail
        assert "TEMP B-TREE" not in detail, detail


def test_update_snapshots_keeps_the_stored_record_and_skips_missing_rows(
    store: StateStore,
) -> None:
    stored = snap("1", due_at=T0)
    store.upsert_snapshots([stored])
    rescored = snap(
        "1", fit=1, total=58, grade="C2", stage="lead", recycled_at=T0, recycle_reason="stale",
        written={"score": 58}, record={"id": "other"}, due_at=T0 + DAY, scored_at=T0 + DAY,
    )  # fmt: skip
    assert store.update_snapshots([rescored, snap("2")]) == 1
    got = store.get_snapshots("hubspot", "contact", ["1", "2"])
    assert set(got) == {"1"}
    assert got["1"].record == stored.record  # the record column is left alone
    assert replace(got["1"], record=rescored.record) == rescored
    assert store.update_snapshots([]) == 0


def test_prepared_updates_apply_as_update_snapshots_does(store: StateStore) -> None:
    """A worker prepares the parameters; the writing process only executes them."""
    store.upsert_snapshots([snap("1"), snap("2")])
    rescored = [snap("1", total=10, due_at=T0 + DAY), snap("2", total=20), snap("gone")]
    prepared = pickle.loads(pickle.dumps(store.prepare_updates(rescored)))
    assert len(prepared) == 3
    assert store.apply_updates(prepared) == 2
    got = store.get_snapshots("hubspot", "contact", ["1", "2"])
    assert (got["1"].total, got["1"].due_at, got["2"].total) == (10, T0 + DAY, 20)
    same = store.prepare_updates([snap("1", total=11, written={"score": 1})], written=False)
    assert store.apply_updates(same) == 1
    got = store.get_snapshots("hubspot", "contact", ["1"])
    assert got["1"].total == 11 and got["1"].written == snap("1").written  # left as stored
    other = "postgresql" if store.dialect == "sqlite" else "sqlite"
    with pytest.raises(ValueError, match=f"prepared for {other}"):
        store.apply_updates(PreparedUpdates(other, prepared.rows, prepared.dues))


def test_updates_set_the_due_time_only_where_it_differs_and_to_or_from_none(
    store: StateStore,
) -> None:
    """The due time has an update statement of its own that skips rows already at it;
    every transition (a time to another, to none, from none, and none kept) lands."""
    store.upsert_snapshots(
        [snap("a", due_at=T0), snap("b", due_at=T0), snap("c"), snap("d"), snap("e", due_at=T0)]
    )
    assert store.update_snapshots(
        [
            snap("a", total=1, due_at=T0 + DAY),  # moved
            snap("b", total=2, due_at=None),  # cleared
            snap("c", total=3, due_at=T0),  # set
            snap("d", total=4),  # none kept
            snap("e", total=5, due_at=T0),  # kept
        ]
    ) == 5
    got = store.get_snapshots("hubspot", "contact", list("abcde"))
    assert {k: (v.total, v.due_at) for k, v in got.items()} == {
        "a": (1, T0 + DAY),
        "b": (2, None),
        "c": (3, T0),
        "d": (4, None),
        "e": (5, T0),
    }


def test_snapshots_read_with_their_records_as_text(store: StateStore) -> None:
    store.upsert_snapshots([snap("1"), snap("2", record={})])
    store.upsert_snapshots([snap("3", mql_at=T0, recycled_at=T0 + DAY, due_at=T0)])
    with store.engine.begin() as conn:  # a snapshot whose record row is missing
        conn.execute(text("DELETE FROM snapshot_records WHERE record_id = '3'"))
    found = store.get_snapshot_texts("hubspot", "contact", ["1", "2", "3", "missing"])
    assert set(found) == {"1", "2", "3"}
    texts = {rid: text for rid, (_, text) in found.items()}
    assert json.loads(texts["1"]) == snap("1").record and json.loads(texts["2"]) == {}
    assert texts["3"] is None
    assert found["1"][0] == replace(snap("1"), record={})
    full = snap("3", mql_at=T0, recycled_at=T0 + DAY, due_at=T0)
    assert found["3"][0] == replace(full, record={})  # times read back as aware UTC


def test_iter_due_ids_pages_the_same_rows_in_the_same_order(store: StateStore) -> None:
    store.upsert_snapshots(snap(f"{i:02d}", due_at=T0 - (i % 4) * DAY) for i in range(10))
    store.upsert_snapshots([snap("u"), snap("later", due_at=T0 + DAY), snap("x", obj="other")])
    pages = list(store.iter_due_ids(T0, "hubspot", "contact", batch=3))
    assert all(0 < len(page) <= 3 for page in pages)
    flat = [rid for page in pages for rid in page]
    full = store.iter_due_snapshots(T0, "hubspot", "contact")
    assert flat == [s.record_id for s in full] and flat[0] == "u" and "later" not in flat


def test_update_snapshots_stores_instants_in_utc_so_due_order_holds(store: StateStore) -> None:
    """update_snapshots binds times itself (not through the column type): +02:00 must be
    stored as the same instant, or SQLite's text order would put it at the wrong time."""
    plus2 = timezone(timedelta(hours=2))
    store.upsert_snapshots([snap("early", due_at=T0 - DAY), snap("late", due_at=T0 - DAY)])
    # 12:30+02:00 is 10:30 UTC, before 11:00 UTC; as text it would sort after it.
    early = datetime(2026, 10, 30, 12, 30, tzinfo=plus2)
    late = datetime(2026, 10, 30, 11, 0, tzinfo=UTC)
    assert early < late
    store.update_snapshots(
        [
            snap("early", due_at=early, mql_at=early, scored_at=early),
            snap("late", due_at=late),
        ]
    )
    assert [s.record_id for s in store.iter_due_snapshots(T0)] == ["early", "late"]
    got = store.get_snapshots("hubspot", "contact", ["early"])["early"]
    assert got.due_at == early and got.mql_at == early and got.scored_at == early
    assert got.due_at is not None and got.due_at.utcoffset() == timedelta(0)
