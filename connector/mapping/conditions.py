"""Compile mapping conditions into plain closures, once per mapping.

Scoring a record then costs only dictionary look-ups and comparisons: regexes are compiled,
strings case-folded and lists turned into sets here, never per record.
Value rules: `null` and blank are missing, numeric strings are numbers,
"true"/"false" are booleans, string comparisons ignore case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.records import Activity
from connector.mapping.schema import ActivityCondition, Condition, PropertyCondition, TextMatch

DAY = 86_400.0
ZERO = timedelta(0)
EPOCH_MIN = datetime.min.replace(tzinfo=UTC)
ActivityIndex = dict[str, list[Activity]]
"""Activities grouped by type, newest first; built once per record."""


class Facts:
    """What conditions look at for one record, prepared once per score call."""

    __slots__ = ("account", "activities", "engagement_activities", "now", "properties")

    def __init__(
        self,
        properties: dict[str, Any],
        account: dict[str, Any],
        activities: ActivityIndex,
        engagement_activities: ActivityIndex,
        now: datetime,
    ) -> None:
        self.properties = properties
        self.account = account
        self.activities = activities
        self.engagement_activities = engagement_activities
        """Activities that still count toward engagement (after a recycle, only newer ones)."""
        self.now = now


class ActivityEvidence:
    """The newest matching activity, rendered to text only when someone reads it.

    Formatting dates and details is most of the cost of a hit; backtests and rescoring
    often need only the numbers, so rendering is deferred to `str()`.
    """

    __slots__ = ("activity", "keys", "matches")

    def __init__(self, activity: Activity, keys: tuple[str, ...], matches: int) -> None:
        self.activity = activity
        self.keys = keys
        self.matches = matches

    def __str__(self) -> str:
        text = describe_activity(self.activity, self.keys)
        if self.matches > 1:
            text = f"{self.matches}× {text.replace(' at ', ', latest at ', 1)}"
        return text


class ValueEvidence:
    """A property or account value that made a rule fire, rendered on first read."""

    __slots__ = ("field", "prefix", "shown", "value")

    def __init__(
        self, shown: Callable[[object], str], prefix: str, value: object, field: str = ""
    ) -> None:
        self.shown = shown
        self.prefix = prefix
        self.value = value
        self.field = field
        """The property's name (for texts written for people)."""

    def __str__(self) -> str:
        return self.prefix + self.shown(self.value)


Evidence = str | ActivityEvidence | ValueEvidence


class Hit:
    """A condition that held: how many activities matched (1 for properties) and why."""

    __slots__ = ("evidence", "matches")

    def __init__(self, matches: int, evidence: Evidence) -> None:
        self.matches = matches
        self.evidence = evidence


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
    """Text after the last `@`, lowercased."""
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
    on_account = source == "account"
    prefix = "account." if on_account else ""

    def check(facts: Facts) -> Hit | None:
        value = (facts.account if on_account else facts.properties).get(name)
        if test(value):
            return Hit(1, ValueEvidence(shown, prefix, value, name))
        return None

    return check


def _text_test(spec: TextMatch) -> Callable[[object], bool]:
    """A detail-field predicate; the `type(v) is str` fast path matters on the hot loop."""
    if spec.regex is not None:
        search = re.compile(spec.regex).search

        def matches(v: object) -> bool:
            t = v if type(v) is str else as_text(v)
            return t is not None and search(t) is not None

        return matches
    if spec.in_ is not None:
        options = frozenset(x.casefold() for x in spec.in_)

        def member(v: object) -> bool:
            t = v if type(v) is str else as_text(v)
            return t is not None and t.casefold() in options

        return member
    if spec.equals is not None:
        expected = spec.equals.casefold()

        def equal(v: object) -> bool:
            t = v if type(v) is str else as_text(v)
            return t is not None and t.casefold() == expected

        return equal
    needle = (spec.contains or "").casefold()

    def contains(v: object) -> bool:
        t = v if type(v) is str else as_text(v)
        return t is not None and needle in t.casefold()

    return contains


SHOWN_DETAIL = ("url", "name", "form", "asset_type", "title", "subject")


def describe_activity(activity: Activity, keys: tuple[str, ...] = ()) -> str:
    """`type detail at YYYY-MM-DD`, the evidence `mqlsync score` prints for an activity."""
    shown = ""
    detail = activity.detail
    if detail:  # most activities carry none: skip the key scan
        for key in (*keys, *SHOWN_DETAIL):
            value = detail.get(key)
            if value is not None and (text := as_text(value)):
                shown = f" {text}"
                break
    at = activity.at
    if at.tzinfo is not UTC and at.utcoffset() != ZERO:
        at = at.astimezone(UTC)
    return f"{activity.type}{shown} at {at.date().isoformat()}"


def _activity_check(
    spec: ActivityCondition, window_days: float | None, engagement: bool, count_all: bool
) -> Check:
    types = spec.types
    tests = tuple((key, _text_test(m)) for key, m in spec.detail.items())
    keys = tuple(spec.detail)
    min_count = spec.min_count
    days = spec.within_days if spec.within_days is not None else window_days
    span = None if days is None else timedelta(days=days)
    first_is_enough = not count_all and min_count == 1 and len(types) == 1
    # One detail test is the common shape (url contains "/pricing"): test it inline.
    key, test = tests[0] if len(tests) == 1 else ("", None)

    def accepts(act: Activity) -> bool:
        if test is not None:
            return test(act.detail.get(key))
        return all(t(act.detail.get(k)) for k, t in tests)

    def check(facts: Facts) -> Hit | None:
        index = facts.engagement_activities if engagement else facts.activities
        cutoff = EPOCH_MIN if span is None else facts.now - span  # oldest time in the window
        count = 0
        newest: Activity | None = None
        for kind in types:
            for act in index.get(kind, ()):  # newest first
                if act.at < cutoff:
                    break
                if test is not None:
                    if not test(act.detail.get(key)):
                        continue
                elif tests and not accepts(act):
                    continue
                if newest is None or act.at > newest.at:
                    newest = act
                count += 1
                if first_is_enough:
                    break  # newest-first: the first match is the evidence
        if count < min_count or newest is None:
            return None
        return Hit(count, ActivityEvidence(newest, keys, count))

    return check


def compile_condition(
    cond: Condition, window_days: float | None, engagement: bool, count_all: bool = False
) -> Check:
    """Turn a condition tree into one closure.

    `window_days=None` looks at the whole history (data-quality gates); `engagement=True`
    makes activity tests see only activities that still count toward engagement;
    `count_all` counts every match (for `each` rules) instead of stopping at the first.
    """
    if cond.property is not None:
        return _property_check(cond.property, "property")
    if cond.account is not None:
        return _property_check(cond.account, "account")
    if cond.activity is not None:
        return _activity_check(cond.activity, window_days, engagement, count_all)
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
        return Hit(min(h.matches for h in hits), "; ".join(str(h.evidence) for h in hits))

    return all_of
