"""Synthetic data: determinism, streaming, and funnel-shaped distributions."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

from connector.sandbox.synthetic import (
    DEFAULT_NOW,
    STAGES,
    company_for,
    generate_people,
    person_for,
)

VOCAB = {
    "page_view", "form_submission", "content_download", "email_open", "email_click",
    "email_reply", "email_bounce", "unsubscribe", "webinar_registration", "webinar_attendance",
    "meeting", "call", "chat", "demo_request", "trial_signup", "product_usage", "sales_touch",
}  # fmt: skip


def test_same_seed_gives_identical_people_and_other_seed_differs():
    a = list(generate_people(50, seed=3))
    b = list(generate_people(50, seed=3))
    c = list(generate_people(50, seed=4))
    assert a == b
    assert [p.email for p in a] != [p.email for p in c]


def test_generates_exactly_n_people_with_dense_ids():
    people = list(generate_people(123))
    assert [p.id for p in people] == list(range(1, 124))
    assert list(generate_people(0)) == []


def test_stream_is_lazy_and_person_k_regenerates_alone():
    stream = generate_people(10**9)  # would never fit in memory if materialised
    first = list(itertools.islice(stream, 40))
    assert person_for(37) == first[36]
    assert person_for(37, seed=7, now=DEFAULT_NOW) == list(generate_people(37))[-1]


def test_person_does_not_depend_on_n():
    assert list(generate_people(5))[-1] == list(generate_people(500))[4]


def test_companies_are_shared_so_buying_groups_exist():
    people = list(generate_people(500))
    per_company = Counter(p.company.id for p in people)
    assert max(per_company.values()) >= 3
    assert company_for(people[0].company.id) == people[0].company
    assert len({p.company.domain for p in people}) == len(per_company)


def test_records_are_well_formed():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    emails = set()
    for p in generate_people(300, now=now):
        assert p.stage in STAGES
        assert p.created_at <= p.modified_at <= now
        assert p.created_at.tzinfo is not None
        assert "@" in p.email and p.email == p.email.lower()
        emails.add(p.email)
        assert len(p.activities) <= 60
        assert [a.at for a in p.activities] == sorted(a.at for a in p.activities)
        for a in p.activities:
            assert a.type in VOCAB
            assert a.at <= now and a.at.utcoffset() is not None
            assert all(isinstance(v, str) for v in a.detail.values())
        emp = p.company.employees
        assert emp is None or 1 <= emp <= 20_000
    assert len(emails) == 300


def test_distributions_look_like_a_b2b_funnel():
    people = list(generate_people(4000))
    stages = Counter(p.stage for p in people)
    assert stages["subscriber"] + stages["lead"] > 0.6 * len(people)
    past_mql = sum(stages[s] for s in STAGES[2:])
    assert 0.05 * len(people) < past_mql < 0.4 * len(people)
    mean_acts = sum(len(p.activities) for p in people) / len(people)
    assert 8 <= mean_acts <= 17
    types = Counter(a.type for p in people for a in p.activities)
    for t in ("email_bounce", "unsubscribe", "demo_request", "trial_signup", "meeting"):
        assert types[t] > 0, t
    urls = {a.detail.get("url", "") for p in people for a in p.activities}
    assert "https://example.com/pricing" in urls
    assert any("/careers" in u for u in urls) and any("/blog/" in u for u in urls)
    domains = Counter(p.email.rsplit("@", 1)[1] for p in people)
    assert domains["gmail.com"] > 0 and domains["competitor.com"] + domains["rival.io"] > 0
    assert any(d.endswith(".edu") for d in domains)
    assert sum(p.company.employees is None for p in people) > 0
    assert any(p.email_opt_out for p in people)


def test_conversion_is_correlated_with_intent_and_rare():
    people = list(generate_people(4000))
    rate = sum(p.converted for p in people) / len(people)
    assert 0.04 < rate < 0.2
    hot = [p for p in people if any(a.type == "demo_request" for a in p.activities)]
    cold = [p for p in people if len(p.activities) <= 2]
    hot_rate = sum(p.converted for p in hot) / len(hot)
    cold_rate = sum(p.converted for p in cold) / len(cold)
    assert hot_rate > 2 * cold_rate
    assert all(p.converted for p in people if p.stage in ("opportunity", "customer"))
