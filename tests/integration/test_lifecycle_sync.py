"""Lifecycle through the sandbox: sales rejection recycles, re-MQL needs new engagement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.core.lifecycle import in_cooldown
from connector.pipeline.steps import memory_of


def get(rig, cid, *props):
    api = rig.adapter.calls.client.crm.contacts.basic_api
    return api.get_by_id(cid, properties=list(props)).properties


def test_rejected_mql_is_recycled_with_reason_and_needs_new_engagement_to_requalify(rig):
    rig.adapter.provision()
    rig.sync.run()
    promoted = [
        s
        for s in rig.store.iter_snapshots("hubspot")
        if s.stage == "mql" and s.recycled_at is None and s.fit >= 15
    ]
    assert promoted, "the first sync should leave some contacts at MQL"
    target = promoted[0]
    rig.sandbox.store.touch(int(target.record_id), hs_lead_status="UNQUALIFIED")

    recycle = rig.sync.run()
    assert recycle.recycled == 1 and recycle.written == 1
    props = get(
        rig,
        target.record_id,
        "lifecyclestage",
        "mqlsync_recycle_reason",
        "mqlsync_recycled_at",
        "mqlsync_mql_at",
        "mqlsync_engagement",
    )
    assert props["lifecyclestage"] == "lead"
    assert props["mqlsync_recycle_reason"] == "rejected by sales: UNQUALIFIED"
    assert props["mqlsync_recycled_at"]
    assert props["mqlsync_mql_at"]  # history kept
    snap = rig.store.get_snapshots("hubspot", "contact", [target.record_id])[target.record_id]
    assert snap.stage == "lead" and snap.recycled_at is not None
    assert int(props["mqlsync_engagement"]) <= 0  # old engagement no longer counts

    # nothing new happened: syncing again does not re-promote it
    assert rig.sync.run().promoted == 0
    assert get(rig, target.record_id, "lifecyclestage")["lifecyclestage"] == "lead"

    # new engagement inside the cooldown needs a hot rule: a meeting (+100, hot) re-qualifies
    assert in_cooldown(memory_of(snap), rig.mapping.spec.lifecycle, datetime.now(UTC))
    rig.sandbox.store.add_engagement(
        int(target.record_id), "meetings", datetime.now(UTC) + timedelta(seconds=1)
    )
    again = rig.sync.run()
    assert again.promoted == 1
    assert (
        get(rig, target.record_id, "lifecyclestage")["lifecyclestage"] == "marketingqualifiedlead"
    )
