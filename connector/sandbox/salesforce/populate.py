"""Load synthetic persons into the Salesforce store the way a real org would hold them.

Why these choices: early-stage persons are Leads, later-stage ones Contacts under
an Account (half of them also keep their converted Lead, ``IsConverted = true``, which adapters
must filter out); activities hang off ``WhoId`` (Event for meetings, Task with ``TaskSubtype``
Call/Email for calls, sales touches and replies) or are CampaignMembers (one per campaign and
person, as Salesforce enforces): webinars → Registered/Attended, forms, demo requests, content
downloads and trials → responded members of campaigns of other types.  Some persons are only
invited to a webinar (Status Sent/Planned, not an activity).  Page views and email opens have no
Salesforce representation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from connector.sandbox.salesforce.schema import make_id
from connector.sandbox.salesforce.store import SalesforceStore, to_ms
from connector.sandbox.synthetic import SyntheticPerson

__all__ = ["LEAD_STAGES", "contact_id", "lead_id", "populate"]

LEAD_STAGES = frozenset({"subscriber", "lead", "mql", "sal"})
_REJECTED = frozenset({"UNQUALIFIED", "BAD_TIMING"})
_STATUS = {
    "subscriber": "Open - Not Contacted",
    "lead": "Open - Not Contacted",
    "mql": "Marketing Qualified",
    "sal": "Working - Contacted",
}
_SOURCE = {
    "organic_search": "Organic Search", "paid_search": "Paid Search", "email": "Email",
    "webinar": "Webinar", "referral": "Referral", "direct": "Direct",
    "social_media": "Social", "event": "Event",
}  # fmt: skip
_OWNERS = tuple(make_id("005", n) for n in range(1, 9))
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_CAMPAIGN_OF = {
    "form_submission": ("Web Form", "Web form: {form}"),
    "demo_request": ("Demo Request", "Demo request"),
    "content_download": ("Content", "Content: {name}"),
    "trial_signup": ("Trial", "Free trial"),
    "webinar_registration": ("Webinar", "{name}"),
    "webinar_attendance": ("Webinar", "{name}"),
}
_DEFAULT_WEBINAR = "Webinar: Scoring that sales trusts"

LEAD_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId", "FirstName",
    "LastName", "Name", "Email", "Title", "Company", "NumberOfEmployees", "Industry",
    "AnnualRevenue", "Country", "LeadSource", "Status", "HasOptedOutOfEmail", "IsConverted",
    "ConvertedDate", "ConvertedContactId", "ConvertedAccountId", "Tech_Stack__c",
)  # fmt: skip
CONTACT_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId", "FirstName",
    "LastName", "Name", "Email", "Title", "AccountId", "LeadSource", "HasOptedOutOfEmail",
    "MailingCountry", "Tech_Stack__c", "MQLSync_Stage__c",
)  # fmt: skip
ACCOUNT_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId", "Name", "Website",
    "NumberOfEmployees", "Industry", "AnnualRevenue", "BillingCountry",
)  # fmt: skip
TASK_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId", "WhoId", "Subject",
    "TaskSubtype", "Status", "IsClosed", "ActivityDate", "CompletedDateTime",
)  # fmt: skip
EVENT_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId", "WhoId", "Subject",
    "StartDateTime", "EndDateTime", "ActivityDateTime", "DurationInMinutes",
)  # fmt: skip
MEMBER_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "CampaignId", "LeadId",
    "ContactId", "LeadOrContactId", "Status", "HasResponded", "FirstRespondedDate",
)  # fmt: skip
CAMPAIGN_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId", "Name", "Type",
    "Status", "StartDate", "IsActive",
)  # fmt: skip


def lead_id(person_id: int) -> str:
    """The Lead id of synthetic person ``person_id`` (converted or not)."""
    return make_id("00Q", person_id)


def contact_id(person_id: int) -> str:
    return make_id("003", person_id)


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def populate(store: SalesforceStore, people: Iterable[SyntheticPerson]) -> None:
    """Append every person (and their company and activities) to ``store``."""
    t = store.tables
    add_lead = t["Lead"].factory(LEAD_COLS)
    has_stage = t["Contact"].obj.field("MQLSync_Stage__c") is not None  # unprovisioned org
    add_contact_row = t["Contact"].factory(CONTACT_COLS if has_stage else CONTACT_COLS[:-1])

    def add_contact(*values: object) -> None:
        add_contact_row(*(values if has_stage else values[:-1]))

    add_account = t["Account"].factory(ACCOUNT_COLS)
    add_task = t["Task"].factory(TASK_COLS)
    add_event = t["Event"].factory(EVENT_COLS)
    add_member = t["CampaignMember"].factory(MEMBER_COLS)
    add_campaign = t["Campaign"].factory(CAMPAIGN_COLS)
    campaigns: dict[str, str] = {}
    campaign_epoch = to_ms(datetime(2024, 1, 1, tzinfo=UTC))
    accounts_by_id = t["Account"].by_id
    serial = {"00T": 0, "00U": 0, "00v": 0}

    def campaign(kind: str, name: str) -> str:
        cid = campaigns.get(name)
        if cid is None:
            cid = make_id("701", len(campaigns) + 1)
            campaigns[name] = cid
            add_campaign(cid, campaign_epoch, campaign_epoch, campaign_epoch, _OWNERS[0], name,
                         kind, "In Progress", _date(campaign_epoch), True)  # fmt: skip
        return cid

    def next_id(prefix: str) -> str:
        serial[prefix] += 1
        return make_id(prefix, serial[prefix])

    for p in people:
        created, modified = to_ms(p.created_at), to_ms(p.modified_at)
        owner = _OWNERS[p.id % len(_OWNERS)]
        co = p.company
        name = f"{p.firstname} {p.lastname}"
        source = _SOURCE.get(p.source, p.source.replace("_", " ").title())
        revenue = float(co.annual_revenue) if co.annual_revenue is not None else None
        lid = lead_id(p.id)
        if p.stage in LEAD_STAGES:
            status = "Closed - Not Converted" if p.lead_status in _REJECTED else _STATUS[p.stage]
            add_lead(lid, created, modified, modified, owner, p.firstname, p.lastname, name,
                     p.email, p.title, co.name, co.employees, co.industry, revenue, co.country,
                     source, status, p.email_opt_out, False, None, None, None,
                     co.tech_stack)  # fmt: skip
            who, member_lead, member_contact = lid, lid, None
        else:
            aid = make_id("001", co.id)
            if aid not in accounts_by_id:
                add_account(aid, created, created, created, owner, co.name, co.domain,
                            co.employees, co.industry, revenue, co.country)  # fmt: skip
            who = contact_id(p.id)
            add_contact(who, created, modified, modified, owner, p.firstname, p.lastname, name,
                        p.email, p.title, aid, source, p.email_opt_out, co.country,
                        co.tech_stack, p.stage)  # fmt: skip
            member_lead, member_contact = None, who
            if p.id % 2 == 0:  # converted Lead kept alongside the Contact
                add_lead(lid, created, created, created, owner, p.firstname, p.lastname, name,
                         p.email, p.title, co.name, co.employees, co.industry, revenue,
                         co.country, source, "Closed - Converted", p.email_opt_out, True,
                         _date(created), who, aid, co.tech_stack)  # fmt: skip
                member_lead = lid
        members: dict[str, list[object]] = {}
        for a in p.activities:
            at = to_ms(a.at)
            kind = a.type
            if kind == "meeting":
                subject = a.detail.get("title", "Meeting")
                booked = max(created, at - _DAY_MS)
                add_event(next_id("00U"), booked, booked, booked, owner, who, subject, at,
                          at + _HOUR_MS // 2, at, 30)  # fmt: skip
            elif kind in ("call", "sales_touch", "email_reply"):
                tid = next_id("00T")
                if kind == "call":
                    subtype, subject = "Call", f"Call: {a.detail.get('outcome', 'logged')}"
                else:
                    subtype, subject = "Email", "Email: " + a.detail.get("subject", "Follow up")
                done = serial["00T"] % 6 != 0  # every sixth task is still open
                add_task(tid, at, at, at, owner, who, subject, subtype,
                         "Completed" if done else "Not Started", done, _date(at),
                         at if done else None)  # fmt: skip
            elif kind in _CAMPAIGN_OF:
                ctype, pattern = _CAMPAIGN_OF[kind]
                cname = pattern.format(form=a.detail.get("form", "contact"),
                                       name=a.detail.get("name", _DEFAULT_WEBINAR))  # fmt: skip
                cid = campaign(ctype, cname)
                m = members.get(cid)
                if m is None:
                    members[cid] = [at, "Registered" if ctype == "Webinar" else "Responded"]
                elif kind == "webinar_attendance":
                    m[1] = "Attended"
                if kind == "webinar_attendance" and m is None:
                    members[cid][1] = "Attended"
        if not members and p.id % 11 == 0:
            cid = campaign("Webinar", _DEFAULT_WEBINAR)
            invited = "Sent" if p.id % 22 == 0 else "Planned"
            add_member(next_id("00v"), created, created, created, cid, member_lead,
                       member_contact, who, invited, False, None)  # fmt: skip
        for cid, (first, mstatus) in members.items():
            assert isinstance(first, int)
            add_member(next_id("00v"), first, first, first, cid, member_lead, member_contact,
                       who, mstatus, True, _date(first))  # fmt: skip
    store.set_serials(serial)
