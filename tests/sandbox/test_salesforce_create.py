"""Creating records in the Salesforce sandbox (sObject Rows POST, sObject Collections POST)
through simple-salesforce, and finding them again with SOQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.store import ASSIGNMENT_QUEUE_ID

NOW = datetime(2026, 11, 1, tzinfo=UTC)
COLLECTION = "/services/data/v59.0/composite/sobjects"


@pytest.fixture(scope="module")
def sb():
    with SalesforceSandbox(contacts=200, now=NOW, faults=Faults(seed=5)) as sandbox:
        yield sandbox


@pytest.fixture
def sf(sb) -> Salesforce:
    sb.faults.unable_to_lock_row = sb.faults.partial_batch_failure = 0.0
    return sb.client()


def lead_ids(sf: Salesforce, n: int) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Lead LIMIT {n}")["records"]]


def task(who: str, key: str, **fields) -> dict:
    return {
        "WhoId": who, "Subject": "MQL follow-up", "Description": f"mqlsync:{key}\nScore 87",
        "ActivityDate": "2026-11-03", "Priority": "High", "TaskSubtype": "Task", **fields,
    }  # fmt: skip


def test_create_task_then_find_it_by_who_and_subject(sb, sf):
    who = lead_ids(sf, 1)[0]
    writes = len(sb.writes)
    result = sf.Task.create(task(who, "k1", OwnerId="005Hs0000000001AAA"))
    assert result["success"] is True and result["errors"] == [] and result["id"].startswith("00T")
    assert len(sb.writes) == writes + 1 and sb.writes[-1].method == "POST"
    soql = (
        "SELECT Id, Description, Status, Priority, TaskSubtype, IsClosed, ActivityDate, OwnerId "
        f"FROM Task WHERE WhoId IN ('{who}') AND Subject = 'MQL follow-up'"
    )
    rows = sf.query(soql)["records"]
    assert [r["Id"] for r in rows] == [result["id"]]
    row = rows[0]
    assert row["Description"] == "mqlsync:k1\nScore 87"
    assert (row["Status"], row["Priority"], row["TaskSubtype"]) == ("Not Started", "High", "Task")
    assert row["IsClosed"] is False and row["ActivityDate"] == "2026-11-03"
    assert row["OwnerId"] == "005Hs0000000001AAA"
    got = sb.store.get("Task", result["id"])
    assert got is not None and got["CreatedDate"] == NOW


def test_created_completed_call_is_closed_with_completion_time(sf):
    who = lead_ids(sf, 1)[0]
    new = sf.Task.create(task(who, "k2", Status="Completed", TaskSubtype="Call"))
    row = sf.query(f"SELECT IsClosed, CompletedDateTime FROM Task WHERE Id = '{new['id']}'")
    assert row["records"][0]["IsClosed"] is True
    assert row["records"][0]["CompletedDateTime"].startswith("2026-11-01T00:00:00")


def test_description_cannot_be_filtered(sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM Task WHERE Description LIKE 'mqlsync:%'")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


@pytest.mark.parametrize(
    ("sobject", "body", "code", "fields"),
    [
        ("Lead", {"FirstName": "Ann"}, "REQUIRED_FIELD_MISSING", ["LastName", "Company"]),
        ("Task", {"Subject": "x", "Bogus__c": 1}, "INVALID_FIELD", ["Bogus__c"]),
        ("Task", {"Subject": "x", "IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE",
         ["IsClosed"]),
        ("Task", {"Subject": "x" * 256}, "STRING_TOO_LONG", ["Subject"]),
        ("Task", {"WhoId": "001Hs0000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION", ["WhoId"]),
        ("Task", {"WhoId": "00QHs00000zzzzzAAA"}, "INVALID_CROSS_REFERENCE_KEY", ["WhoId"]),
        ("Task", {"WhoId": "nope"}, "MALFORMED_ID", ["WhoId"]),
        ("Task", {"Id": "00THs0000000001AAA"}, "INVALID_FIELD", ["Id"]),
    ],
)  # fmt: skip
def test_create_validation_errors(sb, sf, sobject, body, code, fields):
    before = sb.store.count(sobject)
    with pytest.raises(SalesforceMalformedRequest) as info:
        getattr(sf, sobject).create(body)
    assert info.value.status == 400
    (err,) = info.value.content
    assert err["errorCode"] == code and err["fields"] == fields and err["message"]
    assert sb.store.count(sobject) == before


def test_create_lead_defaults_and_assignment(sb, sf):
    new = sf.Lead.create({"LastName": "Lovelace", "FirstName": "Ada", "Company": "Engines"})
    row = sb.store.get("Lead", new["id"])
    assert row["Name"] == "Ada Lovelace" and row["Status"] == "Open - Not Contacted"
    assert row["OwnerId"] == ASSIGNMENT_QUEUE_ID  # assignment rules ran (no header)
    kept = sf.Lead.create(
        {"LastName": "Hopper", "Company": "Navy"}, headers={"Sforce-Auto-Assign": "FALSE"}
    )
    assert sb.store.get("Lead", kept["id"])["OwnerId"] != ASSIGNMENT_QUEUE_ID


def test_collection_create_results_in_request_order(sb, sf):
    who = lead_ids(sf, 2)
    records = [
        {"attributes": {"type": "Task"}, **task(who[0], "c1")},
        {"attributes": {"type": "Task"}, "WhoId": "bad-id"},
        {"attributes": {"type": "Task"}, **task(who[1], "c3")},
    ]
    out = sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert [r["success"] for r in out] == [True, False, True]
    assert "id" not in out[1] and out[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    found = sf.query(f"SELECT Id FROM Task WHERE Id IN ('{out[0]['id']}', '{out[2]['id']}')")
    assert found["totalSize"] == 2
    assert sb.request_log.count("POST", COLLECTION) >= 1
    assert sb.writes[-1].records == 3


def test_collection_create_all_or_none_rolls_back(sb, sf):
    who = lead_ids(sf, 1)[0]
    before = sb.store.count("Task")
    records = [
        {"attributes": {"type": "Task"}, **task(who, "a1")},
        {"attributes": {"type": "Task"}, "Subject": "y" * 300},
    ]
    out = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert out[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert out[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sb.store.count("Task") == before


def test_collection_create_limit_and_row_lock_fault(sb, sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="POST",
                   json={"records": [{"attributes": {"type": "Task"}}] * 201})  # fmt: skip
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    sb.faults.unable_to_lock_row = 1.0
    who = lead_ids(sf, 1)[0]
    out = sf.restful("composite/sobjects", method="POST",
                     json={"records": [{"attributes": {"type": "Task"}, **task(who, "f")}]})  # fmt: skip
    assert out[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"


def test_describe_task_create_only_fields(sf):
    fields = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert fields["TaskSubtype"]["createable"] and not fields["TaskSubtype"]["updateable"]
    assert fields["Description"]["type"] == "textarea" and not fields["Description"]["filterable"]
    assert [v["value"] for v in fields["Priority"]["picklistValues"]] == ["High", "Normal", "Low"]
