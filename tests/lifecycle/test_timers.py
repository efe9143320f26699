"""`next_change_at`: nothing written changes before the due time; edges are exact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.lifecycle import Memory
from connector.core.records import Activity, LeadRecord
from connector.core.scoring import compile_mapping, score
from connector.core.timers import TICK, decay_periods, next_change_at, windows_of
from connector.crm.base import RIDE_ALONG
from connector.crm.values import changed_fields, normalise
from connector.mapping.loader import parse_mapping
from connector.pipeline.rescore import held_record, rescore_record
from tests.conftest import NOW, act, shipped

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
FIT = {"title": "VP Sales", "employees": 100, "industry": "SaaS", "email": "a@acme.io"}
B2B = shipped("b2b-saas")


def rec(*activities: Activity, stage: str | None = "lead", **props: object) -> LeadRecord:
    properties = {**FIT, **props}
    if stage is not None:
        properties["lifecycle_stage"] = stage
    return LeadRecord("r1", "hubspot", "contact", properties, tuple(activities))


def written(record: LeadRecord, memory: Memory, at):  # type: ignore[no-untyped-def]
    _, decision, desired = rescore_record(record, B2B, memory, at)
    return decision, {f: normalise(f, v) for f, v in desired.items() if f != "scored_at"}


# --- edges ------------------------------------------------------------------------------


def test_activity_leaving_the_window_is_due_one_tick_after_exactly_90_days():
    pricing = act("page_view", 80, url="https://acme.io/pricing")
    record = rec(pricing, act("email_open", 2))
    due = next_change_at(record, B2B, Memory(stage="lead"), NOW)
    assert due == pricing.at + 90 * DAY + TICK
    rules = lambda at: {r.rule for r in score(record, B2B, at).reasons}  # noqa: E731
    assert "pricing_page" in rules(due - TICK)  # exactly 90 days old: still inside
    assert "pricing_page" not in rules(due)


def test_decay_step_is_due_at_exactly_30_days_after_the_newest_activity():
    record = rec(act("email_open", 40), act("form_submission", 10))
    due = next_change_at(record, B2B, Memory(stage="lead"), NOW)
    assert due == NOW - 10 * DAY + 30 * DAY
    decay = B2B.spec.decay
    assert decay is not None
    newest = record.activities[0].at
    assert decay_periods(decay, newest, due - TICK) == 0
    assert decay_periods(decay, newest, due) == 1
    # the written reasons do not change between decay steps (no day count in the text)
    later = next_change_at(record, B2B, Memory(stage="lead"), due)
    assert later is not None
    _, at_step = written(record, Memory(stage="lead"), due)
    _, before_next = written(record, Memory(stage="lead"), later - TICK)
    assert at_step == before_next


def test_untouched_mql_is_due_for_stale_recycle_at_exactly_14_days():
    mql_at = NOW - 3 * DAY  # every SLA window already breached
    memory = Memory(stage="mql", mql_at=mql_at, status_at_promotion="NEW")
    record = rec(act("demo_request", 4), stage="mql", owner="7")
    due = next_change_at(record, B2B, memory, NOW)
    assert due == mql_at + 14 * DAY
    assert written(record, memory, due - TICK)[0].action == "none"
    decision, values = written(record, memory, due)
    assert decision.action == "recycle_stale"
    assert values["recycle_reason"] == "no sales touch in 14 days"


def test_touched_mql_is_never_stale_and_its_sla_is_settled():
    mql_at = NOW - 3 * DAY
    memory = Memory(stage="mql", mql_at=mql_at)
    touched = rec(act("call", 2.9), act("demo_request", 4), stage="mql", owner="7")
    # first touch after 2.4 h: ok; disposition (48 h) already breached: no MQL clock is
    # left, so the next change is the first decay step after the call
    due = next_change_at(touched, B2B, memory, NOW)
    assert due == touched.activities[0].at + 30 * DAY


@pytest.mark.parametrize(
    ("owner", "elapsed", "expected", "flag"),
    [
        ("7", HOUR, 4 * HOUR, "breached:first_touch"),
        (None, 5 * HOUR, 24 * HOUR, "breached:handoff,first_touch"),
        ("7", 5 * HOUR, 48 * HOUR, "breached:first_touch,disposition"),
    ],
)
def test_sla_windows_are_due_one_tick_after_they_end(owner, elapsed, expected, flag):
    mql_at = NOW - elapsed
    memory = Memory(stage="mql", mql_at=mql_at)
    record = rec(act("demo_request", 1), stage="mql", owner=owner)
    due = next_change_at(record, B2B, memory, NOW)
    assert due == mql_at + expected + TICK
    assert written(record, memory, due - TICK)[1]["sla"] != flag
    assert written(record, memory, due)[1]["sla"] == flag


def test_cooldown_end_is_due():
    recycled = NOW - 20 * DAY
    memory = Memory(stage="lead", recycled_at=recycled, recycle_reason="x")
    record = rec(act("email_open", 30))  # before the recycle: no engagement, no decay
    assert next_change_at(record, B2B, memory, NOW) == recycled + 30 * DAY
    assert next_change_at(record, B2B, memory, recycled + 30 * DAY) is None


def test_nothing_time_based_means_never():
    assert next_change_at(rec(), B2B, Memory(stage="lead"), NOW) is None
    old = rec(act("page_view", 400, url="/pricing"))  # decays, but no rule window left
    assert next_change_at(old, shipped("threshold-100"), Memory(), NOW) is None


def test_rule_within_days_and_gates():
    mapping = compile_mapping(
        parse_mapping(
            """
            [mapping]
            name = "t"
            [qualification]
            threshold = 10
            [[rules]]
            id = "recent_visit"
            axis = "engagement"
            points = 10
            any = [{ activity = { type = "page_view", within_days = 7 } },
                   { activity = { type = ["chat", "call"] } }]
            [[gates]]
            id = "bounced"
            reason = "bounced"
            activity = { type = "email_bounce" }
            """
        )
    )
    spans = {w.span: (w.types, w.fit_types) for w in windows_of(mapping.spec)}
    assert spans == {7 * DAY: ({"page_view"}, set()), 90 * DAY: ({"chat", "call"}, set())}
    visit, bounce = act("page_view", 3), act("email_bounce", 1)
    record = rec(visit, bounce)
    assert next_change_at(record, mapping, Memory(), NOW) == visit.at + 7 * DAY + TICK
    assert next_change_at(rec(bounce), mapping, Memory(), NOW) is None  # gates never expire


# --- property: between now and the due time nothing written changes ------------------------

KINDS = [
    ("page_view", {"url": "https://acme.io/pricing"}),
    ("page_view", {"url": "https://acme.io/blog/x"}),
    ("page_view", {"url": "https://acme.io/careers"}),
    ("content_download", {"asset_type": "case_study"}),
    ("content_download", {"asset_type": "ebook"}),
    ("email_open", {}),
    ("form_submission", {}),
    ("webinar_registration", {}),
    ("demo_request", {}),
    ("trial_signup", {}),
    ("meeting", {}),
    ("call", {}),
    ("sales_touch", {}),
    ("unsubscribe", {}),
    ("email_bounce", {}),
    ("custom_thing", {}),
]
SECONDS = st.integers(min_value=-5 * 86_400, max_value=200 * 86_400)


@st.composite
def scenarios(draw):  # type: ignore[no-untyped-def]
    acts = [
        Activity(kind, NOW - timedelta(seconds=draw(SECONDS)), detail)
        for kind, detail in draw(st.lists(st.sampled_from(KINDS), max_size=14))
    ]
    props = {
        "title": draw(st.sampled_from(["VP Sales", "Analyst", None])),
        "employees": draw(st.sampled_from([100, 5, None])),
        "industry": "SaaS",
        "email": "a@acme.io",
        "owner": draw(st.sampled_from(["7", None])),
        "lead_status": draw(st.sampled_from(["NEW", "UNQUALIFIED", None])),
    }
    kind = draw(st.sampled_from(["fresh", "mql", "recycled", "sql"]))
    ago = timedelta(seconds=draw(st.integers(0, 40 * 86_400)))
    if kind == "mql":
        memory = Memory(stage="mql", mql_at=NOW - ago, status_at_promotion="NEW")
        stage = "mql"
    elif kind == "recycled":
        memory = Memory(stage="lead", recycled_at=NOW - ago, recycle_reason="x")
        stage = "lead"
    elif kind == "sql":
        memory, stage = Memory(stage="sql"), "sql"
    else:
        memory, stage = Memory(), draw(st.sampled_from([None, "lead", "subscriber"]))
    record = LeadRecord(
        "r1", "hubspot", "contact", {**props, "lifecycle_stage": stage}, tuple(acts)
    )
    mapping = draw(st.sampled_from(["b2b-saas", "threshold-100", "smb-scorecard"]))
    return record, memory, mapping, draw(st.floats(0.0, 1.0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_nothing_written_changes_before_the_due_time(case):  # type: ignore[no-untyped-def]
    record, memory, name, fraction = case
    mapping = shipped(name)
    # syncs at NOW: decide, store, hold the record at the decided stage. A second run at the
    # same instant can still act (a recycle, then a hot activity dated after NOW re-qualifies):
    # repeat until nothing moves, as the next sync would.
    held, stored = record, memory
    for _ in range(3):
        _, decision, desired = rescore_record(held, mapping, stored, NOW)
        stored, held = decision.memory, held_record(held, decision.stage)
        if decision.action == "none":
            break
    due = next_change_at(held, mapping, stored, NOW)
    assert due is None or due > NOW
    end = due - timedelta(seconds=1) if due is not None else NOW + 1000 * DAY
    for at in {end, NOW + (end - NOW) * fraction}:
        if at <= NOW:
            continue
        _, later, values = rescore_record(held, mapping, stored, at)
        assert later.action == "none", (at, due)
        assert changed_fields(values, desired, RIDE_ALONG) == {}, (at, due)
