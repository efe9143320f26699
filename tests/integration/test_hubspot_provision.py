"""`provision` on HubSpot spends the fewest calls the properties API allows.

A fresh portal: one batch read, the group, one batch create (3 calls, where a call per
property made 15). A provisioned portal: the batch read alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.crm.hubspot.fields import GROUP, property_specs
from tests.integration.conftest import Rig, make_rig

SPECS = property_specs()
NAMES = [s.name for s in SPECS]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from make_rig(tmp_path, 5)


def provision(rig: Rig, *, dry_run: bool = False):
    before = rig.calls()
    report = rig.adapter.provision(dry_run=dry_run)
    return report, rig.calls() - before


def portal_properties(rig: Rig) -> dict[str, object]:
    api = rig.adapter.calls.client.crm.properties.core_api
    return {p.name: p for p in api.get_all("contacts").results}


def test_fresh_portal_takes_three_calls_and_gets_every_property(rig):
    report, calls = provision(rig)
    assert calls == 3
    assert report.created == [f"group {GROUP}", *NAMES] and not report.problems
    found = portal_properties(rig)
    for spec in SPECS:
        prop = found[spec.name]
        assert (prop.type, prop.field_type, prop.group_name) == (
            spec.type,
            spec.field_type,
            GROUP,
        )
        assert [o.value for o in prop.options or ()] == list(spec.options)


def test_provisioned_portal_takes_one_call_and_changes_nothing(rig):
    provision(rig)
    report, calls = provision(rig)
    assert calls == 1
    assert report.created == [] and not report.problems
    assert report.existing == [f"group {GROUP}", *NAMES]


def test_half_provisioned_portal_creates_only_the_missing_ones(rig):
    props = rig.adapter.calls.client.crm.properties
    props.groups_api.create("contacts", property_group_create={"name": GROUP, "label": "M"})
    for spec in SPECS[:4]:
        props.core_api.create("contacts", property_create=spec.create_body())
    report, calls = provision(rig)
    assert calls == 2  # the read shows the group through the properties in it
    assert report.created == NAMES[4:]
    assert report.existing == [f"group {GROUP}", *NAMES[:4]]
    assert set(NAMES) <= set(portal_properties(rig))


def test_an_empty_group_someone_made_is_used_as_it_is(rig):
    props = rig.adapter.calls.client.crm.properties
    props.groups_api.create("contacts", property_group_create={"name": GROUP, "label": "Ours"})
    report, calls = provision(rig)
    assert calls == 3  # read, the group create answered 409, batch create
    assert f"group {GROUP}" in report.existing and report.created == NAMES
    assert props.groups_api.get_by_name("contacts", GROUP).label == "Ours"


def test_dry_run_writes_nothing_and_says_what_it_would_create(rig):
    report, calls = provision(rig, dry_run=True)
    assert calls == 2  # the read, and whether the group exists
    assert report.created == [f"group {GROUP}", *NAMES]
    assert not set(NAMES) & set(portal_properties(rig))
    assert provision(rig)[1] == 3


def test_a_property_of_the_wrong_type_is_reported_not_changed(rig):
    props = rig.adapter.calls.client.crm.properties
    props.groups_api.create("contacts", property_group_create={"name": GROUP, "label": "M"})
    wrong = {**SPECS[0].create_body(), "type": "string", "fieldType": "text"}
    props.core_api.create("contacts", property_create=wrong)
    report, calls = provision(rig)
    assert calls == 2
    (problem,) = report.problems
    assert problem.startswith(f"{SPECS[0].name} exists with type string")
    assert report.created == NAMES[1:]
    assert portal_properties(rig)[SPECS[0].name].type == "string"
