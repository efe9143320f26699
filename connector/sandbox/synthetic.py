"""Seeded synthetic B2B contacts, companies and activity histories for the CRM sandboxes.

Why: no real CRM is reachable, yet the emulators, the demo, the benchmarks and the backtests need
data whose distributions look like a real funnel and which carries a hidden outcome.

Model (per person, all draws from ``random.Random(seed * 1_000_003 + id)`` so person ``k`` is
regenerated alone, independent of ``n``):

1. company: persons are grouped in blocks of 32 ids sharing 10 companies with skewed weights, so
   accounts have 1..~10 contacts (buying groups exist); companies come from :func:`company_for`.
2. fit (title seniority, 50-500 employees, target industry, revenue band, email kind) and a latent
   intent ~ Beta(1.3, 3).
3. ``converted`` = Bernoulli(logistic(-4.6 + 2.8 fit + 5 intent + N(0, 0.8))): ~8-12 % overall.
4. stage conditioned on ``converted`` and intent (customers and opportunities are converted).
5. activities: a hand-raise (demo request / trial) with probability rising with intent, then
   ~Exp(mean 2 + 30 intent) further activities (cap 60) drawn from intent-tier tables; sales
   activities (meeting, call, sales touch, email reply) only from MQL on; a few bounces and
   unsubscribes; job seekers browse ``/careers``.

Throughput: 100k people (~1.2M activities) in ~3-4 s on one core (see
``benchmarks/bench_sandbox_startup.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "DEFAULT_NOW",
    "STAGES",
    "SyntheticActivity",
    "SyntheticCompany",
    "SyntheticPerson",
    "company_for",
    "generate_people",
    "person_for",
]

DEFAULT_NOW: Final = datetime(2026, 11, 1, tzinfo=UTC)
STAGES: Final = ("subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer")
SITE: Final = "https://example.com"
_PERSON_MULT: Final = 1_000_003
_COMPANY_SALT: Final = 1 << 40
_BLOCK: Final = 32
_COMPANIES_PER_BLOCK: Final = 10
_DAY: Final = 86_400.0


@dataclass(slots=True, frozen=True)
class SyntheticCompany:
    id: int
    name: str
    domain: str
    employees: int | None
    industry: str | None
    annual_revenue: int | None
    country: str
    tech_stack: str  # e.g. "HubSpot;Outreach;Slack"


@dataclass(slots=True, frozen=True)
class SyntheticActivity:
    """One canonical activity (the canonical vocabulary); ``at`` is tz-aware UTC.

    ``detail`` dicts are shared between activities for speed: treat them as read-only.
    """

    type: str
    at: datetime
    detail: dict[str, str]


@dataclass(slots=True)
class SyntheticPerson:
    id: int
    email: str
    firstname: str
    lastname: str
    title: str | None
    company: SyntheticCompany
    source: str
    stage: str
    lead_status: str | None
    email_opt_out: bool
    created_at: datetime
    modified_at: datetime
    activities: list[SyntheticActivity]
    converted: bool


class _Table(Generic[T]):
    """Weighted choice by lookup: each value repeated ``weight`` times (integer weights).

    One ``random()`` call and an index per draw: ~5x faster than ``rng.choices``.
    """

    __slots__ = ("lut", "size")

    def __init__(self, pairs: Sequence[tuple[T, int]]) -> None:
        self.lut: list[T] = [v for v, w in pairs for _ in range(w)]
        self.size = len(self.lut)

    def pick(self, rng: random.Random) -> T:
        return self.lut[int(rng.random() * self.size)]

    def many(self, rng: random.Random, k: int) -> list[T]:
        lut, size, rand = self.lut, self.size, rng.random
        return [lut[int(rand() * size)] for _ in range(k)]


_FIRST = (
    "Ana", "James", "Maria", "Wei", "Olivia", "Liam", "Sofia", "Noah", "Emma", "Lucas", "Mia",
    "Ethan", "Ava", "Mateo", "Chloe", "Arjun", "Priya", "Hannah", "Omar", "Fatima", "Jonas",
    "Elena", "Diego", "Yuki", "Kenji", "Sara", "Tom", "Grace", "Leo", "Nina", "Raj", "Aisha",
    "Paul", "Laura", "Marco", "Julia", "Ben", "Zoe", "Ivan", "Lea",
)  # fmt: skip
_LAST = (
    "Silva", "Smith", "Garcia", "Chen", "Müller", "Johnson", "Brown", "Rossi", "Kim", "Nguyen",
    "Patel", "Dubois", "Novak", "Jensen", "Kowalski", "Tanaka", "Lopez", "Martin", "Cohen",
    "Okafor", "Schmidt", "Larsen", "Costa", "Ahmed", "Walsh", "Moreau", "Ivanova", "Singh",
    "Becker", "Haddad", "Fischer", "Reyes", "Andersson", "Murphy", "Weber", "Rahman", "Santos",
    "Bianchi", "Lee", "Clark",
)  # fmt: skip
_NAME_A = (
    "Acme", "North", "Bright", "Blue", "Silver", "Iron", "Quantum", "Nova", "Apex", "Cloud",
    "Summit", "River", "Stellar", "Pixel", "Cedar", "Harbor", "Vertex", "Atlas", "Lumen",
    "Orbit", "Granite", "Falcon", "Maple", "Echo", "Zen", "Swift", "Beacon", "Crimson", "Pine",
    "Delta",
)  # fmt: skip
_NAME_B = (
    "wave", "works", "forge", "logic", "stack", "point", "path", "field", "gate", "line",
    "bridge", "loop", "scale", "grid",
)  # fmt: skip
_NAME_SUFFIX = ("", " Inc", " Labs", " Systems", " Group", " Technologies", " Health", " Retail")
_TLDS = _Table([("com", 70), ("io", 15), ("co", 8), ("de", 4), ("co.uk", 3)])
_INDUSTRY: _Table[str | None] = _Table(
    [
        ("Software", 20), ("SaaS", 14), ("Fintech", 7), ("Financial Services", 9), ("Retail", 10),
        ("Education", 6), ("Healthcare", 9), ("Manufacturing", 10), ("Media", 4),
        ("Consulting", 5), (None, 6),
    ]
)  # fmt: skip
_COUNTRY = _Table(
    [
        ("US", 48), ("GB", 10), ("DE", 8), ("CA", 6), ("FR", 5), ("AU", 4), ("IN", 5),
        ("BR", 4), ("NL", 4), ("ES", 3), ("SE", 3),
    ]
)  # fmt: skip
_TOOLS = (
    "HubSpot", "Salesforce", "Outreach", "Salesloft", "Slack", "Zoom", "Marketo", "Segment",
    "Snowflake", "Intercom", "Gong", "Zendesk",
)  # fmt: skip
_TOOL_WEIGHTS = (30, 35, 18, 10, 60, 45, 12, 10, 12, 12, 10, 15)
_SOURCE = _Table(
    [
        ("organic_search", 30), ("paid_search", 15), ("email", 11), ("webinar", 9),
        ("referral", 9), ("direct", 16), ("social_media", 6), ("event", 4),
    ]
)  # fmt: skip
_TITLE: _Table[str | None] = _Table(
    [
        ("VP Marketing", 4), ("VP of Sales", 3), ("Vice President, Revenue Operations", 1),
        ("Director of Marketing", 5), ("Director of Demand Generation", 3),
        ("Sales Director", 2), ("Head of Growth", 3), ("Head of Sales", 2),
        ("Chief Revenue Officer", 1), ("CMO", 1), ("CEO", 1), ("Founder", 1),
        ("Marketing Manager", 12), ("Sales Manager", 6), ("Marketing Operations Manager", 5),
        ("Account Executive", 6), ("Marketing Coordinator", 6), ("Software Engineer", 8),
        ("Data Analyst", 4), ("Product Manager", 4), ("Consultant", 3), ("Intern", 1),
        (None, 8),
    ]
)  # fmt: skip
_SENIOR_WORDS: Final = (
    "VP",
    "Vice President",
    "Director",
    "Head of",
    "Chief",
    "CMO",
    "CEO",
    "Founder",
)
_SENIOR_TITLES: Final = frozenset(
    str(t) for t in set(_TITLE.lut) if t is not None and any(w in str(t) for w in _SENIOR_WORDS)
)
_PERSONAL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com")
_EDU = ("stateu.edu", "mit.edu", "uni-example.edu", "college.edu")
_COMPETITOR = ("competitor.com", "rival.io")
_TARGET_INDUSTRIES: Final = frozenset({"Software", "SaaS", "Fintech", "Financial Services"})

_BLOG = tuple(
    f"{SITE}/blog/{s}"
    for s in (
        "what-is-an-mql", "lead-scoring-101", "sales-marketing-alignment", "abm-playbook",
        "intent-data", "email-benchmarks", "funnel-metrics", "crm-hygiene",
    )
)  # fmt: skip


def _detail_table(pairs: Sequence[tuple[dict[str, str], int]]) -> _Table[dict[str, str]]:
    return _Table(pairs)


_PAGE = _detail_table(
    [({"url": u}, 3) for u in _BLOG]
    + [
        ({"url": f"{SITE}/"}, 14), ({"url": f"{SITE}/product"}, 8),
        ({"url": f"{SITE}/features"}, 6), ({"url": f"{SITE}/integrations"}, 4),
        ({"url": f"{SITE}/customers"}, 3), ({"url": f"{SITE}/docs/getting-started"}, 3),
        ({"url": f"{SITE}/about"}, 2), ({"url": f"{SITE}/careers"}, 1),
    ]
)  # fmt: skip
_PRICING = {"url": f"{SITE}/pricing"}
_CAREERS = _detail_table([({"url": f"{SITE}/careers"}, 3), ({"url": f"{SITE}/careers/jobs"}, 1)])
_DOWNLOAD = _detail_table(
    [
        ({"asset_type": "case_study", "name": "Case study: Acme doubles pipeline"}, 3),
        ({"asset_type": "case_study", "name": "Case study: Northwind cuts CAC"}, 2),
        ({"asset_type": "ebook", "name": "The MQL playbook"}, 4),
        ({"asset_type": "ebook", "name": "Lead scoring for B2B SaaS"}, 3),
        ({"asset_type": "whitepaper", "name": "State of demand gen 2026"}, 3),
    ]
)
_FORM = _detail_table(
    [({"form": "newsletter"}, 6), ({"form": "contact-us"}, 3), ({"form": "demo"}, 1)]
)
_CAMPAIGNS = ("October newsletter", "Product update", "Webinar invite", "Nurture: scoring")
_EMAIL = _detail_table([({"campaign": c}, 1) for c in _CAMPAIGNS])
_EMAIL_CLICK = _detail_table([({"campaign": c, "url": f"{SITE}/blog/lead-scoring-101"}, 1)
                              for c in _CAMPAIGNS])  # fmt: skip
_WEBINARS = ("Webinar: Scoring that sales trusts", "Webinar: ABM in practice")
_WEBINAR = _detail_table([({"name": w}, 1) for w in _WEBINARS])
_MEETING = _detail_table([({"title": "Discovery call"}, 3), ({"title": "Product demo"}, 2)])
_CALL = _detail_table([({"outcome": "connected"}, 2), ({"outcome": "no_answer"}, 3)])
_TOUCH = _detail_table([({"subject": "Following up"}, 2), ({"subject": "Quick question"}, 1)])
_REPLY = _detail_table([({"subject": "Re: Following up"}, 1)])
_USAGE = _detail_table([({"feature": f}, 1) for f in ("import", "scoring", "reports", "sync")])
_BOUNCE = _detail_table([({"reason": "BAD_MAILBOX"}, 3), ({"reason": "MAILBOX_FULL"}, 1)])
_EMPTY: dict[str, str] = {}

# Activity mix per intent tier (type, weight); hand-raises and sales activities are added apart.
_MIX = tuple(
    _Table(pairs)
    for pairs in (
        [("page_view", 45), ("email_open", 30), ("email_click", 5), ("form_submission", 4),
         ("content_download", 3), ("webinar_registration", 1)],
        [("page_view", 45), ("email_open", 22), ("email_click", 8), ("form_submission", 5),
         ("content_download", 7), ("webinar_registration", 3), ("pricing", 4), ("chat", 1)],
        [("page_view", 40), ("email_open", 15), ("email_click", 9), ("form_submission", 6),
         ("content_download", 9), ("webinar_registration", 5), ("pricing", 12), ("chat", 2)],
    )
)  # fmt: skip
_SALES_MIX = _Table([("sales_touch", 5), ("email_open", 2), ("call", 3), ("meeting", 2),
                     ("email_reply", 2)])  # fmt: skip
_DETAIL_OF: Final[dict[str, _Table[dict[str, str]]]] = {
    "page_view": _PAGE, "content_download": _DOWNLOAD, "form_submission": _FORM,
    "email_open": _EMAIL, "email_click": _EMAIL_CLICK, "webinar_registration": _WEBINAR,
    "webinar_attendance": _WEBINAR, "meeting": _MEETING, "call": _CALL, "sales_touch": _TOUCH,
    "email_reply": _REPLY, "product_usage": _USAGE, "email_bounce": _BOUNCE,
}  # fmt: skip
_STATUS: Final[dict[str, _Table[str | None]]] = {
    "subscriber": _Table([(None, 1)]),
    "lead": _Table([(None, 3), ("NEW", 4), ("OPEN", 3), ("ATTEMPTED_TO_CONTACT", 1),
                    ("UNQUALIFIED", 1), ("BAD_TIMING", 1)]),
    "mql": _Table([("NEW", 4), ("OPEN", 3), ("ATTEMPTED_TO_CONTACT", 2), ("IN_PROGRESS", 1),
                   ("UNQUALIFIED", 1), ("BAD_TIMING", 1)]),
    "sal": _Table([("IN_PROGRESS", 3), ("CONNECTED", 1)]),
    "sql": _Table([("CONNECTED", 2), ("OPEN_DEAL", 1)]),
    "opportunity": _Table([("OPEN_DEAL", 1)]),
    "customer": _Table([("OPEN_DEAL", 1), (None, 1)]),
}  # fmt: skip
_STAGE_CONVERTED = _Table([("lead", 1), ("mql", 3), ("sal", 2), ("sql", 3), ("opportunity", 3),
                           ("customer", 4)])  # fmt: skip


@lru_cache(maxsize=8192)
def company_for(company_id: int, *, seed: int = 7) -> SyntheticCompany:
    """The company with this id; a pure function of (seed, id), shared by its contacts."""
    rng = random.Random(seed * _PERSON_MULT + company_id + _COMPANY_SALT)
    a, b = rng.choice(_NAME_A), rng.choice(_NAME_B)
    name = f"{a}{b}{rng.choice(_NAME_SUFFIX)}"
    domain = f"{a.lower()}{b}{company_id}.{_TLDS.pick(rng)}"  # id keeps domains unique
    employees: int | None = None
    if rng.random() >= 0.12:  # ~12 % missing, log-uniform 1..20,000
        employees = min(20_000, max(1, int(math.exp(rng.uniform(0.0, math.log(20_000))))))
    revenue: int | None = None
    if employees is not None and rng.random() >= 0.2:
        revenue = int(employees * rng.lognormvariate(math.log(150_000), 0.5)) // 1000 * 1000
    industry = _INDUSTRY.pick(rng)
    k = rng.randint(2, 5)
    tools = set(rng.choices(_TOOLS, weights=_TOOL_WEIGHTS, k=k))
    stack = ";".join(t for t in _TOOLS if t in tools)
    return SyntheticCompany(
        company_id, name, domain, employees, industry if isinstance(industry, str) else None,
        revenue, str(_COUNTRY.pick(rng)), stack,
    )  # fmt: skip


def _company_id(person_id: int, rng: random.Random) -> int:
    block = (person_id - 1) // _BLOCK
    slot = _COMPANY_SLOT.pick(rng)
    return block * _COMPANIES_PER_BLOCK + slot + 1


_COMPANY_SLOT = _Table([(i, w) for i, w in enumerate((9, 6, 4, 3, 3, 2, 2, 1, 1, 1))])


def _fit(title: str | None, company: SyntheticCompany, email_kind: str) -> float:
    """Latent fit in ~[0, 1] (not the mapping's score: the hidden truth backtests recover)."""
    f = 0.0
    if title in _SENIOR_TITLES:
        f += 0.35
    emp = company.employees
    if emp is not None and 50 <= emp <= 500:
        f += 0.25
    if company.industry in _TARGET_INDUSTRIES:
        f += 0.25
    rev = company.annual_revenue
    if rev is not None and 5_000_000 <= rev <= 50_000_000:
        f += 0.15
    if email_kind != "work":
        f -= 0.8
    return f


def person_for(person_id: int, *, seed: int = 7, now: datetime | None = None) -> SyntheticPerson:
    """Person ``person_id`` (1-based) exactly as :func:`generate_people` yields it."""
    now_ts = (now or DEFAULT_NOW).timestamp()
    return _person(person_id, seed, now_ts)


def generate_people(
    n: int, *, seed: int = 7, now: datetime | None = None
) -> Iterator[SyntheticPerson]:
    """Yield persons 1..n lazily; each one is a pure function of (seed, id, now)."""
    now_ts = (now or DEFAULT_NOW).timestamp()
    for pid in range(1, n + 1):
        yield _person(pid, seed, now_ts)


def _person(pid: int, seed: int, now_ts: float) -> SyntheticPerson:
    rng = random.Random(seed * _PERSON_MULT + pid)
    rand = rng.random
    company = company_for(_company_id(pid, rng), seed=seed)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    u = rand()
    if u < 0.06:
        kind, domain = "personal", rng.choice(_PERSONAL)
    elif u < 0.09:
        kind, domain = "edu", rng.choice(_EDU)
    elif u < 0.10:
        kind, domain = "competitor", rng.choice(_COMPETITOR)
    else:
        kind, domain = "work", company.domain
    email = f"{first.lower()}.{last.lower()}{pid}@{domain}".replace("ü", "u")
    title = "Student" if kind == "edu" and rand() < 0.7 else _TITLE.pick(rng)
    title = title if isinstance(title, str) else None

    fit = _fit(title, company, kind)
    intent = rng.betavariate(1.3, 3.0)
    z = -5.0 + 2.8 * fit + 5.0 * intent + rng.gauss(0.0, 0.8)
    converted = rand() < 1.0 / (1.0 + math.exp(-z))
    if converted:
        stage = str(_STAGE_CONVERTED.pick(rng))
    elif intent > 0.45 and rand() < 0.5:
        stage = "mql" if rand() < 0.75 else "sal"
    else:
        stage = "subscriber" if rand() < 0.4 else "lead"
    status = _STATUS[stage].pick(rng)

    age_days = 1.0 + 720.0 * rand() ** 1.5
    created_ts = now_ts - age_days * _DAY
    acts = _activities(rng, intent, stage, created_ts, now_ts)
    opt_out = any(a.type == "unsubscribe" for a in acts) or rand() < 0.01
    last_ts = acts[-1].at.timestamp() if acts else created_ts
    modified_ts = min(now_ts, max(created_ts, last_ts) + rand() * 3 * _DAY)
    return SyntheticPerson(
        pid, email, first, last, title, company, str(_SOURCE.pick(rng)), stage,
        status if isinstance(status, str) else None, opt_out,
        _utc(created_ts), _utc(modified_ts), acts, converted,
    )  # fmt: skip


def _utc(ts: float) -> datetime:
    return _fromts(int(ts), UTC)


_fromts = datetime.fromtimestamp
_MAX_ACTIVITIES: Final = 60


def _activities(
    rng: random.Random, intent: float, stage: str, created_ts: float, now_ts: float
) -> list[SyntheticActivity]:
    rand = rng.random
    span = now_ts - created_ts
    power = 2.5 if intent > 0.5 else 1.0  # engaged people acted recently
    types: list[str] = []
    if rand() < 0.03 + 0.6 * intent**2:
        types.append("demo_request" if rand() < 0.65 else "trial_signup")
    if STAGES.index(stage) >= 2:  # sales works MQLs and beyond
        types.extend(_SALES_MIX.many(rng, rng.randint(1, 8)))
    if rand() < 0.03:  # job seeker
        types.extend(["careers"] * rng.randint(1, 4))
    if rand() < 0.03:
        types.append("email_bounce")
    if rand() < 0.04:
        types.append("unsubscribe")
    if "trial_signup" in types:
        types.extend(["product_usage"] * rng.randint(0, 6))
    extra = int(rng.expovariate(1.0 / (2.0 + 30.0 * intent)))
    extra = max(0, min(extra, _MAX_ACTIVITIES - len(types) - 4))
    tier = 0 if intent < 0.25 else (1 if intent < 0.5 else 2)
    types.extend(_MIX[tier].many(rng, extra))
    out: list[SyntheticActivity] = []
    append = out.append
    detail_of = _DETAIL_OF.get
    for t in types:
        ts = now_ts - span * rand() ** power
        at = _fromts(int(ts), UTC)
        if t == "pricing":
            append(SyntheticActivity("page_view", at, _PRICING))
        elif t == "careers":
            append(SyntheticActivity("page_view", at, _CAREERS.pick(rng)))
        else:
            table = detail_of(t)
            detail = table.pick(rng) if table is not None else _EMPTY
            append(SyntheticActivity(t, at, detail))
            if t == "webinar_registration" and rand() < 0.5:
                later = min(now_ts, ts + (1.0 + 20.0 * rand()) * _DAY)
                append(SyntheticActivity("webinar_attendance", _utc(later), detail))
    del out[_MAX_ACTIVITIES:]  # webinar attendances may overshoot the cap
    out.sort(key=_at_key)
    return out


def _at_key(a: SyntheticActivity) -> datetime:
    return a.at
