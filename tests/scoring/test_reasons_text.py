"""The reasons field written for sales reps: descriptions, counts, dates, money, recycles."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.core.reasons import day, descriptions, money, reasons_text
from connector.core.scoring import score
from tests.conftest import NOW, act, lead


def test_money_and_days_for_people():
    assert [money(v) for v in (9_900_000, 12_000_000, 120_000, 950, 2_500_000_000)] == [
        "$9.9M", "$12M", "$120K", "$950", "$2.5B",
    ]  # fmt: skip
    assert day(datetime(2026, 10, 31, 23, 0, tzinfo=UTC)) == "31 Oct 2026"
    assert day(datetime(2025, 12, 2, 1, 0, tzinfo=UTC)) == "2 Dec 2025"


def test_descriptions_counts_and_values_replace_ids_and_raw_evidence(b2b):
    record = lead(
        act("demo_request", 1),
        act("demo_request", 3),
        act("page_view", 2, url="https://acme.io/pricing"),
        title="VP Marketing",
        employees="120",
        annual_revenue=9_900_000,
        industry="Software",
    )
    result = score(record, b2b, NOW)
    text = reasons_text(result, descriptions(b2b))
    assert text.startswith(
        "Requested a demo or booked a meeting +100 (2 demo requests, latest 31 Oct 2026)"
    )
    assert "(revenue $9.9M)" in text and "(120 employees)" in text
    assert "(title VP Marketing)" in text
    assert "demo_or_meeting" not in text and "2026-10" not in text
    # the score JSON keeps rule ids and raw evidence (its contract)
    assert result.to_json()["reasons"][0]["rule"] == "demo_or_meeting"


def test_after_a_recycle_the_text_says_older_engagement_no_longer_counts(b2b):
    recycled = datetime(2026, 10, 25, tzinfo=UTC)
    record = lead(act("demo_request", 10), title="VP Marketing")
    result = score(record, b2b, NOW, engagement_since=recycled, require_hot=True)
    text = reasons_text(
        result, descriptions(b2b), recycled_at=recycled,
        recycle_reason="rejected by sales: UNQUALIFIED",
    )  # fmt: skip
    assert text.startswith(
        "Recycled 25 Oct 2026 (rejected by sales: UNQUALIFIED): only activity since then counts"
    )
    assert "demo" not in text  # the demo request was before the recycle
