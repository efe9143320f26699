"""Edits made by sales while mqlsync writes are never lost.

mqlsync used to skip its own write echoes with a search filter on its write window and the
`scored_at` it wrote; an edit by a rep inside that window matched no filter and was never
pulled again. The pull now re-reads echoes (they diff to zero writes), and a snapshot keeps
the modified time the record was *read* at, so activities logged between our read and our
write are read again too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.crm.hubspot.search import changed_since, epoch_ms
from connector.crm.values import parse_instant
from tests.integration.conftest import sync_with_edit_before_first_write

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _props(rig, cid, *names):
    api = rig.adapter.calls.client.crm.contacts.basic_api
    return api.get_by_id(cid, properties=list(names)).properties


def test_the_search_asks_only_for_modified_since():
    assert changed_since(T0) == [
        [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": epoch_ms(T0)}]
    ]


def test_rejection_and_title_set_right_after_the_first_batch_are_pulled_next_run(rig):
    """Reproduces the lost rejection: a rep rejects an MQL just promoted by batch 1 of a
    backfill (and sets a VP title) while the backfill is still writing."""
    rig.adapter.provision()
    write = rig.adapter.write
    edited: list[str] = []

    def write_then_edit(obj, patches):
        outcomes = write(obj, patches)
        if not edited:
            target = next(p.record_id for p in patches if p.values.get("stage") == "mql")
            rig.sandbox.store.touch(int(target), hs_lead_status="UNQUALIFIED", jobtitle="VP Sales")
            edited.append(target)
        return outcomes

    rig.adapter.write = write_then_edit  # type: ignore[method-assign]
    backfill = rig.sync.run()
    rig.adapter.write = write  # type: ignore[method-assign]
    assert backfill.written > rig.adapter.write_batch_size  # the edit came mid-run
    target = edited[0]

    follow_up = rig.sync.run()
    assert follow_up.recycled >= 1
    props = _props(rig, target, "lifecyclestage", "mqlsync_recycle_reason")
    assert props["lifecyclestage"] == "lead"
    assert props["mqlsync_recycle_reason"] == "rejected by sales: UNQUALIFIED"
    snap = rig.store.get_snapshots("hubspot", "contact", [target])[target]
    assert snap.record["properties"]["title"] == "VP Sales"


def test_activity_logged_between_our_read_and_our_write_is_read_next_run(rig):
    rig.adapter.provision()
    target = sync_with_edit_before_first_write(
        rig,
        lambda target: rig.sandbox.store.add_engagement(int(target), "meetings", datetime.now(UTC)),
    )
    snap = rig.store.get_snapshots("hubspot", "contact", [target])[target]
    without_meeting = snap.engagement
    read_at = parse_instant(snap.written["modified_at"])
    echo_at = parse_instant(snap.written["echo_at"])
    assert read_at is not None and echo_at is not None and read_at < echo_at

    rig.sync.run()
    snap = rig.store.get_snapshots("hubspot", "contact", [target])[target]
    assert any(a["type"] == "meeting" for a in snap.record["activities"])
    assert snap.engagement > without_meeting
    assert int(_props(rig, target, "mqlsync_engagement")["mqlsync_engagement"]) == snap.engagement


def test_unchanged_echoes_are_pulled_but_not_written_again(rig):
    rig.adapter.provision()
    first = rig.sync.run()
    assert first.written > 0
    echo = rig.sync.run()
    assert echo.pulled >= first.written  # our own writes come back once …
    assert echo.written == 0  # … and diff to nothing
    quiet = rig.sync.run()
    assert quiet.written == 0
    assert quiet.pulled <= echo.pulled


def test_the_watermark_moves_to_the_run_start(rig):
    rig.adapter.provision()
    rig.sync.clock = lambda: T0 + timedelta(days=1)
    rig.sync.run()
    mark = rig.store.get_watermark("hubspot", "contact", "lastmodifieddate")
    assert mark is not None and mark.value == T0 + timedelta(days=1)
