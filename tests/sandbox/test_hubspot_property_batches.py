"""The sandbox's properties batch endpoints, driven through the official SDK's `batch_api`.

`POST /crm/v3/properties/{objectType}/batch/read` and `.../batch/create` as the SDK sends
and parses them: results for what exists or was made, a 207 with one error per input that
was not, naming it; more than 100 inputs is a 400.
"""

from __future__ import annotations

import hubspot
import pytest
from hubspot.crm.properties import ApiException

from connector.sandbox.hubspot import HubSpotSandbox


@pytest.fixture
def hs():
    with HubSpotSandbox(contacts=3) as sb:
        yield hubspot.Client.create(access_token=sb.token, host=sb.base_url)


def prop(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "label": name, "type": "number", "fieldType": "number",
            "groupName": "g", **extra}  # fmt: skip


def read(hs, *names: str, archived: bool = False):
    body = {"archived": archived, "inputs": [{"name": n} for n in names]}
    return hs.crm.properties.batch_api.read("contacts", batch_read_input_property_name=body)


def create(hs, *inputs: dict[str, object]):
    body = {"inputs": list(inputs)}
    return hs.crm.properties.batch_api.create("contacts", batch_input_property_create=body)


def test_batch_read_returns_existing_and_names_missing_ones(hs):
    both = read(hs, "email", "lifecyclestage")
    assert [p.name for p in both.results] == ["email", "lifecyclestage"]
    assert type(both).__name__ == "BatchResponseProperty" and both.status == "COMPLETE"
    some = read(hs, "email", "no_such_one")
    assert [p.name for p in some.results] == ["email"]
    (error,) = some.errors
    assert some.num_errors == 1
    assert error.category == "OBJECT_NOT_FOUND" and error.context == {"name": ["no_such_one"]}
    assert read(hs, "email", archived=True).results == []


def test_batch_create_makes_every_input_with_its_options(hs):
    hs.crm.properties.groups_api.create("contacts", property_group_create={"name": "g", "label": "G"})
    options = [{"label": "A", "value": "A", "displayOrder": 0}]
    made = create(hs, prop("p_one"), prop("p_two", type="enumeration", fieldType="select",
                                          options=options))  # fmt: skip
    assert [p.name for p in made.results] == ["p_one", "p_two"]
    assert type(made).__name__ == "BatchResponseProperty"  # 201: all made, no errors
    two = hs.crm.properties.core_api.get_by_name("contacts", "p_two")
    assert (two.type, two.group_name, [o.value for o in two.options]) == ("enumeration", "g", ["A"])


def test_batch_create_reports_each_input_it_could_not_create(hs):
    hs.crm.properties.groups_api.create("contacts", property_group_create={"name": "g", "label": "G"})
    answer = create(hs, prop("email"), prop("p_new"), prop("p_lost", groupName="nope"))
    assert [p.name for p in answer.results] == ["p_new"]
    by_name = {e.context["name"][0]: e for e in answer.errors}
    assert by_name["email"].category == "CONFLICT"
    assert by_name["p_lost"].category == "VALIDATION_ERROR" and "nope" in by_name["p_lost"].message
    assert read(hs, "p_lost").errors


def test_property_batches_hold_at_most_100_inputs(hs):
    with pytest.raises(ApiException) as err:
        read(hs, *[f"p{i}" for i in range(101)])
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        create(hs, *[prop(f"p{i}") for i in range(101)])
    assert err.value.status == 400
