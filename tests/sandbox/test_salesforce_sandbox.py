"""The Salesforce emulator driven through the OFFICIAL simple-salesforce client over HTTPS."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.store import ASSIGNMENT_QUEUE_ID

NOW = datetime(2026, 11, 1, tzinfo=UTC)
QUERY = "/services/data/v59.0/query"


@pytest.fixture(scope="module")
def sb():
    with SalesforceSandbox(contacts=3000, now=NOW, faults=Faults(seed=3)) as sandbox:
        yield sandbox


@pytest.fixture
def sf(sb) -> Salesforce:
    sb.faults.unable_to_lock_row = sb.faults.drop_connection = 0.0
    return sb.client()


def open_leads(sf: Salesforce, n: int, offset: int = 0) -> list[str]:
    soql = (
        "SELECT Id FROM Lead WHERE IsConverted = false AND Status = 'Open - Not Contacted' "
        f"ORDER BY CreatedDate LIMIT {n} OFFSET {offset}"
    )
    return [r["Id"] for r in sf.query(soql)["records"]]


def patch(sf: Salesforce, records: list[dict], *, all_or_none: bool = False, headers=None):
    body = {"allOrNone": all_or_none, "records": records}
    hdrs = {"Sforce-Auto-Assign": "FALSE"} if headers is None else headers
    return sf.restful("composite/sobjects", method="PATCH", json=body, headers=hdrs)


def lead(rid: str, **fields) -> dict:
    return {"attributes": {"type": "Lead"}, "id": rid, **fields}


def test_versions_and_tls(sb):
    resp = sb.session().get(sb.instance_url + "/services/data/")
    assert "59.0" in [v["version"] for v in resp.json()]
    with pytest.raises(requests.exceptions.SSLError):
        s = requests.Session()
        s.trust_env = False
        s.verify = True
        s.get(sb.instance_url + "/services/data/")
    assert os.path.exists(sb.bundle_path)
    assert Path(sb.ca_path).read_text() in Path(sb.bundle_path).read_text()


def test_query_all_iter_follows_next_records_url(sb, sf):
    total = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    assert total > 2000
    before = sb.request_log.count("GET", QUERY)
    rows = list(sf.query_all_iter("SELECT Id, Email, SystemModstamp FROM Lead"))
    assert len(rows) == total == len({r["Id"] for r in rows})
    assert sb.request_log.count("GET", QUERY) - before == (total + 1999) // 2000
    assert rows[0]["attributes"]["type"] == "Lead"
    assert rows[0]["SystemModstamp"].endswith("+0000")


def test_batch_size_header(sf):
    page = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500 and page["done"] is False
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/")


def test_where_order_limit_in_like_datetime(sf):
    recent = sf.query(
        "SELECT Id, CreatedDate FROM Lead WHERE CreatedDate >= 2026-10-01T00:00:00.000+00:00 "
        "AND (LeadSource = 'Webinar' OR LeadSource = 'Email') ORDER BY CreatedDate DESC LIMIT 7"
    )["records"]
    stamps = [r["CreatedDate"] for r in recent]
    assert 0 < len(stamps) <= 7 and stamps == sorted(stamps, reverse=True)
    assert all(s >= "2026-10-01" for s in stamps)
    titled = sf.query("SELECT Title FROM Lead WHERE Title LIKE '%director%' LIMIT 20")["records"]
    assert titled and all("director" in r["Title"].lower() for r in titled)
    ids = [r["Id"] for r in recent]
    got = sf.query("SELECT Id FROM Lead WHERE Id IN ('" + "','".join(ids) + "')")
    assert got["totalSize"] == len(ids)


def test_activities_by_who_and_relationships(sf):
    who = [r["WhoId"] for r in sf.query("SELECT WhoId FROM Task LIMIT 300")["records"]]
    quoted = ",".join(f"'{w}'" for w in who)
    tasks = sf.query_all(
        f"SELECT Id, WhoId, TaskSubtype, Status FROM Task WHERE WhoId IN ({quoted})"
    )
    assert {r["WhoId"] for r in tasks["records"]} == set(who)
    assert {r["TaskSubtype"] for r in tasks["records"]} <= {"Call", "Email"}
    members = sf.query(
        "SELECT LeadOrContactId, Status, Campaign.Type, Campaign.Name FROM CampaignMember "
        "WHERE Campaign.Type = 'Webinar' AND Status = 'Attended' LIMIT 5"
    )["records"]
    assert members and all(m["Campaign"]["Type"] == "Webinar" for m in members)
    contact = sf.query(
        "SELECT Id, Account.NumberOfEmployees, Account.Industry FROM Contact LIMIT 1"
    )
    assert "Industry" in contact["records"][0]["Account"]


def test_query_errors(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Lead WHERE A = 1 AND B = 2 OR C = 3")
    assert err.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Nope__c FROM Lead")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    ids = ",".join(f"'00QHs{i:010d}AAA'" for i in range(700))  # ≈ 19 KB once URL-encoded
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query(f"SELECT Id FROM Task WHERE WhoId IN ({ids})")
    assert err.value.status == 414


def test_composite_200_ok_and_201_rejected(sb, sf):
    ids = open_leads(sf, 201)
    result = patch(sf, [lead(i, MQLSync_Score__c=42, MQLSync_Grade__c="B2") for i in ids[:200]])
    assert len(result) == 200 and all(r["success"] for r in result)
    assert sb.store.get("Lead", ids[0])["MQLSync_Score__c"] == 42.0
    with pytest.raises(SalesforceMalformedRequest) as err:
        patch(sf, [lead(i, MQLSync_Score__c=1) for i in ids])
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sb.store.get("Lead", ids[0])["MQLSync_Score__c"] == 42.0


def test_composite_per_record_errors(sb, sf):
    a, b, c = open_leads(sf, 3, offset=300)
    result = patch(sf, [lead(a, MQLSync_Fit__c=10), lead(b, Bogus__c=1), lead(c, IsConverted=True)])
    assert result[0] == {"id": a, "success": True, "errors": []}
    assert result[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert result[1]["errors"][0]["fields"] == ["Bogus__c"]
    assert result[2]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    bad = patch(sf, [lead("00QHs0000zzzzzzAAA", MQLSync_Fit__c=1), lead("nope", MQLSync_Fit__c=1)])
    assert [r["errors"][0]["statusCode"] for r in bad] == [
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
    ]
    with pytest.raises(SalesforceMalformedRequest) as err:
        patch(sf, [lead(a, MQLSync_Scored_At__c="yesterday")])
    assert err.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_composite_all_or_none_rolls_back(sb, sf):
    a, b = open_leads(sf, 2, offset=400)
    result = patch(sf, [lead(a, MQLSync_Route__c="sales"), lead(b, Nope__c=1)], all_or_none=True)
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert result[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert sb.store.get("Lead", a)["MQLSync_Route__c"] is None


def test_unable_to_lock_row_fault(sb, sf):
    ids = open_leads(sf, 5, offset=500)
    sb.faults.unable_to_lock_row = 1.0
    try:
        result = patch(sf, [lead(i, MQLSync_Fit__c=3) for i in ids])
    finally:
        sb.faults.unable_to_lock_row = 0.0
    assert {r["errors"][0]["statusCode"] for r in result} == {"UNABLE_TO_LOCK_ROW"}
    assert patch(sf, [lead(i, MQLSync_Fit__c=3) for i in ids])[0]["success"]


def test_api_usage_and_daily_limit(sb, sf):
    sf.query("SELECT COUNT() FROM Lead")
    usage = sf.api_usage["api-usage"]
    assert usage.used == sb.api_used and usage.total == 100_000
    saved = sb.api_used
    sb.set_api_used(100_000)
    try:
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT COUNT() FROM Lead")
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        sb.set_api_used(saved)
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000


def test_invalid_session(sb):
    bad = sb.client(session_id="not-a-session")
    with pytest.raises(SalesforceExpiredSession) as err:
        bad.query("SELECT Id FROM Lead LIMIT 1")
    assert err.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_describe_has_mql_status(sf):
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert "Marketing Qualified" in [p["value"] for p in fields["Status"]["picklistValues"]]
    assert fields["MQLSync_Fit__c"]["custom"] and fields["MQLSync_Fit__c"]["updateable"]
    assert not fields["SystemModstamp"]["updateable"]
    assert "MQLSync_Stage__c" in {f["name"] for f in sf.Contact.describe()["fields"]}


def test_converted_lead_cannot_be_updated(sf):
    rid = sf.query("SELECT Id FROM Lead WHERE IsConverted = true LIMIT 1")["records"][0]["Id"]
    result = patch(sf, [lead(rid, MQLSync_Fit__c=1)])
    assert result[0]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Lead.update(rid, {"MQLSync_Fit__c": 1})


def test_auto_assign_header_recorded_and_simulated(sb, sf):
    a, b = open_leads(sf, 2, offset=600)
    owner_before = sb.store.get("Lead", a)["OwnerId"]
    patch(sf, [lead(a, MQLSync_Temperature__c="warm")])  # with Sforce-Auto-Assign: FALSE
    assert sb.store.get("Lead", a)["OwnerId"] == owner_before
    assert sb.writes[-1].auto_assign is False
    patch(sf, [lead(b, MQLSync_Temperature__c="warm")], headers={})
    assert sb.writes[-1].auto_assign is True
    assert sb.store.get("Lead", b)["OwnerId"] == ASSIGNMENT_QUEUE_ID


def test_writes_bump_modstamp_and_touch(sb, sf):
    (a,) = open_leads(sf, 1, offset=700)
    sb.clock.advance(minutes=5)
    stamp = (NOW + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    since = f"SELECT Id FROM Lead WHERE SystemModstamp > {stamp}"
    before = {r["Id"] for r in sf.query_all(since)["records"]}
    sb.store.touch("Lead", a, Status="Working - Contacted")
    after = {r["Id"] for r in sf.query_all(since)["records"]}
    assert after - before == {a}
    task = sb.store.add_task(a, subtype="Call", completed_at=sb.clock.now())
    assert sf.query(f"SELECT Id FROM Task WHERE WhoId = '{a}'")["totalSize"] >= 1
    assert sf.Task.get(task)["TaskSubtype"] == "Call"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get("00QHs0000zzzzzzAAA")


def test_dropped_connection(sb, sf):
    sb.faults.drop_connection = 1.0
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            sf.query("SELECT Id FROM Lead LIMIT 1")
    finally:
        sb.faults.drop_connection = 0.0
    assert sb.request_log.count(status=0) >= 1


def test_stop_removes_certificates():
    sandbox = SalesforceSandbox(contacts=20, now=NOW).start()
    ca = sandbox.ca_path
    assert sandbox.client().query("SELECT COUNT() FROM Lead")["totalSize"] >= 0
    sandbox.stop()
    assert not os.path.exists(os.path.dirname(ca))


def test_query_all_shows_deleted_rows(sb, sf):
    (a,) = open_leads(sf, 1, offset=800)
    sb.store.delete("Lead", a)
    assert sf.query(f"SELECT COUNT() FROM Lead WHERE Id = '{a}'")["totalSize"] == 0
    again = sf.query_all(f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{a}'", include_deleted=True)
    assert again["records"][0]["IsDeleted"] is True
    assert patch(sf, [lead(a, MQLSync_Fit__c=1)])[0]["errors"][0]["statusCode"] == (
        "ENTITY_IS_DELETED"
    )


def test_date_literal_and_record_get(sf):
    recs = sf.query(
        "SELECT Id, FirstRespondedDate, CreatedDate FROM CampaignMember "
        "WHERE HasResponded = true AND FirstRespondedDate >= 2026-10-01 LIMIT 5"
    )["records"]
    assert recs and all(r["FirstRespondedDate"] >= "2026-10-01" for r in recs)
    (a,) = open_leads(sf, 1, offset=900)
    got = sf.Lead.get(a[:15])  # 15-char ids are accepted
    assert got["Id"] == a and got["Status"] == "Open - Not Contacted"
    assert set(sf.restful(f"sobjects/Lead/{a}", params={"fields": "Id,Email"})) == {
        "attributes",
        "Id",
        "Email",
    }


def test_server_error_fault(sb, sf):
    sb.faults.rate_5xx = 1.0
    try:
        with pytest.raises(SalesforceGeneralError) as err:
            sf.query("SELECT Id FROM Lead LIMIT 1")
    finally:
        sb.faults.rate_5xx = 0.0
    assert err.value.status == 503


def test_unprovisioned_org_gets_fields_through_tooling_api():
    with SalesforceSandbox(contacts=60, now=NOW, provisioned=False) as sandbox:
        sf = sandbox.client()
        names = {f["name"] for f in sf.Lead.describe()["fields"]}
        assert "MQLSync_Fit__c" not in names
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.query("SELECT MQLSync_Fit__c FROM Lead")
        assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
        body = {"FullName": "Lead.MQLSync_Fit__c",
                "Metadata": {"label": "MQLSync Fit", "type": "Number", "precision": 18,
                             "scale": 0}}  # fmt: skip
        created = sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
        assert created["success"] and created["id"].startswith("00N")
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
        assert err.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
        stage = {"FullName": "Contact.MQLSync_Stage__c",
                 "Metadata": {"label": "Stage", "type": "Text", "length": 40}}  # fmt: skip
        sf.restful("tooling/sobjects/CustomField", method="POST", json=stage)
        (rid,) = [r["Id"] for r in sf.query("SELECT Id FROM Lead LIMIT 1")["records"]]
        assert patch(sf, [lead(rid, MQLSync_Fit__c=20)])[0]["success"]
        got = sf.query(f"SELECT MQLSync_Fit__c FROM Lead WHERE Id = '{rid}'")["records"][0]
        assert got["MQLSync_Fit__c"] == 20.0
        assert "MQLSync_Stage__c" in {f["name"] for f in sf.Contact.describe()["fields"]}
