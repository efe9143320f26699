"""Malformed HubSpot payloads: odd contacts are rejected or tolerated, never a crashed run.

The sandbox validates what clients write, but a real CRM holds data from imports and old
integrations that its API would refuse today. These tests serve such data by overriding what
the sandbox renders (its tables keep their own valid values underneath, so the values
mqlsync writes are read back from the columns, unaffected by the overrides) and run the real
adapter and sync against it: no run may crash, every contact that cannot be scored is
reported and dead-lettered with a reason naming the field, and every other contact is
written exactly as a clean run would write it (or, when its odd data changes its score,
at least written).
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.records import LeadRecord, parse_record
from connector.core.scoring import compile_mapping, score
from connector.crm.base import Rejected
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.hubspot.fields import property_specs
from connector.crm.ratelimit import RateLimiter
from connector.mapping.loader import load_mapping
from connector.pipeline.steps import RunSummary
from connector.pipeline.sync import Sync
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS

CONTACTS = 30
PAGE = 10
"""Search pages, activity blocks and batches of 10: 30 contacts make three blocks, so
duplicates across pages also cross blocks."""
NOW = datetime.now(UTC).replace(microsecond=0)
SPEC = load_mapping(MAPPINGS / "b2b-saas.toml")
MAPPING = compile_mapping(SPEC)
NAMES = [s.name for s in property_specs()]
WRITTEN = [*NAMES, "lifecyclestage"]
DELETE = object()
"""Override value: leave the property out of the payload."""
MB = 1 << 20


# ------------------------------------------------------------------------------- the rig
class Garbage:
    """What the sandbox serves instead of its own values, past its validation.

    `set` overrides properties of one record in every payload (search, batch read);
    `duplicate` makes the contact search return a contact twice, in the same page or at the
    start of the next one, the copy with different data (so processing it would show).
    """

    def __init__(self, sandbox: HubSpotSandbox) -> None:
        self.store = sandbox.store
        self.values: dict[tuple[str, int], dict[str, object]] = {}
        self.duplicates: dict[str, str] = {}
        for name, table in self.store.tables.items():
            table.render = self._render(name, table.render)
        engine = sandbox.router.search_engine
        engine.search = self._search(engine.search)

    def set(self, object_type: str, record_id: str | int, **values: object) -> None:
        row = self.store.tables[object_type].row_of(record_id)
        assert row is not None, record_id
        self.values.setdefault((object_type, row), {}).update(values)

    def duplicate(self, contact_id: str | int, where: str) -> None:
        self.duplicates[str(contact_id)] = where

    def _render(self, name: str, original: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
        def render(row: int, names: Any) -> dict[str, Any]:
            rec = original(row, names)
            for prop, value in self.values.get((name, row), {}).items():
                if value is DELETE:
                    rec["properties"].pop(prop, None)
                else:
                    rec["properties"][prop] = value
            return rec

        return render

    def _search(self, original: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
        carried: list[dict[str, Any]] = []

        def search(table: Any, body: Any, version: int) -> dict[str, Any]:
            out = original(table, body, version)
            if table.object_type != "contacts" or not self.duplicates:
                return out
            if _first_page(body):
                carried.clear()
            results = [*carried]
            carried.clear()
            for rec in out["results"]:
                results.append(rec)
                where = self.duplicates.get(rec["id"])
                if where is None:
                    continue
                twin = copy.deepcopy(rec)
                twin["properties"].update(jobtitle="Chief Executive Officer", industry="SaaS")
                (results if where == "same" else carried).append(twin)
            out["results"] = results
            return out

        return search


def _first_page(body: Any) -> bool:
    """Whether a contact search asks for its first page (ids above 0, or no offset)."""
    for group in body.get("filterGroups") or ():
        for f in group.get("filters") or ():
            if f.get("propertyName") == "hs_object_id" and f.get("operator") == "GT":
                return str(f.get("value")) == "0" and not body.get("after")
    return not body.get("after")


@dataclass
class Rig:
    sandbox: HubSpotSandbox
    garbage: Garbage
    adapter: HubSpotAdapter
    store: StateStore
    sync: Sync

    def written(self, contact_id: str | int) -> dict[str, str | None]:
        """mqlsync's fields and the stage as the sandbox holds them (not overridden)."""
        table = self.sandbox.store.tables["contacts"]
        row = table.row_of(contact_id)
        assert row is not None
        return {name: table.value(row, name) for name in WRITTEN}

    def record(self, contact_id: str | int) -> LeadRecord:
        """The canonical record the run stored for a contact."""
        snaps = self.store.get_snapshots("hubspot", "contact", [str(contact_id)])
        return parse_record(snaps[str(contact_id)].record)

    def fired(self, contact_id: str | int) -> set[str]:
        """Rules that gave the stored record points (as the run scored it)."""
        return {reason.rule for reason in score(self.record(contact_id), MAPPING, NOW).reasons}

    def meeting(self, contact_id: str | int, **values: object) -> str:
        """A meeting yesterday, served with `values` instead of its own."""
        return self.engagement(
            contact_id, "meetings", **{"hs_meeting_title": "Intro call", **values}
        )

    def engagement(self, contact_id: str | int, kind: str, **values: object) -> str:
        """An engagement yesterday, served with `values` instead of its own."""
        store = self.sandbox.store
        eid = store.add_engagement(contact_id, kind, NOW - timedelta(days=1))
        if values:
            self.garbage.set(kind, eid, **values)
        return eid


@contextmanager
def rig() -> Iterator[Rig]:
    """A provisioned 30-contact sandbox with the real adapter, sync and a SQLite store."""
    with tempfile.TemporaryDirectory() as tmp, HubSpotSandbox(contacts=CONTACTS, now=NOW) as sb:
        calls = HubSpotCalls(
            sb.token,
            base_url=sb.base_url,
            timeout=10,
            limiter=RateLimiter(100_000, 10.0),
            attempts=3,
            max_wait=0.05,
        )
        adapter = HubSpotAdapter(
            calls,
            SPEC,
            page_size=PAGE,
            read_batch_size=PAGE,
            association_batch_size=PAGE,
            activity_block=PAGE,
        )
        adapter.provision()
        store = StateStore.open(f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            sync = Sync(adapter, MAPPING, store, clock=lambda: NOW)
            yield Rig(sb, Garbage(sb), adapter, store, sync)
        finally:
            store.close()


@cache
def clean() -> dict[str, dict[str, str | None]]:
    """What a run over the untouched sandbox writes, per contact id."""
    with rig() as r:
        summary = r.sync.run()
        assert summary.rejected == 0 and summary.pulled == CONTACTS
        return {str(i): r.written(i) for i in range(1, CONTACTS + 1)}


def letters(r: Rig) -> dict[str, Any]:
    return {d.record_id: d for d in r.store.open_dead_letters("hubspot")}


def assert_consistent(r: Rig, summary: RunSummary, rejected: dict[str, str]) -> None:
    """Rejected contacts are reported and untouched; the store holds every other one."""
    assert summary.rejected == len(rejected)
    assert summary.pulled == CONTACTS - len(rejected)
    found = letters(r)
    assert set(found) == set(rejected)
    for cid, part in rejected.items():
        assert part in found[cid].error, (cid, found[cid].error)
        assert r.written(cid)["mqlsync_score"] is None
    snaps = {s.record_id: s for s in r.store.iter_snapshots("hubspot")}
    assert set(snaps) == {str(i) for i in range(1, CONTACTS + 1)} - set(rejected)
    for snap in snaps.values():
        parse_record(snap.record)  # the stored record reads back as a canonical one


# ------------------------------------------------------------------------ example tests
@pytest.fixture
def r() -> Iterator[Rig]:
    with rig() as built:
        yield built


def test_unparsable_meeting_time_leaves_that_meeting_out_with_a_warning(r, caplog):
    eid = r.meeting(5, hs_timestamp="yesterday", hs_meeting_start_time="yesterday")
    with caplog.at_level(logging.WARNING, "connector.crm.hubspot"):
        summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(5) == clean()["5"]  # scored on everything else, as before the meeting
    assert f"hs_timestamp of meeting {eid} is not a date: 'yesterday'" in caplog.text


def test_meeting_without_timestamp_counts_at_its_start_time(r):
    at = (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    r.meeting(6, hs_timestamp=DELETE, hs_meeting_start_time=at)
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert "demo_or_meeting" in r.fired(6)


def test_naive_meeting_time_rejects_only_that_contact_with_the_field_named(r):
    eid = r.meeting(7, hs_timestamp="2026-10-30T12:00:00")
    summary = r.sync.run()
    reason = f"hs_timestamp of meeting {eid} has no time zone: '2026-10-30T12:00:00'"
    assert_consistent(r, summary, {"7": reason})
    for cid in (str(i) for i in range(1, CONTACTS + 1) if i != 7):
        assert r.written(cid) == clean()[cid]
    again = r.sync.run()  # the dead letter is retried by id, and still refused
    assert again.rejected == 1
    assert letters(r)["7"].attempts == 2


def test_naive_rollup_date_rejects_the_contact(r):
    r.garbage.set("contacts", 8, hs_analytics_last_visit_timestamp="2026-10-30 09:15:00")
    summary = r.sync.run()
    assert_consistent(
        r, summary, {"8": "hs_analytics_last_visit_timestamp has no time zone: '2026-10-30 09:15"}
    )


@pytest.mark.parametrize("value", ["²", "99999999999999999999", "yesterday", "-", "1e3"])
def test_unparsable_rollup_date_leaves_that_activity_out(r, value, caplog):
    r.garbage.set("contacts", 9, hs_analytics_last_visit_timestamp=value)
    with caplog.at_level(logging.WARNING, "connector.crm.hubspot"):
        summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(9)["mqlsync_score"] is not None
    assert "hs_analytics_last_visit_timestamp is not a date" in caplog.text


@pytest.mark.parametrize(
    "value", [DELETE, "²", "99999999999999999999", "yesterday", "2026-10-30T12:00:00"]
)
def test_unusable_lastmodifieddate_falls_back_to_updated_at(r, value):
    r.garbage.set("contacts", 10, lastmodifieddate=value)
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(10) == clean()["10"]


def test_contact_without_any_modified_time_is_rejected_not_fatal(r):
    good = r.adapter._read_contacts(["11"], r.adapter._search_properties())
    broken = SimpleNamespace(id="12", properties={"lastmodifieddate": None}, updated_at=None)
    odd = SimpleNamespace(id="13", properties={"lastmodifieddate": "²"}, updated_at=None)
    pages = list(r.adapter._pages([*good, broken, odd], None, NOW))
    assert [p.record.id for page in pages for p in page.items] == ["11"]
    assert [x for page in pages for x in page.rejected] == [
        Rejected("12", "no lastmodifieddate"),
        Rejected("13", "lastmodifieddate is not a date: '²'"),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mqlsync_fit", "inf"),
        ("mqlsync_score", "1e999"),
        ("mqlsync_engagement", "lots"),
        ("mqlsync_scored_at", "²"),
        ("mqlsync_mql_at", "99999999999999999999"),
        ("mqlsync_recycled_at", "9999-12-31T23:59:59-05:00"),
        ("mqlsync_reasons", "bad \ud800 text\x00"),
    ],
)
def test_garbage_in_mqlsync_fields_is_overwritten(r, field, value):
    r.garbage.set("contacts", 14, **{field: value})
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(14) == clean()["14"]


def test_unpaired_surrogate_and_nul_in_a_title_are_cleaned_not_fatal(r):
    r.garbage.set("contacts", 15, jobtitle="VP\x00 Sales \ud800")
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.record(15).properties["title"] == "VP Sales \ufffd"
    assert "senior_title" in r.fired(15)
    assert "VP Sales \ufffd" in (r.written(15)["mqlsync_reasons"] or "")


def test_megabyte_title_with_emoji_and_rtl_text_is_scored_and_cut_in_reasons(r):
    title = "Chief 😀 Officer \u202eلمدير\u202c " + "x" * MB
    r.garbage.set("contacts", 16, jobtitle=title, company="شركة 🚀 " * 1000)
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert 0 < len(r.written(16)["mqlsync_reasons"] or "") <= 1000
    assert "senior_title" in r.fired(16)
    assert r.record(16).properties["title"] == title


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" 120 ", True), ("1,200", False), ("NaN", False), ("inf", False), ("lots", False)],
)
def test_numbers_in_odd_strings_are_numbers_or_missing(r, value, expected):
    r.garbage.set("contacts", 17, numberofemployees=value, annualrevenue="1e999")
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert ("company_size" in r.fired(17)) is expected


def test_missing_properties_are_unknown_not_errors(r):
    gone = {name: DELETE for name in SPEC.source_fields.hubspot}
    r.garbage.set("contacts", 18, **gone)
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(18)["mqlsync_score"] is not None


@pytest.mark.parametrize("where", ["same", "next"])
def test_a_contact_returned_twice_is_processed_once_as_first_seen(r, where, caplog):
    r.garbage.duplicate(7, where)  # page 1 of 3; the copy differs (CEO at a SaaS company)
    with caplog.at_level(logging.WARNING, "connector.crm.hubspot"):
        summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(7) == clean()["7"]
    assert "contact 7 came twice in one pull: the first copy is used" in caplog.text


def test_meeting_associated_twice_counts_once(r):
    eid = r.meeting(19)
    store = r.sandbox.store
    contact_row, meeting_row = (
        store.tables["contacts"].row_of(19),
        store.tables["meetings"].row_of(eid),
    )
    store._loaded.contact_engagements["meetings"][contact_row].append(meeting_row)
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert sum(a.detail.get("title") == "Intro call" for a in r.record(19).activities) == 1


def test_far_future_meeting_counts_as_recent(r):
    r.meeting(20, hs_timestamp="2999-01-01T00:00:00.000Z")
    summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert "demo_or_meeting" in r.fired(20)
    assert r.record(20).activities[0].at == datetime(2999, 1, 1, tzinfo=UTC)  # newest first


@pytest.mark.parametrize("value", ["9999-12-31T00:00:00.000Z", "253402214400000"])
def test_meeting_dated_near_year_9999_is_left_out_as_out_of_range(r, value, caplog):
    eid = r.meeting(21, hs_timestamp=value, hs_meeting_start_time=DELETE)
    with caplog.at_level(logging.WARNING, "connector.crm.hubspot"):
        summary = r.sync.run()
    assert_consistent(r, summary, {})
    assert r.written(21) == clean()["21"]
    assert f"hs_timestamp of meeting {eid} is out of range" in caplog.text


@pytest.mark.parametrize(
    ("prop", "value", "reason"),
    [
        ("lifecyclestage", "lead" * MB, "lifecyclestage is not a lifecycle stage: 'leadlead"),
        ("lifecyclestage", "lead\x00", "lifecyclestage is not a lifecycle stage: 'lead\\x00'"),
        ("hs_lead_status", "OPEN\nDEAL", "hs_lead_status is not a lead status: 'OPEN\\nDEAL'"),
    ],
)
def test_stage_or_status_no_option_could_hold_rejects_the_contact(r, prop, value, reason):
    r.garbage.set("contacts", 22, **{prop: value})
    summary = r.sync.run()
    assert_consistent(r, summary, {"22": reason})


# ------------------------------------------------------------------------ property-based
@dataclass(frozen=True)
class Case:
    """One malformation on one contact, and what the run must make of it."""

    kind: str
    apply: Callable[[Rig, str], str | None]
    """Injects it; returns the reason text the rejection must contain, if any."""
    outcome: str
    """`same` (written as a clean run would), `written` (scored, maybe differently) or
    `reject`."""


WEIRD = st.sampled_from(
    (
        *("\x00", "\ud800", "\udfff", "\n", "'", "\\"),  # NUL, unpaired surrogates, escapes
        *("😀", "\U0001f469\u200d\U0001f4bb", "e\u0301"),  # emoji, a ZWJ sequence, combining
        *("\u202e", "\u200f", "مدير"),  # right-to-left override and mark, Arabic
    )
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(WEIRD, st.text(max_size=5)), max_size=12).map("".join),
    st.sampled_from([MB, 70_000]).map(lambda n: "VP " + "é" * n),
)
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([" 120 ", "1,200", "NaN", "-inf", "1e999", "٣٠٠", "²", "", "  "]),
    TEXT,
)
DATES_THAT_ARE_NOT = (
    *("yesterday", "²", "99999999999999999999", "-", "1e3", "2026-13-45T00:00:00Z"),
    *("9999-12-31T23:59:59-05:00", "9500-01-01T00:00:00Z", "١٧٠٠٠٠٠٠٠٠٠٠٠", "\ud800"),
)
NOT_A_DATE = st.one_of(
    st.sampled_from(DATES_THAT_ARE_NOT),
    st.text(alphabet="abcxyz!? ", min_size=1, max_size=20),
)
NAIVE = st.builds(
    lambda days, sep: (NOW - timedelta(days=days)).replace(tzinfo=None).isoformat(sep),
    st.integers(0, 400),
    st.sampled_from(["T", " "]),
)
FUTURE = st.one_of(
    st.integers(1, 365 * 6000).map(lambda d: NOW + timedelta(days=d)),
    st.just(datetime(8999, 12, 31, tzinfo=UTC)),
).map(lambda at: at.isoformat().replace("+00:00", "Z"))
ROLLUP_DATES = sorted({r.date_property for r in SPEC.source_activities.hubspot})
NUMBERS = ["numberofemployees", "annualrevenue"]
TEXTS = ["jobtitle", "company", "email", "industry", "tech_stack", "country", "firstname"]


def _set(object_type: str = "contacts", **values: object) -> Callable[[Rig, str], None]:
    def apply(r: Rig, cid: str) -> None:
        r.garbage.set(object_type, cid, **values)

    return apply


KINDS = (
    *("missing", "odd", "text", "modified", "current", "option", "rollup_bad"),
    *("rollup_naive", "meeting_bad", "meeting_naive", "meeting_future", "meeting_text"),
    *("engagement_odd", "duplicate"),
)


@st.composite
def cases(draw: st.DrawFn, cid: str) -> Case:
    kind = draw(st.sampled_from(KINDS))
    if kind == "missing":
        names = draw(st.sets(st.sampled_from(sorted(SPEC.source_fields.hubspot)), min_size=1))
        return Case(kind, _set(**dict.fromkeys(names, DELETE)), "written")
    if kind == "odd":
        return Case(kind, _set(**{draw(st.sampled_from(NUMBERS)): draw(ODD)}), "written")
    if kind == "text":
        return Case(kind, _set(**{draw(st.sampled_from(TEXTS)): draw(TEXT)}), "written")
    if kind == "modified":
        value = draw(st.one_of(st.just(DELETE), NOT_A_DATE, NAIVE))
        return Case(kind, _set(lastmodifieddate=value), "same")
    if kind == "current":
        values = {
            "mqlsync_fit": draw(st.sampled_from(["inf", "nan", "1e999", "²", "lots", "-"])),
            "mqlsync_scored_at": draw(NOT_A_DATE),
            "mqlsync_mql_at": draw(NOT_A_DATE),
            "mqlsync_reasons": draw(TEXT),
        }
        return Case(kind, _set(**values), "same")
    if kind == "option":
        prop = draw(st.sampled_from(["lifecyclestage", "hs_lead_status"]))
        value = draw(st.sampled_from(["x" * 300, "lead\x00", "lead\nx", "\x7f"]))
        what = "a lifecycle stage" if prop == "lifecyclestage" else "a lead status"

        def option(r: Rig, cid: str) -> str:
            r.garbage.set("contacts", cid, **{prop: value})
            return f"{prop} is not {what}"

        return Case(kind, option, "reject")
    if kind in ("rollup_bad", "rollup_naive"):
        prop = draw(st.sampled_from(ROLLUP_DATES))
        if kind == "rollup_bad":
            return Case(kind, _set(**{prop: draw(NOT_A_DATE)}), "written")
        naive = draw(NAIVE)

        def rollup(r: Rig, cid: str) -> str:
            r.garbage.set("contacts", cid, **{prop: naive})
            return f"{prop} has no time zone"

        return Case(kind, rollup, "reject")
    if kind == "duplicate":
        where = "next" if int(cid) <= CONTACTS - PAGE else "same"

        def twice(r: Rig, cid: str) -> None:
            r.garbage.duplicate(cid, where)

        return Case(kind, twice, "same")
    if kind == "engagement_odd":
        engagement = draw(st.sampled_from(["calls", "emails"]))
        odd = {
            "hs_timestamp": draw(st.sampled_from([DELETE, int(NOW.timestamp() * 1000) - 1])),
            "hs_call_title" if engagement == "calls" else "hs_email_subject": draw(ODD),
            "hs_email_direction": draw(st.one_of(ODD, st.just("INCOMING_EMAIL"))),
        }

        def odd_engagement(r: Rig, cid: str) -> None:
            r.engagement(cid, engagement, **odd)

        return Case(kind, odd_engagement, "written")
    # engagements: a meeting added to the contact, served with odd values
    if kind == "meeting_bad":
        values = {"hs_timestamp": draw(st.one_of(st.just(DELETE), NOT_A_DATE))}
        values["hs_meeting_start_time"] = draw(st.one_of(st.just(DELETE), NOT_A_DATE))
        outcome = "same"  # the meeting is left out: as if it were not there
    elif kind == "meeting_naive":
        values = {"hs_timestamp": draw(NAIVE)}
        outcome = "reject"
    elif kind == "meeting_future":
        values = {"hs_timestamp": draw(FUTURE)}
        outcome = "meeting"  # counts as recent: the meeting rule fires
    else:
        values = {"hs_meeting_title": draw(st.one_of(TEXT, ODD))}
        outcome = "written"

    def meeting(r: Rig, cid: str) -> str:
        eid = r.meeting(cid, **values)
        return f"hs_timestamp of meeting {eid} has no time zone"

    return Case(kind, meeting, outcome)


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[str, Case]]:
    ids = draw(st.permutations([str(i) for i in range(1, CONTACTS + 1)]))
    n = draw(st.integers(1, 8))
    return [(cid, draw(cases(cid))) for cid in ids[:n]]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_malformed_payloads_never_crash_a_run_and_are_each_reported(scenario):
    reference = clean()
    with rig() as r:
        rejected: dict[str, str] = {}
        for cid, case in scenario:
            reason = case.apply(r, cid)
            if case.outcome == "reject":
                assert reason is not None
                rejected[cid] = reason
        summary = r.sync.run()  # returns: nothing odd crashes the run
        assert_consistent(r, summary, rejected)
        outcomes = {cid: case.outcome for cid, case in scenario}
        for i in range(1, CONTACTS + 1):
            cid = str(i)
            outcome = outcomes.get(cid, "same")
            got = r.written(cid)
            if outcome == "same":
                assert got == reference[cid], (
                    cid,
                    dict(scenario)[cid].kind if cid in outcomes else "",
                )
            elif outcome != "reject":
                assert got["mqlsync_score"] is not None, cid
                assert len(got["mqlsync_reasons"] or "") <= 1000, cid
            if outcome == "meeting":
                assert "demo_or_meeting" in r.fired(cid), cid
        again = r.sync.run()  # dead letters retried by id (the read path), refused again
        assert again.rejected == len(rejected)
        assert {cid: d.attempts for cid, d in letters(r).items()} == dict.fromkeys(rejected, 2)
