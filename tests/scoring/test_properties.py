"""Property-based checks of the scoring contract over arbitrary well-formed records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.records import ACTIVITY_TYPES, Activity, LeadRecord, parse_record
from connector.core.scoring import score
from tests.conftest import NOW, shipped

MAPPINGS = ("b2b-saas", "threshold-100", "smb-scorecard")

text = st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["VP Sales", "CEO", "Student"]))
number = st.one_of(
    st.none(), st.integers(-10, 100_000_000), st.floats(allow_nan=True), st.text(max_size=8)
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "email": st.one_of(
            text, st.sampled_from(["a@gmail.com", "b@rival.io", "c@x.edu", "d@acme.io"])
        ),
        "title": text,
        "employees": number,
        "annual_revenue": number,
        "industry": st.one_of(text, st.sampled_from(["SaaS", "Fintech", "Retail"])),
        "tech_stack": st.one_of(text, st.just("HubSpot;Outreach")),
        "country": text,
        "email_opt_out": st.one_of(
            st.booleans(), st.sampled_from(["true", "false", "yes"]), st.none()
        ),
    },
)
detail = st.dictionaries(
    st.sampled_from(["url", "asset_type", "form", "name"]),
    st.one_of(
        st.sampled_from(["/pricing", "/blog/x", "/careers", "case_study", "ebook", "newsletter"]),
        st.text(max_size=12),
        st.integers(),
    ),
    max_size=3,
)
activity = st.builds(
    Activity,
    type=st.one_of(st.sampled_from(sorted(ACTIVITY_TYPES)), st.text(min_size=1, max_size=8)),
    at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    detail=detail,
)
records = st.builds(
    LeadRecord,
    id=st.text(min_size=1, max_size=8),
    properties=properties,
    activities=st.lists(activity, max_size=25).map(tuple),
    account=st.one_of(
        st.none(), st.fixed_dictionaries({"engaged_contacts_30d": st.integers(0, 9)})
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records, name=st.sampled_from(MAPPINGS), offset=st.integers(-400, 400))
def test_scoring_is_total_deterministic_and_reasons_sum_to_axes(record, name, offset):
    mapping = shipped(name)
    now = NOW + timedelta(days=offset)
    first = score(record, mapping, now)
    again = score(record, mapping, now)
    assert first.to_json() == again.to_json()
    out = first.to_json()
    assert out["total"] == out["fit"] + out["engagement"]
    for axis in ("fit", "engagement"):
        assert sum(r["points"] for r in out["reasons"] if r["axis"] == axis) == out[axis]
    assert all(r["points"] != 0 for r in out["reasons"])
    keys = [(-abs(r["points"]), r["rule"]) for r in out["reasons"]]
    assert keys == sorted(keys)
    if out["is_mql"]:
        assert out["route"] == "sales" and out["temperature"] in ("hot", "warm")
    else:
        assert out["temperature"] == "cold" and out["route"] != "sales"
    assert parse_record(record.to_json()).to_json() == record.to_json()
