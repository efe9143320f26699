"""Load synthetic people into HubSpot-shaped tables: contacts, companies, engagements, rollups.

Mapping (documented for mapping authors):
- stage → ``lifecyclestage``: subscriber, lead, mql → marketingqualifiedlead, **sal →
  marketingqualifiedlead with hs_lead_status IN_PROGRESS/CONNECTED** (sales accepted and working;
  HubSpot has no default SAL stage), sql → salesqualifiedlead, opportunity, customer.
- source → ``hs_analytics_source`` enum (organic_search → ORGANIC_SEARCH, email →
  EMAIL_MARKETING, webinar → OTHER_CAMPAIGNS, event → OFFLINE, direct → DIRECT_TRAFFIC …).
- page views → ``hs_analytics_num_page_views`` + first/last visit timestamp and URL; form
  conversions (demo request, trial, download, webinar registration, form) →
  ``num_conversion_events`` and first/recent conversion date + name ("Demo request",
  "Free trial", "Case study: …", "Ebook: …", "Webinar: …", "Newsletter", "Contact us");
  email opens/clicks/bounces → counts and last dates, hard-bounce reason; email replies →
  ``hs_sales_email_last_replied``.
- meeting → meetings, call → calls, sales_touch → emails (``EMAIL``), email_reply → emails
  (``INCOMING_EMAIL``), each associated with the contact; a few notes and tasks are added.
  chat, product_usage, webinar_attendance, unsubscribe have no HubSpot rollup here (unsubscribe
  sets ``hs_email_optout``).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from datetime import datetime

from connector.sandbox.hubspot.columns import IntColumn, StrColumn, TsColumn
from connector.sandbox.hubspot.schema import LIFECYCLE_ORDER
from connector.sandbox.hubspot.table import ObjectTable
from connector.sandbox.synthetic import SyntheticActivity, SyntheticPerson, generate_people

__all__ = ["ENGAGEMENT_BASE", "LIFECYCLE_OF_STAGE", "Loaded", "load_synthetic"]

LIFECYCLE_OF_STAGE = {
    "subscriber": "subscriber", "lead": "lead", "mql": "marketingqualifiedlead",
    "sal": "marketingqualifiedlead", "sql": "salesqualifiedlead",
    "opportunity": "opportunity", "customer": "customer",
}  # fmt: skip
_SOURCE = {
    "organic_search": "ORGANIC_SEARCH", "paid_search": "PAID_SEARCH", "email": "EMAIL_MARKETING",
    "webinar": "OTHER_CAMPAIGNS", "referral": "REFERRALS", "direct": "DIRECT_TRAFFIC",
    "social_media": "SOCIAL_MEDIA", "event": "OFFLINE",
}  # fmt: skip
_FORM_NAME = {"newsletter": "Newsletter", "contact-us": "Contact us", "demo": "Demo request"}
_ASSET_PREFIX = {"ebook": "Ebook: ", "whitepaper": "Whitepaper: "}
# Engagement ids live in their own ranges so an id names one object type, as in HubSpot.
ENGAGEMENT_BASE = {
    "meetings": 30_000_000_000, "calls": 40_000_000_000, "emails": 50_000_000_000,
    "notes": 60_000_000_000, "tasks": 70_000_000_000,
}  # fmt: skip
_NOTES = ("Left voicemail, will follow up.", "Asked for pricing for 50 seats.",
          "Not the decision maker; referred to VP.")  # fmt: skip
_TASKS = ("Follow up on demo", "Send case study", "Call back next week")
_HALF_HOUR_MS = 30 * 60 * 1000


class Loaded:
    """Result of :func:`load_synthetic`: the tables and their associations."""

    def __init__(self, n: int) -> None:
        self.contacts = ObjectTable("contacts", n)
        self.companies = ObjectTable("companies", 0)
        self.engagements = {k: ObjectTable(k, 0, base=b) for k, b in ENGAGEMENT_BASE.items()}
        self.contact_company = array("i", [-1]) * n  # company row per contact row
        self.engagement_contact = {k: array("i") for k in ENGAGEMENT_BASE}  # eng row → contact
        self.contact_engagements: dict[str, dict[int, list[int]]] = {k: {} for k in ENGAGEMENT_BASE}
        self.max_ms = 0


MQL_DATE = "hs_lifecyclestage_marketingqualifiedlead_date"
MQL_ORDER = LIFECYCLE_ORDER["marketingqualifiedlead"]


def _ms(dt: datetime) -> int:
    return int(dt.timestamp()) * 1000


def load_synthetic(n: int, *, seed: int, now: datetime | None) -> Loaded:
    """Stream ``n`` synthetic people into column tables (no per-person dicts kept)."""
    out = Loaded(n)
    cols = out.contacts.columns
    s = {name: c.vals for name, c in cols.items() if isinstance(c, StrColumn)}
    i = {name: c.vals for name, c in cols.items() if isinstance(c, IntColumn | TsColumn)}
    company_row: dict[int, int] = {}
    conv_names: dict[tuple[str, str], str] = {}
    for p in generate_people(n, seed=seed, now=now):
        row = p.id - 1
        c = p.company
        crow = company_row.get(c.id)
        if crow is None:
            crow = company_row[c.id] = _add_company(out, p)
        out.contact_company[row] = crow
        s["email"][row] = p.email
        s["firstname"][row] = p.firstname
        s["lastname"][row] = p.lastname
        s["jobtitle"][row] = p.title
        s["company"][row] = c.name
        s["industry"][row] = c.industry
        s["country"][row] = c.country
        s["tech_stack"][row] = c.tech_stack
        if c.employees is not None:
            i["numberofemployees"][row] = c.employees
        if c.annual_revenue is not None:
            i["annualrevenue"][row] = c.annual_revenue
        s["lifecyclestage"][row] = LIFECYCLE_OF_STAGE[p.stage]
        s["hs_lead_status"][row] = p.lead_status
        s["hs_email_optout"][row] = "true" if p.email_opt_out else "false"
        s["hs_analytics_source"][row] = _SOURCE.get(p.source, "OTHER_CAMPAIGNS")
        created, modified = _ms(p.created_at), _ms(p.modified_at)
        i["createdate"][row] = created
        if LIFECYCLE_ORDER[LIFECYCLE_OF_STAGE[p.stage]] >= MQL_ORDER and p.id % 5:
            # HubSpot stamps the day a contact became an MQL; one in five past-MQL contacts
            # skipped the stage (moved straight to SQL by sales) and has none.
            i[MQL_DATE][row] = created + (max(_ms(p.modified_at), created) - created) // 2
        i["lastmodifieddate"][row] = modified
        out.max_ms = max(out.max_ms, modified)
        _rollups(out, row, p, s, i, conv_names)
    return out


def _add_company(out: Loaded, p: SyntheticPerson) -> int:
    t = out.companies
    row = t.add_row()
    c = p.company
    t.columns["name"].set(row, c.name)
    t.columns["domain"].set(row, c.domain)
    t.columns["industry"].set(row, c.industry)
    t.columns["country"].set(row, c.country)
    emp, rev = t.columns["numberofemployees"], t.columns["annualrevenue"]
    assert isinstance(emp, IntColumn) and isinstance(rev, IntColumn)
    emp.set_int(row, c.employees)
    rev.set_int(row, c.annual_revenue)
    created = _ms(p.created_at) - 86_400_000 * (1 + c.id % 90)
    t.created.set_ms(row, created)
    t.modified.set_ms(row, created)
    return row


def _conv_name(a: SyntheticActivity, cache: dict[tuple[str, str], str]) -> str | None:
    t = a.type
    if t == "demo_request":
        return "Demo request"
    if t == "trial_signup":
        return "Free trial"
    if t == "form_submission":
        form = a.detail.get("form", "")
        return _FORM_NAME.get(form, form.replace("-", " ").capitalize())
    if t == "content_download" or t == "webinar_registration":
        key = (a.detail.get("asset_type", ""), a.detail.get("name", ""))
        name = cache.get(key)
        if name is None:
            name = cache[key] = _ASSET_PREFIX.get(key[0], "") + key[1]
        return name
    return None


def _rollups(
    out: Loaded,
    row: int,
    p: SyntheticPerson,
    s: dict[str, list[str | None]],
    i: dict[str, array[int]],
    conv_cache: dict[tuple[str, str], str],
) -> None:
    pv = opens = clicks = bounces = convs = 0
    for a in p.activities:
        t = a.type
        ms = _ms(a.at)
        if t == "page_view":
            pv += 1
            url = a.detail.get("url")
            if pv == 1:
                i["hs_analytics_first_visit_timestamp"][row] = ms
                s["hs_analytics_first_url"][row] = url
            i["hs_analytics_last_visit_timestamp"][row] = ms
            s["hs_analytics_last_url"][row] = url
        elif t == "email_open":
            opens += 1
            i["hs_email_last_open_date"][row] = ms
        elif t == "email_click":
            clicks += 1
            i["hs_email_last_click_date"][row] = ms
        elif t == "email_bounce":
            bounces += 1
            s["hs_email_hard_bounce_reason_enum"][row] = a.detail.get("reason", "UNKNOWN")
        elif t in ("meeting", "call", "sales_touch", "email_reply"):
            _engagement(out, row, a, ms)
            if t == "email_reply":
                i["hs_sales_email_last_replied"][row] = ms
        else:
            name = _conv_name(a, conv_cache)
            if name is not None:
                convs += 1
                if convs == 1:
                    i["first_conversion_date"][row] = ms
                    s["first_conversion_event_name"][row] = name
                i["recent_conversion_date"][row] = ms
                s["recent_conversion_event_name"][row] = name
    i["hs_analytics_num_page_views"][row] = pv
    i["num_conversion_events"][row] = convs
    i["hs_email_open"][row] = opens
    i["hs_email_click"][row] = clicks
    i["hs_email_bounce"][row] = bounces
    h = (p.id * 2654435761) % 100  # cheap deterministic draw for notes/tasks
    later = p.stage not in ("subscriber", "lead")
    if h < (30 if later else 2):
        ms = _ms(p.modified_at)
        add_engagement_row(out, "notes", row, ms, {"hs_note_body": _NOTES[h % 3]})
    if h % 7 == 0 and later:
        ms = _ms(p.modified_at)
        props = {"hs_task_subject": _TASKS[h % 3], "hs_task_status": "NOT_STARTED",
                 "hs_task_type": ("CALL", "EMAIL", "TODO")[h % 3]}  # fmt: skip
        add_engagement_row(out, "tasks", row, ms, props)


def _engagement(out: Loaded, row: int, a: SyntheticActivity, ms: int) -> None:
    t, d = a.type, a.detail
    props: dict[str, str | int]
    if t == "meeting":
        props = {
            "hs_meeting_title": d.get("title", "Meeting"),
            "hs_meeting_outcome": "COMPLETED",
            "hs_meeting_start_time": ms,
            "hs_meeting_end_time": ms + _HALF_HOUR_MS,
        }
        add_engagement_row(out, "meetings", row, ms, props)
    elif t == "call":
        status = "COMPLETED" if d.get("outcome") == "connected" else "NO_ANSWER"
        props = {
            "hs_call_title": "Outbound call",
            "hs_call_status": status,
            "hs_call_direction": "OUTBOUND",
        }
        add_engagement_row(out, "calls", row, ms, props)
    else:
        direction = "INCOMING_EMAIL" if t == "email_reply" else "EMAIL"
        props = {
            "hs_email_subject": d.get("subject", ""),
            "hs_email_direction": direction,
            "hs_email_status": "SENT",
        }
        add_engagement_row(out, "emails", row, ms, props)  # fmt: skip


def add_engagement_row(
    out: Loaded, kind: str, contact_row: int, ms: int, props: Mapping[str, str | int]
) -> int:
    """Append one engagement associated with a contact (none when ``contact_row`` < 0, as an
    API-created task may be); ints in props are epoch ms/numbers."""
    t = out.engagements[kind]
    row = t.add_row()
    ts = t.columns["hs_timestamp"]
    assert isinstance(ts, TsColumn)
    ts.set_ms(row, ms)
    t.created.set_ms(row, ms)
    t.modified.set_ms(row, ms)
    for name, value in props.items():
        col = t.columns.get(name)
        if col is None:
            continue
        if isinstance(value, int) and isinstance(col, TsColumn | IntColumn):
            col.vals[row] = value
        else:
            col.set(row, str(value))
    out.engagement_contact[kind].append(contact_row)
    if contact_row >= 0:
        out.contact_engagements[kind].setdefault(contact_row, []).append(row)
    return row
