"""`explain --contact`: one live record, by id or email, with its lifecycle explained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.pipeline.live import RecordNotFound, explain_live


def explain(rig, key: str, at: datetime) -> str:
    return explain_live(rig.adapter, rig.store, rig.mapping, key, at)


def test_by_id_and_by_email_the_same_record(rig):
    rig.adapter.provision()
    rig.sync.run()
    table = rig.sandbox.store.tables["contacts"]
    row = table.row_of("42")
    email = table.value(row, "email")
    now = datetime.now(UTC)
    by_id = explain(rig, "42", now)
    assert by_id.startswith("Lead 42") and "Qualification:" in by_id and "Lifecycle:" in by_id
    assert "Next sync: nothing to write" in by_id  # just synced
    assert explain(rig, email, now) == by_id
    with pytest.raises(RecordNotFound, match=r"nobody@example\.invalid"):
        explain(rig, "nobody@example.invalid", now)


def test_a_recycled_contact_says_why_its_engagement_dropped(rig):
    rig.adapter.provision()
    rig.sync.run()
    target = next(
        s for s in rig.store.iter_snapshots("hubspot")
        if s.stage == "mql" and s.engagement >= 100 and s.recycled_at is None
    )  # fmt: skip
    rig.sandbox.store.touch(int(target.record_id), hs_lead_status="UNQUALIFIED")
    before = explain(rig, target.record_id, datetime.now(UTC))
    assert "=> the next sync recycles it: rejected by sales: UNQUALIFIED" in before
    rig.sync.run()
    after = explain(rig, target.record_id, datetime.now(UTC) + timedelta(minutes=1))
    assert "recycled " in after and "rejected by sales: UNQUALIFIED" in after
    assert "earlier activit" in after and "no longer count" in after
    assert "cooldown until" in after and "only a hot rule" in after
