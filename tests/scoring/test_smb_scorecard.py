"""mappings/smb-scorecard.toml (seed 000): each scorecard row with its points."""

from __future__ import annotations

from connector.core.scoring import score
from tests.conftest import NOW, act, lead, shipped


def run(record):
    return score(record, shipped("smb-scorecard"), NOW)


def points(result):
    return {r.rule: r.points for r in result.reasons}


def test_scorecard_rows():
    rows = {
        "company_fit": (lead(industry="Professional Services"), 10),
        "role_fit": (lead(title="Owner"), 10),
        "geography": (lead(country="us"), 5),
        "high_intent_pages": (lead(act("page_view", url="https://x.com/services/seo")), 15),
        "gated_asset_or_event": (lead(act("webinar_registration")), 10),
        "repeated_email_engagement": (
            lead(act("email_open"), act("email_click"), act("email_open")),
            10,
        ),
        "direct_inquiry": (lead(act("form_submission", form="Request a quote")), 20),
        "negative_signal": (lead(email="kid@school.edu"), -15),
    }
    for rule, (record, value) in rows.items():
        assert points(run(record)) == {rule: value}, rule


def test_two_email_touches_are_not_repeated_engagement():
    assert points(run(lead(act("email_open"), act("email_click")))) == {}


def test_negative_signal_counts_once_even_with_several_causes():
    record = lead(act("unsubscribe"), act("page_view", url="/careers"), email="x@rival.io")
    assert points(run(record)) == {"negative_signal": -15}


def test_founder_in_target_market_with_quote_request_is_hot_mql():
    record = lead(
        act("form_submission", form="Get a quote"),
        act("page_view", url="/pricing"),
        industry="Consulting",
        title="Founder",
        country="Canada",
    )
    result = run(record)
    assert (result.fit, result.engagement, result.total) == (25, 35, 60)
    assert (result.is_mql, result.temperature, result.grade, result.route) == (
        True,
        "hot",
        "A2",
        "sales",
    )
