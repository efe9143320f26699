"""mappings/threshold-100.toml (seed 002) pinned against hand-worked examples."""

from __future__ import annotations

import pytest

from connector.core.scoring import score
from tests.conftest import NOW, act, lead, shipped


def run(record):
    return score(record, shipped("threshold-100"), NOW)


def points(result):
    return {r.rule: r.points for r in result.reasons}


def test_director_at_200_person_company_with_demo_trial_and_3_pricing_views_is_hot_mql():
    record = lead(
        act("demo_request", 1),
        act("trial_signup", 2),
        *[act("page_view", d, url="https://x.io/pricing") for d in (3, 4, 5)],
        act("content_download", 6, asset_type="case_study"),
        act("webinar_attendance", 7),
        title="Director of Marketing",
        employees=200,
    )
    result = run(record)
    assert (result.fit, result.engagement, result.total) == (25, 90, 115)
    assert (result.is_mql, result.temperature, result.route, result.grade) == (
        True,
        "hot",
        "sales",
        None,
    )
    assert points(result)["pricing_3x"] == 15


def test_pricing_needs_three_views_in_window():
    two = lead(*[act("page_view", d, url="/pricing") for d in (1, 2)])
    three_one_old = lead(*[act("page_view", d, url="/pricing") for d in (1, 2, 91)])
    three = lead(*[act("page_view", d, url="/pricing") for d in (1, 2, 90)])
    assert "pricing_3x" not in points(run(two))
    assert "pricing_3x" not in points(run(three_one_old))
    assert points(run(three))["pricing_3x"] == 15


def test_every_rule_value():
    expected = {
        "demo_request": (act("demo_request"), 25),
        "trial_signup": (act("trial_signup"), 30),
        "case_study": (act("content_download", asset_type="Case_Study"), 10),
        "webinar_attendance": (act("webinar_attendance"), 10),
        "newsletter": (act("form_submission", form="Monthly Newsletter"), 5),
        "careers_page": (act("page_view", url="/careers/jobs"), -20),
        "unsubscribed": (act("unsubscribe"), -25),
    }
    for rule, (activity, value) in expected.items():
        assert points(run(lead(activity))) == {rule: value}, rule


def test_form_that_is_not_newsletter_scores_nothing():
    assert points(run(lead(act("form_submission", form="contact-us")))) == {}


@pytest.mark.parametrize(
    ("employees", "fires"), [(49, False), (50, True), (250, True), (251, False)]
)
def test_company_size_50_to_250(employees, fires):
    assert ("company_size" in points(run(lead(employees=employees)))) is fires


def test_student_email_only_edu_is_negative():
    assert points(run(lead(email="a@mit.edu"))) == {"student_email": -50}
    assert points(run(lead(email="a@gmail.com"))) == {}


def test_threshold_boundary_100_qualifies_95_does_not():
    base = (act("trial_signup"), act("demo_request"), act("webinar_attendance"))
    exactly = run(
        lead(*base, act("content_download", asset_type="case_study"), title="CEO", employees=100)
    )
    below = run(lead(*base, act("form_submission", form="newsletter"), title="CEO", employees=100))
    assert (exactly.total, exactly.is_mql, exactly.temperature) == (100, True, "hot")
    assert (below.total, below.is_mql, below.route) == (95, False, "nurture")


def test_no_decay_no_gates_no_grade():
    result = run(lead(act("email_bounce", 200), title="CEO"))
    assert result.engagement == 0
    assert result.gates == ()
    assert result.grade is None
