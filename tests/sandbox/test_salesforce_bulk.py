"""Bulk API 2.0 query jobs of the Salesforce sandbox through simple-salesforce's bulk2."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from connector.sandbox.salesforce import SalesforceSandbox

NOW = datetime(2026, 11, 1, tzinfo=UTC)
JOBS = "/services/data/v59.0/jobs/query"


@pytest.fixture(scope="module")
def sb():
    with SalesforceSandbox(contacts=300, now=NOW) as sandbox:
        yield sandbox


@pytest.fixture
def sf(sb) -> Salesforce:
    sb.bulk.in_progress_polls = 0
    return sb.client()


def rows(chunks: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for chunk in chunks:
        header, *body = list(csv.reader(io.StringIO(chunk)))
        assert header == ["Id", "Email"]
        out.extend(body)
    return out


def test_bulk2_query_returns_every_row_across_result_sets(sb, sf):
    expected = {r["Id"]: r["Email"] for r in sf.query_all("SELECT Id, Email FROM Lead")["records"]}
    assert len(expected) > 120
    sb.bulk.in_progress_polls = 1
    before = sb.request_log.count("GET", JOBS)
    chunks = list(sf.bulk2.Lead.query("SELECT Id, Email FROM Lead", max_records=50, wait=0))
    assert len(chunks) == -(-len(expected) // 50)
    got = rows(chunks)
    assert {i: e or None for i, e in got} == expected and len(got) == len(expected)
    polls_and_sets = sb.request_log.count("GET", JOBS) - before
    assert polls_and_sets == 2 + len(chunks)  # InProgress, JobComplete, then each set


def test_results_headers_locator_and_csv_quoting(sb, sf):
    job = sf.bulk2.Lead._client.create_job("query", "SELECT Id, Name, IsConverted FROM Lead")
    assert job["state"] == "UploadComplete" and job["object"] == "Lead"
    assert job["contentType"] == "CSV" and job["id"].startswith("750")
    assert sf.bulk2.Lead._client.get_job(job["id"], True)["state"] == "JobComplete"
    url = f"{sb.instance_url}{JOBS}/{job['id']}/results"
    session, headers = sf.session, sf.headers
    first = session.get(url, params={"maxRecords": 2}, headers=headers)
    assert first.headers["Content-Type"].startswith("text/csv")
    assert first.headers["Sforce-NumberOfRecords"] == "2"
    assert first.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert first.text.splitlines()[0] == '"Id","Name","IsConverted"'
    assert first.text.splitlines()[1].endswith('"false"')
    locator = first.headers["Sforce-Locator"]
    again = session.get(url, params={"maxRecords": 2, "locator": locator}, headers=headers)
    same = session.get(url, params={"maxRecords": 2, "locator": locator}, headers=headers)
    assert again.text == same.text and again.text != first.text
    last = session.get(url, params={"maxRecords": 100000}, headers=headers)
    assert last.headers["Sforce-Locator"] == "null"


def test_relationship_and_datetime_columns(sb, sf):
    soql = "SELECT Id, Account.Name, CreatedDate FROM Contact WHERE AccountId != null LIMIT 3"
    (chunk,) = list(sf.bulk2.Contact.query(soql, wait=0))
    header, *body = list(csv.reader(io.StringIO(chunk)))
    assert header == ["Id", "Account.Name", "CreatedDate"]
    assert all(r[1] for r in body)
    assert len(body) == 3 and all(r[2].endswith(".000Z") for r in body)


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT COUNT() FROM Lead",
        "SELECT Id FROM Lead LIMIT 5 OFFSET 10",
        "SELECT Nope FROM Lead",
        "SELECT Id FROM Nothing",
        "SELECT Id FROM",
    ],
)
def test_unsupported_or_invalid_soql_is_refused_at_creation(sf, soql):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.bulk2.Lead._client.create_job("query", soql)
    assert info.value.content[0]["errorCode"] == "INVALIDJOB"


def test_query_all_includes_deleted_rows(sb, sf):
    lead = sf.query("SELECT Id FROM Lead LIMIT 1")["records"][0]["Id"]
    sb.store.delete("Lead", lead)
    soql = f"SELECT Id, Email FROM Lead WHERE Id = '{lead}'"
    assert rows(list(sf.bulk2.Lead.query(soql, wait=0))) == []
    assert [r[0] for r in rows(list(sf.bulk2.Lead.query_all(soql, wait=0)))] == [lead]


def test_abort_delete_unknown_and_incomplete_jobs(sb, sf):
    client = sf.bulk2.Lead._client
    sb.bulk.in_progress_polls = 5
    job = client.create_job("query", "SELECT Id FROM Lead")
    with pytest.raises(SalesforceMalformedRequest) as info:
        client.get_query_results(job["id"])
    assert info.value.content[0]["errorCode"] == "INVALIDJOBSTATE"
    assert client.abort_job(job["id"], True)["state"] == "Aborted"
    assert client.get_job(job["id"], True)["state"] == "Aborted"
    resp = sf.session.delete(f"{sb.instance_url}{JOBS}/{job['id']}", headers=sf.headers)
    assert resp.status_code == 204
    with pytest.raises(SalesforceResourceNotFound):
        client.get_job(job["id"], True)


def test_results_need_the_jobs_api_version(sb, sf):
    job = sf.bulk2.Lead._client.create_job("query", "SELECT Id FROM Lead")
    sf.bulk2.Lead._client.get_job(job["id"], True)
    resp = sf.session.get(
        f"{sb.instance_url}/services/data/v60.0/jobs/query/{job['id']}/results",
        headers=sf.headers,
    )
    assert resp.status_code == 409


def test_limits_count_query_jobs(sb, sf):
    before = sf.limits()["DailyBulkV2QueryJobs"]["Remaining"]
    list(sf.bulk2.Lead.query("SELECT Id, Email FROM Lead LIMIT 1", wait=0))
    assert sf.limits()["DailyBulkV2QueryJobs"]["Remaining"] == before - 1


def test_bulk_requests_use_the_daily_pool(sb, sf):
    used = sb.api_used
    list(sf.bulk2.Lead.query("SELECT Id, Email FROM Lead LIMIT 1", wait=0))
    assert sb.api_used == used + 3  # create, one poll, one result set
