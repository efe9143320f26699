"""Provision: grade, route and temperature are dropdowns; mqlsync_model exists; a text
property left by an earlier version is reported with exactly what to do."""

from __future__ import annotations

from connector.crm.hubspot.fields import ENUMERATIONS
from tests.integration.conftest import make_rig


def test_fresh_portal_gets_dropdowns_and_the_model_property(tmp_path):
    for rig in make_rig(tmp_path, 20):
        report = rig.adapter.provision()
        assert not report.problems
        assert {"mqlsync_grade", "mqlsync_route", "mqlsync_temperature", "mqlsync_model"} <= set(
            report.created
        )
        api = rig.adapter.calls.client.crm.properties.core_api
        for field, options in ENUMERATIONS.items():
            prop = api.get_by_name(object_type="contacts", property_name=f"mqlsync_{field}")
            assert (prop.type, prop.field_type) == ("enumeration", "select")
            assert [o.value for o in prop.options] == list(options)
        summary = rig.sync.run()
        assert summary.failed == 0 and summary.written == 20  # every value is an option
        again = rig.adapter.provision()
        assert not again.created and not again.problems


def test_a_text_grade_from_an_earlier_version_is_reported_with_what_to_do(tmp_path):
    for rig in make_rig(tmp_path, 5):
        api = rig.adapter.calls.client.crm.properties.core_api
        body = {"name": "mqlsync_grade", "label": "grade", "type": "string",
                "fieldType": "text", "groupName": "contactinformation"}  # fmt: skip
        api.create(object_type="contacts", property_create=body)
        report = rig.adapter.provision()
        (problem,) = report.problems
        assert problem.startswith("mqlsync_grade is a text property")
        assert "Dropdown select with the options A1, A2" in problem and "D4" in problem


def test_one_catalogue_of_write_back_fields_for_the_pipeline_and_the_crm():
    """What the pipeline writes, what provision creates and what values compare by are
    the same list of fields (crm/values.py WRITE_BACK)."""
    from datetime import UTC, datetime

    from connector.core.lifecycle import Decision, Memory
    from connector.core.scoring import ScoreResult
    from connector.crm.hubspot.fields import property_specs
    from connector.crm.values import FIELD_KINDS, WRITE_BACK
    from connector.pipeline.steps import desired_values

    result = ScoreResult("1", 10, 20, "C3", False, "cold", "nurture")
    desired = desired_values(
        result, Decision("none", "lead", Memory(), ""), datetime.now(UTC), "m@0"
    )
    assert set(desired) == set(WRITE_BACK)
    assert [s.field for s in property_specs()] == list(WRITE_BACK)
    assert set(FIELD_KINDS) == {*WRITE_BACK, "stage"}
