"""The daily rescore against the HubSpot sandbox: decay and stale recycle with zero reads."""

from __future__ import annotations

import functools
import gc
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.core.reasons import descriptions
from connector.core.records import parse_record
from connector.crm.base import RIDE_ALONG
from connector.crm.hubspot.fields import MQL_DATE
from connector.crm.values import changed_fields
from connector.mapping.loader import load_mapping
from connector.pipeline import rescore as rescore_module
from connector.pipeline.rescore import Rescore, current_values, held_record, rescore_record
from connector.pipeline.steps import PlannedChange, RunOptions, RunSummary, memory_of
from connector.pipeline.sync import Sync
from connector.sandbox.faults import Faults
from connector.state import NEVER
from tests.conftest import MAPPINGS
from tests.integration.conftest import Rig, make_rig

DAY = timedelta(days=1)
T0 = datetime.now(UTC).replace(microsecond=0)
BATCH_READ = "/crm/v3/objects/contacts/batch/read"
BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One sync at T0 of 300 sandbox contacts (shared: the tests below only add runs)."""
    for rig in make_rig(tmp_path_factory.mktemp("rescore"), 300):
        rig.adapter.provision()
        rig.sync.clock = lambda: T0
        assert rig.sync.run().written == 300
        yield rig


def rescore(rig: Rig, at: datetime, **kw) -> tuple[RunSummary, list]:
    """Run a rescore at `at`; the summary and the sandbox requests it made."""
    before = len(rig.sandbox.request_log)
    summary = Rescore(rig.adapter, rig.mapping, rig.store, clock=lambda: at, **kw).run()
    return summary, rig.sandbox.request_log.entries()[before:]


def expected_changes(rig: Rig, at: datetime) -> dict[str, dict]:
    """Independently: which stored records would write what at `at`."""
    out = {}
    for snap in rig.store.iter_snapshots("hubspot", "contact"):
        record = held_record(parse_record(snap.record), snap.stage)
        _, _, desired = rescore_record(
            record, rig.mapping, memory_of(snap), at, labels=descriptions(rig.mapping)
        )
        diff = changed_fields(desired, current_values(snap), RIDE_ALONG)
        if diff:
            out[snap.record_id] = diff
    return out


def only_batch_updates(requests: list, recycles: int = 0) -> None:
    """Writes only, except the read that checks each recycle against the CRM's current
    stage just before writing it (no search, no association or activity read)."""
    assert requests, "expected writes"
    reads = [r for r in requests if (r.method, r.path) == ("POST", BATCH_READ)]
    assert sum(r.inputs for r in reads) == recycles, reads
    writes = {(r.method, r.path) for r in requests if r not in reads}
    assert writes == {("POST", BATCH_UPDATE)}, requests


def test_sync_stores_due_times_and_an_immediate_rescore_reads_only_what_is_due(synced: Rig):
    snaps = list(synced.store.iter_snapshots("hubspot"))
    assert len(snaps) == 300
    assert all(s.due_at is not None and s.due_at > T0 for s in snaps)
    assert any(s.due_at == NEVER for s in snaps) or all(s.record["activities"] for s in snaps)
    at = T0 + timedelta(minutes=1)
    summary, requests = rescore(synced, at)
    assert summary.pulled == sum(s.due_at <= at for s in snaps)
    assert summary.written == 0 and requests == [] and summary.api_calls == 0


def test_decay_bites_after_31_days_with_zero_reads_and_only_changed_records(synced: Rig):
    at = T0 + 31 * DAY
    expected = expected_changes(synced, at)
    assert len(expected) > 100  # decay and expiring windows touch most records
    summary, requests = rescore(synced, at)
    only_batch_updates(requests, summary.recycled)  # no search or association call
    assert summary.api_calls == len(requests)
    assert summary.written == summary.changed == len(expected) and summary.failed == 0
    journal = list(synced.store.journal_for_run(summary.run_id))
    assert {e.record_id for e in journal} == set(expected)
    assert {(e.record_id, e.field) for e in journal} == {
        (rid, f) for rid, diff in expected.items() for f in diff
    }
    run = synced.store.get_run(summary.run_id)
    assert run is not None and run.kind == "rescore" and run.status == "ok"
    assert run.counts["written"] == len(expected)
    # the CRM holds what scoring says at `at`, and a record with decay shows it
    api = synced.adapter.calls.client.crm.contacts.basic_api
    rid = next(r for r, d in expected.items() if "engagement" in d)
    props = api.get_by_id(rid, properties=["mqlsync_engagement", "mqlsync_reasons"]).properties
    assert int(props["mqlsync_engagement"]) == expected[rid]["engagement"]
    snap = synced.store.get_snapshots("hubspot", "contact", [rid])[rid]
    assert snap.engagement == expected[rid]["engagement"] and snap.due_at > at
    # the same moment again: nothing due is left to change
    second, requests = rescore(synced, at)
    assert second.written == 0 and requests == []


def test_untouched_mql_is_recycled_by_the_rescore_after_14_days(tmp_path):
    for rig in make_rig(tmp_path, 120):
        # MQLs the CRM already had keep its MQL date (their own clocks); here none has one,
        # so only the MQLs this sync promotes (at T0) have a clock that runs
        became = rig.sandbox.store.tables["contacts"].columns[MQL_DATE]
        for row in range(rig.sandbox.store.tables["contacts"].size):
            became.set(row, None)
        rig.adapter.provision()
        rig.sync.clock = lambda: T0
        rig.sync.run()
        rescore(rig, T0 + timedelta(minutes=1))  # learn due times
        mqls = [
            s for s in rig.store.iter_snapshots("hubspot") if s.stage == "mql" and s.mql_at
        ]
        stale = [
            s.record_id
            for s in mqls
            if not any(
                a["type"] in ("sales_touch", "call", "meeting", "email_reply")
                and datetime.fromisoformat(a["at"]) > s.mql_at
                for a in s.record["activities"]
            )
        ]
        assert stale, "the sandbox should have untouched MQLs"
        before, _ = rescore(rig, T0 + 14 * DAY - timedelta(seconds=1))
        assert before.recycled == 0
        summary, requests = rescore(rig, T0 + 14 * DAY)
        only_batch_updates(requests, summary.recycled)
        assert summary.recycled == len(stale)
        api = rig.adapter.calls.client.crm.contacts.basic_api
        names = ["lifecyclestage", "mqlsync_recycle_reason", "mqlsync_recycled_at"]
        for rid in stale:
            props = api.get_by_id(rid, properties=names).properties
            assert props["lifecyclestage"] == "lead"
            assert props["mqlsync_recycle_reason"] == "no sales touch in 14 days"
            assert props["mqlsync_recycled_at"].startswith((T0 + 14 * DAY).date().isoformat())
        snaps = rig.store.get_snapshots("hubspot", "contact", stale)
        assert all(s.stage == "lead" and s.recycled_at == T0 + 14 * DAY for s in snaps.values())
        journal = list(rig.store.journal_for_run(summary.run_id))
        assert {e.record_id for e in journal if e.field == "stage"} == set(stale)


def test_dry_run_plans_without_writing_or_recording(synced: Rig):
    at = T0 + 80 * DAY
    expected = expected_changes(synced, at)
    assert expected
    due_before = {s.record_id: s.due_at for s in synced.store.iter_snapshots("hubspot")}
    runs_before = len(synced.store.recent_runs(100))
    before = len(synced.sandbox.request_log)
    planned: list[PlannedChange] = []
    Rescore(synced.adapter, synced.mapping, synced.store, clock=lambda: at, batch=7).run(
        dry_run=True, plan=planned.append
    )
    assert len(synced.sandbox.request_log) == before
    assert {p.record_id for p in planned} == set(expected)
    assert {(p.record_id, p.field) for p in planned} == {
        (rid, f) for rid, diff in expected.items() for f in diff
    }
    assert {s.record_id: s.due_at for s in synced.store.iter_snapshots("hubspot")} == due_before
    assert len(synced.store.recent_runs(100)) == runs_before


def test_failed_writes_are_dead_lettered_and_stay_due(tmp_path):
    for rig in make_rig(tmp_path, 150, faults=Faults(partial_batch_failure=0.0, seed=3)):
        rig.adapter.provision()
        rig.sync.clock = lambda: T0
        rig.sync.run()
        at = T0 + 31 * DAY
        rig.sandbox.faults.partial_batch_failure = 0.3
        failing, requests = rescore(rig, at)
        only_batch_updates(requests, failing.recycled)
        assert failing.failed > 0 and failing.dead_lettered == failing.failed
        letters = {d.record_id for d in rig.store.open_dead_letters("hubspot")}
        assert len(letters) == failing.failed
        assert all(d.error for d in rig.store.open_dead_letters("hubspot"))
        journal = list(rig.store.journal_for_run(failing.run_id))
        journaled = {e.record_id for e in journal}
        moved_back = {e.record_id for e in journal if e.field == "stage"}
        # only what was written is journaled, and failed moves back (maybe half done: the
        # next run checks the CRM before settling them)
        assert letters & journaled <= moved_back
        # their snapshots were not advanced: the next rescore picks exactly them up again
        rig.sandbox.faults.partial_batch_failure = 0.0
        retry, _ = rescore(rig, at)
        # moves back whose clear landed were finished when the retry settled them
        finished = {e.record_id for e in rig.store.journal_for_run(failing.run_id)} & letters
        assert finished <= moved_back
        assert retry.written == len(letters - finished) and retry.failed == 0
        assert {e.record_id for e in rig.store.journal_for_run(retry.run_id)} == letters - finished
        assert rig.store.open_dead_letters("hubspot") == []  # settled once written


def test_worker_processes_rescore_the_same_as_one_process(tmp_path):
    for rig in make_rig(tmp_path, 120):
        rig.adapter.provision()
        rig.sync.clock = lambda: T0
        rig.sync.run()
        at = T0 + 31 * DAY
        expected = expected_changes(rig, at)
        due = sum(s.due_at <= at for s in rig.store.iter_snapshots("hubspot"))
        summary, requests = rescore(rig, at, workers=2, batch=25)
        only_batch_updates(requests, summary.recycled)
        assert summary.pulled == due and summary.written == len(expected)
        journal = list(rig.store.journal_for_run(summary.run_id))
        assert {(e.record_id, e.field) for e in journal} == {
            (rid, f) for rid, diff in expected.items() for f in diff
        }
        assert all(s.due_at > at for s in rig.store.iter_snapshots("hubspot"))
        assert summary.reasons and summary.routes  # counters come back from the workers


def crm_models(table: Any) -> dict[str, str | None]:
    """Each sandbox contact's mqlsync_model as the CRM holds it."""
    return {table.id_of(r): table.value(r, "mqlsync_model") for r in range(table.size)}


def test_a_version_that_changed_nothing_is_sent_with_the_next_real_change(tmp_path):
    """The mapping version rides along only with a real change. A remodel, or a sync of
    an edited record, that changes no value writes nothing, so the CRM keeps the old
    version; when decay later changes a score, that write must carry the new version (the
    snapshot must not claim the CRM already holds it)."""
    old, new = "b2b-saas@00000000000a", "b2b-saas@00000000000b"
    for rig in make_rig(tmp_path, 120):
        rig.adapter.provision()
        Sync(rig.adapter, rig.mapping, rig.store, clock=lambda: T0, version=old).run()
        models = functools.partial(crm_models, rig.sandbox.store.tables["contacts"])
        assert set(models().values()) == {old}

        remodel = Rescore(rig.adapter, rig.mapping, rig.store, version=new)
        summary = RunSummary()
        remodel.remodel("contact", T0 + timedelta(minutes=1), RunOptions(), summary)
        assert summary.pulled == 120 and summary.written == 0
        assert set(models().values()) == {old}  # nothing to write: the CRM keeps the old one
        stored = list(rig.store.iter_snapshots("hubspot"))
        assert {s.model for s in stored} == {new}  # computed by the new version
        assert {s.written["model"] for s in stored} == {old}  # what the CRM holds

        edited = sorted(models())[:60]  # a rep edits a field no rule reads
        for rid in edited:
            rig.sandbox.store.touch(rid, firstname="Edited")
        resync = Sync(rig.adapter, rig.mapping, rig.store, clock=lambda: T0, version=new).run()
        assert resync.pulled >= 60 and resync.written == 0
        stored = list(rig.store.iter_snapshots("hubspot"))
        assert {s.written["model"] for s in stored} == {old}

        daily, _ = rescore(rig, T0 + 31 * DAY, version=new)
        changed = {e.record_id for e in rig.store.journal_for_run(daily.run_id)}
        assert changed & set(edited) and changed - set(edited)
        after = models()
        assert {after[rid] for rid in changed} == {new}
        assert {after[rid] for rid in set(after) - changed} == {old}


def _worker_gc(spec: Any, url: str) -> tuple[int, int]:
    """In a fresh process: start a rescore worker, then report its collector settings."""
    rescore_module._start_worker(spec, url, None)
    return gc.get_threshold()[0], gc.get_freeze_count()


def test_worker_processes_scan_for_reference_cycles_rarely(tmp_path):
    """A rescore worker allocates tens of thousands of acyclic objects a page: its
    start-up objects are frozen out of the cycle collector's scans and collections run
    every 50,000 allocations, not every 700 (a sixth of its time otherwise)."""
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        threshold, frozen = pool.apply(_worker_gc, (spec, url))
    assert threshold == 50_000
    assert frozen > 1_000  # the modules and the compiled mapping


def _noting_threshold(write: Any, during: list[int]) -> Any:
    """`write`, noting the collector's threshold at each call."""

    def spy(obj: str, patches: list) -> list:
        during.append(gc.get_threshold()[0])
        return write(obj, patches)

    return spy


def test_a_rescore_collects_garbage_rarely_then_restores_the_setting(tmp_path, monkeypatch):
    """The job process raises the collector's threshold only while it rescores: it runs
    inside a daemon or a CLI whose own settings it must give back."""
    for rig in make_rig(tmp_path, 60):
        rig.adapter.provision()
        rig.sync.clock = lambda: T0
        rig.sync.run()
        during: list[int] = []
        monkeypatch.setattr(rig.adapter, "write", _noting_threshold(rig.adapter.write, during))
        before = gc.get_threshold()
        summary, _ = rescore(rig, T0 + 61 * DAY)
        assert summary.written > 0
        assert set(during) == {50_000}
        assert gc.get_threshold() == before
