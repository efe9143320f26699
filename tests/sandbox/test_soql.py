"""SOQL parser and engine of the Salesforce emulator (no HTTP)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sandbox.salesforce.engine import QueryService
from connector.sandbox.salesforce.populate import populate
from connector.sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    Count,
    FieldRef,
    Not,
    SoqlError,
    parse,
)
from connector.sandbox.salesforce.store import Clock, SalesforceStore
from connector.sandbox.synthetic import generate_people

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_parse_full_statement():
    q = parse(
        "select Id, Campaign.Type from CampaignMember where (Status = 'Attended' or "
        "HasResponded = TRUE) and CreatedDate >= 2026-10-01T00:00:00.000+00:00 and "
        "LeadOrContactId NOT IN ('a', 'b') order by CreatedDate desc nulls first, Id limit 5 "
        "offset 2"
    )
    assert q.sobject == "CampaignMember"
    assert q.select[1] == FieldRef(("Campaign", "Type"), 11)
    assert isinstance(q.where, BoolOp) and q.where.op == "AND"
    assert isinstance(q.where.items[0], BoolOp) and q.where.items[0].op == "OR"
    cmp = q.where.items[1]
    assert isinstance(cmp, Comparison)
    assert cmp.value.value == datetime(2026, 10, 1, tzinfo=UTC)  # type: ignore[union-attr]
    assert q.order_by[0].descending and not q.order_by[0].nulls_last
    assert q.order_by[1].nulls_last is False
    assert (q.limit, q.offset) == (5, 2)


def test_literals_and_escapes():
    q = parse(r"SELECT Id FROM Lead WHERE LastName = 'O\'Brien\\x' AND NOT Title LIKE '%VP\%'")
    assert isinstance(q.where, BoolOp)
    first, second = q.where.items
    assert isinstance(first, Comparison) and first.value.value == "O'Brien\\x"  # type: ignore[union-attr]
    assert isinstance(second, Not)
    q2 = parse("SELECT Id FROM Lead WHERE CreatedDate > 2026-01-01T10:00:00-05:00")
    assert isinstance(q2.where, Comparison)
    assert q2.where.value.value == datetime(2026, 1, 1, 15, tzinfo=UTC)  # type: ignore[union-attr]
    assert isinstance(parse("SELECT COUNT() FROM Lead").select[0], Count)


@pytest.mark.parametrize(
    ("soql", "fragment"),
    [
        ("SELECT FROM Lead", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Lead WHERE", "<EOF>"),
        ("SELECT Id FROM Lead WHERE A = 1 AND B = 2 OR C = 3", "unexpected token: 'OR'"),
        ("SELECT Id FROM Lead WHERE Name = 'open", "unterminated string"),
        ("SELECT Id FROM Lead LIMIT -1", "unexpected token"),
        ('SELECT Id FROM Lead WHERE Name = "x"', "unexpected token"),
        ("SELECT Id, COUNT() FROM Lead", "grouped or aggregated"),
        ("SELECT Id FROM Lead WHERE CreatedDate > 2026-13-01T00:00:00Z", "dateTime"),
    ],
)
def test_malformed_queries(soql, fragment):
    with pytest.raises(SoqlError) as err:
        parse(soql)
    assert err.value.code == "MALFORMED_QUERY"
    assert fragment in err.value.message
    assert "ERROR at Row:1:Column:" in err.value.render(soql)


def test_too_long_statement():
    ids = ", ".join(f"'00Q{i:015d}'" for i in range(6000))
    with pytest.raises(SoqlError, match="100000"):
        parse(f"SELECT Id FROM Task WHERE WhoId IN ({ids})")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("SELECTFROMWHEREANDOR IdLead()=,'<>!.%_0123-:TZ\\")),
        max_size=80,
    )
)
def test_parser_only_raises_its_own_error(text):
    with contextlib.suppress(SoqlError):
        parse(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_parser_survives_any_unicode(text):
    with contextlib.suppress(SoqlError):
        parse("SELECT Id FROM Lead WHERE " + text)


@pytest.fixture(scope="module")
def qs() -> QueryService:
    store = SalesforceStore(Clock(NOW))
    populate(store, generate_people(1500, now=NOW))
    return QueryService(store)


def run(qs: QueryService, soql: str) -> dict:
    return qs.query(soql, version="59.0")


def test_where_semantics(qs):
    rows = run(qs, "SELECT Id, Status FROM Lead WHERE Status = 'marketing QUALIFIED'")["records"]
    assert rows and all(r["Status"] == "Marketing Qualified" for r in rows)
    neq = run(qs, "SELECT COUNT() FROM Lead WHERE Title != 'CEO'")["totalSize"]
    eq = run(qs, "SELECT COUNT() FROM Lead WHERE Title = 'CEO'")["totalSize"]
    total = run(qs, "SELECT COUNT() FROM Lead")["totalSize"]
    assert neq + eq == total  # null titles are kept by != (SOQL semantics)
    like = run(qs, "SELECT Title FROM Lead WHERE Title LIKE 'vp%'")["records"]
    assert like and all(r["Title"].lower().startswith("vp") for r in like)
    since = run(qs, "SELECT SystemModstamp FROM Lead WHERE SystemModstamp > 2026-10-25T00:00:00Z")
    assert all(r["SystemModstamp"] > "2026-10-25T00:00:00.000+0000" for r in since["records"])


def test_order_limit_and_in(qs):
    recs = run(qs, "SELECT Id, CreatedDate FROM Lead ORDER BY CreatedDate DESC LIMIT 10")["records"]
    stamps = [r["CreatedDate"] for r in recs]
    assert len(stamps) == 10 and stamps == sorted(stamps, reverse=True)
    ids = [r["Id"] for r in recs[:3]]
    quoted = ", ".join(f"'{i}'" for i in ids) + ", '00QHs0000009999ZZZ'"
    got = run(qs, f"SELECT Id FROM Lead WHERE Id IN ({quoted})")["records"]
    assert sorted(r["Id"] for r in got) == sorted(ids)
    short = ids[0][:15]  # 15-char ids match their 18-char form
    assert run(qs, f"SELECT COUNT() FROM Lead WHERE Id = '{short}'")["totalSize"] == 1


def test_relationship_fields(qs):
    rec = run(qs, "SELECT Id, Campaign.Type, Campaign.Name FROM CampaignMember "
                  "WHERE Campaign.Type = 'Webinar' LIMIT 1")["records"][0]  # fmt: skip
    assert rec["Campaign"]["Type"] == "Webinar"
    assert rec["Campaign"]["attributes"]["type"] == "Campaign"
    c = run(qs, "SELECT Id, Account.NumberOfEmployees, Account.Industry FROM Contact LIMIT 1")
    assert "NumberOfEmployees" in c["records"][0]["Account"]
    who = run(qs, "SELECT WhoId FROM Task LIMIT 3")["records"]
    ids = ", ".join(f"'{r['WhoId']}'" for r in who)
    tasks = run(qs, f"SELECT Id, WhoId FROM Task WHERE WhoId IN ({ids})")["records"]
    assert {r["WhoId"] for r in tasks} == {r["WhoId"] for r in who}


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Foo FROM Lead", "INVALID_FIELD", "No such column 'Foo' on entity 'Lead'"),
        ("SELECT Id FROM Opportunityx", "INVALID_TYPE", "sObject type 'Opportunityx'"),
        ("SELECT Id FROM Lead WHERE CreatedDate > '2026-01-01'", "INVALID_FIELD", "dateTime"),
        ("SELECT Id FROM Lead WHERE Email = 5", "INVALID_FIELD", "enclosed in quotes"),
        ("SELECT Id FROM Lead WHERE MQLSync_Reasons__c = 'x'", "INVALID_FIELD", "filtered"),
        ("SELECT Id, id FROM Lead", "MALFORMED_QUERY", "duplicate field"),
        ("SELECT Bogus.Name FROM Contact", "INVALID_FIELD", "relationship 'Bogus'"),
    ],
)
def test_semantic_errors(qs, soql, code, fragment):
    with pytest.raises(SoqlError) as err:
        run(qs, soql)
    assert err.value.code == code
    assert fragment in err.value.message


def test_paging_locator(qs):
    first = qs.query("SELECT Id FROM CampaignMember", version="59.0", batch=200)
    assert not first["done"] and len(first["records"]) == 200
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    second = qs.more(locator, version="59.0")
    assert second["records"][0]["Id"] != first["records"][0]["Id"]
    with pytest.raises(SoqlError) as err:
        qs.more("01gHs00000000zzAAA-200", version="59.0")
    assert err.value.code == "INVALID_QUERY_LOCATOR"
