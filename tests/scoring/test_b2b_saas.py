"""mappings/b2b-saas.toml pinned rule by rule against hand-worked examples (design §4, seed 004)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.core.records import read_jsonl
from connector.core.scoring import ScoreResult, score
from tests.conftest import NOW, act, lead, shipped

EXAMPLES = Path(__file__).with_name("examples")  # copied from ../shared/examples


def run(record, mapping=None) -> ScoreResult:
    return score(record, mapping or shipped("b2b-saas"), NOW)


def points(result: ScoreResult) -> dict[str, int]:
    return {r.rule: r.points for r in result.reasons}


def test_vp_at_120_person_saas_with_demo_and_pricing_is_hot_a1_sales():
    record = lead(
        act("demo_request", 2),
        act("page_view", 3, url="https://acme.io/pricing"),
        title="VP Marketing",
        employees=120,
        industry="SaaS",
        email="ana@acme.io",
    )
    result = run(record)
    assert (result.fit, result.engagement, result.total) == (35, 120, 155)
    assert (result.grade, result.is_mql, result.temperature, result.route) == (
        "A1",
        True,
        "hot",
        "sales",
    )
    assert points(result) == {
        "demo_or_meeting": 100,
        "pricing_page": 20,
        "senior_title": 15,
        "company_size": 10,
        "target_industry": 10,
    }
    assert result.reasons[0].evidence.startswith("demo_request at 2026-10-30")


@pytest.mark.parametrize(
    ("employees", "fires"),
    [
        (49, False),
        (50, True),
        (500, True),
        (501, False),
        ("120", True),
        ("n/a", False),
        (None, False),
    ],
)
def test_company_size_bounds_are_inclusive_and_accept_numeric_strings(employees, fires):
    assert ("company_size" in points(run(lead(employees=employees)))) is fires


@pytest.mark.parametrize(
    ("revenue", "fires"),
    [
        (4_999_999, False),
        (5_000_000, True),
        (50_000_000, True),
        (50_000_001, False),
        ("12000000", True),
    ],
)
def test_annual_revenue_band(revenue, fires):
    assert ("annual_revenue" in points(run(lead(annual_revenue=revenue)))) is fires


@pytest.mark.parametrize(
    ("title", "fires"),
    [
        ("VP Sales", True),
        ("Vice President, Ops", True),
        ("Head of Growth", True),
        ("Chief Revenue Officer", True),
        ("Director of IT", True),
        ("cmo", True),
        ("Founder & CEO", True),
        ("Marketing Manager", False),
        ("Directorate assistant", False),
        ("Student", False),
    ],
)
def test_senior_title_regex(title, fires):
    assert ("senior_title" in points(run(lead(title=title)))) is fires


@pytest.mark.parametrize(
    "industry", ["Software", "saas", "B2B SaaS", "FINTECH", "Financial Services"]
)
def test_target_industries_match_case_insensitively(industry):
    assert points(run(lead(industry=industry)))["target_industry"] == 10


def test_tech_stack_needs_both_hubspot_and_outreach():
    assert points(run(lead(tech_stack="outreach;HUBSPOT;Slack")))["tech_stack"] == 10
    assert "tech_stack" not in points(run(lead(tech_stack="HubSpot;Salesloft")))


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("kim@rival.io", {"competitor": -100}),
        ("kim@Competitor.com", {"competitor": -100}),
        ("sam@gmail.com", {"personal_or_student_email": -50}),
        ("sam@cs.stanford.edu", {"personal_or_student_email": -50}),
        ("a@b@OUTLOOK.com", {"personal_or_student_email": -50}),
        ("ana@acme.io", {}),
        ("ana@notrival.io", {}),
        ("no-at-sign", {}),
    ],
)
def test_email_domain_rules(email, expected):
    assert points(run(lead(email=email))) == expected


def test_each_engagement_rule_fires_once_with_its_points():
    cases = {
        "demo_or_meeting": act("meeting", 5),
        "form_submission": act("form_submission", 5, form="contact-us"),
        "trial_signup": act("trial_signup", 5),
        "webinar_registration": act("webinar_registration", 5),
        "pricing_page": act("page_view", 5, url="https://x.io/PRICING/plans"),
        "case_study": act("content_download", 5, asset_type="case_study"),
        "ebook": act("content_download", 5, asset_type="ebook"),
        "careers_page": act("page_view", 5, url="https://x.io/careers"),
        "unsubscribed": act("unsubscribe", 5),
    }
    expected = {
        "demo_or_meeting": 100,
        "form_submission": 25,
        "trial_signup": 25,
        "webinar_registration": 30,
        "pricing_page": 20,
        "case_study": 15,
        "ebook": 10,
        "careers_page": -25,
        "unsubscribed": -25,
    }
    for rule, activity in cases.items():
        assert points(run(lead(activity, activity))) == {rule: expected[rule]}, rule


def test_opt_out_property_counts_like_unsubscribe_but_only_once():
    assert points(run(lead(email_opt_out=True))) == {"unsubscribed": -25}
    assert points(run(lead(email_opt_out="true"))) == {"unsubscribed": -25}
    assert points(run(lead(email_opt_out="false"))) == {}
    assert points(run(lead(act("unsubscribe"), email_opt_out=True))) == {"unsubscribed": -25}


def test_blog_views_count_each_and_awareness_cap_is_20():
    three = run(lead(*[act("page_view", d, url=f"https://x.io/blog/{d}") for d in (1, 2, 3)]))
    assert points(three) == {"blog_view": 15}
    binge = run(
        lead(
            *[act("page_view", d, url="https://x.io/blog/p") for d in range(1, 11)],
            *[act("email_open", d) for d in range(1, 6)],
            act("content_download", 1, asset_type="ebook"),
        )
    )
    assert binge.engagement == 20
    assert sum(r.points for r in binge.reasons if r.category == "awareness") == 20


def test_email_opens_count_two_each_below_the_cap():
    assert points(run(lead(*[act("email_open", d) for d in (1, 2, 3, 4)]))) == {"email_open": 8}


def test_window_edge_exactly_90_days_counts_and_a_second_more_does_not():
    inside = run(lead(act("trial_signup", 90)))
    outside = run(lead(act("trial_signup", 90 + 1 / 86_400)))
    assert "trial_signup" in points(inside)
    assert "trial_signup" not in points(outside)


def test_future_activities_count_as_recent():
    assert points(run(lead(act("trial_signup", -3)))) == {"trial_signup": 25}


@pytest.mark.parametrize(
    ("days", "decay"), [(0, 0), (29.9, 0), (30, -10), (59.9, -10), (60, -20), (153, -50)]
)
def test_inactivity_decay_per_full_30_days_since_newest_activity(days, decay):
    result = run(lead(act("custom_signal", days)))
    assert result.engagement == decay
    assert points(result).get("inactivity_decay", 0) == decay


def test_no_activity_means_no_decay():
    assert run(lead(title="VP Sales")).engagement == 0


def test_decay_uses_the_newest_activity_of_any_type_and_age():
    result = run(lead(act("webinar_registration", 200), act("email_bounce", 31)))
    assert points(result) == {"inactivity_decay": -10}


def test_bounced_email_gate_blocks_mql_and_routes_to_review_even_outside_window():
    record = lead(
        act("demo_request", 1),
        act("email_bounce", 400),
        title="CEO",
        employees=100,
        industry="SaaS",
    )
    result = run(record)
    assert result.total >= 60
    assert (result.is_mql, result.route, result.temperature) == (False, "review", "cold")
    assert [g.reason for g in result.gates] == ["bounced email: verify before handoff"]


def test_warm_mql_has_no_hot_rule():
    record = lead(
        act("webinar_registration", 3),
        act("form_submission", 2),
        title="Director",
        industry="Fintech",
    )
    result = run(record)
    assert (result.fit, result.engagement, result.is_mql, result.temperature) == (
        25,
        55,
        True,
        "warm",
    )
    assert result.grade == "B2"


@pytest.mark.parametrize(
    ("props", "acts", "route"),
    [
        ({"title": "VP"}, [act("webinar_registration")], "nurture"),  # fit 15, eng 30, total 45
        ({}, [act("webinar_registration")], "nurture"),  # low fit, engaged
        ({"title": "VP", "employees": 100}, [], "campaign"),  # high fit, not engaged
        ({}, [], "discard"),
    ],
)
def test_route_quadrants(props, acts, route):
    assert run(lead(*acts, **props)).route == route


@pytest.mark.parametrize(
    ("fit_props", "letter"),
    [
        ({"title": "VP", "employees": 100, "industry": "SaaS"}, "A"),  # 35
        ({"title": "VP", "employees": 100}, "B"),  # 25
        ({"title": "VP"}, "C"),  # 15
        ({"annual_revenue": 6_000_000}, "D"),  # 5
    ],
)
def test_fit_grade_bands(fit_props, letter):
    assert run(lead(**fit_props)).grade == f"{letter}4"


def test_engagement_grade_band_edges():
    assert run(lead(act("meeting"))).grade == "D1"  # 100
    assert run(lead(act("webinar_registration"), act("form_submission"))).grade == "D2"  # 55
    assert run(lead(act("page_view", url="/pricing"))).grade == "D3"  # 20
    assert run(lead(act("content_download", asset_type="case_study"))).grade == "D4"  # 15


def test_reasons_sorted_by_absolute_points_then_rule_id():
    result = run(
        lead(act("meeting"), act("form_submission"), act("trial_signup"), email="x@gmail.com")
    )
    keys = [(-abs(r.points), r.rule) for r in result.reasons]
    assert keys == sorted(keys)
    assert [r.rule for r in result.reasons][:2] == ["demo_or_meeting", "personal_or_student_email"]


def test_unknown_activity_types_are_ignored_by_rules():
    assert points(run(lead(act("podcast_listen", 1, url="/pricing")))) == {}


def test_engagement_since_recycle_ignores_older_activities():
    from datetime import timedelta

    record = lead(act("meeting", 20), act("form_submission", 2))
    result = score(record, shipped("b2b-saas"), NOW, engagement_since=NOW - timedelta(days=10))
    assert points(result) == {"form_submission": 25}


def test_require_hot_blocks_warm_requalification_during_cooldown():
    record = lead(act("webinar_registration"), act("form_submission"), title="CEO", industry="SaaS")
    assert score(record, shipped("b2b-saas"), NOW).is_mql
    assert not score(record, shipped("b2b-saas"), NOW, require_hot=True).is_mql
    hot = lead(act("trial_signup"), act("form_submission"), title="CEO", industry="SaaS")
    assert score(hot, shipped("b2b-saas"), NOW, require_hot=True).is_mql


def test_shared_worked_examples_match():
    expected = {
        d["id"]: d
        for d in map(
            json.loads, (EXAMPLES / "b2b-saas.sample.expected.jsonl").read_text().splitlines()
        )
    }
    with open(EXAMPLES / "b2b-saas.sample.jsonl") as lines:
        records = list(read_jsonl(lines))
    assert len(records) == len(expected)
    for record in records:
        got = score(record, shipped("b2b-saas"), NOW).to_json()
        assert {k: got[k] for k in expected[record.id]} == expected[record.id]


def test_abm_variant_adds_buying_group_and_pql():
    abm = shipped("b2b-saas-abm")
    group = score(lead(account={"engaged_contacts_30d": 3}), abm, NOW)
    assert points(group) == {"buying_group": 20}
    assert points(score(lead(account={"engaged_contacts_30d": "2"}), abm, NOW)) == {}
    assert points(score(lead(), abm, NOW)) == {}
    usage = [act("product_usage", d) for d in (1, 3, 6.9)]
    pql = score(lead(*usage), abm, NOW)
    assert points(pql)["pql_usage"] == 30 and pql.hot_rules == ("pql_usage",)
    late = [act("product_usage", d) for d in (1, 3, 7.1)]
    assert "pql_usage" not in points(score(lead(*late), abm, NOW))
    assert points(score(lead(account={"engaged_contacts_30d": 5}), abm, NOW)) == {"buying_group": 20}
