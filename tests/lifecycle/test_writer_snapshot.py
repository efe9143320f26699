"""What the writer stores in a snapshot's `written` column, computed here or in a worker."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from connector.core.lifecycle import Memory, evaluate
from connector.core.records import Activity, LeadRecord
from connector.crm.base import STAGE_FIELD, Pulled
from connector.pipeline.steps import desired_values
from connector.pipeline.writer import Scored, snapshot_of
from tests.conftest import shipped

NOW = datetime(2026, 11, 1, 3, 0, 0, 123456, tzinfo=UTC)


def scored() -> Scored:
    record = LeadRecord(
        "7",
        "hubspot",
        "contact",
        {"email": "ana@acme.io", "title": "VP Marketing", "employees": 400},
        (Activity("demo_request", datetime(2026, 10, 31, tzinfo=UTC), {}),),
    )
    result, decision = evaluate(record, shipped("b2b-saas"), Memory(), NOW)
    desired = {**desired_values(result, decision, NOW), "score": 61.4, "grade": " A2 "}
    return Scored(Pulled(record, {}, NOW), result, decision, desired, None)


def test_written_is_the_normalised_desired_values_without_the_stage() -> None:
    item = scored()
    snap = snapshot_of("hubspot", "contact", item, NOW, NOW, with_record=False)
    assert snap.written["score"] == 61 and snap.written["grade"] == "A2"
    assert snap.written["scored_at"] == "2026-11-01T03:00:00.123Z"
    assert snap.written["modified_at"] == "2026-11-01T03:00:00.123Z"
    assert STAGE_FIELD not in snap.written and snap.stage == item.decision.stage


def test_written_values_computed_in_a_worker_survive_pickling_and_are_used() -> None:
    """Rescore workers fill the cache before sending; the job process must not redo it."""
    item = scored()
    expected = snapshot_of("hubspot", "contact", item, NOW, NOW, with_record=False).written
    sent = scored()
    sent.written_values()
    received = pickle.loads(pickle.dumps(sent))
    assert received.written is not None
    received.desired = {}  # only the cached values can produce the expected snapshot now
    got = snapshot_of("hubspot", "contact", received, NOW, NOW, with_record=False)
    assert got.written == expected


def test_a_record_with_nothing_to_write_keeps_the_crms_scoring_time_and_version() -> None:
    """The scoring time and mapping version ride along only with a real change: when
    nothing is written the CRM keeps the old ones, and `written` must say so, or a later
    change diffed against it would not send the new version."""
    item = scored()
    item.pulled = Pulled(
        item.pulled.record, {"scored_at": "2026-10-01T00:00:00Z", "model": "m@old"}, NOW
    )
    item.desired["model"] = "m@new"
    kept = snapshot_of("hubspot", "contact", item, NOW, None, with_record=False)
    assert kept.written["scored_at"] == "2026-10-01T00:00:00.000Z"
    assert kept.written["model"] == "m@old"
    assert kept.model == "m@new" and kept.scored_at == NOW  # computed by the new version
    assert kept.written["score"] == 61  # the values it holds equal the desired ones
    item.pulled = Pulled(item.pulled.record, {}, NOW)  # a CRM record without them
    bare = snapshot_of("hubspot", "contact", item, NOW, None, with_record=False)
    assert bare.written["scored_at"] is None and bare.written["model"] is None
