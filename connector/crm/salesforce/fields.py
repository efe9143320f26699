"""mqlsync's Salesforce custom fields on Lead and Contact and value formats.

One `FieldSpec` per logical write-back field says everything the other modules need: the
API name (`fit` → `MQLSync_Fit__c`), the Salesforce type as Setup names it (Number(18,0),
Text(255), LongTextArea(32768), DateTime, restricted Picklist), the Tooling API body that
creates it, the Metadata API XML an admin deploys instead, and what `describe` must show
for an existing field to fit. Contacts also carry the canonical stage in
`MQLSync_Stage__c` (Text); Leads keep theirs in the standard `Status` picklist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from connector.core.lifecycle import STAGES
from connector.crm.base import STAGE_FIELD, Value
from connector.crm.values import FIELD_KINDS, WRITE_BACK, format_instant, parse_instant

OBJECTS: dict[str, str] = {"lead": "Lead", "contact": "Contact"}
"""Logical object → sObject type."""

LEAD_STATUS = "Status"
CONTACT_STAGE = "MQLSync_Stage__c"
MODIFIED = "SystemModstamp"

ENUMERATIONS: dict[str, tuple[str, ...]] = {
    name: f.options for name, f in WRITE_BACK.items() if f.options
}
"""Fields made restricted picklists, so list views, filters and reports can use them."""


_ACRONYMS = {"mql": "MQL", "sla": "SLA"}
_TEXT_LENGTH = 255
_LONG_TEXT_LENGTH = 32768
_STAGE_LENGTH = 40


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One custom field: logical name, API name and its Salesforce type."""

    field: str
    name: str
    """API name, e.g. `MQLSync_Fit__c`."""
    label: str
    type: str
    """Metadata type: `Number`, `Text`, `LongTextArea`, `DateTime` or `Picklist`."""
    description: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    options: tuple[str, ...] = ()
    """Values of a restricted picklist."""

    @property
    def describe_type(self) -> str:
        """The `type` sObject describe shows for a field made like this one."""
        return {
            "Number": "double",
            "Text": "string",
            "LongTextArea": "textarea",
            "DateTime": "datetime",
            "Picklist": "picklist",
        }[self.type]

    @property
    def shown_type(self) -> str:
        """The type as Setup shows it: `Number(18, 0)`, `Text(255)`, `Picklist (restricted)` …"""
        if self.type == "Number":
            return f"Number({self.precision}, {self.scale})"
        if self.type == "Text":
            return f"Text({self.length})"
        if self.type == "LongTextArea":
            return f"Long Text Area({self.length})"
        if self.type == "DateTime":
            return "Date/Time"
        return "Picklist (restricted to its values)"

    def metadata(self) -> dict[str, Any]:
        """The CustomField `Metadata` of a Tooling API create request."""
        meta: dict[str, Any] = {
            "label": self.label,
            "type": self.type,
            "description": self.description,
            "inlineHelpText": self.description,
        }
        if self.type == "Number":
            meta.update(precision=self.precision, scale=self.scale)
        elif self.type == "Text":
            meta["length"] = self.length
        elif self.type == "LongTextArea":
            meta.update(length=self.length, visibleLines=5)
        elif self.type == "Picklist":
            meta["valueSet"] = {
                "restricted": True,
                "valueSetDefinition": {
                    "sorted": False,
                    "value": [{"fullName": v, "label": v, "default": False} for v in self.options],
                },
            }
        return meta

    def tooling_body(self, sobject: str) -> dict[str, Any]:
        """`POST tooling/sobjects/CustomField` body creating this field on `sobject`."""
        return {"FullName": f"{sobject}.{self.name}", "Metadata": self.metadata()}

    def metadata_xml(self) -> str:
        """The `<fields>` element of a Metadata API CustomObject file (mdapi format)."""
        lines = [
            "    <fields>",
            f"        <fullName>{escape(self.name)}</fullName>",
            f"        <label>{escape(self.label)}</label>",
            f"        <description>{escape(self.description)}</description>",
            f"        <inlineHelpText>{escape(self.description)}</inlineHelpText>",
            "        <externalId>false</externalId>",
            "        <trackHistory>false</trackHistory>",
            f"        <type>{self.type}</type>",
        ]
        if self.type == "Number":
            lines += [
                f"        <precision>{self.precision}</precision>",
                f"        <scale>{self.scale}</scale>",
                "        <required>false</required>",
                "        <unique>false</unique>",
            ]
        elif self.type == "Text":
            lines += [
                f"        <length>{self.length}</length>",
                "        <required>false</required>",
                "        <unique>false</unique>",
            ]
        elif self.type == "LongTextArea":
            lines += [
                f"        <length>{self.length}</length>",
                "        <visibleLines>5</visibleLines>",
            ]
        elif self.type == "DateTime":
            lines.append("        <required>false</required>")
        elif self.type == "Picklist":
            lines += [
                "        <required>false</required>",
                "        <valueSet>",
                "            <restricted>true</restricted>",
                "            <valueSetDefinition>",
                "                <sorted>false</sorted>",
            ]
            for v in self.options:
                lines += [
                    "                <value>",
                    f"                    <fullName>{escape(v)}</fullName>",
                    "                    <default>false</default>",
                    f"                    <label>{escape(v)}</label>",
                    "                </value>",
                ]
            lines += ["            </valueSetDefinition>", "        </valueSet>"]
        lines.append("    </fields>")
        return "\n".join(lines)

    def problem(self, sobject: str, found: Mapping[str, Any]) -> str | None:
        """What is wrong with the existing field `found` (a describe entry) for this spec,
        and exactly what to do about it; None when it fits."""
        label = found.get("label") or self.name
        where = f"Setup → Object Manager → {sobject} → Fields & Relationships → {label}"
        kind = str(found.get("type") or "")
        if kind != self.describe_type:
            return (
                f"{sobject}.{self.name} exists as type {kind}, expected {self.shown_type}: in "
                f"{where} → Change Field Type to {self.shown_type}, or delete the field and "
                "run mqlsync provision again (or set other field names)"
            )
        if self.type == "Number" and int(found.get("scale") or 0) != self.scale:
            return (
                f"{sobject}.{self.name} has {found.get('scale')} decimal places, expected "
                f"{self.shown_type}: in {where} → Edit, set Decimal Places to {self.scale}"
            )
        if self.type in ("Text", "LongTextArea") and int(found.get("length") or 0) < self.length:
            return (
                f"{sobject}.{self.name} holds {found.get('length')} characters, mqlsync writes "
                f"up to {self.length}: in {where} → Edit, set Length to {self.length}"
            )
        if self.type == "Picklist":
            have = {str(v.get("value")) for v in found.get("picklistValues") or ()}
            missing = [v for v in self.options if v not in have]
            if missing:
                return (
                    f"{sobject}.{self.name} lacks the picklist value(s) {', '.join(missing)}: "
                    f"in {where} → Values → New, add them"
                )
        return None


def api_name(field: str, prefix: str = "MQLSync_") -> str:
    """`fit` → `MQLSync_Fit__c`, `mql_at` → `MQLSync_MQL_At__c`, `sla` → `MQLSync_SLA__c`."""
    words = [_ACRONYMS.get(w, w.capitalize()) for w in field.split("_")]
    return f"{prefix}{'_'.join(words)}__c"


def _spec(field: str, name: str) -> FieldSpec:
    label = "MQLSync " + " ".join(_ACRONYMS.get(w, w) for w in field.split("_"))
    description = WRITE_BACK[field].description
    options = ENUMERATIONS.get(field, ())
    kind = FIELD_KINDS[field]
    if options:
        return FieldSpec(field, name, label, "Picklist", description, options=options)
    if kind == "int":
        return FieldSpec(field, name, label, "Number", description, precision=18, scale=0)
    if kind == "datetime":
        return FieldSpec(field, name, label, "DateTime", description)
    if field == "reasons":
        return FieldSpec(field, name, label, "LongTextArea", description, _LONG_TEXT_LENGTH)
    return FieldSpec(field, name, label, "Text", description, _TEXT_LENGTH)


def field_specs(
    prefix: str = "MQLSync_", names: Mapping[str, str] | None = None
) -> list[FieldSpec]:
    """mqlsync's write-back fields (same on Lead and Contact), named `<prefix><Field>__c`
    unless `names` overrides a logical field's API name."""
    names = names or {}
    return [_spec(f, names.get(f) or api_name(f, prefix)) for f in WRITE_BACK]


def stage_spec(name: str = CONTACT_STAGE) -> FieldSpec:
    """The Contact stage field: Text holding the canonical stage name (`lead`, `mql` …)."""
    return FieldSpec(
        STAGE_FIELD,
        name,
        "MQLSync Stage",
        "Text",
        "Lifecycle stage as mqlsync sees it: " + ", ".join(STAGES),
        _STAGE_LENGTH,
    )


def object_specs(obj: str, specs: list[FieldSpec] | None = None) -> list[FieldSpec]:
    """Every custom field mqlsync needs on `obj` (`lead` or `contact`)."""
    specs = field_specs() if specs is None else specs
    return [*specs, stage_spec()] if obj == "contact" else list(specs)


def sf_value(field: str, value: Value) -> Any:
    """A logical value as the JSON Salesforce takes: numbers as integers, datetimes as
    ISO-8601 UTC with `Z`, None as null (clears the field). A value that cannot be read
    as its kind is sent as given, so Salesforce's own answer names the problem."""
    if value is None:
        return None
    kind = FIELD_KINDS.get(field, "text")
    if kind == "int":
        if isinstance(value, int):
            return value
        try:
            return round(float(value))
        except ValueError:
            return value
    if kind == "datetime":
        at = parse_instant(value)
        return value if at is None else format_instant(at)
    return str(value)
