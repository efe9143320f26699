"""Compile mapping conditions into plain closures, once per mapping.

Scoring a record then costs only dictionary look-ups and comparisons: regexes are compiled,
strings case-folded and lists turned into sets here, never per record (issue 3).
Value rules follow design §4: `null` and blank are missing, numeric strings are numbers,
"true"/"false" are booleans, string comparisons ignore case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from connector.mapping.schema import ActivityCondition, Condition, PropertyCondition, TextMatch
from connector.records import Activity

DAY = 86_400.0
ActivityIndex = Mapping[str, list[tuple[float, Activity]]]
"""Activities grouped by type as (epoch seconds, activity); built once per record."""


@dataclass(slots=True)
class Facts:
    """What conditions look at for one record, prepared once per score call."""

    properties: Mapping[str, Any]
    account: Mapping[str, Any]
    activities: ActivityIndex
    engagement_activities: ActivityIndex
    """Activities that still count toward engagement (after a recycle, only newer ones)."""
    now_ts: float


@dataclass(slots=True, frozen=True)
class Hit:
    """A condition that held: how many activities matched (1 for properties) and why."""

    count: int
    evidence: str


Check = Callable[[Facts], Hit | None]


def as_number(value: object) -> float | None:
    """Numbers and numeric strings (CRMs send strings) → float; anything else is missing."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_bool(value: object) -> bool | None:
    """Booleans and the strings "true"/"false"; anything else is missing."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return text == "true"
    return None


def as_text(value: object) -> str | None:
    """Strings (and numbers, as written) for text tests; blank means missing."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def email_domain(value: object) -> str | None:
    """Text after the last `@`, lowercased (design §4)."""
    text = as_text(value)
    if text is None or "@" not in text:
        return None
    return text.rsplit("@", 1)[1].strip().lower() or None


def show_value(value: object) -> str:
    """Render a property value as evidence: JSON-style booleans, integral floats without `.0`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _value_test(
    spec: PropertyCondition,
) -> tuple[Callable[[object], bool], Callable[[object], str]]:
    """The predicate on one property value, and how to show the value as evidence."""
    name = spec.field

    def shown(value: object) -> str:
        return f"{name} = {show_value(value)}"

    if spec.equals is not None:
        expected = spec.equals
        if isinstance(expected, bool):
            return (lambda v: as_bool(v) is expected), shown
        if isinstance(expected, float | int):
            return (lambda v: as_number(v) == expected), shown
        folded = expected.casefold()
        return (lambda v: (t := as_text(v)) is not None and t.casefold() == folded), shown
    if spec.in_ is not None:
        texts = {str(x).casefold() for x in spec.in_ if isinstance(x, str)}
        numbers = {float(x) for x in spec.in_ if not isinstance(x, str)}

        def in_list(v: object) -> bool:
            t = as_text(v)
            if t is not None and t.casefold() in texts:
                return True
            n = as_number(v)
            return n is not None and n in numbers

        return in_list, shown
    if spec.regex is not None:
        search = re.compile(spec.regex).search
        return (lambda v: (t := as_text(v)) is not None and search(t) is not None), shown
    if spec.between is not None or spec.gte is not None or spec.lte is not None:
        low, high = spec.between or (spec.gte, spec.lte)
        lo = -math.inf if low is None else low
        hi = math.inf if high is None else high
        return (lambda v: (n := as_number(v)) is not None and lo <= n <= hi), shown
    if spec.exists is not None:
        wanted = spec.exists
        return (lambda v: (v is not None and v != "") is wanted), shown
    if spec.contains is not None or spec.contains_all is not None:
        needles = [n.casefold() for n in (spec.contains_all or [spec.contains or ""])]

        def contains(v: object) -> bool:
            t = as_text(v)
            if t is None:
                return False
            folded = t.casefold()
            return all(n in folded for n in needles)

        return contains, shown

    def domain_shown(value: object) -> str:
        return f"{name} domain {email_domain(value)}"

    if spec.email_domain_in is not None:
        domains = frozenset(d.strip().lower() for d in spec.email_domain_in)
        return (lambda v: email_domain(v) in domains), domain_shown
    suffixes = tuple(s.strip().lower() for s in spec.email_domain_ends_with or ())
    return (lambda v: (d := email_domain(v)) is not None and d.endswith(suffixes)), domain_shown


def _property_check(spec: PropertyCondition, source: str) -> Check:
    test, shown = _value_test(spec)
    name = spec.field
    prefix = "account." if source == "account" else ""

    def check(facts: Facts) -> Hit | None:
        values = facts.account if source == "account" else facts.properties
        value = values.get(name)
        if test(value):
            return Hit(1, prefix + shown(value))
        return None

    return check


def _text_test(spec: TextMatch) -> Callable[[object], bool]:
    if spec.regex is not None:
        search = re.compile(spec.regex).search
        return lambda v: (t := as_text(v)) is not None and search(t) is not None
    if spec.in_ is not None:
        options = frozenset(x.casefold() for x in spec.in_)
        return lambda v: (t := as_text(v)) is not None and t.casefold() in options
    if spec.equals is not None:
        expected = spec.equals.casefold()
        return lambda v: (t := as_text(v)) is not None and t.casefold() == expected
    needle = (spec.contains or "").casefold()
    return lambda v: (t := as_text(v)) is not None and needle in t.casefold()


SHOWN_DETAIL = ("url", "name", "form", "asset_type", "title", "subject")


def describe_activity(activity: Activity, keys: tuple[str, ...] = ()) -> str:
    """`type detail at YYYY-MM-DD`, the evidence format of design §3."""
    shown = ""
    for key in (*keys, *SHOWN_DETAIL):
        value = as_text(activity.detail.get(key))
        if value:
            shown = f" {value}"
            break
    day = activity.at.astimezone(UTC).date().isoformat()
    return f"{activity.type}{shown} at {day}"


def _activity_check(spec: ActivityCondition, window_days: float | None, engagement: bool) -> Check:
    types = spec.types
    tests = tuple((key, _text_test(match)) for key, match in spec.detail.items())
    keys = tuple(spec.detail)
    min_count = spec.min_count
    days = spec.within_days if spec.within_days is not None else window_days
    span = math.inf if days is None else days * DAY

    def check(facts: Facts) -> Hit | None:
        index = facts.engagement_activities if engagement else facts.activities
        cutoff = facts.now_ts - span
        count = 0
        newest_ts = -math.inf
        newest: Activity | None = None
        for kind in types:
            for ts, act in index.get(kind, ()):
                if ts < cutoff:
                    continue
                if tests and not all(test(act.detail.get(key)) for key, test in tests):
                    continue
                count += 1
                if ts > newest_ts:
                    newest_ts, newest = ts, act
        if count < min_count or newest is None:
            return None
        text = describe_activity(newest, keys)
        if count > 1:
            text = f"{count}× {text.replace(' at ', ', latest at ', 1)}"
        return Hit(count, text)

    return check


def compile_condition(cond: Condition, window_days: float | None, engagement: bool) -> Check:
    """Turn a condition tree into one closure.

    `window_days=None` looks at the whole history (data-quality gates); `engagement=True`
    makes activity tests see only activities that still count toward engagement.
    """
    if cond.property is not None:
        return _property_check(cond.property, "property")
    if cond.account is not None:
        return _property_check(cond.account, "account")
    if cond.activity is not None:
        return _activity_check(cond.activity, window_days, engagement)
    parts = [compile_condition(c, window_days, engagement) for c in cond.any or cond.all or ()]
    if cond.any is not None:

        def any_of(facts: Facts) -> Hit | None:
            for part in parts:
                hit = part(facts)
                if hit is not None:
                    return hit
            return None

        return any_of

    def all_of(facts: Facts) -> Hit | None:
        hits = []
        for part in parts:
            hit = part(facts)
            if hit is None:
                return None
            hits.append(hit)
        return Hit(min(h.count for h in hits), "; ".join(h.evidence for h in hits))

    return all_of
