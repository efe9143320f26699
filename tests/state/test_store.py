"""StateStore contract, run against SQLite and PostgreSQL (see conftest.store)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import IntegrityError

from connector.errors import ConfigError
from connector.state import JournalEntry, JournalRecord, Snapshot, StateStore, Watermark

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RECORD = {
    "id": "101",
    "crm": "hubspot",
    "object": "contact",
    "properties": {"email": "ana@acme.io", "employees": 120, "email_opt_out": False},
    "activities": [{"type": "page_view", "at": "2026-10-30T12:00:00Z", "detail": {"url": "/p"}}],
    "account": {"id": "9", "engaged_contacts_30d": 3},
}


def snap(record_id: str, crm: str = "hubspot", obj: str = "contact", **kw: Any) -> Snapshot:
    values: dict[str, Any] = {
        "fit": 35,
        "engagement": 57,
        "total": 92,
        "scored_at": T0,
        "grade": "A2",
        "route": "sales",
        "temperature": "warm",
        "stage": "mql",
        "written": {"mqlsync_score": 92, "mqlsync_grade": "A2"},
        "record": {**RECORD, "id": record_id},
    }
    values.update(kw)
    return Snapshot(crm=crm, obj=obj, record_id=record_id, **values)


# --- opening ------------------------------------------------------------------------------


def test_open_is_idempotent(store_url: str) -> None:
    with StateStore.open(store_url) as first:
        first.upsert_snapshots([snap("1")])
    with StateStore.open(store_url) as again:
        assert again.count_snapshots() == 1
        if again.dialect == "postgresql":  # leave the shared schema clean
            again.upsert_snapshots([])
            with again.engine.begin() as conn:
                conn.execute(text("TRUNCATE snapshots, snapshot_records"))


def test_open_moves_records_out_of_a_store_that_kept_them_in_snapshots(
    store_url: str, store: StateStore
) -> None:
    """Stores made before keep each record in ``snapshots.record``: opening moves them to
    their own table, every snapshot reads back the same, and a second open does nothing."""
    stored = [snap("1"), snap("2", record={})]
    store.upsert_snapshots(stored)
    with store.engine.begin() as conn:  # the layout before: the record in the row
        conn.execute(text("ALTER TABLE snapshots ADD COLUMN record TEXT NOT NULL DEFAULT '{}'"))
        conn.execute(
            text(
                "UPDATE snapshots SET record = (SELECT r.record FROM snapshot_records r "
                "WHERE r.crm = snapshots.crm AND r.object = snapshots.object "
                "AND r.record_id = snapshots.record_id)"
            )
        )
        conn.execute(text("DELETE FROM snapshot_records"))
    with StateStore.open(store_url) as upgraded:
        columns = {c["name"] for c in inspect(upgraded.engine).get_columns("snapshots")}
        assert "record" not in columns
        assert upgraded.get_snapshots("hubspot", "contact", ["1", "2"]) == {
            s.record_id: s for s in stored
        }
    with StateStore.open(store_url) as again:
        assert len(again.get_snapshot_texts("hubspot", "contact", ["1", "2"])) == 2


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Any) -> None:
    with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as s, s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_unsupported_or_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[state\] url: unsupported database 'mysql'"):
        StateStore.open("mysql+pymysql://x@localhost/db")
    with pytest.raises(ConfigError, match=r"\[state\] url: not a database URL"):
        StateStore.open("not a url")


# --- watermarks ---------------------------------------------------------------------------


def test_watermark_absent_before_first_sync(store: StateStore) -> None:
    assert store.get_watermark("hubspot", "contact", "lastmodifieddate") is None


def test_watermark_round_trip_and_overwrite(store: StateStore) -> None:
    lookback = timedelta(minutes=10)
    store.save_watermark("hubspot", "contact", Watermark("lastmodifieddate", T0))
    got = store.get_watermark("hubspot", "contact", "lastmodifieddate", lookback=lookback)
    assert got == Watermark("lastmodifieddate", T0, lookback)
    assert got is not None and got.value.tzinfo is not None
    later = got.advance(T0 + timedelta(minutes=5), T0 + timedelta(minutes=6))
    store.save_watermark("hubspot", "contact", later)
    again = store.get_watermark("hubspot", "contact", "lastmodifieddate", lookback=lookback)
    assert again == later
    assert store.get_watermark("salesforce", "contact", "lastmodifieddate") is None
    assert store.get_watermark("hubspot", "contact", "other_field") is None


def test_watermark_in_other_zone_is_stored_as_the_same_instant(store: StateStore) -> None:
    paris = timezone(timedelta(hours=1))
    store.save_watermark("sf", "Lead", Watermark("SystemModstamp", T0.astimezone(paris)))
    got = store.get_watermark("sf", "Lead", "SystemModstamp")
    assert got is not None and got.value == T0 and got.value.utcoffset() == timedelta(0)


def test_watermark_microseconds_survive(store: StateStore) -> None:
    value = T0 + timedelta(microseconds=123456)
    store.save_watermark("hubspot", "contact", Watermark("f", value))
    got = store.get_watermark("hubspot", "contact", "f")
    assert got is not None and got.value == value


# --- runs ---------------------------------------------------------------------------------


def test_run_lifecycle(store: StateStore) -> None:
    run_id = store.start_run("sync", crm="hubspot", started_at=T0)
    run = store.get_run(run_id)
    assert run is not None and run.status == "running" and run.finished_at is None
    counts = {"pulled": 10, "scored": 10, "written": 3, "failed": 1, "dead_lettered": 0}
    store.finish_run(run_id, "ok", counts, api_calls=7, finished_at=T0 + timedelta(seconds=42))
    run = store.get_run(run_id)
    assert run is not None
    assert (run.kind, run.crm, run.status, run.api_calls) == ("sync", "hubspot", "ok", 7)
    assert run.counts == counts
    assert run.started_at == T0 and run.duration == timedelta(seconds=42)
    assert store.get_run(run_id + 1000) is None


def test_recent_runs_newest_first_with_limit_and_kind(store: StateStore) -> None:
    ids = [store.start_run(kind) for kind in ("sync", "rescore", "sync", "undo")]
    assert [r.id for r in store.recent_runs(3)] == ids[::-1][:3]
    assert [r.id for r in store.recent_runs(10, kind="sync")] == [ids[2], ids[0]]


def test_run_error_is_redacted(store: StateStore) -> None:
    run_id = store.start_run("sync")
    store.finish_run(
        run_id, "failed", {}, 1, error="401 for Authorization: Bearer pat-na1-abcdefgh-1"
    )
    run = store.get_run(run_id)
    assert run is not None and run.error is not None
    assert "pat-na1" not in run.error and "401" in run.error


def test_finish_unknown_run_raises(store: StateStore) -> None:
    with pytest.raises(KeyError):
        store.finish_run(999_999, "ok", {}, 0)


# --- snapshots ----------------------------------------------------------------------------


def test_snapshot_round_trip_every_field(store: StateStore) -> None:
    full = snap(
        "101",
        mql_at=T0 - timedelta(days=3),
        recycled_at=T0 - timedelta(days=40),
        recycle_reason="UNQUALIFIED",
        lead_status_at_promotion="OPEN",
        written={"mqlsync_score": 92, "mqlsync_reasons": "pricing ✓", "mqlsync_mql_at": None},
    )
    minimal = snap("102", grade=None, route=None, temperature=None, stage=None, written={})
    assert store.upsert_snapshots([full, minimal]) == 2
    got = store.get_snapshots("hubspot", "contact", ["101", "102"])
    assert got == {"101": full, "102": minimal}


def test_upsert_replaces_existing(store: StateStore) -> None:
    store.upsert_snapshots([snap("1"), snap("2")])
    changed = snap("1", fit=5, total=62, grade="C2", mql_at=T0, written={"mqlsync_score": 62})
    store.upsert_snapshots([changed, snap("3")])
    got = store.get_snapshots("hubspot", "contact", ["1", "2", "3"])
    assert got["1"] == changed
    assert set(got) == {"1", "2", "3"}
    assert store.count_snapshots() == 3


def test_repeated_key_in_one_page_last_wins(store: StateStore) -> None:
    assert store.upsert_snapshots([snap("1", fit=1), snap("2"), snap("1", fit=2)]) == 2
    assert store.get_snapshots("hubspot", "contact", ["1"])["1"].fit == 2


def test_snapshots_are_scoped_by_crm_and_object(store: StateStore) -> None:
    store.upsert_snapshots([snap("1"), snap("1", crm="salesforce", obj="Lead")])
    assert store.get_snapshots("hubspot", "contact", ["1"])["1"].crm == "hubspot"
    assert store.get_snapshots("salesforce", "Lead", ["1"])["1"].obj == "Lead"
    assert store.get_snapshots("salesforce", "Contact", ["1"]) == {}
    assert store.count_snapshots("salesforce") == 1


def test_get_snapshots_chunks_large_id_lists(store: StateStore) -> None:
    store.upsert_snapshots(snap(str(i)) for i in range(2_500))
    wanted = [str(i) for i in range(0, 2_600)] + ["7", "7"]  # missing and duplicate ids
    got = store.get_snapshots("hubspot", "contact", wanted)
    assert len(got) == 2_500
    assert got["2499"].record["id"] == "2499"
    assert store.get_snapshots("hubspot", "contact", []) == {}


def test_upsert_page_is_atomic(store: StateStore) -> None:
    store.upsert_snapshots([snap("1", fit=1)])
    bad = snap("3", fit=None)  # NOT NULL violation in the middle of the page
    with pytest.raises(IntegrityError):
        store.upsert_snapshots([snap("1", fit=99), snap("2"), bad, snap("4")])
    got = store.get_snapshots("hubspot", "contact", ["1", "2", "3", "4"])
    assert set(got) == {"1"} and got["1"].fit == 1


@pytest.mark.parametrize("batch", [1, 3, 4, 5_000])
def test_iter_snapshots_streams_all_in_key_order(store: StateStore, batch: int) -> None:
    hs = [snap(f"{i:02d}") for i in range(12)]
    sf = [snap(f"L{i}", crm="salesforce", obj="Lead") for i in range(3)]
    store.upsert_snapshots(hs + sf)
    every = list(store.iter_snapshots(batch=batch))
    assert [s.key for s in every] == sorted(s.key for s in hs + sf)
    assert [s.record_id for s in store.iter_snapshots("salesforce", batch=batch)] == [
        "L0",
        "L1",
        "L2",
    ]
    assert len(list(store.iter_snapshots("hubspot", "contact", batch=batch))) == 12
    assert list(store.iter_snapshots("pipedrive", batch=batch)) == []


def test_iter_snapshots_tolerates_writes_between_batches(store: StateStore) -> None:
    """The rescore writes while iterating: rows already passed are not revisited."""
    store.upsert_snapshots(snap(f"{i:03d}") for i in range(20))
    seen = []
    for s in store.iter_snapshots(batch=5):
        seen.append(s.record_id)
        store.upsert_snapshots([snap(s.record_id, fit=s.fit + 1)])
    assert seen == [f"{i:03d}" for i in range(20)]
    assert all(s.fit == 36 for s in store.iter_snapshots())


def test_iter_snapshots_is_lazy(store: StateStore) -> None:
    store.upsert_snapshots(snap(str(i)) for i in range(10))
    it = store.iter_snapshots(batch=2)
    first = next(it)
    store.upsert_snapshots([snap("99")])  # appended after iteration began: still reached
    assert first.record_id == "0"
    assert [s.record_id for s in it][-1] == "99"


# --- transactions -------------------------------------------------------------------------


def test_page_commit_is_all_or_nothing(store: StateStore) -> None:
    run_id = store.start_run("sync")
    entry = JournalEntry("hubspot", "contact", "1", "mqlsync_score", None, 92)
    record = JournalRecord("hubspot", "contact", "1", {"mqlsync_score": (None, 92)})
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.upsert_snapshots([snap("1")], conn=conn)
        store.journal(run_id, [record], conn=conn)
        store.save_watermark("hubspot", "contact", Watermark("f", T0), conn=conn)
        raise RuntimeError("crash before commit")
    assert store.get_snapshots("hubspot", "contact", ["1"]) == {}
    assert list(store.journal_for_run(run_id)) == []
    assert store.get_watermark("hubspot", "contact", "f") is None
    with store.transaction() as conn:
        store.upsert_snapshots([snap("1")], conn=conn)
        store.journal(run_id, [record], conn=conn)
        store.save_watermark("hubspot", "contact", Watermark("f", T0), conn=conn)
    assert list(store.journal_for_run(run_id)) == [entry]
    assert store.get_watermark("hubspot", "contact", "f") is not None


# --- journal ------------------------------------------------------------------------------


def test_journal_round_trip_in_write_order(store: StateStore) -> None:
    run_id = store.start_run("sync")
    other = store.start_run("sync")
    first = JournalRecord(
        "hubspot",
        "contact",
        "1",
        {"mqlsync_score": (None, 92), "lifecyclestage": ("lead", "marketingqualifiedlead")},
    )
    later = [
        JournalRecord("hubspot", "contact", "2", {"mqlsync_reasons": ("a", {"nested": [1, "ü"]})}),
        JournalRecord("hubspot", "contact", "0", {"mqlsync_fit": (1.5, False)}),
    ]
    assert store.journal(run_id, [first]) == 1
    store.journal(other, [JournalRecord("hubspot", "contact", "9", {"x": (1, 2)})])
    store.journal(run_id, later)
    entries = [
        JournalEntry("hubspot", "contact", "1", "mqlsync_score", None, 92),
        JournalEntry("hubspot", "contact", "1", "lifecyclestage", "lead", "marketingqualifiedlead"),
        JournalEntry("hubspot", "contact", "2", "mqlsync_reasons", "a", {"nested": [1, "ü"]}),
        JournalEntry("hubspot", "contact", "0", "mqlsync_fit", 1.5, False),
    ]
    assert list(store.journal_for_run(run_id)) == entries
    assert list(store.journal_for_run(run_id, batch=1)) == entries
    assert store.journal(run_id, []) == 0


def test_journal_requires_existing_run(store: StateStore) -> None:
    with pytest.raises(IntegrityError):
        store.journal(424_242, [JournalRecord("hubspot", "contact", "1", {"f": (1, 2)})])


# --- dead letters -------------------------------------------------------------------------


def test_dead_letter_lifecycle(store: StateStore) -> None:
    run_id = store.start_run("sync")
    payload = {"id": "7", "properties": {"mqlsync_score": "92"}}
    dl_id = store.dead_letter(run_id, "hubspot", "contact", "7", payload, "INVALID_EMAIL", 3)
    store.dead_letter(run_id, "salesforce", "Lead", "00Q1", {"x": 1}, "FIELD_CUSTOM_VALIDATION", 2)
    open_hs = store.open_dead_letters("hubspot")
    assert [d.id for d in open_hs] == [dl_id]
    d = open_hs[0]
    assert (d.run_id, d.record_id, d.payload, d.error, d.attempts) == (
        run_id,
        "7",
        payload,
        "INVALID_EMAIL",
        3,
    )
    assert d.created_at.tzinfo is not None and d.resolved_at is None
    assert len(store.open_dead_letters()) == 2
    assert len(store.open_dead_letters(limit=1)) == 1
    assert store.open_dead_letters("salesforce", "Contact") == []

    assert store.resolve_dead_letter(dl_id) is True
    assert store.resolve_dead_letter(dl_id) is False
    assert [d.crm for d in store.open_dead_letters()] == ["salesforce"]


def test_repeat_failure_updates_the_open_dead_letter(store: StateStore) -> None:
    first, second = store.start_run("sync"), store.start_run("sync")
    a = store.dead_letter(first, "hubspot", "contact", "7", {"v": 1}, "500 then 400", 3)
    b = store.dead_letter(second, "hubspot", "contact", "7", {"v": 2}, "still 400", 2)
    assert a == b
    (d,) = store.open_dead_letters()
    assert (d.run_id, d.payload, d.error, d.attempts) == (second, {"v": 2}, "still 400", 5)
    store.resolve_dead_letter(a)
    c = store.dead_letter(second, "hubspot", "contact", "7", {"v": 3}, "again", 1)
    assert c != a and len(store.open_dead_letters()) == 1


def test_dead_letter_error_is_redacted(store: StateStore) -> None:
    store.dead_letter(
        None, "salesforce", "Lead", "1", None, "INVALID_SESSION_ID 00D000000000001!AQ0xyz", 1
    )
    (d,) = store.open_dead_letters()
    assert "AQ0xyz" not in d.error and d.run_id is None and d.payload is None


# --- concurrency --------------------------------------------------------------------------


def test_two_writers_on_one_database_do_not_fail(store_url: str) -> None:
    """A daemon and a CLI command (two stores, as two processes would) writing at once."""
    stores = [StateStore.open(store_url), StateStore.open(store_url)]
    errors: list[BaseException] = []

    def work(s: StateStore, worker: int) -> None:
        try:
            run_id = s.start_run("sync")
            for i in range(15):
                s.upsert_snapshots([snap(f"{worker}-{i}"), snap("shared", fit=i)])
                s.dead_letter(run_id, "hubspot", "contact", "shared", {"i": i}, "boom", 1)
            s.finish_run(run_id, "ok", {}, 0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate(stores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        assert stores[0].count_snapshots() == 31
        (dl,) = stores[1].open_dead_letters()
        assert dl.attempts == 30
    finally:
        for s in stores:
            if s.dialect == "postgresql":
                with s.engine.begin() as conn:
                    tables = "snapshots, snapshot_records, dead_letters, journal, runs"
                    conn.execute(text(f"TRUNCATE {tables} CASCADE"))
            s.close()


def test_sqlite_iter_batches_seek_by_key_instead_of_rescanning(tmp_path: Any) -> None:
    """Each batch must start with an index seek past the last key (guards a quadratic bug)."""
    with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as s:
        s.upsert_snapshots(snap(str(i)) for i in range(6))
        statements: list[tuple[str, Any]] = []

        def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().startswith("SELECT") and "FROM snapshots" in statement:
                statements.append((statement, params))

        event.listen(s.engine, "before_cursor_execute", capture)
        for crm, obj in [(None, None), ("hubspot", None), ("hubspot", "contact")]:
            statements.clear()
            assert len(list(s.iter_snapshots(crm, obj, batch=2))) == 6
            statement, params = statements[-1]
            with s.engine.connect() as conn:
                plan = " ".join(
                    r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                )
            assert "PRIMARY KEY" in plan and ">" in plan, plan
