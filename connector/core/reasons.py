"""Score reasons as a sales rep reads them in the CRM: the rules' descriptions, numbers and
dates written for people, and why engagement dropped after a recycle.

`mqlsync score` keeps its JSON contract (rule ids and raw evidence); this is only the text
written to the reasons field, e.g.

    Requested a demo or booked a meeting +100 (2 demo requests, latest 31 Oct 2026);
    Senior title +15 (title VP Marketing); Company revenue $5M–$50M +5 (revenue $9.9M)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from connector.core.scoring import CompiledMapping, Reason, ScoreResult
from connector.mapping.conditions import ActivityEvidence, ValueEvidence

LIMIT = 1000
"""The reasons field holds at most this many characters."""

_NOUNS: dict[str, tuple[str, str]] = {
    "page_view": ("page view", "page views"),
    "form_submission": ("form submission", "form submissions"),
    "content_download": ("download", "downloads"),
    "email_open": ("email open", "email opens"),
    "email_click": ("email click", "email clicks"),
    "email_reply": ("email reply", "email replies"),
    "email_bounce": ("bounced email", "bounced emails"),
    "unsubscribe": ("unsubscribe", "unsubscribes"),
    "webinar_registration": ("webinar registration", "webinar registrations"),
    "webinar_attendance": ("webinar attended", "webinars attended"),
    "meeting": ("meeting", "meetings"),
    "call": ("call", "calls"),
    "chat": ("chat", "chats"),
    "demo_request": ("demo request", "demo requests"),
    "trial_signup": ("trial signup", "trial signups"),
    "product_usage": ("product use", "product uses"),
    "sales_touch": ("sales touch", "sales touches"),
}
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""English month abbreviations: `%b` would follow the process's locale, and the text
written to the CRM must not change with the machine it runs on."""


def day(at: datetime) -> str:
    """`31 Oct 2026`. Always with the year: the text must not change when the calendar
    turns (the daily rescore writes a record only when time changes its score)."""
    at = at.astimezone(UTC)
    return f"{at.day} {_MONTHS[at.month - 1]} {at.year}"


def money(value: float) -> str:
    """`$9.9M`, `$120K`, `$950`."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"${value / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"${value:,.0f}"


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _value(evidence: ValueEvidence) -> str:
    name, value = evidence.field, evidence.value
    number = _number(value)
    if name == "annual_revenue" and number is not None:
        return f"revenue {money(number)}"
    if name == "employees" and number is not None:
        return f"{number:,.0f} employees"
    text = str(evidence)
    return text.replace(" = ", " ").replace("_", " ")


def _activity(evidence: ActivityEvidence) -> str:
    act, count = evidence.activity, evidence.matches
    singular, plural = _NOUNS.get(act.type, (act.type.replace("_", " "),) * 2)
    when = day(act.at)
    if count > 1:
        return f"{count} {plural}, latest {when}"
    return f"{singular} {when}"


def _dates(text: str) -> str:
    """ISO days inside a plain evidence text, written for people."""

    def person(m: re.Match[str]) -> str:
        return day(datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC))

    return _ISO_DAY.sub(person, text)


def detail(reason: Reason) -> str:
    """Why one rule fired, in words: counts and latest dates, revenue, headcount."""
    evidence = reason.raw_evidence
    if isinstance(evidence, ActivityEvidence):
        return _activity(evidence)
    if isinstance(evidence, ValueEvidence):
        return _value(evidence)
    return _dates(str(evidence))


def descriptions(mapping: CompiledMapping) -> dict[str, str]:
    """Rule id → the description the mapping gives it (the id when it has none)."""
    spec = mapping.spec
    out = {r.id: r.description or r.id for r in spec.rules}
    if spec.decay is not None:
        out[spec.decay.id] = "Inactive"
    return out


def reasons_text(
    result: ScoreResult,
    labels: Mapping[str, str],
    *,
    recycled_at: datetime | None = None,
    recycle_reason: str | None = None,
    limit: int = LIMIT,
) -> str:
    """The reasons field: a recycle note, review gates, then each rule that counted, cut at
    whole reasons to `limit` characters (a first part longer than that is shortened)."""
    parts = []
    if recycled_at is not None:
        why = f" ({recycle_reason})" if recycle_reason else ""
        parts.append(
            f"Recycled {day(recycled_at)}{why}: only activity since then counts"
        )
    parts += [f"Review first: {g.reason} ({_dates(g.evidence)})" for g in result.gates]
    for reason in result.reasons:
        label = labels.get(reason.rule, reason.rule)
        parts.append(f"{label} {reason.points:+d} ({detail(reason)})")
    text = ""
    for part in parts:
        candidate = f"{text}; {part}" if text else part
        if len(candidate) > limit:
            if not text:
                text = part[: limit - 1] + "…"
            break
        text = candidate
    return text
