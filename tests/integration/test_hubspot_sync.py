"""HubSpot end to end against the sandbox through the official SDK (issue 5 acceptance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.core.lifecycle import STAGES
from connector.core.reasons import descriptions, reasons_text
from connector.core.records import parse_record
from connector.core.scoring import score
from connector.crm.hubspot.fields import MQL_DATE, property_specs
from connector.errors import FatalSyncError
from connector.sandbox.faults import Faults
from tests.integration.conftest import make_rig

NAMES = [s.name for s in property_specs()]


def contacts(rig, properties):
    api = rig.adapter.calls.client.crm.contacts.basic_api
    out, after = {}, None
    while True:
        page = api.get_page(limit=100, after=after, properties=properties)
        out.update({c.id: c.properties for c in page.results})
        if not page.paging or not page.paging.next:
            return out
        after = page.paging.next.after


def test_provision_creates_group_and_properties_once(rig):
    first = rig.adapter.provision()
    assert "group mqlsync" in first.created
    assert set(NAMES) <= set(first.created)
    again = rig.adapter.provision()
    assert again.created == [] and set(NAMES) <= set(again.existing)


def test_sync_before_provision_stops_with_the_fix(rig):
    with pytest.raises(FatalSyncError, match="mqlsync provision"):
        rig.sync.run()
    assert rig.store.open_dead_letters() == []


def test_first_sync_writes_what_score_computes_and_respects_stages(rig):
    rig.adapter.provision()
    before = contacts(rig, ["lifecyclestage", MQL_DATE])
    summary = rig.sync.run()
    assert summary.pulled == 300 and summary.written == 300 and summary.failed == 0
    after = contacts(rig, [*NAMES, "lifecyclestage"])
    snaps = {s.record_id: s for s in rig.store.iter_snapshots("hubspot")}
    assert len(snaps) == 300
    rank = {
        "marketingqualifiedlead": 2,
        "salesqualifiedlead": 4,
        "opportunity": 5,
        "customer": 6,
        "lead": 1,
        "subscriber": 0,
    }
    promoted = 0
    for cid, props in after.items():
        snap = snaps[cid]
        record = parse_record(snap.record)
        # a recycled record (sales had rejected it) is scored on activities after the recycle
        expected = score(
            record,
            rig.mapping,
            snap.scored_at,
            engagement_since=snap.recycled_at,
            require_hot=snap.recycled_at is not None,
        )
        assert props["mqlsync_fit"] == str(expected.fit)
        assert props["mqlsync_engagement"] == str(expected.engagement)
        assert props["mqlsync_score"] == str(expected.total)
        assert (props["mqlsync_grade"] or None) == expected.grade
        assert props["mqlsync_route"] == expected.route
        assert props["mqlsync_temperature"] == expected.temperature
        assert (props["mqlsync_reasons"] or "") == reasons_text(
            expected,
            descriptions(rig.mapping),
            recycled_at=snap.recycled_at,
            recycle_reason=snap.recycle_reason,
        )
        old, new = before[cid]["lifecyclestage"], props["lifecyclestage"]
        if old in ("salesqualifiedlead", "opportunity", "customer"):
            assert new == old  # never moved by mqlsync
        elif snap.recycled_at is not None:
            assert old == "marketingqualifiedlead" and new == "lead"
            # rejected by sales, or an MQL the CRM already had, untouched by sales since
            # the CRM's own MQL date for longer than stale_after_days
            assert snap.recycle_reason.startswith("rejected by sales") or (
                snap.recycle_reason == "no sales touch in 14 days"
                and props["mqlsync_mql_at"] == before[cid][MQL_DATE]
            )
        elif expected.is_mql and old in (None, "subscriber", "lead"):
            assert new == "marketingqualifiedlead"
            promoted += 1
        else:
            assert rank.get(new, -1) >= rank.get(old, -1)
    assert promoted == summary.promoted > 0
    assert set(STAGES) >= {s.stage for s in snaps.values() if s.stage}


def test_second_sync_without_changes_is_nearly_free_and_one_change_writes_one(rig):
    rig.adapter.provision()
    rig.sync.run()
    echo = rig.sync.run()  # re-reads the first run's own writes: nothing to write
    assert echo.written == 0
    quiet = rig.sync.run()
    # the lookback's 2 contact search pages + 1 engagement search per type (none changed)
    assert quiet.api_calls <= 2 + 3, quiet
    assert quiet.written == 0
    # a contact with no meeting yet gets one: only that contact is written
    snaps = {s.record_id: s for s in rig.store.iter_snapshots("hubspot")}
    target = next(
        rid
        for rid, s in snaps.items()
        if not any(a["type"] in ("meeting", "demo_request") for a in s.record["activities"])
    )
    rig.sandbox.store.add_engagement(
        int(target), "meetings", datetime.now(UTC) - timedelta(hours=1)
    )
    changed = rig.sync.run()
    assert changed.written == 1
    journal = list(rig.store.journal_for_run(changed.run_id))
    assert {e.record_id for e in journal} == {target}
    fields = {e.field: e.after for e in journal}
    assert (
        int(fields["engagement"]) == int(snaps[target].engagement) + 100 or "engagement" in fields
    )


def test_partial_batch_failures_are_retried_then_dead_lettered_and_not_skipped(tmp_path):
    for rig in make_rig(tmp_path, 250, faults=Faults(partial_batch_failure=0.3, seed=3)):
        rig.adapter.provision()
        first = rig.sync.run()
        assert first.failed > 0, "the fault knob should fail some inputs twice"
        assert first.written + first.failed == 250
        assert first.dead_lettered == first.failed
        letters = rig.store.open_dead_letters()
        assert len(letters) == first.failed and all(letter.error for letter in letters)
        failed_ids = {letter.record_id for letter in letters}
        # faults off: the next run re-reads the failed records (watermark held back)
        rig.sandbox.faults.partial_batch_failure = 0.0
        second = rig.sync.run()
        written_now = {e.record_id for e in rig.store.journal_for_run(second.run_id)}
        # a move back whose clear landed and set failed was finished by settling it
        settled = {e.record_id for e in rig.store.journal_for_run(first.run_id)} & failed_ids
        assert failed_ids <= written_now | settled
        assert second.written >= len(failed_ids - settled)
        assert rig.store.open_dead_letters() == []  # resolved once written
        # half-applied recycles (clear succeeded, set failed) end at the decided stage
        api = rig.adapter.calls.client.crm.contacts.basic_api
        snaps = rig.store.get_snapshots("hubspot", "contact", failed_ids)
        for rid in failed_ids:
            props = api.get_by_id(rid, properties=["lifecyclestage", "hs_lead_status"]).properties
            assert rig.adapter.canonical_stage(props) == snaps[rid].stage
