"""SLA breach tasks (issue 6, opt-in) created in the HubSpot sandbox through the adapter code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.crm.base import SlaBreach
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.hubspot.tasks import SlaTask, create_sla_tasks
from connector.crm.ratelimit import RateLimiter
from connector.mapping.loader import load_mapping
from connector.sandbox.hubspot import HubSpotSandbox
from tests.conftest import MAPPINGS

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
MQL_AT = NOW - timedelta(hours=30)
CREATE = "/crm/v3/objects/tasks/batch/create"
PROPS = [
    "hs_task_subject", "hs_task_body", "hs_timestamp", "hs_task_status",
    "hs_task_priority", "hs_task_type", "hubspot_owner_id",
]  # fmt: skip


@pytest.fixture(scope="module")
def sb():
    with HubSpotSandbox(contacts=200, seed=9) as s:
        yield s


@pytest.fixture
def calls(sb):
    return HubSpotCalls(
        sb.token, base_url=sb.base_url, timeout=10, limiter=RateLimiter(100_000, 10.0)
    )


def read_task(calls, task_id):
    return calls.client.crm.objects.tasks.basic_api.get_by_id(task_id, properties=PROPS)


def tasks_of(calls, contact_id):
    page = calls.client.crm.associations.v4.batch_api.get_page(
        from_object_type="contacts",
        to_object_type="tasks",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": contact_id}]},
    )
    return [str(t.to_object_id) for row in page.results for t in row.to]


def test_150_tasks_take_two_batch_calls(sb, calls):
    tasks = [
        SlaTask(str(i), f"9{i:03d}", ("first_touch",), MQL_AT, "+30 demo request")
        for i in range(1, 151)
    ]
    before_calls, before_log = calls.calls, sb.request_log.count("POST", CREATE)
    assert create_sla_tasks(calls, tasks, now=NOW) == 150
    assert calls.calls - before_calls == 2
    sizes = [e.inputs for e in sb.request_log if e.path == CREATE][-2:]
    assert sb.request_log.count("POST", CREATE) - before_log == 2 and sizes == [100, 50]
    # Every contact got its own task, assigned to its owner.
    linked = tasks_of(calls, "150")
    assert len(linked) >= 1
    assert read_task(calls, linked[-1]).properties["hubspot_owner_id"] == "9150"


def test_task_properties_are_as_documented(calls):
    task = SlaTask("42", "777", ("first_touch", "disposition"), MQL_AT, "+25 VP title; <demo>")
    assert create_sla_tasks(calls, [task], now=NOW) == 1
    props = read_task(calls, tasks_of(calls, "42")[-1]).properties
    assert props["hs_task_subject"] == (
        "MQL SLA breached: first_touch, disposition — follow up now"
    )
    body = props["hs_task_body"]
    assert "first_touch, disposition" in body
    assert "2026-03-01 09:30 UTC" in body  # when it became an MQL
    assert "+25 VP title; &lt;demo&gt;" in body  # reasons, HTML-escaped
    assert props["hs_timestamp"] == "2026-03-02T15:30:00.000Z"  # due now
    assert props["hubspot_owner_id"] == "777"
    assert (props["hs_task_priority"], props["hs_task_status"], props["hs_task_type"]) == (
        "HIGH", "NOT_STARTED", "TODO",
    )  # fmt: skip


def test_adapter_delegates_and_leaves_unowned_tasks_unassigned(calls):
    adapter = HubSpotAdapter(calls, load_mapping(MAPPINGS / "b2b-saas.toml"))
    breaches = [
        SlaBreach("11", None, ("handoff",), MQL_AT, ""),
        SlaBreach("12", "31", ("first_touch",), MQL_AT, "+10 pricing page"),
    ]
    before = calls.calls
    assert adapter.notify_sla_breaches("contact", breaches, now=NOW) == 2
    assert calls.calls - before == 1
    unowned = read_task(calls, tasks_of(calls, "11")[-1]).properties
    assert unowned["hubspot_owner_id"] is None
    assert unowned["hs_task_subject"] == "MQL SLA breached: handoff — follow up now"
    assert "Top score reasons" not in unowned["hs_task_body"]
    assert adapter.notify_sla_breaches("contact", []) == 0 and calls.calls - before == 1
