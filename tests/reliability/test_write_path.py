"""Write-path integrity against the HubSpot sandbox: each test reproduces a way mqlsync
used to lose or corrupt CRM data, and checks it no longer does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.crm.base import Outcome
from connector.crm.hubspot.fields import MQL_DATE
from connector.errors import Interrupted
from connector.pipeline.rescore import Rescore
from connector.pipeline.sync import Sync
from connector.pipeline.undo import RunNotFound, Undo
from connector.state import StateStore
from tests.integration.conftest import Rig, make_rig

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FIELDS = [
    "lifecyclestage", "mqlsync_fit", "mqlsync_engagement", "mqlsync_score", "mqlsync_grade",
    "mqlsync_route", "mqlsync_temperature", "mqlsync_reasons", "mqlsync_scored_at",
    "mqlsync_mql_at", "mqlsync_recycle_reason", "mqlsync_recycled_at", "mqlsync_sla",
]  # fmt: skip


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    for r in make_rig(tmp_path, 200):
        # the CRM's own MQL dates would give MQLs mqlsync adopts their own stale clocks;
        # without them only the MQLs this sync promotes (at T0) go stale
        contacts = r.sandbox.store.tables["contacts"]
        for row in range(contacts.size):
            contacts.columns[MQL_DATE].set(row, None)
        r.adapter.provision()
        r.sync.clock = lambda: T0
        yield r


def crm_state(rig: Rig) -> dict[str, dict[str, str | None]]:
    """Every contact's mqlsync fields and stage, as the CRM holds them."""
    table = rig.sandbox.store.tables["contacts"]
    out = {}
    for row in range(table.size):
        rid = table.id_of(row)
        out[rid] = {name: table.value(row, name) for name in FIELDS}
    return out


def rescore(rig: Rig, at: datetime) -> Rescore:
    return Rescore(rig.adapter, rig.mapping, rig.store, clock=lambda: at)


def stale_mqls(rig: Rig) -> list[str]:
    """MQLs this sync promoted (adopted ones have no MQL time here: no clock runs)."""
    return [
        s.record_id
        for s in rig.store.iter_snapshots("hubspot")
        if s.stage == "mql" and s.mql_at is not None
    ]


# -- a move back is checked against the CRM right before it is written ---------------------


def test_rescore_does_not_recycle_a_contact_sales_moved_to_sql(rig):
    rig.sync.run()
    Rescore(rig.adapter, rig.mapping, rig.store, clock=lambda: T0 + DAY).run()
    mqls = stale_mqls(rig)
    assert mqls, "the sandbox should leave MQLs nobody touched"
    target, touched = mqls[0], mqls[1]
    # between the rescore's read (the stored snapshot) and its write, sales acts:
    rig.sandbox.store.add_engagement(int(target), "meetings", datetime.now(UTC))
    rig.sandbox.store.touch(int(target), lifecyclestage="salesqualifiedlead")
    rig.sandbox.store.add_engagement(int(touched), "calls", datetime.now(UTC))

    summary = rescore(rig, T0 + 15 * DAY).run()
    assert summary.dropped == 2
    assert summary.recycled >= 2  # decided from the snapshots …
    state = crm_state(rig)
    assert state[target]["lifecyclestage"] == "salesqualifiedlead"  # … but never written
    assert state[touched]["lifecyclestage"] == "marketingqualifiedlead"
    assert state[touched]["mqlsync_recycled_at"] is None
    others = [m for m in mqls if m not in (target, touched)]
    assert all(state[m]["lifecyclestage"] == "lead" for m in others)
    # the next sync reads both changed contacts and leaves them where sales put them
    rig.sync.clock = lambda: T0 + 15 * DAY
    follow_up = rig.sync.run()
    assert follow_up.recycled == 0
    state = crm_state(rig)
    assert state[target]["lifecyclestage"] == "salesqualifiedlead"
    assert state[touched]["lifecyclestage"] == "marketingqualifiedlead"


# -- a half-applied clear-then-set is finished ---------------------------------------------


def test_a_cleared_stage_whose_set_failed_is_set_again_by_the_next_run(rig):
    rig.sync.run()
    mqls = stale_mqls(rig)
    update = rig.adapter._update

    def set_fails(inputs, verify=None):
        if verify is not None:  # the "set" half of clear-then-set
            return {str(i["id"]): Outcome(str(i["id"]), "INTERNAL_ERROR", True) for i in inputs}
        return update(inputs, verify)

    rig.adapter._update = set_fails  # type: ignore[method-assign]
    failing = rescore(rig, T0 + 15 * DAY).run()
    rig.adapter._update = update  # type: ignore[method-assign]
    assert failing.failed == len(mqls) and failing.dead_lettered == len(mqls)
    state = crm_state(rig)
    assert all(state[m]["lifecyclestage"] is None for m in mqls)  # blank: the defect

    repaired = rescore(rig, T0 + 15 * DAY + timedelta(hours=1)).run()
    assert repaired.settled == len(mqls)
    state = crm_state(rig)
    assert all(state[m]["lifecyclestage"] == "lead" for m in mqls)
    assert all(state[m]["mqlsync_recycle_reason"] == "no sales touch in 14 days" for m in mqls)
    # recycled once, at the first attempt's time: the repair did not stamp it again
    first = {m: state[m]["mqlsync_recycled_at"] for m in mqls}
    assert len(set(first.values())) == 1
    assert next(iter(first.values())).startswith((T0 + 15 * DAY).date().isoformat())
    snaps = rig.store.get_snapshots("hubspot", "contact", mqls)
    assert all(s.stage == "lead" and s.recycled_at == T0 + 15 * DAY for s in snaps.values())
    rig.sync.clock = lambda: T0 + 16 * DAY
    assert rig.sync.run().recycled == 0


# -- lifecycle memory the store lost comes back from the CRM's own fields -------------------


def test_a_lost_state_store_does_not_restamp_mql_at(rig, tmp_path: Path):
    rig.sync.run()
    before = crm_state(rig)
    promoted = {rid: s["mqlsync_mql_at"] for rid, s in before.items() if s["mqlsync_mql_at"]}
    assert promoted
    with StateStore.open(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        later = Sync(rig.adapter, rig.mapping, fresh, clock=lambda: T0 + timedelta(hours=1))
        later.run()
    after = crm_state(rig)
    assert {rid: after[rid]["mqlsync_mql_at"] for rid in promoted} == promoted


# -- undo ---------------------------------------------------------------------------------


def test_sync_then_undo_gives_back_the_crm_as_it_was(rig):
    pristine = crm_state(rig)
    summary = rig.sync.run()
    synced = crm_state(rig)
    assert synced != pristine
    # a rep edits one mqlsync field after the sync: undo must leave it
    edited = next(rid for rid, s in synced.items() if s["mqlsync_grade"])
    rig.sandbox.store.touch(int(edited), mqlsync_grade="A1")

    dry = Undo(rig.adapter, rig.store).run(summary.run_id, dry_run=True)
    assert crm_state(rig)[edited]["mqlsync_grade"] == "A1"
    report = Undo(rig.adapter, rig.store).run(summary.run_id)
    assert report.restored == dry.restored > 0 and report.failed == 0
    assert [(s.record_id, s.field) for s in report.skipped] == [(edited, "grade")]
    undone = crm_state(rig)
    expected = {rid: dict(fields) for rid, fields in pristine.items()}
    expected[edited]["mqlsync_grade"] = "A1"
    assert undone == expected
    run = rig.store.get_run(report.run_id)
    assert run is not None and run.kind == "undo" and run.status == "ok"
    # the undo is a run with its own journal: undoing it writes the sync's values again
    Undo(rig.adapter, rig.store).run(report.run_id)
    redone = crm_state(rig)
    assert {r: f for r, f in redone.items() if r != edited} == {
        r: f for r, f in synced.items() if r != edited
    }


def test_undo_of_an_unknown_run_is_a_clear_error(rig):
    with pytest.raises(RunNotFound, match="no run 999"):
        Undo(rig.adapter, rig.store).run(999)


# -- dead letters do not hold the watermark and are parked ---------------------------------


def test_an_always_failing_record_is_parked_and_pulls_do_not_grow(rig):
    write = rig.adapter.write
    bad = "7"

    def refuse_one(obj, patches):
        outcomes = write(obj, [p for p in patches if p.record_id != bad])
        refused = [Outcome(bad, "VALIDATION_ERROR: refused") for p in patches if p.record_id == bad]
        return outcomes + refused

    rig.adapter.write = refuse_one  # type: ignore[method-assign]
    rig.sync.max_attempts = 6
    rig.sync.clock = lambda: datetime.now(UTC)  # the sandbox's modified times are real
    rig.sync.lookback = timedelta(0)  # no overlap re-read: count only what is new
    pulled, retried = [], []
    for _ in range(6):
        # the sandbox stamps each write a millisecond after the last (a batch runs ahead of
        # the wall clock): let the clock pass its writes, as the lookback would otherwise
        time.sleep(0.3)
        before = len(rig.sandbox.request_log)
        summary = rig.sync.run()
        reads = [
            e for e in rig.sandbox.request_log.entries()[before:]
            if e.path.endswith("/contacts/batch/read")
        ]  # fmt: skip
        pulled.append(summary.pulled)
        retried.append(sum(e.inputs for e in reads))
    letters = rig.store.open_dead_letters("hubspot")
    assert [(d.record_id, d.attempts) for d in letters] == [(bad, 6)]
    assert letters[0].parked_at is not None
    assert retried[1:3] == [1, 1] and retried[3:] == [0, 0, 0]  # retried by id, then parked
    # the watermark moves on (today's main held it at the failed record: 22 → 42 → 62 …)
    assert pulled[0] == 200 and pulled[3:] == [0, 0, 0]
    mark = rig.store.get_watermark("hubspot", "contact", "lastmodifieddate")
    assert mark is not None and mark.value > datetime.now(UTC) - timedelta(minutes=1)


def test_dead_lettered_records_are_processed_once_per_run(rig):
    write = rig.adapter.write
    refused: set[str] = set()

    def refuse_first_batch(obj, patches):
        if not refused:
            refused.update(p.record_id for p in patches[:26])
        return write(obj, [p for p in patches if p.record_id not in refused]) + [
            Outcome(p.record_id, "INTERNAL_ERROR", True) for p in patches if p.record_id in refused
        ]

    rig.adapter.write = refuse_first_batch  # type: ignore[method-assign]
    first = rig.sync.run()
    assert first.failed == 26
    rig.adapter.write = write  # type: ignore[method-assign]
    rig.sync.clock = lambda: T0 + timedelta(hours=1)
    second = rig.sync.run()
    journal = [e.record_id for e in rig.store.journal_for_run(second.run_id) if e.field == "fit"]
    assert sorted(journal) == sorted(set(journal)) and set(journal) >= refused
    assert second.written == len(set(journal))
    assert rig.store.open_dead_letters() == []


# -- a stop request ends a run at a page boundary, a dead run shows as crashed ---------------


def test_a_stop_request_commits_the_first_page_and_leaves_the_watermark(rig):
    rig.adapter.page_size = 50
    with pytest.raises(Interrupted, match="next run continues"):
        rig.sync.run(should_stop=lambda: True)
    assert rig.store.count_snapshots("hubspot") == 50
    assert rig.store.get_watermark("hubspot", "contact", "lastmodifieddate") is None
    run = rig.store.recent_runs(1)[0]
    assert run.status == "failed" and run.counts["pulled"] == 50
    assert run.error is not None and "stopped on request" in run.error
    done = rig.sync.run()
    assert done.pulled == 200 and rig.store.count_snapshots("hubspot") == 200


def test_a_run_left_running_by_a_dead_process_is_marked_crashed(rig):
    dead = rig.store.start_run("sync", crm="hubspot", started_at=T0)
    summary = rig.sync.run()
    assert rig.store.get_run(dead).status == "crashed"
    assert rig.store.get_run(summary.run_id).status == "ok"


def test_a_run_that_died_after_writing_can_be_undone(rig):
    pristine = crm_state(rig)
    write = rig.adapter.write
    batches: list[int] = []

    def die_after_second_batch(obj, patches):
        outcomes = write(obj, patches)
        batches.append(len(patches))
        if len(batches) == 2:
            raise KeyboardInterrupt("killed after the CRM took the batch")
        return outcomes

    rig.adapter.write = die_after_second_batch  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        rig.sync.run()
    rig.adapter.write = write  # type: ignore[method-assign]
    dead = rig.store.recent_runs(1)[0]
    assert dead.status == "failed" and dead.error == "killed after the CRM took the batch"
    assert crm_state(rig) != pristine
    # the journal was written before each CRM write, so the dead run is undone whole
    report = Undo(rig.adapter, rig.store).run(dead.id)
    assert report.skipped == [] and report.failed == 0
    assert crm_state(rig) == pristine
