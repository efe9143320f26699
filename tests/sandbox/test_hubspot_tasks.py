"""Tasks batch create in the HubSpot sandbox, driven through the OFFICIAL SDK unchanged."""

from __future__ import annotations

import json

import hubspot
import pytest
from hubspot.crm.objects.tasks import ApiException

from connector.sandbox.hubspot import HubSpotSandbox


@pytest.fixture(scope="module")
def sb():
    with HubSpotSandbox(contacts=60, seed=5) as s:
        yield s


@pytest.fixture(scope="module")
def hs(sb):
    return hubspot.Client.create(access_token=sb.token, host=sb.base_url)


def task(contact_id: str = "7", type_id: int = 204, **props):
    properties = {"hs_task_subject": "Call back", "hs_timestamp": "2026-01-05T09:00:00Z", **props}
    return {
        "properties": properties,
        "associations": [
            {
                "to": {"id": contact_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
            }
        ],
    }


def create(hs, inputs):
    return hs.crm.objects.tasks.batch_api.create_with_http_info(
        batch_input_simple_public_object_batch_input_for_create={"inputs": inputs}
    )


def task_count(sb) -> int:
    return sb.store.tables["tasks"].size


def contact_tasks(hs, contact_id: str) -> dict[str, list[int]]:
    page = hs.crm.associations.v4.batch_api.get_page(
        from_object_type="contacts",
        to_object_type="tasks",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": contact_id}]},
    )
    return {
        str(t.to_object_id): [a.type_id for a in t.association_types]
        for row in page.results
        for t in row.to
    }


def test_batch_create_answers_201_stores_properties_and_associates(sb, hs):
    before = hs.crm.contacts.basic_api.get_by_id("7").updated_at
    data, status, _ = create(
        hs,
        [
            task(
                hs_task_body="<p>Ring them</p>",
                hs_task_priority="HIGH",
                hubspot_owner_id="4242",
                hs_task_type="CALL",
            ),
            task("8", hs_task_subject="Second"),
        ],
    )
    assert status == 201 and data.status == "COMPLETE" and len(data.results) == 2
    first, second = data.results
    assert first.archived is False and first.created_at == first.updated_at
    props = first.properties
    assert props["hs_task_subject"] == "Call back"
    assert props["hs_task_body"] == "<p>Ring them</p>"
    assert props["hs_timestamp"] == "2026-01-05T09:00:00.000Z"
    assert props["hs_task_status"] == "NOT_STARTED"  # HubSpot's default
    assert (props["hs_task_priority"], props["hubspot_owner_id"]) == ("HIGH", "4242")
    assert props["hs_task_type"] == "CALL"
    # Stored, not just echoed; and visible from the contact through associations v4.
    got = hs.crm.objects.tasks.basic_api.get_by_id(
        first.id, properties=["hs_task_subject", "hubspot_owner_id", "hs_task_priority"]
    )
    assert got.properties["hubspot_owner_id"] == "4242"
    assert contact_tasks(hs, "7")[first.id] == [203]  # contact→task
    assert second.id in contact_tasks(hs, "8")
    back = hs.crm.associations.v4.batch_api.get_page(
        from_object_type="tasks",
        to_object_type="contacts",
        batch_input_public_fetch_associations_batch_request={"inputs": [{"id": first.id}]},
    )
    link = back.results[0].to[0]
    assert str(link.to_object_id) == "7" and link.association_types[0].type_id == 204
    # Associating an activity updates the contact (HubSpot refreshes its activity rollups).
    assert hs.crm.contacts.basic_api.get_by_id("7").updated_at > before


def test_task_without_associations_is_created_unlinked(sb, hs):
    data, status, _ = create(hs, [{"properties": {"hs_timestamp": "1767600000000"}}])
    assert status == 201
    back = hs.crm.associations.v4.batch_api.get_page(
        from_object_type="tasks",
        to_object_type="contacts",
        batch_input_public_fetch_associations_batch_request={
            "inputs": [{"id": data.results[0].id}]
        },
    )
    assert back.results == [] and back.errors[0].category == "OBJECT_NOT_FOUND"


def test_more_than_100_inputs_is_rejected_whole(sb, hs):
    before = task_count(sb)
    with pytest.raises(ApiException) as err:
        create(hs, [task() for _ in range(101)])
    assert err.value.status == 400
    assert "101" in json.loads(err.value.body)["message"]
    assert task_count(sb) == before


@pytest.mark.parametrize(
    ("inputs", "expect"),
    [
        ([task(), task(no_such_property="x")], "PROPERTY_DOESNT_EXIST"),
        ([task(hs_task_priority="URGENT")], "INVALID_OPTION"),
        ([{"properties": {"hs_task_subject": "no due date"}}], "REQUIRED_PROPERTY"),
        ([task(type_id=1)], "INVALID_ASSOCIATION_TYPE"),
        ([task(contact_id="999999")], "INVALID_OBJECT_IDS"),
    ],
)
def test_invalid_input_rejects_the_batch_and_creates_nothing(sb, hs, inputs, expect):
    before = task_count(sb)
    with pytest.raises(ApiException) as err:
        create(hs, inputs)
    assert err.value.status == 400
    assert expect in err.value.body
    assert task_count(sb) == before


def test_contacts_cannot_be_batch_created(hs):
    with pytest.raises(Exception) as err:  # the contacts module has its own ApiException
        hs.crm.contacts.batch_api.create(
            batch_input_simple_public_object_batch_input_for_create={
                "inputs": [{"properties": {"email": "a@b.c"}, "associations": []}]
            }
        )
    assert getattr(err.value, "status", None) == 400
