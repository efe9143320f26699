"""mqlsync's HubSpot contact properties and how logical values are written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.crm.base import Value
from connector.crm.values import WRITE_BACK

GROUP = "mqlsync"
GROUP_LABEL = "mqlsync lead scoring"
STAGE_PROPERTY = "lifecyclestage"
MODIFIED = "lastmodifieddate"
MQL_DATE = "hs_lifecyclestage_marketingqualifiedlead_date"
"""HubSpot stamps it when a contact first enters the MQL stage (kept after it moves on)."""


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One write-back property: logical field, HubSpot name, label and HubSpot type."""

    field: str
    name: str
    label: str
    type: str
    field_type: str
    description: str
    options: tuple[str, ...] = ()
    """The values of a dropdown (enumeration) property."""

    def create_body(self) -> dict[str, Any]:
        """The properties API create request."""
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": GROUP,
            "description": self.description,
        }
        if self.options:
            body["options"] = [
                {"label": v, "value": v, "displayOrder": i} for i, v in enumerate(self.options)
            ]
        return body


ENUMERATIONS: dict[str, tuple[str, ...]] = {
    name: f.options for name, f in WRITE_BACK.items() if f.options
}
"""Fields written as dropdowns, so lists, filters and reports can use their values."""
_TYPES = {"int": ("number", "number"), "datetime": ("datetime", "date"), "text": ("string", "text")}


def property_specs(prefix: str = "mqlsync_") -> list[PropertySpec]:
    """mqlsync's contact properties, named `<prefix><field>`."""
    specs = []
    for field, spec in WRITE_BACK.items():
        description = spec.description
        hs_type, field_type = _TYPES[spec.kind]
        if field == "reasons":
            field_type = "textarea"
        options = ENUMERATIONS.get(field, ())
        if options:
            hs_type, field_type = "enumeration", "select"
        label = "mqlsync " + field.replace("_", " ")
        specs.append(
            PropertySpec(field, prefix + field, label, hs_type, field_type, description, options)
        )
    return specs


def hubspot_value(value: Value) -> str:
    """Values as HubSpot stores them: strings, empty string for none (clears the property)."""
    return "" if value is None else str(value)


def property_problem(spec: PropertySpec, found: Any) -> str | None:
    """What is wrong with an existing property `found` (an SDK Property) for `spec`, and
    exactly what to do about it; None when it fits."""
    if spec.options and found.type == "string":
        return (
            f"{spec.name} is a text property (made by an earlier mqlsync); lists and reports "
            "need a dropdown: in HubSpot, Settings → Properties → "
            f"{spec.name} → Edit, set the field type to Dropdown select with the options "
            f"{', '.join(spec.options)} (or delete the property and run mqlsync provision again)"
        )
    if found.type != spec.type:
        return (
            f"{spec.name} exists with type {found.type}, expected {spec.type}: "
            "rename it or set another prefix"
        )
    have = {str(o.value) for o in getattr(found, "options", None) or ()}
    missing = [v for v in spec.options if v not in have]
    if missing:
        return (
            f"{spec.name} lacks the dropdown option(s) {', '.join(missing)}: add them in "
            f"HubSpot, Settings → Properties → {spec.name} → Edit"
        )
    return None
