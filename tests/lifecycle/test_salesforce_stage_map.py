"""The Salesforce Lead Status of each stage comes from the mapping, like HubSpot's values:
an org whose statuses are named differently is configured, not patched."""

from __future__ import annotations

from typing import Any

import pytest

from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.client import SalesforceCalls
from connector.crm.salesforce.pull import Schema
from connector.mapping.loader import MappingInvalid, parse_mapping
from connector.mapping.schema import MappingSpec
from tests.conftest import MAPPINGS

BASE = (MAPPINGS / "b2b-saas.toml").read_text()


def spec(extra: str) -> MappingSpec:
    return parse_mapping(BASE + "\n" + extra, "org.toml")


def adapter(mapping: MappingSpec) -> SalesforceAdapter:
    calls = SalesforceCalls("https://org.invalid", "00D!x", limiter=RateLimiter(10, 1.0))
    return SalesforceAdapter(calls, mapping)  # no request is sent building it


def lead_schema() -> Schema:
    return Schema("Lead", (), frozenset(), {}, "Status", (), {}, {})


def stage(a: SalesforceAdapter, status: str) -> Any:
    row = {"Status": status}
    return a.reader.stage(lead_schema(), "00Q000000000001AAA", row)


def test_defaults_are_a_new_orgs_statuses():
    a = adapter(spec(""))
    assert a.stage_values == {"mql": "Marketing Qualified", "lead": "Open - Not Contacted"}
    assert a.protected == ("Working - Contacted", "Closed - Converted")
    assert stage(a, "Working - Contacted") == "sal"
    assert stage(a, "Closed - Converted") == "sql"
    assert stage(a, "Marketing Qualified") == "mql"
    assert stage(a, "Nurture") == "lead"  # any other status


def test_an_org_with_its_own_status_names():
    a = adapter(
        spec(
            "[lifecycle.stages.salesforce]\n"
            'lead = "New"\nmql = "MQL"\nsal = "Accepted"\nsql = "Qualified"\n'
            'opportunity = "Converted"\n'
        )
    )
    assert a.stage_values == {"mql": "MQL", "lead": "New"}
    assert a.protected == ("Accepted", "Qualified", "Converted")
    assert [stage(a, s) for s in ("MQL", "Accepted", "Qualified", "Converted", "New")] == [
        "mql", "sal", "sql", "opportunity", "lead",
    ]  # fmt: skip
    # the old default names are now just other statuses
    assert stage(a, "Working - Contacted") == "lead"


def test_the_older_single_keys_still_win():
    a = adapter(spec('[lifecycle]\nsalesforce_mql_status = "Hot"\n'))
    assert a.stage_values == {"mql": "Hot", "lead": "Open - Not Contacted"}
    assert stage(a, "Hot") == "mql"


def test_a_map_without_the_mql_status_is_refused_naming_the_section():
    with pytest.raises(MappingInvalid, match=r"lifecycle.stages.salesforce\] needs mql:"):
        spec('[lifecycle.stages.salesforce]\nmql = ""\n')


def test_one_key_changes_one_stage_and_keeps_the_other_defaults():
    a = adapter(spec('[lifecycle.stages.salesforce]\nsal = "Accepted"\n'))
    assert a.stage_values == {"mql": "Marketing Qualified", "lead": "Open - Not Contacted"}
    assert a.protected == ("Accepted", "Closed - Converted")
    hubspot = spec('[lifecycle.stages.hubspot]\nmql = "mql_custom"\n').lifecycle.stages.hubspot
    assert (hubspot.mql, hubspot.lead, hubspot.customer) == ("mql_custom", "lead", "customer")
