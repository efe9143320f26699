"""Emulator metadata behaviour mqlsync's Salesforce provisioning relies on: restricted
picklists (pre-provisioned and made through the Tooling API), a refused Tooling API, and an
admin editing the Lead Status picklist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from simple_salesforce.exceptions import SalesforceRefusedRequest

from connector.sandbox.salesforce import SalesforceSandbox

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TOOLING = "tooling/sobjects/CustomField"


def _grade_body(obj: str = "Lead") -> dict[str, object]:
    values = [{"fullName": v, "default": False, "label": v} for v in ("A1", "B2")]
    return {
        "FullName": f"{obj}.MQLSync_Grade__c",
        "Metadata": {
            "label": "MQLSync Grade",
            "type": "Picklist",
            "valueSet": {"restricted": True, "valueSetDefinition": {"value": values}},
        },
    }


def _field(sf, obj: str, name: str) -> dict:
    return next(f for f in getattr(sf, obj).describe()["fields"] if f["name"] == name)


def _write(sf, rid: str, **values):
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": rid, **values}]}
    return sf.restful("composite/sobjects", method="PATCH", json=body)[0]


def test_provisioned_enumerations_are_restricted_picklists():
    with SalesforceSandbox(contacts=40, now=NOW) as sb:
        sf = sb.client()
        grade = _field(sf, "Lead", "MQLSync_Grade__c")
        assert grade["type"] == "picklist" and grade["restrictedPicklist"] is True
        assert [v["value"] for v in grade["picklistValues"]][:2] == ["A1", "A2"]
        assert _field(sf, "Contact", "MQLSync_Model__c")["type"] == "string"
        rid = sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")["records"][0]["Id"]
        assert _write(sf, rid, MQLSync_Grade__c="B3", MQLSync_Route__c=None)["success"]
        bad = _write(sf, rid, MQLSync_Temperature__c="lukewarm")
        assert bad["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_tooling_picklist_refusal_and_status_values():
    with SalesforceSandbox(contacts=40, now=NOW, provisioned=False, tooling_allowed=False) as sb:
        sf = sb.client()
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.restful(TOOLING, method="POST", json=_grade_body())
        assert err.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
        assert "MQLSync_Grade__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
        sb.tooling_allowed = True
        assert sf.restful(TOOLING, method="POST", json=_grade_body())["success"]
        grade = _field(sf, "Lead", "MQLSync_Grade__c")
        assert grade["restrictedPicklist"] and [v["value"] for v in grade["picklistValues"]] == [
            "A1",
            "B2",
        ]
        rid = sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")["records"][0]["Id"]
        assert not _write(sf, rid, MQLSync_Grade__c="C4")["success"]
        sb.store.set_picklist("Lead", "Status", ["Open - Not Contacted", "Working - Contacted"])
        status = _field(sf, "Lead", "Status")
        assert "Marketing Qualified" not in [v["value"] for v in status["picklistValues"]]
        refused = _write(sf, rid, Status="Marketing Qualified")
        assert refused["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
