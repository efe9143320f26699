"""The Salesforce read side against the HTTPS sandbox, through real simple-salesforce."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.crm.base import Page, Pulled
from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce import SalesforceCalls, SalesforceReader
from connector.errors import AuthenticationError, DailyLimitExceeded
from connector.mapping.loader import load_mapping
from connector.mapping.schema import MappingSpec
from connector.sandbox.salesforce import SalesforceSandbox
from tests.conftest import MAPPINGS

NOW = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUERY = "/services/data/v59.0/query"


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return load_mapping(MAPPINGS / "b2b-saas.toml")


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(contacts=3000, now=NOW) as sandbox:
        yield sandbox


def make_reader(
    sb: SalesforceSandbox, spec: MappingSpec, *, page_size: int = 2000, **kw: object
) -> SalesforceReader:
    bulk = kw.pop("bulk_threshold", 0)
    limiter = kw.pop("limiter", None) or RateLimiter(100_000, 10.0)
    calls = SalesforceCalls(
        sb.instance_url,
        sb.session_id,
        ca_bundle=sb.ca_path,
        timeout=10,
        limiter=limiter,  # type: ignore[arg-type]
        attempts=3,
        max_wait=0.01,
        **kw,  # type: ignore[arg-type]
    )
    return SalesforceReader(calls, spec, page_size=page_size, bulk_threshold=int(str(bulk)))


@pytest.fixture(scope="module")
def reader(sb: SalesforceSandbox, spec: MappingSpec) -> SalesforceReader:
    return make_reader(sb, spec)


def items(pages: list[Page]) -> dict[str, Pulled]:
    out: dict[str, Pulled] = {}
    for page in pages:
        for item in page.items:
            assert item.record.id not in out
            out[item.record.id] = item
    return out


def rows(sb: SalesforceSandbox, sobject: str) -> list[dict]:
    store = sb.store
    table = store.tables[sobject]
    return [store.get(sobject, r[table.col["id"]]) for r in table.rows]  # type: ignore[misc]


@pytest.fixture(scope="module")
def leads(reader: SalesforceReader) -> dict[str, Pulled]:
    return items(list(reader.pull("lead", EPOCH, NOW)))


@pytest.fixture(scope="module")
def contacts(reader: SalesforceReader) -> dict[str, Pulled]:
    return items(list(reader.pull("contact", EPOCH, NOW)))


def test_leads_are_canonical_with_their_activities(sb, leads):
    store_leads = {r["Id"]: r for r in rows(sb, "Lead")}
    open_ids = {i for i, r in store_leads.items() if not r["IsConverted"]}
    converted = set(store_leads) - open_ids
    assert converted, "the sandbox keeps converted leads"
    assert set(leads) == open_ids  # every unconverted lead, no converted one
    events = [e for e in rows(sb, "Event") if e["WhoId"] in open_ids]
    tasks = [t for t in rows(sb, "Task") if t["WhoId"] in open_ids]
    assert events and tasks
    event = events[0]
    lead = leads[event["WhoId"]]
    raw = store_leads[event["WhoId"]]
    props = lead.record.properties
    assert props["email"] == raw["Email"]
    assert props["title"] == raw["Title"]
    assert props["company"] == raw["Company"]
    assert props["employees"] == raw["NumberOfEmployees"]
    assert props["lead_status"] == raw["Status"]
    assert props["owner"] == raw["OwnerId"]
    assert props["created_at"] == raw["CreatedDate"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lead.modified_at == raw["SystemModstamp"]
    assert lead.record.crm == "salesforce" and lead.record.object == "lead"
    meetings = [a for a in lead.record.activities if a.type == "meeting"]
    mine = [e for e in events if e["WhoId"] == event["WhoId"]]
    assert sorted(a.at for a in meetings) == sorted(e["StartDateTime"] for e in mine)
    # Tasks: calls and e-mails, at completion (open ones at creation)
    task = next(t for t in tasks if t["TaskSubtype"] == "Call" and t["CompletedDateTime"])
    acts = leads[task["WhoId"]].record.activities
    assert any(a.type == "call" and a.at == task["CompletedDateTime"] for a in acts)
    open_task = next(t for t in tasks if t["CompletedDateTime"] is None)
    acts = leads[open_task["WhoId"]].record.activities
    assert any(a.at == open_task["CreatedDate"] for a in acts)
    total_tasks = sum(1 for t in tasks if t["TaskSubtype"] in ("Call", "Email"))
    pulled_tasks = sum(
        1 for p in leads.values() for a in p.record.activities if a.type in ("call", "sales_touch")
    )
    assert pulled_tasks == total_tasks


def test_lead_stages_come_from_status(leads):
    by_status = {p.record.properties.get("lead_status"): p for p in leads.values()}
    assert by_status["Marketing Qualified"].current["stage"] == "mql"
    assert by_status["Marketing Qualified"].record.properties["lifecycle_stage"] == "mql"
    assert by_status["Working - Contacted"].current["stage"] == "sal"
    assert by_status["Open - Not Contacted"].current["stage"] == "lead"
    # rejected: stage `lead` for the lifecycle, but not the status mqlsync writes for
    # `lead`, so a recycle writes over it
    assert by_status["Closed - Not Converted"].record.properties["lifecycle_stage"] == "lead"
    assert by_status["Closed - Not Converted"].current["stage"] is None


def test_campaign_members_become_webinar_and_form_activities(sb, leads):
    campaigns = {c["Id"]: c for c in rows(sb, "Campaign")}
    members = [m for m in rows(sb, "CampaignMember") if m["LeadId"] in leads]
    attended = next(
        m for m in members
        if campaigns[m["CampaignId"]]["Type"] == "Webinar" and m["Status"] == "Attended"
    )  # fmt: skip
    acts = leads[attended["LeadId"]].record.activities
    day = datetime.combine(attended["FirstRespondedDate"], datetime.min.time(), UTC)
    assert any(a.type == "webinar_attendance" and a.at == day for a in acts)
    invited = [m for m in members if m["Status"] in ("Sent", "Planned")]
    assert invited
    for m in invited:  # invitees did nothing: no activity from that membership
        acts = leads[m["LeadId"]].record.activities
        assert not any(a.type.startswith("webinar") for a in acts)
    form = next(
        m for m in members
        if campaigns[m["CampaignId"]]["Type"] != "Webinar" and m["HasResponded"]
    )  # fmt: skip
    acts = leads[form["LeadId"]].record.activities
    assert any(
        a.type == "form_submission" and a.detail["form"] == campaigns[form["CampaignId"]]["Name"]
        for a in acts
    )


def test_contacts_take_account_fields_and_their_stage(sb, contacts):
    store_contacts = {r["Id"]: r for r in rows(sb, "Contact")}
    assert set(contacts) == set(store_contacts)
    accounts = {a["Id"]: a for a in rows(sb, "Account")}
    for cid in list(contacts)[:50]:
        raw, got = store_contacts[cid], contacts[cid]
        account = accounts[raw["AccountId"]]
        props = got.record.properties
        assert props.get("employees") == account["NumberOfEmployees"]
        assert props.get("industry") == account["Industry"]
        assert props["company"] == account["Name"]
        assert props["country"] == raw["MailingCountry"]
        assert got.current["stage"] == raw["MQLSync_Stage__c"]
        assert props["lifecycle_stage"] == raw["MQLSync_Stage__c"]
    assert sum(len(p.record.activities) for p in contacts.values()) > 0


def test_pull_reads_activities_in_bulk(sb, spec):
    reader = make_reader(sb, spec)
    log_before = sb.request_log.count("GET")
    pages = list(reader.pull("lead", EPOCH, NOW))
    n = sum(len(p.items) for p in pages)
    calls = reader.calls.calls
    assert calls == sb.request_log.count("GET") - log_before  # every request counted
    # describe + query pages + ≤ 3 sources × ⌈page / 500⌉ id chunks per page: not per record
    bound = 1 + len(pages) + sum(3 * math.ceil(len(p.items) / 500) for p in pages)
    assert calls <= bound
    assert n > 2000 and calls < n / 100


def test_paging_follows_next_records_url(sb, spec, leads):
    reader = make_reader(sb, spec, page_size=200)
    more_before = sb.request_log.count("GET", QUERY + "/01g")
    pages = list(reader.pull("lead", EPOCH, NOW))
    pulled = items(pages)
    assert set(pulled) == set(leads)
    assert len(pages) == math.ceil(len(leads) / 200)
    assert all(len(p.items) <= 200 for p in pages)
    assert sb.request_log.count("GET", QUERY + "/01g") - more_before == len(pages) - 1
    times = [p.modified_at for p in (i for page in pages for i in page.items)]
    assert times == sorted(times)  # ORDER BY SystemModstamp across pages


@pytest.mark.parametrize("obj", ["lead", "contact"])
def test_a_pull_over_the_bulk_threshold_reads_the_rest_through_a_bulk_job(
    sb, spec, leads, contacts, obj
):
    """The first REST page says how big the pull is; past the threshold the rest comes from
    one Bulk API 2.0 job, typed back from CSV into exactly the records REST gives."""
    jobs = "/services/data/v59.0/jobs/query"
    before = sb.request_log.count("POST", jobs)
    more_before = sb.request_log.count("GET", QUERY + "/01g")
    reader = make_reader(sb, spec, page_size=200, bulk_threshold=100)
    pulled = items(list(reader.pull(obj, EPOCH, NOW)))
    expected = leads if obj == "lead" else contacts
    assert len(expected) > 200  # more than the first REST page
    assert sb.request_log.count("POST", jobs) - before == 1  # one job, not one call per page
    assert sb.request_log.count("GET", QUERY + "/01g") == more_before  # no REST page after it
    assert set(pulled) == set(expected)
    for rid, item in expected.items():
        assert pulled[rid].record == item.record, rid  # numbers, booleans, Account fields
        assert pulled[rid].current == item.current and pulled[rid].modified_at == item.modified_at
    # below the threshold: REST pages only
    small = make_reader(sb, spec, page_size=200, bulk_threshold=100_000)
    list(small.pull(obj, EPOCH, NOW))
    assert sb.request_log.count("POST", jobs) - before == 1


def test_incremental_pull_returns_only_changed_records(sb, spec, leads, contacts):
    reader = make_reader(sb, spec)
    later = NOW + timedelta(days=1)
    sb.clock.set(later)
    ids = sorted(leads)[:3]
    for rid in ids:
        sb.store.touch("Lead", rid, Title="Chief Revenue Officer")
    quiet = sorted(leads)[10]  # only a new call: its own SystemModstamp does not move
    sb.store.add_task(quiet, subtype="Call", completed_at=later)
    converted = next(r["Id"] for r in rows(sb, "Lead") if r["IsConverted"])
    sb.store.touch("Lead", converted, Title="CEO")
    pulled = items(list(reader.pull("lead", later, later)))
    assert set(pulled) == {*ids, quiet}
    assert all(pulled[i].record.properties["title"] == "Chief Revenue Officer" for i in ids)
    assert any(a.type == "call" and a.at == later for a in pulled[quiet].record.activities)
    assert list(reader.pull("contact", later + timedelta(seconds=1), later)) == []


def test_read_by_id_peek_and_find(sb, spec, leads):
    reader = make_reader(sb, spec)
    ids = sorted(leads)[20:23]
    converted = next(r["Id"] for r in rows(sb, "Lead") if r["IsConverted"])
    got = items(list(reader.read("lead", [*ids, converted], NOW)))
    assert set(got) == set(ids)
    assert got[ids[0]].record.properties == leads[ids[0]].record.properties
    assert got[ids[0]].record.activities == leads[ids[0]].record.activities

    sb.store.touch("Lead", ids[0], MQLSync_Score__c=72.0, MQLSync_Grade__c="A2",
                   MQLSync_MQL_At__c=NOW)  # fmt: skip
    peeked = reader.peek("lead", [*ids, "00QHs0000000zzzzzz"])
    assert set(peeked) == set(ids)
    current = peeked[ids[0]]
    assert current.values["score"] == 72
    assert current.values["grade"] == "A2"
    assert current.values["mql_at"] == "2026-11-01T00:00:00.000Z"
    assert current.values["stage"] == leads[ids[0]].current["stage"]
    assert current.modified_at == sb.store.get("Lead", ids[0])["SystemModstamp"]  # type: ignore[index]

    email = leads[ids[1]].record.properties["email"]
    assert reader.find("lead", email) == ids[1]
    assert reader.find("lead", ids[2]) == ids[2]
    assert reader.find("lead", "nobody@nowhere.example") is None
    assert reader.find("lead", "o'brien@x.io") is None  # quoted, not an injection
    assert "Marketing Qualified" in reader.lead_statuses()


def test_a_malformed_record_is_rejected_with_its_reason(sb, spec, contacts):
    reader = make_reader(sb, spec)
    bad, other = sorted(contacts)[:2]
    raw_stage = sb.store.get("Contact", bad)["MQLSync_Stage__c"]  # type: ignore[index]
    sb.store.touch("Contact", bad, MQLSync_Stage__c="Qualified-ish")
    try:
        pages = list(reader.read("contact", [bad, other], NOW))
    finally:
        sb.store.touch("Contact", bad, MQLSync_Stage__c=raw_stage)
    rejected = [r for p in pages for r in p.rejected]
    assert [r.record_id for r in rejected] == [bad]
    assert "MQLSync_Stage__c" in rejected[0].reason and "Qualified-ish" in rejected[0].reason
    assert set(items(pages)) == {other}


def test_budget_share_stops_before_the_orgs_limit(spec):
    with SalesforceSandbox(contacts=300, now=NOW, daily_limit=60) as small:
        limiter = RateLimiter(1000, 10.0, daily_budget_share=0.5)
        reader = make_reader(small, spec, page_size=200, limiter=limiter)
        small.set_api_used(20)
        with pytest.raises(DailyLimitExceeded) as raised:
            for _ in range(20):
                list(reader.pull("lead", EPOCH, NOW))
        assert raised.value.policy == "daily_budget_share"
        assert small.api_used == 30  # stopped at the share (30 of 60), the org never refused
        assert limiter.daily_usage is not None and limiter.daily_usage.limit == 60


def test_unprovisioned_org_reads_empty_write_back_fields(spec):
    with SalesforceSandbox(contacts=60, now=NOW, provisioned=False) as bare:
        reader = make_reader(bare, spec)
        pulled = items(list(reader.pull("contact", EPOCH, NOW)))
        assert pulled
        for item in pulled.values():
            assert all(v is None for v in item.current.values())
        leads = items(list(reader.pull("lead", EPOCH, NOW)))
        assert all(
            i.current["score"] is None and i.record.properties["lifecycle_stage"]
            for i in leads.values()
        )


def test_an_expired_session_is_an_authentication_error(sb, spec):
    reader = make_reader(sb, spec)
    reader.calls.client.session_id = "00DHs0000000001!expired"
    reader.calls.client.headers["Authorization"] = "Bearer 00DHs0000000001!expired"
    with pytest.raises(AuthenticationError):
        reader.find("lead", "someone@example.com")
    renewed = make_reader(sb, spec, refresh=lambda: sb.session_id)
    renewed.calls.client.headers["Authorization"] = "Bearer 00DHs0000000001!expired"
    assert renewed.find("lead", "nobody@nowhere.example") is None


def test_server_errors_and_dropped_connections_are_retried(spec, leads):
    from connector.sandbox.faults import Faults

    faults = Faults(rate_5xx=0.15, drop_connection=0.1, seed=5)
    with SalesforceSandbox(contacts=3000, now=NOW, faults=faults) as flaky:
        reader = make_reader(flaky, spec, page_size=500)
        reader.calls.attempts = 8
        pulled = items(list(reader.pull("lead", EPOCH, NOW)))
        failed = flaky.request_log.count(status=503) + flaky.request_log.count(status=0)
        assert failed > 0
        assert set(pulled) == set(leads)  # same org (same seed): nothing lost to the faults
        assert reader.calls.calls == len(flaky.request_log)  # retries are counted calls


def test_account_rules_get_each_contacts_account_and_buying_group(sb):
    """With an account rule in the mapping, a Contact carries its Account (id, name,
    domain) and how many of the Account's Contacts had an activity in the last 30 days,
    counted here straight from the org's rows; Leads carry none."""
    abm = load_mapping(MAPPINGS / "b2b-saas-abm.toml")
    assert abm.reads_account
    reader = make_reader(sb, abm)
    pulled = items(list(reader.pull("contact", EPOCH, NOW)))
    since = NOW - timedelta(days=30)
    store = sb.store

    def recent(who: str) -> bool:
        def when(row: dict, field: str) -> datetime | None:
            return row.get(field)

        tasks = any(
            r["WhoId"] == who and (when(r, "CreatedDate") or EPOCH) >= since
            for r in rows(sb, "Task") if r.get("WhoId")
        )  # fmt: skip
        events = any(
            r["WhoId"] == who and (when(r, "StartDateTime") or EPOCH) >= since
            for r in rows(sb, "Event") if r.get("WhoId")
        )  # fmt: skip
        members = any(
            r.get("ContactId") == who and r.get("HasResponded")
            and (when(r, "CreatedDate") or EPOCH) >= since
            for r in rows(sb, "CampaignMember")
        )  # fmt: skip
        return tasks or events or members

    contacts = rows(sb, "Contact")
    engaged: dict[str, int] = {}
    for c in contacts:
        if c.get("AccountId") and recent(c["Id"]):
            engaged[c["AccountId"]] = engaged.get(c["AccountId"], 0) + 1
    with_account = [c for c in contacts if c.get("AccountId")]
    assert with_account and any(engaged.values())
    for c in with_account:
        account = pulled[c["Id"]].record.account
        assert account is not None, c["Id"]
        expected = store.get("Account", c["AccountId"]) or {}
        assert account["id"] == c["AccountId"] and account["name"] == expected["Name"]
        assert account["engaged_contacts_30d"] == engaged.get(c["AccountId"], 0), c["Id"]
    leads = items(list(reader.pull("lead", EPOCH, NOW)))
    assert all(item.record.account is None for item in leads.values())
