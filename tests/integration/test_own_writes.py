"""Own-write exclusion: our echoes are skipped, edits by others in the same window are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.crm.base import OwnWrites
from connector.crm.hubspot.search import changed_since, epoch_ms
from connector.sync import _token

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_groups_cover_before_after_and_foreign_edits_inside_the_window():
    own = OwnWrites(T0, T0 + timedelta(seconds=30), "1795694400000")
    groups = changed_since(T0 - timedelta(minutes=10), own, "mqlsync_scored_at")
    ops = [[(f["propertyName"], f["operator"], f.get("value")) for f in g] for g in groups]
    assert ops[0] == [
        ("lastmodifieddate", "GTE", epoch_ms(T0 - timedelta(minutes=10))),
        ("lastmodifieddate", "LT", epoch_ms(T0)),
    ]
    assert ops[1] == [("lastmodifieddate", "GT", epoch_ms(T0 + timedelta(seconds=30)))]
    assert ("mqlsync_scored_at", "NEQ", "1795694400000") in ops[2]
    assert ("mqlsync_scored_at", "NOT_HAS_PROPERTY", None) in ops[3]
    assert len(groups) <= 5 and all(len(g) <= 5 for g in groups)  # HubSpot limits, +1 id filter


def test_no_window_or_window_before_since_is_a_single_group():
    assert len(changed_since(T0, None, "x")) == 1
    old = OwnWrites(T0 - timedelta(days=1), T0 - timedelta(hours=23), "1")
    assert len(changed_since(T0, old, "x")) == 1


def test_token_matches_the_written_millisecond():
    at = T0.replace(microsecond=999_600)
    assert _token(at) == str(int(T0.timestamp()) * 1000 + 999)


def test_edit_by_someone_else_after_our_write_is_pulled(rig):
    rig.adapter.provision()
    rig.sync.run()
    snaps = {s.record_id: s for s in rig.store.iter_snapshots("hubspot")}
    target = next(
        rid for rid, s in snaps.items() if s.stage in ("lead", "subscriber") and s.fit < 15
    )
    rig.sandbox.store.touch(int(target), jobtitle="VP Revenue", numberofemployees="120")
    follow_up = rig.sync.run()
    assert follow_up.pulled >= 1
    journal = {(e.record_id, e.field) for e in rig.store.journal_for_run(follow_up.run_id)}
    assert (target, "fit") in journal
