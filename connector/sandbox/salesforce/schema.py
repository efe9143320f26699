"""Object and field metadata of the emulated org, and the describe payloads built from it.

Why one table of field definitions: the SOQL engine (name resolution, literal type checks), the
composite writer (unknown / read-only fields, value types, lengths) and ``describe`` must agree,
as they do in a real org.  Shapes follow the REST API *sObject Describe* resource (``fields``
with ``name, type, length, custom, updateable, picklistValues, referenceTo, relationshipName``)
and the standard object reference (Lead, Contact, Account, Task, Event, Campaign,
CampaignMember).  Lead ``Status`` carries "Marketing Qualified", the default MQL status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "KEY_PREFIXES",
    "OBJECTS",
    "FieldDef",
    "ObjectDef",
    "custom_field",
    "describe_global",
    "describe_object",
    "make_id",
    "to_18",
]

_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_UPPER_FLAGS = str.maketrans({c: ("1" if "A" <= c <= "Z" else "0") for c in _B62})


def to_18(id15: str) -> str:
    """Append Salesforce's case-safety suffix (one char per 5-char chunk: uppercase bitmap)."""
    flags = id15.translate(_UPPER_FLAGS)
    return (
        id15
        + _SUFFIX_CHARS[int(flags[4::-1], 2)]
        + _SUFFIX_CHARS[int(flags[9:4:-1], 2)]
        + _SUFFIX_CHARS[int(flags[14:9:-1], 2)]
    )


def make_id(prefix: str, n: int) -> str:
    """Deterministic 18-char id: key prefix, a fake pod/instance part, base-62 serial."""
    digits = ""
    while True:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
        if n == 0:
            break
    return to_18(prefix + "Hs" + digits.rjust(10, "0"))


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: str  # id string email url picklist textarea boolean int double currency datetime …
    label: str = ""
    length: int = 0
    updateable: bool = True
    custom: bool = False
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    restricted: bool = False
    """A restricted picklist: values outside ``picklist`` are refused on write."""
    create_only: bool = False
    """Settable when the record is created but read-only after (``createable`` without
    ``updateable`` in describe), e.g. Task ``TaskSubtype``."""

    @property
    def createable(self) -> bool:
        return self.updateable or self.create_only

    @property
    def is_text(self) -> bool:
        return self.type in ("string", "email", "url", "picklist", "textarea", "phone")


class ObjectDef:
    """One sObject type; immutable — provisioning a field makes a new one (``with_field``)."""

    __slots__ = ("_by_name", "_rels", "fields", "key_prefix", "name")

    def __init__(self, name: str, key_prefix: str, fields: tuple[FieldDef, ...]) -> None:
        self.name, self.key_prefix, self.fields = name, key_prefix, fields
        self._by_name = {f.name.lower(): f for f in fields}
        self._rels = {
            f.relationship_name.lower(): f
            for f in fields
            if f.relationship_name and len(f.reference_to) == 1
        }

    def field(self, name: str) -> FieldDef | None:
        return self._by_name.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The lookup field whose relationshipName is ``name`` (case-insensitive)."""
        return self._rels.get(name.lower())

    def with_field(self, f: FieldDef) -> ObjectDef:
        return ObjectDef(self.name, self.key_prefix, (*self.fields, f))

    def without(self, names: frozenset[str]) -> ObjectDef:
        return ObjectDef(self.name, self.key_prefix,
                         tuple(f for f in self.fields if f.name not in names))  # fmt: skip


def _f(name: str, type_: str, length: int = 0, *, ro: bool = False, **kw: Any) -> FieldDef:
    return FieldDef(
        name,
        type_,
        kw.pop("label", name.replace("__c", "").replace("_", " ")),
        length,
        not ro,
        name.endswith("__c"),
        **kw,
    )


def _system(owner: bool = True) -> list[FieldDef]:
    out = [
        _f("Id", "id", 18, ro=True),
        _f("IsDeleted", "boolean", ro=True),
        _f("CreatedDate", "datetime", ro=True),
        _f("LastModifiedDate", "datetime", ro=True),
        _f("SystemModstamp", "datetime", ro=True),
    ]
    if owner:
        out.append(
            _f(
                "OwnerId",
                "reference",
                18,
                reference_to=("User", "Group"),
                relationship_name="Owner",
            )
        )
    return out


MQLSYNC_FIELDS: tuple[FieldDef, ...] = (
    _f("MQLSync_Fit__c", "double"),
    _f("MQLSync_Engagement__c", "double"),
    _f("MQLSync_Score__c", "double"),
    _f(
        "MQLSync_Grade__c",
        "picklist",
        255,
        restricted=True,
        picklist=tuple(f"{g}{d}" for g in "ABCD" for d in "1234"),
    ),
    _f(
        "MQLSync_Route__c",
        "picklist",
        255,
        restricted=True,
        picklist=("sales", "nurture", "campaign", "discard", "review"),
    ),
    _f(
        "MQLSync_Temperature__c", "picklist", 255, restricted=True, picklist=("hot", "warm", "cold")
    ),
    _f("MQLSync_Reasons__c", "textarea", 32768),
    _f("MQLSync_Scored_At__c", "datetime"),
    _f("MQLSync_MQL_At__c", "datetime"),
    _f("MQLSync_Recycle_Reason__c", "string", 255),
    _f("MQLSync_Recycled_At__c", "datetime"),
    _f("MQLSync_SLA__c", "string", 255),
    _f("MQLSync_Model__c", "string", 255),
)

LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Marketing Qualified",
    "Closed - Converted",
    "Closed - Not Converted",
)
INDUSTRIES = (
    "Software", "SaaS", "B2B SaaS", "Fintech", "Financial Services", "Healthcare", "Retail",
    "Manufacturing", "Education", "Media", "Consulting", "Government", "Telecommunications",
    "Energy", "Other",
)  # fmt: skip
LEAD_SOURCES = (
    "Web", "Webinar", "Organic Search", "Paid Search", "Email", "Event", "Referral",
    "Partner", "Social", "Direct", "Content", "Other",
)  # fmt: skip
CAMPAIGN_TYPES = ("Webinar", "Web Form", "Content", "Demo Request", "Trial", "Email", "Other")

_lead = ObjectDef("Lead", "00Q", (
    *_system(),
    _f("FirstName", "string", 40), _f("LastName", "string", 80),
    _f("Name", "string", 121, ro=True), _f("Email", "email", 80), _f("Title", "string", 128),
    _f("Company", "string", 255), _f("NumberOfEmployees", "int"),
    _f("Industry", "picklist", 255, picklist=INDUSTRIES), _f("AnnualRevenue", "currency"),
    _f("Country", "string", 80), _f("LeadSource", "picklist", 255, picklist=LEAD_SOURCES),
    _f("Status", "picklist", 255, picklist=LEAD_STATUSES, restricted=True),
    _f("HasOptedOutOfEmail", "boolean"), _f("IsConverted", "boolean", ro=True),
    _f("ConvertedDate", "date", ro=True),
    _f("ConvertedContactId", "reference", 18, ro=True, reference_to=("Contact",),
       relationship_name="ConvertedContact"),
    _f("ConvertedAccountId", "reference", 18, ro=True, reference_to=("Account",),
       relationship_name="ConvertedAccount"),
    _f("Tech_Stack__c", "string", 255), *MQLSYNC_FIELDS,
))  # fmt: skip
_contact = ObjectDef("Contact", "003", (
    *_system(),
    _f("FirstName", "string", 40), _f("LastName", "string", 80),
    _f("Name", "string", 121, ro=True), _f("Email", "email", 80), _f("Title", "string", 128),
    _f("AccountId", "reference", 18, reference_to=("Account",), relationship_name="Account"),
    _f("LeadSource", "picklist", 255, picklist=LEAD_SOURCES),
    _f("HasOptedOutOfEmail", "boolean"), _f("MailingCountry", "string", 80),
    _f("Tech_Stack__c", "string", 255), _f("MQLSync_Stage__c", "string", 40), *MQLSYNC_FIELDS,
))  # fmt: skip
_account = ObjectDef("Account", "001", (
    *_system(),
    _f("Name", "string", 255), _f("Website", "url", 255), _f("NumberOfEmployees", "int"),
    _f("Industry", "picklist", 255, picklist=INDUSTRIES), _f("AnnualRevenue", "currency"),
    _f("BillingCountry", "string", 80),
))  # fmt: skip
_task = ObjectDef("Task", "00T", (
    *_system(),
    _f("WhoId", "reference", 18, reference_to=("Contact", "Lead"), relationship_name="Who"),
    _f("Subject", "string", 255),
    _f("Description", "textarea", 32000, label="Comments"),
    _f("TaskSubtype", "picklist", 40, ro=True, create_only=True,
       picklist=("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")),
    _f("Status", "picklist", 40,
       picklist=("Not Started", "In Progress", "Completed", "Waiting on someone else",
                 "Deferred")),
    _f("Priority", "picklist", 40, picklist=("High", "Normal", "Low")),
    _f("IsClosed", "boolean", ro=True), _f("ActivityDate", "date"),
    _f("CompletedDateTime", "datetime", ro=True),
))  # fmt: skip
_event = ObjectDef("Event", "00U", (
    *_system(),
    _f("WhoId", "reference", 18, reference_to=("Contact", "Lead"), relationship_name="Who"),
    _f("Subject", "string", 255),
    _f("StartDateTime", "datetime"), _f("EndDateTime", "datetime"),
    _f("ActivityDateTime", "datetime"), _f("DurationInMinutes", "int"),
))  # fmt: skip
_campaign = ObjectDef("Campaign", "701", (
    *_system(),
    _f("Name", "string", 80), _f("Type", "picklist", 255, picklist=CAMPAIGN_TYPES),
    _f("Status", "picklist", 255, picklist=("Planned", "In Progress", "Completed", "Aborted")),
    _f("StartDate", "date"), _f("IsActive", "boolean"),
))  # fmt: skip
_member = ObjectDef("CampaignMember", "00v", (
    *_system(owner=False),
    _f("CampaignId", "reference", 18, ro=True, reference_to=("Campaign",),
       relationship_name="Campaign"),
    _f("LeadId", "reference", 18, ro=True, reference_to=("Lead",), relationship_name="Lead"),
    _f("ContactId", "reference", 18, ro=True, reference_to=("Contact",),
       relationship_name="Contact"),
    _f("LeadOrContactId", "reference", 18, ro=True),
    _f("Status", "picklist", 40,
       picklist=("Planned", "Sent", "Received", "Responded", "Registered", "Attended")),
    _f("HasResponded", "boolean", ro=True), _f("FirstRespondedDate", "date", ro=True),
))  # fmt: skip

OBJECTS: dict[str, ObjectDef] = {
    o.name: o for o in (_lead, _contact, _account, _task, _event, _campaign, _member)
}
KEY_PREFIXES: dict[str, str] = {o.key_prefix: o.name for o in OBJECTS.values()}
OBJECTS_LOWER = {k.lower(): v for k, v in OBJECTS.items()}

_SOAP = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "datetime": "xsd:dateTime",
    "date": "xsd:date",
}  # fmt: skip


def _describe_field(f: FieldDef) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.label,
        "type": f.type,
        "soapType": _SOAP.get(f.type, "xsd:string"),
        "length": f.length if f.is_text or f.type in ("id", "reference") else 0,
        "precision": 18 if f.type in ("double", "currency") else 0,
        "scale": 0 if f.type == "double" else 2 if f.type == "currency" else 0,
        "digits": 9 if f.type == "int" else 0,
        "custom": f.custom,
        "updateable": f.updateable,
        "createable": f.createable,
        "nillable": f.type != "boolean" and f.name not in ("Id", "LastName", "Name"),
        "calculated": False,
        "filterable": f.type != "textarea",
        "sortable": f.type != "textarea",
        "defaultedOnCreate": f.name
        in ("Id", "CreatedDate", "OwnerId", "Status", "Priority", "TaskSubtype"),
        "picklistValues": [
            {"active": True, "defaultValue": i == 0, "label": v, "validFor": None, "value": v}
            for i, v in enumerate(f.picklist)
        ],
        "restrictedPicklist": f.restricted,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "externalId": False,
        "unique": False,
    }


def _urls(name: str, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _summary(o: ObjectDef, version: str) -> dict[str, Any]:
    return {
        "name": o.name, "label": o.name, "labelPlural": o.name + "s", "keyPrefix": o.key_prefix,
        "custom": False, "queryable": True, "updateable": True, "createable": True,
        "deletable": True, "searchable": True, "urls": _urls(o.name, version),
    }  # fmt: skip


def describe_object(o: ObjectDef, version: str) -> dict[str, Any]:
    """Body of ``GET sobjects/<Type>/describe``."""
    return {**_summary(o, version), "fields": [_describe_field(f) for f in o.fields]}


def describe_global(version: str) -> dict[str, Any]:
    """Body of ``GET sobjects`` (describeGlobal)."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_summary(o, version) for o in OBJECTS.values()],
    }


PROVISIONED_FIELDS = frozenset(f.name for f in MQLSYNC_FIELDS) | {"MQLSync_Stage__c"}

# Tooling API CustomField ``Metadata.type`` → field type of the sObject describe
TOOLING_TYPES = {
    "Number": "double", "Text": "string", "LongTextArea": "textarea", "DateTime": "datetime",
    "Date": "date", "Checkbox": "boolean", "Picklist": "picklist", "Url": "url",
    "Email": "email", "Currency": "currency",
}  # fmt: skip


def custom_field(name: str, metadata: dict[str, Any]) -> FieldDef:
    """A FieldDef from a Tooling API CustomField body; raises ValueError on bad metadata."""
    kind = TOOLING_TYPES.get(str(metadata.get("type")))
    if kind is None or not name.endswith("__c") or not name[:-3].replace("_", "").isalnum():
        raise ValueError(f"Cannot create field {name} of type {metadata.get('type')!r}")
    length = int(metadata.get("length") or (255 if kind == "string" else 0))
    if kind == "textarea":
        length = int(metadata.get("length") or 32768)
    label = str(metadata.get("label") or name[:-3].replace("_", " "))
    values: tuple[str, ...] = ()
    restricted = False
    if kind == "picklist":
        value_set = metadata.get("valueSet")
        if not isinstance(value_set, dict):
            raise ValueError(f"Picklist {name} needs a valueSet")
        definition = value_set.get("valueSetDefinition") or {}
        values = tuple(str(v["fullName"]) for v in definition.get("value") or ())
        if not values:
            raise ValueError(f"Picklist {name} needs at least one value")
        restricted = bool(value_set.get("restricted"))
        length = 255
    return FieldDef(name, kind, label, length, True, True, picklist=values, restricted=restricted)
