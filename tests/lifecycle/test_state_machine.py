"""Lifecycle transitions (design §5): every allowed move, every forbidden one, SLA edges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.core.lifecycle import Memory, decide, evaluate, in_cooldown, sla_flags
from connector.core.records import LeadRecord
from connector.mapping.schema import Lifecycle
from tests.conftest import NOW, act, shipped

POLICY = Lifecycle()
DAY = timedelta(days=1)
HOT_MQL = (act("demo_request", 1),)  # +100 engagement
FIT = {"title": "VP Sales", "employees": 100, "industry": "SaaS"}


def record(stage=None, status=None, *activities, crm="hubspot", obj="contact", **props):
    properties = {**FIT, **props}
    if stage is not None:
        properties["lifecycle_stage"] = stage
    if status is not None:
        properties["lead_status"] = status
    return LeadRecord("r1", crm, obj, properties, tuple(activities))


def run(rec, memory=None, now=NOW):
    return evaluate(rec, shipped("b2b-saas"), memory or Memory(), now)


@pytest.mark.parametrize("stage", [None, "subscriber", "lead"])
def test_promotes_promotable_stages_when_mql(stage):
    result, decision = run(record(stage, "NEW", *HOT_MQL))
    assert result.is_mql
    assert (decision.action, decision.stage) == ("promote", "mql")
    assert decision.memory.mql_at == NOW
    assert decision.memory.status_at_promotion == "NEW"


@pytest.mark.parametrize("stage", ["sal", "sql", "opportunity", "customer", "evangelist"])
def test_never_touches_sales_owned_or_unknown_stages(stage):
    for status in (None, "UNQUALIFIED"):
        result, decision = run(
            record(stage, status, *HOT_MQL), Memory(stage="mql", mql_at=NOW - 30 * DAY)
        )
        assert result.is_mql
        assert decision.action == "none"
        assert decision.stage == stage
        assert not decision.stage_changed


def test_not_mql_is_not_promoted():
    _, decision = run(record("lead", None, act("email_open")))
    assert (decision.action, decision.stage, decision.sla) == ("none", "lead", "")


def test_rejection_recycles_with_status_as_reason_and_resets_engagement():
    memory = Memory(stage="mql", mql_at=NOW - 2 * DAY, status_at_promotion="NEW")
    result, decision = run(record("mql", "UNQUALIFIED", *HOT_MQL), memory)
    assert (decision.action, decision.stage) == ("recycle_rejected", "lead")
    assert decision.memory.recycle_reason == "rejected by sales: UNQUALIFIED"
    assert decision.memory.recycled_at == NOW
    assert decision.memory.mql_at == memory.mql_at  # history kept
    assert result.engagement == 0 and not result.is_mql
    assert result.fit == 35


def test_rejection_reason_field_is_used_when_configured():
    policy = Lifecycle(rejection_reason_field="rejection_reason")
    rec = record("mql", "BAD_TIMING", *HOT_MQL, rejection_reason="budget frozen until Q3")
    result = run(rec)[0]
    decision = decide(rec, result, Memory(stage="mql", mql_at=NOW - DAY), policy, NOW)
    assert (
        decision.memory.recycle_reason == "rejected by sales (BAD_TIMING): budget frozen until Q3"
    )


def test_leftover_rejected_status_does_not_recycle_a_requalified_record():
    memory = Memory(stage="mql", mql_at=NOW - DAY, status_at_promotion="UNQUALIFIED")
    _, decision = run(record("mql", "UNQUALIFIED", *HOT_MQL, act("call", 0.5)), memory)
    assert decision.action == "none"


def test_salesforce_rejected_lead_recycles_only_if_it_was_mql():
    closed = record("lead", "Closed - Not Converted", *HOT_MQL, crm="salesforce", obj="lead")
    _, was_mql = run(
        closed, Memory(stage="mql", mql_at=NOW - DAY, status_at_promotion="Open - Not Contacted")
    )
    assert was_mql.action == "recycle_rejected"
    _, never = run(closed, Memory(stage="lead"))
    assert never.action == "none"  # closed without ever being MQL: left alone, not promoted


def test_salesforce_promotes_only_promotable_statuses():
    working = record("lead", "Working - Contacted", *HOT_MQL, crm="salesforce", obj="lead")
    open_ = record("lead", "Open - Not Contacted", *HOT_MQL, crm="salesforce", obj="lead")
    assert run(working)[1].action == "none"
    assert run(open_)[1].action == "promote"


@pytest.mark.parametrize(
    ("age_days", "action"), [(13.99, "none"), (14, "recycle_stale"), (20, "recycle_stale")]
)
def test_stale_after_exactly_n_days_without_sales_touch(age_days, action):
    memory = Memory(stage="mql", mql_at=NOW - age_days * DAY)
    _, decision = run(record("mql", "NEW", *HOT_MQL), memory)
    assert decision.action == action
    if action == "recycle_stale":
        assert decision.memory.recycle_reason == "no sales touch in 14 days"


@pytest.mark.parametrize("touch", ["sales_touch", "call", "meeting", "email_reply"])
def test_sales_touch_after_mql_prevents_stale_recycle(touch):
    memory = Memory(stage="mql", mql_at=NOW - 20 * DAY)
    _, decision = run(record("mql", "NEW", *HOT_MQL, act(touch, 19)), memory)
    assert decision.action == "none"


def test_touch_before_mql_does_not_count():
    memory = Memory(stage="mql", mql_at=NOW - 20 * DAY)
    _, decision = run(record("mql", "NEW", act("call", 21)), memory)
    assert decision.action == "recycle_stale"


def test_cooldown_needs_a_hot_rule_and_new_engagement():
    recycled = Memory(
        stage="lead", mql_at=NOW - 40 * DAY, recycled_at=NOW - 10 * DAY, recycle_reason="x"
    )
    assert in_cooldown(recycled, POLICY, NOW)
    warm_only = record("lead", "OPEN", act("webinar_registration", 2), act("form_submission", 1))
    result, decision = run(warm_only, recycled)
    assert result.total >= 60 and not result.is_mql
    assert decision.action == "none"
    old_hot = record("lead", "OPEN", act("demo_request", 11))  # before the recycle: doesn't count
    assert run(old_hot, recycled)[0].engagement == 0
    new_hot = record("lead", "OPEN", act("demo_request", 2))
    result, decision = run(new_hot, recycled)
    assert result.is_mql and decision.action == "promote"
    assert decision.memory.recycle_reason == "x"  # history stays until the next recycle


def test_after_cooldown_warm_engagement_requalifies():
    recycled = Memory(stage="lead", recycled_at=NOW - 31 * DAY)
    assert not in_cooldown(recycled, POLICY, NOW)
    warm = record("lead", "OPEN", act("webinar_registration", 2), act("form_submission", 1))
    assert run(warm, recycled)[1].action == "promote"


def test_an_mql_mqlsync_did_not_promote_gets_no_clock_of_mqlsyncs_own():
    """Adoption: its MQL time is the CRM's own date (the sync puts it in memory) or none,
    never the moment mqlsync first saw it; with none there is no stale recycle or SLA."""
    _, decision = run(record("mql", "NEW", *HOT_MQL))
    assert decision.action == "none" and decision.memory.mql_at is None
    assert decision.sla == ""
    dated = Memory(mql_at=NOW - timedelta(days=20))
    _, stale = run(record("mql", "NEW"), dated)
    assert stale.action == "recycle_stale"  # the CRM's date runs the stale clock


@pytest.mark.parametrize(
    ("hours", "touch_after", "owner", "expected"),
    [
        (4, None, "u1", "ok"),
        (4.01, None, "u1", "breached:first_touch"),
        (5, 3.9, "u1", "ok"),
        (5, 4.5, "u1", "breached:first_touch"),
        (24, 1, None, "ok"),
        (24.01, 1, None, "breached:handoff"),
        (48, 1, "u1", "ok"),
        (48.01, 1, "u1", "breached:disposition"),
        (60, None, None, "breached:handoff,first_touch,disposition"),
    ],
)
def test_sla_flags_at_the_edges(hours, touch_after, owner, expected):
    mql_at = NOW - timedelta(hours=hours)
    acts = [] if touch_after is None else [act("call", (hours - touch_after) / 24)]
    rec = record("mql", "NEW", *acts, owner=owner)
    assert sla_flags(rec, mql_at, POLICY, NOW) == expected
