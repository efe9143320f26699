"""Property definitions, object types and association types the HubSpot sandbox serves.

Shapes follow the properties API model in hubspot-api-client 12
(``hubspot/crm/properties/models/model_property.py``: required ``name``, ``label``, ``type`` in
{string, number, date, datetime, enumeration, bool}, ``fieldType``, ``groupName``, ``description``,
``options``) and HubSpot's default contact properties (``lifecyclestage`` is an enumeration with
radio field, ``hs_email_optout`` a booleancheckbox enumeration, dates are ``datetime``/``date``).
Association type ids are HubSpot's HUBSPOT_DEFINED ids from the associations v4 docs
("Association type IDs"): contact→company 1 "Primary" and 279 (company→contact 2/280);
contact→call 193, email 197, meeting 199, note 201, task 203; the activity→contact direction is
one more (call→contact 194, email 198, meeting 200, note 202, task 204 — the id the tasks API
guide's create example sends to associate a new task with a contact).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ASSOCIATION_TYPES",
    "ENGAGEMENT_KINDS",
    "LIFECYCLE_ORDER",
    "OBJECT_ALIASES",
    "PropertyDef",
    "PropertyGroupDef",
    "default_groups",
    "default_properties",
]

# Forward order of HubSpot's default lifecycle stages (forward-only unless cleared first).
LIFECYCLE_ORDER: Final[dict[str, int]] = {
    v: i
    for i, v in enumerate(
        (
            "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
            "opportunity", "customer", "evangelist", "other",
        )
    )
}  # fmt: skip
LEAD_STATUSES: Final = (
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
    "CONNECTED", "BAD_TIMING",
)  # fmt: skip
ANALYTICS_SOURCES: Final = (
    "ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
    "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL",
)  # fmt: skip
BOUNCE_REASONS: Final = (
    "UNKNOWN", "MAILBOX_FULL", "CONTENT", "SPAM", "POLICY", "BAD_MAILBOX", "DNS_FAILURE",
)  # fmt: skip

ENGAGEMENT_KINDS: Final = ("meetings", "calls", "emails", "notes", "tasks")
OBJECT_ALIASES: Final[dict[str, str]] = {
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "meetings": "meetings", "meeting": "meetings", "0-47": "meetings",
    "calls": "calls", "call": "calls", "0-48": "calls",
    "emails": "emails", "email": "emails", "0-49": "emails",
    "notes": "notes", "note": "notes", "0-46": "notes",
    "tasks": "tasks", "task": "tasks", "0-27": "tasks",
}  # fmt: skip
# (from, to) -> list of (typeId, label); v3 list "associations" uses f"{from[:-1]}_to_{to[:-1]}".
ASSOCIATION_TYPES: Final[dict[tuple[str, str], tuple[tuple[int, str | None], ...]]] = {
    ("contacts", "companies"): ((1, "Primary"), (279, None)),
    ("companies", "contacts"): ((2, "Primary"), (280, None)),
    ("contacts", "meetings"): ((199, None),),
    ("contacts", "calls"): ((193, None),),
    ("contacts", "emails"): ((197, None),),
    ("contacts", "notes"): ((201, None),),
    ("contacts", "tasks"): ((203, None),),
    ("meetings", "contacts"): ((200, None),),
    ("calls", "contacts"): ((194, None),),
    ("emails", "contacts"): ((198, None),),
    ("notes", "contacts"): ((202, None),),
    ("tasks", "contacts"): ((204, None),),
}


@dataclass(slots=True)
class PropertyDef:
    """One property definition; rendered as the properties API ``Property`` JSON."""

    name: str
    label: str
    type: str  # string | number | date | datetime | enumeration | bool
    field_type: str  # text | textarea | number | date | select | radio | booleancheckbox ...
    group_name: str
    options: tuple[str, ...] = ()
    hubspot_defined: bool = True
    read_only: bool = False
    description: str = ""
    created_at: str = "2020-01-01T00:00:00.000Z"
    display_order: int = -1
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": [
                {"label": _label(o), "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(self.options)
            ],
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.name == "email",
            "hidden": False,
            "formField": not self.read_only,
            "archived": False,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }
        if self.hubspot_defined:
            data["hubspotDefined"] = True
        data.update(self.extra)
        return data


@dataclass(slots=True)
class PropertyGroupDef:
    name: str
    label: str
    display_order: int = -1

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": False,
        }


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize() if value not in ("true", "false") else value


_S, _N, _DT, _E = "string", "number", "datetime", "enumeration"
_Row = tuple[str, str, str, str, str, tuple[str, ...], bool]

# name, label, type, fieldType, group, options, read_only
_CONTACT: Final[tuple[_Row, ...]] = (
    ("email", "Email", _S, "text", "contactinformation", (), False),
    ("firstname", "First Name", _S, "text", "contactinformation", (), False),
    ("lastname", "Last Name", _S, "text", "contactinformation", (), False),
    ("jobtitle", "Job Title", _S, "text", "contactinformation", (), False),
    ("company", "Company Name", _S, "text", "contactinformation", (), False),
    ("numberofemployees", "Number of Employees", _N, "number", "contactinformation", (), False),
    ("industry", "Industry", _S, "text", "contactinformation", (), False),
    ("annualrevenue", "Annual Revenue", _N, "number", "contactinformation", (), False),
    ("country", "Country/Region", _S, "text", "contactinformation", (), False),
    ("tech_stack", "Tech stack", _S, "textarea", "contactinformation", (), False),
    ("lifecyclestage", "Lifecycle Stage", _E, "radio", "contactinformation",
     tuple(LIFECYCLE_ORDER), False),
    ("hs_lead_status", "Lead Status", _E, "radio", "sales_properties", LEAD_STATUSES, False),
    ("hs_email_optout", "Unsubscribed from all email", _E, "booleancheckbox", "emailinformation",
     ("true", "false"), False),
    ("hs_analytics_source", "Original Source", _E, "select", "analyticsinformation",
     ANALYTICS_SOURCES, True),
    ("hs_object_id", "Record ID", _N, "number", "contactinformation", (), True),
    ("createdate", "Create Date", _DT, "date", "contactinformation", (), True),
    ("lastmodifieddate", "Last Modified Date", _DT, "date", "contactinformation", (), True),
    ("hs_lifecyclestage_marketingqualifiedlead_date", "Became a Marketing Qualified Lead Date",
     _DT, "date", "contactinformation", (), True),
    ("hs_analytics_num_page_views", "Number of Pageviews", _N, "number",
     "analyticsinformation", (), True),
    ("hs_analytics_first_visit_timestamp", "Time First Seen", _DT, "date",
     "analyticsinformation", (), True),
    ("hs_analytics_first_url", "First Page Seen", _S, "text", "analyticsinformation", (), True),
    ("hs_analytics_last_visit_timestamp", "Time Last Seen", _DT, "date",
     "analyticsinformation", (), True),
    ("hs_analytics_last_url", "Last Page Seen", _S, "text", "analyticsinformation", (), True),
    ("num_conversion_events", "Number of Form Submissions", _N, "number",
     "conversioninformation", (), True),
    ("first_conversion_date", "First Conversion Date", _DT, "date", "conversioninformation",
     (), True),
    ("first_conversion_event_name", "First Conversion", _S, "text", "conversioninformation",
     (), True),
    ("recent_conversion_date", "Recent Conversion Date", _DT, "date", "conversioninformation",
     (), True),
    ("recent_conversion_event_name", "Recent Conversion", _S, "text", "conversioninformation",
     (), True),
    ("hs_email_open", "Marketing emails opened", _N, "number", "emailinformation", (), True),
    ("hs_email_last_open_date", "Last marketing email open date", _DT, "date",
     "emailinformation", (), True),
    ("hs_email_click", "Marketing emails clicked", _N, "number", "emailinformation", (), True),
    ("hs_email_last_click_date", "Last marketing email click date", _DT, "date",
     "emailinformation", (), True),
    ("hs_email_bounce", "Marketing emails bounced", _N, "number", "emailinformation", (), True),
    ("hs_email_hard_bounce_reason_enum", "Email hard bounce reason", _E, "select",
     "emailinformation", BOUNCE_REASONS, True),
    ("hs_sales_email_last_replied", "Recent Sales Email Replied Date", _DT, "date",
     "sales_properties", (), True),
)  # fmt: skip
_COMPANY: Final[tuple[_Row, ...]] = (
    ("name", "Company name", _S, "text", "companyinformation", (), False),
    ("domain", "Company Domain Name", _S, "text", "companyinformation", (), False),
    ("numberofemployees", "Number of Employees", _N, "number", "companyinformation", (), False),
    ("industry", "Industry", _S, "text", "companyinformation", (), False),
    ("annualrevenue", "Annual Revenue", _N, "number", "companyinformation", (), False),
    ("country", "Country/Region", _S, "text", "companyinformation", (), False),
    ("hs_object_id", "Record ID", _N, "number", "companyinformation", (), True),
    ("createdate", "Create Date", _DT, "date", "companyinformation", (), True),
    ("hs_lastmodifieddate", "Last Modified Date", _DT, "date", "companyinformation", (), True),
)  # fmt: skip
_ENGAGEMENT_COMMON: Final[tuple[_Row, ...]] = (
    ("hs_object_id", "Record ID", _N, "number", "engagement", (), True),
    ("hs_timestamp", "Activity date", _DT, "date", "engagement", (), False),
    ("hs_createdate", "Create date", _DT, "date", "engagement", (), True),
    ("hs_lastmodifieddate", "Last modified date", _DT, "date", "engagement", (), True),
)
_ENGAGEMENT: Final[dict[str, tuple[_Row, ...]]] = {
    "meetings": (
        ("hs_meeting_title", "Meeting name", _S, "text", "meeting", (), False),
        ("hs_meeting_start_time", "Start time", _DT, "date", "meeting", (), False),
        ("hs_meeting_end_time", "End time", _DT, "date", "meeting", (), False),
        ("hs_meeting_outcome", "Outcome", _E, "select", "meeting",
         ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"), False),
    ),
    "calls": (
        ("hs_call_title", "Call title", _S, "text", "call", (), False),
        ("hs_call_status", "Call status", _E, "select", "call",
         ("COMPLETED", "NO_ANSWER", "BUSY", "FAILED", "CANCELED"), False),
        ("hs_call_direction", "Call direction", _E, "select", "call",
         ("INBOUND", "OUTBOUND"), False),
    ),
    "emails": (
        ("hs_email_subject", "Subject", _S, "text", "email", (), False),
        ("hs_email_direction", "Email direction", _E, "select", "email",
         ("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"), False),
        ("hs_email_status", "Email send status", _E, "select", "email",
         ("SENT", "BOUNCED", "FAILED", "SCHEDULED", "SENDING"), False),
    ),
    "notes": (("hs_note_body", "Note body", _S, "textarea", "note", (), False),),
    "tasks": (
        ("hs_task_subject", "Task title", _S, "text", "task", (), False),
        ("hs_task_status", "Task status", _E, "select", "task",
         ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"), False),
        ("hs_task_type", "Task type", _E, "select", "task", ("EMAIL", "CALL", "TODO"), False),
        ("hs_task_body", "Task notes", _S, "textarea", "task", (), False),
        ("hs_task_priority", "Priority", _E, "select", "task", ("LOW", "MEDIUM", "HIGH"), False),
        # An enumeration of the account's owners in HubSpot; the sandbox has no owner list.
        ("hubspot_owner_id", "Assigned to", _E, "select", "task", (), False),
    ),
}  # fmt: skip
_GROUPS: Final = {
    "contacts": (
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("analyticsinformation", "Web analytics history"),
        ("conversioninformation", "Conversion information"),
        ("sales_properties", "Sales properties"),
    ),
    "companies": (("companyinformation", "Company information"),),
}


def default_properties(object_type: str) -> dict[str, PropertyDef]:
    """Fresh (mutable) definitions for one object type, keyed by name."""
    rows: tuple[_Row, ...]
    if object_type == "contacts":
        rows = _CONTACT
    elif object_type == "companies":
        rows = _COMPANY
    else:
        rows = _ENGAGEMENT_COMMON + _ENGAGEMENT.get(object_type, ())
    out: dict[str, PropertyDef] = {}
    for i, (name, label, typ, ftype, group, options, ro) in enumerate(rows):
        defined = name != "tech_stack"  # tech_stack is the account's custom property
        out[name] = PropertyDef(
            name, label, typ, ftype, group, options, defined, ro, display_order=i
        )
    return out


def default_groups(object_type: str) -> dict[str, PropertyGroupDef]:
    rows = _GROUPS.get(object_type, ((object_type[:-1], object_type[:-1].capitalize()),))
    return {n: PropertyGroupDef(n, label, i) for i, (n, label) in enumerate(rows)}
