"""mqlsync's HubSpot contact properties (design §6) and how logical values are written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.crm.base import Value
from connector.crm.values import FIELD_KINDS

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
    "grade": tuple(f"{letter}{digit}" for letter in "ABCD" for digit in "1234"),
    "route": ("sales", "nurture", "campaign", "discard", "review"),
    "temperature": ("hot", "warm", "cold"),
}
"""Fields written as dropdowns, so lists, filters and reports can use their values."""


_TYPES = {"int": ("number", "number"), "datetime": ("datetime", "date"), "text": ("string", "text")}
_DESCRIPTIONS = {
    "fit": "Fit score: who the lead is (title, size, industry …)",
    "engagement": "Engagement score: what the lead did, after caps and decay",
    "score": "Total score = fit + engagement",
    "grade": "Fit letter A–D and engagement digit 1–4 (A1 best)",
    "route": "sales, nurture, campaign, discard or review",
    "temperature": "hot (hand-raise), warm (accumulated) or cold",
    "reasons": "Top score reasons with evidence",
    "scored_at": "When mqlsync last changed this lead's score",
    "mql_at": "When mqlsync promoted the lead to MQL",
    "recycle_reason": "Why the lead was recycled to nurture",
    "recycled_at": "When the lead was recycled",
    "sla": "SLA state while at MQL: ok or breached:<window>",
    "model": "The mapping version that computed the score: <file stem>@<12 hex of its sha256>",
}


def property_specs(prefix: str = "mqlsync_") -> list[PropertySpec]:
    """mqlsync's contact properties, named `<prefix><field>`."""
    specs = []
    for field, description in _DESCRIPTIONS.items():
        hs_type, field_type = _TYPES[FIELD_KINDS[field]]
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
