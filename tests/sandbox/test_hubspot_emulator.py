"""The HubSpot sandbox driven through the OFFICIAL SDK: every production limit must bite here."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import hubspot
import pytest
import urllib3
from hubspot.crm.contacts import ApiException
from hubspot.crm.properties import ApiException as PropertiesApiException

from connector.sandbox.faults import Faults
from connector.sandbox.hubspot import HubSpotSandbox, ManualClock


def client(sb: HubSpotSandbox, token: str | None = None) -> hubspot.Client:
    return hubspot.Client.create(access_token=token or sb.token, host=sb.base_url)


@pytest.fixture(scope="module")
def sb():
    with HubSpotSandbox(contacts=450, seed=11) as s:
        yield s


@pytest.fixture(scope="module")
def hs(sb):
    return client(sb)


def search(hs, **body):
    return hs.crm.contacts.search_api.do_search(public_object_search_request=body)


def batch_update(hs, inputs):
    return hs.crm.contacts.batch_api.update(
        batch_input_simple_public_object_batch_input={"inputs": inputs}
    )


def test_list_pages_by_cursor_and_last_page_has_no_next(hs):
    seen, after, pages = [], None, 0
    while True:
        kw = {"after": after} if after else {}
        page = hs.crm.contacts.basic_api.get_page(limit=100, properties=["email"], **kw)
        seen += [r.id for r in page.results]
        pages += 1
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
    assert pages == 5 and len(seen) == 450 == len(set(seen))


def test_records_carry_ids_timestamps_and_string_properties(hs):
    rec = hs.crm.contacts.basic_api.get_by_id(
        "7", properties=["numberofemployees", "hs_email_optout", "lifecyclestage"]
    )
    props = rec.properties
    assert props["hs_object_id"] == "7" and rec.archived is False
    assert props["createdate"].endswith("Z") and len(props["createdate"]) == 24
    assert rec.created_at <= rec.updated_at
    assert props["hs_email_optout"] in ("true", "false")
    assert all(v is None or isinstance(v, str) for v in props.values())


def test_search_pages_past_200_and_reports_full_total(hs):
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "lastmodifieddate"],
        "limit": 200,
    }
    first = search(hs, **body)
    assert first.total == 450 and len(first.results) == 200
    second = search(hs, **body, after=first.paging.next.after)
    third = search(hs, **body, after=second.paging.next.after)
    assert third.paging is None and len(third.results) == 50
    stamps = [r.properties["lastmodifieddate"] for r in first.results + second.results]
    assert stamps == sorted(stamps)


def test_search_limit_over_200_is_rejected(hs):
    with pytest.raises(ApiException) as err:
        search(hs, limit=201)
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_search_filter_operators(hs):
    f = lambda *fs: search(hs, filterGroups=[{"filters": list(fs)}], limit=0).total  # noqa: E731
    everyone = f()
    mqls = f(
        {"propertyName": "lifecyclestage", "operator": "EQ", "value": "marketingqualifiedlead"}
    )
    not_mql = f({"propertyName": "lifecyclestage", "operator": "NEQ",
                 "value": "marketingqualifiedlead"})  # fmt: skip
    assert mqls > 0 and mqls + not_mql == everyone
    mid = f({"propertyName": "numberofemployees", "operator": "BETWEEN", "value": "50",
             "highValue": "500"})  # fmt: skip
    ge = f({"propertyName": "numberofemployees", "operator": "GTE", "value": "50"})
    gt = f({"propertyName": "numberofemployees", "operator": "GT", "value": "500"})
    assert mid == ge - gt
    has = f({"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"})
    hasnt = f({"propertyName": "numberofemployees", "operator": "NOT_HAS_PROPERTY"})
    assert has + hasnt == everyone and hasnt > 0
    ins = f({"propertyName": "lifecyclestage", "operator": "IN", "values": ["lead", "subscriber"]})
    not_in = f({"propertyName": "lifecyclestage", "operator": "NOT_IN",
                "values": ["lead", "subscriber"]})  # fmt: skip
    assert ins + not_in == everyone
    gmail = f({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@gmail.com"})
    assert 0 < gmail < everyone
    lt = f({"propertyName": "createdate", "operator": "LT", "value": "2026-06-01T00:00:00Z"})
    lte = f({"propertyName": "createdate", "operator": "LTE", "value": "2026-06-01T00:00:00Z"})
    assert 0 < lt <= lte < everyone
    either = search(hs, limit=0, filterGroups=[
        {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]},
        {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]},
    ]).total  # fmt: skip
    lead = f({"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"})
    customer = f({"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"})
    assert either == lead + customer


def test_search_cannot_page_past_10000_results_but_total_counts_all():
    with HubSpotSandbox(contacts=10_050, seed=3) as big:
        hs = client(big)
        body = {"limit": 200, "properties": ["email"],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}  # fmt: skip
        last_ok = search(hs, **body, after="9800")
        assert last_ok.total == 10_050 and len(last_ok.results) == 200
        assert last_ok.paging.next.after == "10000"
        with pytest.raises(ApiException) as err:
            search(hs, **body, after="10000")
        assert err.value.status == 400
        assert json.loads(err.value.body)["status"] == "error"
        with pytest.raises(ApiException):
            search(hs, **body, after="9900")  # 9900 + 200 > 10,000


def test_batch_over_100_inputs_is_rejected(hs):
    inputs = [{"id": str(i), "properties": {"jobtitle": "x"}} for i in range(1, 102)]
    with pytest.raises(ApiException) as err:
        batch_update(hs, inputs)
    assert err.value.status == 400
    with pytest.raises(ApiException):
        hs.crm.contacts.batch_api.read(
            batch_read_input_simple_public_object_id={"inputs": [{"id": "1"}] * 101}
        )


def test_batch_update_answers_207_naming_bad_inputs(hs):
    res = batch_update(hs, [
        {"id": "10", "properties": {"jobtitle": "VP Marketing"}},
        {"id": "11", "properties": {"no_such_property": "1"}},
        {"id": "999999", "properties": {"jobtitle": "x"}},
    ])  # fmt: skip
    assert [r.id for r in res.results] == ["10"]
    assert res.results[0].properties["jobtitle"] == "VP Marketing"
    named = sorted(i for e in res.errors for i in e.context["ids"])
    assert named == ["11", "999999"]
    prop_err = next(e for e in res.errors if e.context["ids"] == ["11"])
    assert prop_err.errors[0].code == "PROPERTY_DOESNT_EXIST"
    ok = batch_update(hs, [{"id": "12", "properties": {"jobtitle": "CMO"}}])
    assert not getattr(ok, "errors", None) and ok.status == "COMPLETE"


def test_values_are_stored_as_strings_and_write_bumps_lastmodifieddate(sb, hs):
    before = hs.crm.contacts.basic_api.get_by_id("20").properties["lastmodifieddate"]
    batch_update(hs, [{"id": "20", "properties": {"numberofemployees": 120}}])
    after = hs.crm.contacts.basic_api.get_by_id("20", properties=["numberofemployees"])
    assert after.properties["numberofemployees"] == "120"
    assert after.properties["lastmodifieddate"] > before
    # an identical write changes nothing and does not bump
    batch_update(hs, [{"id": "20", "properties": {"numberofemployees": "120"}}])
    again = hs.crm.contacts.basic_api.get_by_id("20").properties["lastmodifieddate"]
    assert again == after.properties["lastmodifieddate"]


def test_lifecycle_is_forward_only_until_cleared(hs):
    get = lambda: hs.crm.contacts.basic_api.get_by_id(  # noqa: E731
        "30", properties=["lifecyclestage"]).properties["lifecyclestage"]  # fmt: skip
    batch_update(hs, [{"id": "30", "properties": {"lifecyclestage": "salesqualifiedlead"}}])
    assert get() == "salesqualifiedlead"
    batch_update(hs, [{"id": "30", "properties": {"lifecyclestage": "lead"}}])
    assert get() == "salesqualifiedlead"  # backward move silently ignored
    batch_update(hs, [{"id": "30", "properties": {"lifecyclestage": ""}}])
    assert get() is None
    batch_update(hs, [{"id": "30", "properties": {"lifecyclestage": "lead"}}])
    assert get() == "lead"


def test_incremental_search_sees_crm_side_edits_in_order():
    clock = ManualClock(datetime(2026, 11, 2, tzinfo=UTC))
    with HubSpotSandbox(contacts=300, clock=clock) as s:
        hs = client(s)
        since = int(datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp() * 1000)
        s.store.touch(42, jobtitle="Head of Growth")
        clock.advance(60)
        s.store.touch(5, lifecyclestage="customer")
        res = search(hs, limit=10, properties=["jobtitle"],
                     filterGroups=[{"filters": [{"propertyName": "lastmodifieddate",
                                                 "operator": "GT", "value": str(since)}]}],
                     sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}])  # fmt: skip
        assert [r.id for r in res.results] == ["42", "5"]
        assert res.results[0].properties["jobtitle"] == "Head of Growth"


def test_associations_v4_and_engagement_batch_read(sb, hs):
    at = datetime(2026, 10, 30, 12, tzinfo=UTC)
    sb.store.add_engagement(3, "emails", at, hs_email_direction="INCOMING_EMAIL",
                            hs_email_subject="Re: pricing")  # fmt: skip
    sb.store.add_engagement(3, "meetings", at - timedelta(days=1), hs_meeting_title="Demo")
    assoc = hs.crm.associations.v4.batch_api.get_page(
        "contacts", "emails",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": "3"}]},
    )  # fmt: skip
    email_ids = [t.to_object_id for t in assoc.results[0].to]
    emails = hs.crm.objects.emails.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": i} for i in email_ids],
            "properties": ["hs_timestamp", "hs_email_direction"],
        }
    )
    reply = [e for e in emails.results if e.properties["hs_email_direction"] == "INCOMING_EMAIL"]
    assert any(e.properties["hs_timestamp"] == "2026-10-30T12:00:00.000Z" for e in reply)
    meetings = hs.crm.associations.v4.batch_api.get_page(
        "contacts", "meetings",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": "3"}]},
    )  # fmt: skip
    mid = meetings.results[0].to[-1].to_object_id
    got = hs.crm.objects.meetings.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": mid}],
            "properties": ["hs_timestamp", "hs_meeting_start_time"],
        }
    )
    assert got.results[0].properties["hs_meeting_start_time"] == "2026-10-29T12:00:00.000Z"
    company = hs.crm.associations.v4.batch_api.get_page(
        "contacts", "companies",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": "1"}, {"id": "2"}]},
    )  # fmt: skip
    assert len(company.results) == 2
    assert company.results[0].to[0].association_types[0].type_id == 1
    cid = company.results[0].to[0].to_object_id
    comp = hs.crm.companies.basic_api.get_by_id(cid, properties=["domain", "numberofemployees"])
    assert comp.properties["domain"]


def test_property_and_group_conflicts_answer_409(hs):
    props = hs.crm.properties
    props.groups_api.create("contacts", property_group_create={"name": "mqlsync", "label": "M"})
    with pytest.raises(PropertiesApiException) as err:
        props.groups_api.create("contacts", property_group_create={"name": "mqlsync", "label": "M"})
    assert err.value.status == 409
    body = {"name": "mqlsync_score", "label": "Score", "type": "number", "fieldType": "number",
            "groupName": "mqlsync"}  # fmt: skip
    created = props.core_api.create("contacts", property_create=body)
    assert created.name == "mqlsync_score" and created.type == "number"
    with pytest.raises(PropertiesApiException) as err:
        props.core_api.create("contacts", property_create=body)
    assert err.value.status == 409
    with pytest.raises(PropertiesApiException):
        props.core_api.create("contacts", property_create={**body, "name": "email"})
    res = batch_update(hs, [{"id": "40", "properties": {"mqlsync_score": 92}}])
    assert res.results[0].properties["mqlsync_score"] == "92"
    names = {p.name for p in props.core_api.get_all("contacts").results}
    assert {"lifecyclestage", "hs_analytics_num_page_views", "mqlsync_score"} <= names


def test_bad_token_gets_401_invalid_authentication(sb):
    with pytest.raises(ApiException) as err:
        client(sb, token="wrong").crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 401
    body = json.loads(err.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
    assert "correlationId" in body


def test_burst_over_rolling_window_gets_429_with_policy_name():
    with HubSpotSandbox(contacts=20, rate=(5, 10.0)) as s:
        hs = client(s)
        for _ in range(5):
            hs.crm.contacts.basic_api.get_page(limit=1)
        with pytest.raises(ApiException) as err:
            hs.crm.contacts.basic_api.get_page(limit=1)
        assert err.value.status == 429
        body = json.loads(err.value.body)
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
        assert err.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert err.value.headers["X-HubSpot-RateLimit-Max"] == "5"
    with HubSpotSandbox(contacts=20, daily_limit=2) as s:
        hs = client(s)
        hs.crm.contacts.basic_api.get_page(limit=1)
        hs.crm.contacts.basic_api.get_page(limit=1)
        with pytest.raises(ApiException) as err:
            hs.crm.contacts.basic_api.get_page(limit=1)
        assert json.loads(err.value.body)["policyName"] == "DAILY"


def test_fault_knobs_5xx_drop_and_partial_batch_failure():
    faults = Faults(rate_5xx=1.0)
    with HubSpotSandbox(contacts=20, faults=faults) as s:
        hs = client(s)
        with pytest.raises(ApiException) as err:
            hs.crm.contacts.basic_api.get_page(limit=1)
        assert 500 <= err.value.status < 600
        faults.rate_5xx = 0.0
        faults.drop_connection = 1.0
        with pytest.raises(urllib3.exceptions.HTTPError):
            hs.crm.contacts.basic_api.get_page(limit=1)
        faults.drop_connection = 0.0
        faults.partial_batch_failure = 1.0
        res = batch_update(hs, [{"id": "1", "properties": {"jobtitle": "x"}}])
        assert res.errors[0].category == "INTERNAL_ERROR" and res.errors[0].context["ids"] == ["1"]
        assert s.request_log.count(status=0) >= 1
        assert s.request_log.count(method="GET", path_prefix="/crm/v3/objects/contacts") >= 2


def test_request_log_counts_calls_and_inputs():
    with HubSpotSandbox(contacts=50) as s:
        hs = client(s)
        hs.crm.contacts.basic_api.get_page(limit=10)
        batch_update(hs, [{"id": str(i), "properties": {"jobtitle": "x"}} for i in range(1, 8)])
        assert s.request_log.count() == 2
        assert s.request_log.count(method="POST", path_prefix="/crm/v3/objects/contacts/batch") == 1
        assert s.request_log.entries()[-1].inputs == 7
        s.request_log.clear()
        assert s.request_log.count() == 0
