"""Salesforce write-back and provisioning against the emulator through real simple-salesforce.

`DirectCalls` stands in for the client wrapper (`SalesforceCalls`): it counts calls and, like
the wrapper, re-raises simple-salesforce's errors as mqlsync's `from` them; no rate limiting.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connector.crm.base import Patch
from connector.crm.salesforce.fields import field_specs, object_specs, sf_value
from connector.crm.salesforce.provision import PACKAGE_NAME, provision
from connector.crm.salesforce.write import CONVERTED, lead_stage_values, write
from connector.errors import FatalSyncError
from connector.sandbox.faults import Faults
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.store import ASSIGNMENT_QUEUE_ID

T = TypeVar("T")
NOW = datetime(2026, 11, 1, tzinfo=UTC)
COLLECTIONS = "/services/data/v59.0/composite/sobjects"
COMPOSITE = "/services/data/v59.0/composite"
TOOLING = "/services/data/v59.0/tooling/sobjects/CustomField"
STAGES = lead_stage_values("Marketing Qualified", "Open - Not Contacted")
MD = "{http://soap.sforce.com/2006/04/metadata}"


class DirectCalls:
    """The minimal `SalesforceCallsLike`: call once, count, wrap errors as the wrapper does."""

    def __init__(self, sf: Salesforce) -> None:
        self.sf = sf
        self.calls = 0

    def call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        self.calls += 1
        try:
            return fn(**kwargs)
        except SalesforceError as exc:
            raise FatalSyncError(f"{what}: Salesforce answered HTTP {exc.status}") from exc


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(contacts=1500, now=NOW, faults=Faults(seed=5)) as sandbox:
        yield sandbox


@pytest.fixture
def calls(sb: SalesforceSandbox) -> DirectCalls:
    sb.faults.unable_to_lock_row = 0.0
    return DirectCalls(sb.client())


_taken = 0


def open_leads(calls: DirectCalls, n: int) -> list[str]:
    """`n` unconverted "Open - Not Contacted" leads no other test of this module used."""
    global _taken
    soql = (
        "SELECT Id FROM Lead WHERE IsConverted = false AND Status = 'Open - Not Contacted' "
        f"ORDER BY CreatedDate LIMIT {n} OFFSET {_taken}"
    )
    _taken += n
    ids = [r["Id"] for r in calls.sf.query(soql)["records"]]
    assert len(ids) == n
    return ids


def patches_for(ids: list[str], obj: str = "lead", **values: Any) -> list[Patch]:
    return [Patch(obj, rid, values) for rid in ids]


def collection_writes(sb: SalesforceSandbox) -> int:
    """sObject Collections updates, sent alone or inside composite requests."""
    return sum(1 for w in sb.writes if w.method == "PATCH" and w.path == COLLECTIONS)


def composite_calls(sb: SalesforceSandbox) -> int:
    return sb.request_log.count("POST", COMPOSITE)


# ---------------------------------------------------------------------------------- write
def test_201_records_are_two_updates_in_one_api_call_with_echo_times(sb, calls):
    ids = open_leads(calls, 201)
    before, before_writes, used = composite_calls(sb), len(sb.writes), sb.api_used
    scored = "2026-10-31T09:30:00.000Z"
    outcomes = write(
        calls, "lead", patches_for(ids, fit=37, score="52.0", grade="B2", scored_at=scored), STAGES
    )
    # one composite request: two sObject Collections updates, then the SystemModstamp read
    assert composite_calls(sb) - before == 1 and calls.calls == 1 and sb.api_used == used + 1
    assert [w.records for w in sb.writes[before_writes:]] == [200, 1]
    assert [o.record_id for o in outcomes] == ids and all(o.error is None for o in outcomes)
    row = sb.store.get("Lead", ids[200])
    assert row is not None
    assert (row["MQLSync_Fit__c"], row["MQLSync_Score__c"], row["MQLSync_Grade__c"]) == (
        37,
        52,
        "B2",
    )
    assert row["MQLSync_Scored_At__c"] == datetime(2026, 10, 31, 9, 30, tzinfo=UTC)
    assert outcomes[200].modified_at == row["SystemModstamp"]


def test_a_smaller_update_size_still_packs_three_updates_in_one_call(sb, calls):
    """`[salesforce] batch_write_size` sets the records per sObject Collections update."""
    ids = open_leads(calls, 120)
    before, used = len(sb.writes), sb.api_used
    outcomes = write(calls, "lead", patches_for(ids, fit=12), STAGES, collection=50)
    assert [w.records for w in sb.writes[before:]] == [50, 50, 20]
    assert calls.calls == 1 and sb.api_used == used + 1
    assert all(o.error is None and o.modified_at is not None for o in outcomes)


def test_per_record_errors_retriable_or_not(sb, calls):
    a, b, c, d = open_leads(calls, 4)
    converted = calls.sf.query("SELECT Id FROM Lead WHERE IsConverted = true LIMIT 1")
    conv = converted["records"][0]["Id"]
    patches = [
        Patch("lead", a, {"fit": 10}),
        Patch("lead", b, {"recycle_reason": "x" * 300}),  # Text(255): STRING_TOO_LONG
        Patch("lead", c, {"grade": "Z9"}),  # restricted picklist
        Patch("lead", conv, {"fit": 10}),
    ]
    out = write(calls, "lead", patches, STAGES)
    assert out[0].error is None and out[0].modified_at is not None
    assert out[1].error is not None and out[1].error.startswith("STRING_TOO_LONG: ")
    assert not out[1].retriable
    assert out[2].error is not None
    assert out[2].error.startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: ")
    assert not out[2].retriable
    assert (out[3].error, out[3].retriable) == (CONVERTED, False)
    sb.faults.unable_to_lock_row = 1.0
    locked = write(calls, "lead", [Patch("lead", d, {"fit": 11})], STAGES)
    sb.faults.unable_to_lock_row = 0.0
    assert locked[0].error is not None and locked[0].error.startswith("UNABLE_TO_LOCK_ROW: ")
    assert locked[0].retriable and locked[0].modified_at is None


def test_whole_request_400_isolates_the_bad_record(sb, calls):
    ids = open_leads(calls, 5)
    patches = patches_for(ids, fit=21)
    patches[3] = Patch("lead", ids[3], {"scored_at": "not a time"})  # JSON parser refuses
    before = collection_writes(sb)
    out = write(calls, "lead", patches, STAGES)
    assert [o.error is None for o in out] == [True, True, True, False, True]
    assert out[3].error is not None and out[3].error.startswith("JSON_PARSER_ERROR")
    assert not out[3].retriable
    # 5 fails → [0,1] ok; [2,3,4] fails → [2] ok; [3,4] fails → [3] fails alone, [4] ok
    assert collection_writes(sb) - before == 7
    assert all(sb.store.get("Lead", i)["MQLSync_Fit__c"] == 21 for i in ids if i != ids[3])


def test_missing_field_stops_the_run(calls):
    (rid,) = open_leads(calls, 1)
    with pytest.raises(FatalSyncError, match="mqlsync provision"):
        write(calls, "lead", [Patch("lead", rid, {"fit": 1})], STAGES, names={"fit": "Nope__c"})


def test_lead_writes_do_not_rerun_assignment(sb, calls):
    (rid,) = open_leads(calls, 1)
    owner = sb.store.get("Lead", rid)["OwnerId"]
    runs, before = sb.store.assignment_runs, len(sb.writes)
    write(calls, "lead", [Patch("lead", rid, {"fit": 5, "stage": "mql"})], STAGES)
    lead_writes = sb.writes[before:]
    assert lead_writes and all(w.auto_assign_header == "FALSE" for w in lead_writes)
    assert sb.store.assignment_runs == runs
    assert sb.store.get("Lead", rid)["OwnerId"] == owner != ASSIGNMENT_QUEUE_ID


def test_lead_stage_is_status_and_recycle_is_one_request(sb, calls):
    (rid,) = open_leads(calls, 1)
    promoted = write(
        calls, "lead", [Patch("lead", rid, {"stage": "mql", "mql_at": NOW.isoformat()})], STAGES
    )
    assert promoted[0].error is None
    assert sb.store.get("Lead", rid)["Status"] == "Marketing Qualified"
    before = collection_writes(sb)
    recycle = Patch(
        "lead",
        rid,
        {"stage": "lead", "recycle_reason": "stale", "recycled_at": "2026-11-01T00:00:00.000Z"},
        stage_backward=True,
    )
    assert write(calls, "lead", [recycle], STAGES)[0].error is None
    assert collection_writes(sb) - before == 1
    again = write(calls, "lead", [recycle], STAGES)[0]  # no longer at MQL: dropped
    assert again.error is not None and "no longer at MQL" in again.error
    assert collection_writes(sb) - before == 1
    row = sb.store.get("Lead", rid)
    assert (row["Status"], row["MQLSync_Recycle_Reason__c"]) == ("Open - Not Contacted", "stale")
    # the mapping's MQL status is used, not a built-in one
    custom = lead_stage_values("Working - Contacted", "Open - Not Contacted")
    write(calls, "lead", [Patch("lead", rid, {"stage": "mql"})], custom)
    assert sb.store.get("Lead", rid)["Status"] == "Working - Contacted"


def test_sales_status_is_never_overwritten(sb, calls):
    a, b = open_leads(calls, 2)
    sb.store.touch("Lead", a, Status="Working - Contacted")
    before = len(sb.writes)
    out = write(calls, "lead", patches_for([a, b], fit=44, stage="mql"), STAGES)
    assert out[0].error is not None and "'Working - Contacted'" in out[0].error
    assert not out[0].retriable and out[1].error is None
    row = sb.store.get("Lead", a)
    assert (row["Status"], row["MQLSync_Fit__c"]) == ("Working - Contacted", None)
    assert sb.store.get("Lead", b)["Status"] == "Marketing Qualified"
    assert [w.records for w in sb.writes[before:]] == [1]
    # a rejected MQL ("Closed - Not Converted") is recycled: status back to open
    sb.store.touch("Lead", b, Status="Closed - Not Converted")
    back = Patch("lead", b, {"stage": "lead", "recycle_reason": "rejected"}, stage_backward=True)
    assert write(calls, "lead", [back], STAGES)[0].error is None
    assert sb.store.get("Lead", b)["Status"] == "Open - Not Contacted"


def test_contact_stage_field(sb, calls):
    rows = calls.sf.query("SELECT Id FROM Contact ORDER BY CreatedDate LIMIT 2")["records"]
    a, b = (r["Id"] for r in rows)  # the emulator's contacts are all past MQL (converted)
    sb.store.touch("Contact", a, MQLSync_Stage__c="lead")
    sb.store.touch("Contact", b, MQLSync_Stage__c="sql")
    out = write(calls, "contact", patches_for([a, b], "contact", stage="mql", fit=3), {})
    assert (
        out[0].error is None and out[0].modified_at == sb.store.get("Contact", a)["SystemModstamp"]
    )
    assert sb.store.get("Contact", a)["MQLSync_Stage__c"] == "mql"
    assert out[1].error is not None and "past MQL" in out[1].error
    assert sb.store.get("Contact", b)["MQLSync_Stage__c"] == "sql"
    recycled = Patch("contact", a, {"stage": "lead"}, stage_backward=True)
    before = collection_writes(sb)
    assert write(calls, "contact", [recycled], {})[0].error is None
    assert collection_writes(sb) - before == 1
    assert sb.store.get("Contact", a)["MQLSync_Stage__c"] == "lead"
    stale = write(calls, "contact", [recycled], {})[0]
    assert stale.error is not None and "no longer mql" in stale.error


def test_value_formats():
    assert sf_value("fit", "35.0") == 35 and sf_value("score", 7) == 7
    assert sf_value("mql_at", "2026-10-30T12:00:00+00:00") == "2026-10-30T12:00:00.000Z"
    assert sf_value("reasons", None) is None
    names = {s.field: s.name for s in field_specs()}
    assert names["fit"] == "MQLSync_Fit__c" and names["mql_at"] == "MQLSync_MQL_At__c"
    assert names["sla"] == "MQLSync_SLA__c" and names["model"] == "MQLSync_Model__c"
    kinds = {s.field: s.type for s in field_specs()}
    assert kinds["reasons"] == "LongTextArea" and kinds["grade"] == "Picklist"


# ------------------------------------------------------------------------------ provision
def test_provision_creates_once_then_reports_existing():
    with SalesforceSandbox(contacts=30, now=NOW, provisioned=False) as sandbox:
        calls = DirectCalls(sandbox.client())
        first = provision(calls)
        expected = len(object_specs("lead")) + len(object_specs("contact"))
        assert len(first.created) == expected == 27 and not first.problems
        assert sandbox.request_log.count("POST", TOOLING) == 27
        grade = next(
            f for f in calls.sf.Lead.describe()["fields"] if f["name"] == "MQLSync_Grade__c"
        )
        assert grade["restrictedPicklist"] and len(grade["picklistValues"]) == 16
        second = provision(calls)
        assert not second.created and not second.problems and len(second.existing) == 27
        assert sandbox.request_log.count("POST", TOOLING) == 27
        (rid,) = [
            r["Id"]
            for r in calls.sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")[
                "records"
            ]
        ]
        assert (
            write(calls, "lead", [Patch("lead", rid, {"grade": "A1", "stage": "mql"})], STAGES)[
                0
            ].error
            is None
        )


def test_provision_checks_types_and_lead_status(sb, calls):
    report = provision(calls)  # the pre-provisioned org matches the specs
    assert not report.created and not report.problems and len(report.existing) == 27
    statuses = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted"]
    table = sb.store.tables["Contact"]
    original = table.obj.field("MQLSync_SLA__c")
    sb.store.set_picklist("Lead", "Status", statuses)
    try:
        table.replace_field(original.__class__("MQLSync_SLA__c", "double", "MQLSync SLA"))
        report = provision(calls, dry_run=True)
    finally:
        sb.store.set_picklist(
            "Lead", "Status", [*statuses, "Marketing Qualified", "Closed - Not Converted"]
        )
        table.replace_field(original)
    assert len(report.problems) == 2, report.problems
    status_problem = next(p for p in report.problems if "Lead Status" in p)
    assert "'Marketing Qualified'" in status_problem and "Values" in status_problem
    type_problem = next(p for p in report.problems if "MQLSync_SLA__c" in p)
    assert "Contact.MQLSync_SLA__c exists as type double, expected Text(255)" in type_problem


def test_provision_writes_a_package_when_tooling_is_refused(tmp_path: Path):
    with SalesforceSandbox(
        contacts=30, now=NOW, provisioned=False, tooling_allowed=False
    ) as sandbox:
        calls = DirectCalls(sandbox.client())
        report = provision(calls, package_dir=tmp_path)
        assert not report.created and len(report.problems) == 1
        problem = report.problems[0]
        root = tmp_path / PACKAGE_NAME
        assert str(root) in problem and "Customize Application" in problem
        assert "MQLSync_Fields" in problem and "Lead.MQLSync_Fit__c" in problem
        assert sandbox.request_log.count("POST", TOOLING) == 1  # no retry per field
        package = ET.parse(root / "package.xml").getroot()
        members = [m.text for t in package.iter(f"{MD}types") for m in t.iter(f"{MD}members")]
        assert len(members) == 28 and "Contact.MQLSync_Stage__c" in members
        lead = ET.parse(root / "objects" / "Lead.object").getroot()
        fields = {f.findtext(f"{MD}fullName"): f for f in lead.iter(f"{MD}fields")}
        assert len(fields) == 13
        assert fields["MQLSync_Fit__c"].findtext(f"{MD}precision") == "18"
        assert fields["MQLSync_Reasons__c"].findtext(f"{MD}type") == "LongTextArea"
        grade = fields["MQLSync_Grade__c"]
        assert grade.findtext(f"{MD}valueSet/{MD}restricted") == "true"
        perms = ET.parse(root / "permissionsets" / "MQLSync_Fields.permissionset").getroot()
        assert len(list(perms.iter(f"{MD}fieldPermissions"))) == 27
        with zipfile.ZipFile(f"{root}.zip") as archive:
            assert "package.xml" in archive.namelist()
        # once an admin grants the permission, the same command finishes the job
        sandbox.tooling_allowed = True
        again = provision(calls, package_dir=tmp_path)
        assert len(again.created) == 27 and not again.problems


def test_through_the_real_client_wrapper(tmp_path: Path):
    """The shared `SalesforceCalls` satisfies `SalesforceCallsLike`: its error classes keep
    the simple-salesforce error as the cause, so refusals and per-record errors still read."""
    from connector.crm.ratelimit import RateLimiter
    from connector.crm.salesforce.client import SalesforceCalls

    with SalesforceSandbox(
        contacts=30, now=NOW, provisioned=False, tooling_allowed=False
    ) as sandbox:
        real = SalesforceCalls(
            sandbox.instance_url,
            sandbox.session_id,
            ca_bundle=sandbox.ca_path,
            timeout=10,
            limiter=RateLimiter(100_000, 10.0),
            attempts=2,
            max_wait=0.01,
        )
        refused = provision(real, package_dir=tmp_path)
        assert len(refused.problems) == 1 and "Customize Application" in refused.problems[0]
        sandbox.tooling_allowed = True
        assert len(provision(real).created) == 27
        (rid,) = [
            r["Id"]
            for r in real.sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")[
                "records"
            ]
        ]
        before = real.calls
        out = write(real, "lead", [Patch("lead", rid, {"fit": 9, "grade": "A9"})], STAGES)
        assert out[0].error is not None and out[0].error.startswith("INVALID_OR_NULL_FOR_")
        assert real.calls - before == 1  # a failed record needs no modstamp read
