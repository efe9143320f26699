"""mqlsync's HubSpot contact properties (design §6) and how logical values are written."""

from __future__ import annotations

from dataclasses import dataclass

from connector.crm.base import Value
from connector.crm.values import FIELD_KINDS

GROUP = "mqlsync"
GROUP_LABEL = "mqlsync lead scoring"
STAGE_PROPERTY = "lifecyclestage"
MODIFIED = "lastmodifieddate"


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One write-back property: logical field, HubSpot name, label and HubSpot type."""

    field: str
    name: str
    label: str
    type: str
    field_type: str
    description: str

    def create_body(self) -> dict[str, str]:
        """The properties API create request."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": GROUP,
            "description": self.description,
        }


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
        label = "mqlsync " + field.replace("_", " ")
        specs.append(PropertySpec(field, prefix + field, label, hs_type, field_type, description))
    return specs


def hubspot_value(value: Value) -> str:
    """Values as HubSpot stores them: strings, empty string for none (clears the property)."""
    return "" if value is None else str(value)
