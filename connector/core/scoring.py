"""The pure scoring engine: `score(record, mapping, now) -> ScoreResult`.

No I/O and no clock reads: the same record, mapping and `now` always give the same result,
which is what makes plans, backtests and the daily rescore trustworthy. A mapping is
compiled once (`compile_mapping`) so scoring a record builds no regexes or lookup tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as quote
from typing import Any, Literal

from connector.core.records import Activity, LeadRecord
from connector.mapping.conditions import (
    DAY,
    ActivityIndex,
    Check,
    Evidence,
    Facts,
    compile_condition,
    describe_activity,
)
from connector.mapping.schema import MappingSpec

Axis = Literal["fit", "engagement"]
COMPILED = not __file__.endswith(".py")
"""True when the scoring core runs compiled by mypyc (`MQLSYNC_COMPILE=1 pip install .`)."""


class Reason:
    """One rule's contribution, with the points actually counted after caps.

    `raw_points` are the points before `max_points` and category caps (shown by
    `explain`). Evidence text is rendered on first read, see `ActivityEvidence`.
    """

    __slots__ = ("_evidence", "_text", "axis", "category", "points", "raw_points", "rule")

    def __init__(
        self,
        rule: str,
        axis: Axis,
        points: int,
        evidence: Evidence,
        raw_points: int = 0,
        category: str | None = None,
    ) -> None:
        self.rule = rule
        self.axis: Axis = axis
        self.points = points
        self._evidence = evidence
        self._text: str | None = evidence if isinstance(evidence, str) else None
        self.raw_points = raw_points
        self.category = category

    @property
    def evidence(self) -> str:
        """Why the rule fired, e.g. `page_view https://acme.io/pricing at 2026-10-30`."""
        text = self._text
        if text is None:
            text = self._text = str(self._evidence)
        return text

    def __reduce__(self) -> tuple[type[Reason], tuple[Any, ...]]:
        # Pickled as text: the evidence object may hold a closure (how a value is shown),
        # and a process that receives a reason only reads its text.
        args = (self.rule, self.axis, self.points, self.evidence, self.raw_points, self.category)
        return (Reason, args)

    @property
    def raw_evidence(self) -> Evidence:
        """The evidence as found (the activity or value), for texts written for people."""
        return self._evidence

    def __repr__(self) -> str:
        return f"Reason({self.rule!r}, {self.axis!r}, {self.points}, {self.evidence!r})"

    def to_json(self) -> dict[str, Any]:
        """The reason object of the score result."""
        return {
            "rule": self.rule,
            "axis": self.axis,
            "points": self.points,
            "evidence": self.evidence,
        }


@dataclass(slots=True, frozen=True)
class GateHit:
    """A data-quality gate that blocked MQL."""

    rule: str
    reason: str
    evidence: str

    def to_json(self) -> dict[str, str]:
        """Serialized beside the score result's fields under `gates`."""
        return {"rule": self.rule, "reason": self.reason, "evidence": self.evidence}


@dataclass(slots=True)
class ScoreResult:
    """The score result of one record (not frozen: built once per record, on the hot path)."""

    id: str
    fit: int
    engagement: int
    grade: str | None
    is_mql: bool
    temperature: Literal["hot", "warm", "cold"]
    route: Literal["sales", "nurture", "campaign", "discard", "review"]
    reasons: tuple[Reason, ...] = ()
    gates: tuple[GateHit, ...] = ()
    hot_rules: tuple[str, ...] = ()
    capped_out: tuple[Reason, ...] = ()
    """Rules that fired but counted 0 points because a cap was used up (for `explain`)."""

    @property
    def total(self) -> int:
        """Always fit + engagement."""
        return self.fit + self.engagement

    def to_json(self) -> dict[str, Any]:
        """The score result as JSON (key order fixed for byte-identical output)."""
        return {
            "id": self.id,
            "fit": self.fit,
            "engagement": self.engagement,
            "total": self.total,
            "grade": self.grade,
            "is_mql": self.is_mql,
            "temperature": self.temperature,
            "route": self.route,
            "reasons": [r.to_json() for r in self.reasons],
            "gates": [g.to_json() for g in self.gates],
        }

    def to_json_line(self) -> str:
        """`json.dumps(self.to_json())` to the byte, without building the dicts.

        `mqlsync score` writes one per record; the generic encoder walking fresh dicts
        cost as much as scoring. Strings are escaped by the same C function `json` uses.
        """
        reasons = ", ".join(
            [
                f'{{"rule": {quote(r.rule)}, "axis": {quote(r.axis)}, "points": {r.points!r}, '
                f'"evidence": {quote(r.evidence)}}}'
                for r in self.reasons
            ]
        )
        gates = ", ".join(
            [
                f'{{"rule": {quote(g.rule)}, "reason": {quote(g.reason)}, '
                f'"evidence": {quote(g.evidence)}}}'
                for g in self.gates
            ]
        )
        grade = "null" if self.grade is None else quote(self.grade)
        return (
            f'{{"id": {quote(self.id)}, "fit": {self.fit!r}, "engagement": {self.engagement!r}, '
            f'"total": {self.total!r}, "grade": {grade}, '
            f'"is_mql": {"true" if self.is_mql else "false"}, '
            f'"temperature": {quote(self.temperature)}, "route": {quote(self.route)}, '
            f'"reasons": [{reasons}], "gates": [{gates}]}}'
        )


@dataclass(slots=True, frozen=True)
class CompiledRule:
    """A rule ready to evaluate: its closure plus what to do with a hit."""

    id: str
    axis: Axis
    points: int
    each: bool
    max_points: int | None
    category: str | None
    hot: bool
    check: Check


@dataclass(slots=True, frozen=True)
class CompiledGate:
    """A data-quality gate ready to evaluate over the whole history."""

    id: str
    reason: str
    check: Check


@dataclass(slots=True, frozen=True)
class CompiledMapping:
    """Everything `score` needs, prepared once per mapping."""

    spec: MappingSpec
    rules: tuple[CompiledRule, ...]
    gates: tuple[CompiledGate, ...]
    category_caps: dict[str, int] = field(default_factory=dict)
    fit_bands: tuple[tuple[str, int], ...] = ()
    """Grade letters with their minimum fit, best first (empty: the mapping has no grades)."""
    engagement_bands: tuple[tuple[str, int], ...] = ()


def compile_mapping(spec: MappingSpec) -> CompiledMapping:
    """Compile a validated mapping (regexes, sets, closures) for fast repeated scoring."""
    window = spec.mapping.window_days
    rules = tuple(
        CompiledRule(
            id=r.id,
            axis=r.axis,
            points=r.points,
            each=r.count == "each",
            max_points=r.max_points,
            category=r.category,
            hot=r.hot,
            check=compile_condition(
                r, window, engagement=r.axis == "engagement", count_all=r.count == "each"
            ),
        )
        for r in spec.rules
    )
    gates = tuple(
        CompiledGate(g.id, g.reason, compile_condition(g, None, engagement=False))
        for g in spec.gates
    )
    caps = {name: cat.max_points for name, cat in spec.categories.items()}
    grades = spec.grades
    fit_bands = tuple(sorted(grades.fit.items())) if grades else ()
    engagement_bands = tuple(sorted(grades.engagement.items())) if grades else ()
    return CompiledMapping(spec, rules, gates, caps, fit_bands, engagement_bands)


def index_activities(
    activities: tuple[Activity, ...], since: datetime | None = None
) -> tuple[ActivityIndex, ActivityIndex, datetime | None]:
    """Group a record's (newest-first) activities by type, once per score call.

    Returns all activities, those that count toward engagement (newer than `since`, the
    last recycle), and the time of the newest engagement-counting activity.
    """
    everything: dict[str, list[Activity]] = {}
    for act in activities:
        bucket = everything.get(act.type)
        if bucket is None:
            everything[act.type] = [act]
        else:
            bucket.append(act)
    if since is None:
        return everything, everything, activities[0].at if activities else None
    counting = {t: [a for a in acts if a.at > since] for t, acts in everything.items()}
    newest = next((a.at for a in activities if a.at > since), None)
    return everything, counting, newest


def _limit(points: int, cap: int | None) -> int:
    if cap is None:
        return points
    return max(-cap, min(cap, points))


def _decay_reason(
    mapping: CompiledMapping, now: datetime, newest: datetime | None
) -> Reason | None:
    decay = mapping.spec.decay
    if decay is None or newest is None:
        return None
    days = (now - newest).total_seconds() / DAY
    periods = math.floor(max(days - decay.grace_days, 0.0) / decay.every_days)
    if periods <= 0:
        return None
    points = periods * decay.points
    when = newest.astimezone(UTC).date().isoformat()
    # Whole periods, not the exact day count: the reasons text is written to the CRM and
    # must not change every day between decay steps (the daily rescore writes only changes).
    full = f"{decay.grace_days + periods * decay.every_days:g}"
    evidence = f"no activity for {full}+ days (newest {when}): {periods} × {decay.points}"
    return Reason(decay.id, decay.axis, points, evidence, raw_points=points)


def _band(bands: tuple[tuple[str, int], ...], points: int, otherwise: str) -> str:
    for name, least in bands:  # best first
        if points >= least:
            return name
    return otherwise


def _grade(mapping: CompiledMapping, fit: int, engagement: int) -> str | None:
    if not mapping.fit_bands:
        return None
    return _band(mapping.fit_bands, fit, "D") + _band(mapping.engagement_bands, engagement, "4")


def _route(
    spec: MappingSpec, fit: int, engagement: int, is_mql: bool, gated: bool
) -> Literal["sales", "nurture", "campaign", "discard", "review"]:
    if gated:
        return "review"
    if is_mql:
        return "sales"
    q = spec.qualification
    fit_ok = q.fit_min is None or fit >= q.fit_min
    engaged = q.engagement_min is None or engagement >= q.engagement_min
    if engaged:
        return "nurture"
    return "campaign" if fit_ok else "discard"


def _sort_key(reason: Reason) -> tuple[int, str]:
    return (-abs(reason.points), reason.rule)


def score(
    record: LeadRecord,
    mapping: CompiledMapping,
    now: datetime,
    *,
    engagement_since: datetime | None = None,
    require_hot: bool = False,
) -> ScoreResult:
    """Score one record under a compiled mapping at time `now`.

    `engagement_since` (the last recycle) restricts engagement to newer activities;
    `require_hot` (recycle cooldown) lets the record qualify only when a hot rule fired.
    """
    everything, counting, newest = index_activities(record.activities, engagement_since)
    facts = Facts(record.properties, record.account or {}, everything, counting, now)
    reasons: list[Reason] = []
    remaining = dict(mapping.category_caps)
    hot: list[str] = []
    capped_out: list[Reason] = []
    fit = engagement = 0
    for rule in mapping.rules:
        hit = rule.check(facts)
        if hit is None:
            continue
        raw = rule.points * hit.matches if rule.each else rule.points
        counted = raw if rule.max_points is None else _limit(raw, rule.max_points)
        category = rule.category
        if category is not None and counted > 0:
            counted = min(counted, remaining[category])
            remaining[category] -= counted
        if rule.hot:
            hot.append(rule.id)
        reason = Reason(rule.id, rule.axis, counted, hit.evidence, raw, category)
        if counted:
            if rule.axis == "fit":
                fit += counted
            else:
                engagement += counted
            reasons.append(reason)
        elif raw:
            capped_out.append(reason)
    decayed = _decay_reason(mapping, now, newest)
    if decayed is not None:
        if decayed.axis == "fit":
            fit += decayed.points
        else:
            engagement += decayed.points
        reasons.append(decayed)
    gates = []
    for gate in mapping.gates:
        hit = gate.check(facts)
        if hit is not None:
            gates.append(GateHit(gate.id, gate.reason, str(hit.evidence)))
    q = mapping.spec.qualification
    qualifies = (
        fit + engagement >= q.threshold
        and (q.fit_min is None or fit >= q.fit_min)
        and (q.engagement_min is None or engagement >= q.engagement_min)
        and not (require_hot and not hot)
    )
    is_mql = qualifies and not gates
    temperature: Literal["hot", "warm", "cold"] = ("hot" if hot else "warm") if is_mql else "cold"
    reasons.sort(key=_sort_key)
    return ScoreResult(
        id=record.id,
        fit=fit,
        engagement=engagement,
        grade=_grade(mapping, fit, engagement),
        is_mql=is_mql,
        temperature=temperature,
        route=_route(mapping.spec, fit, engagement, is_mql, bool(gates)),
        reasons=tuple(reasons),
        gates=tuple(gates),
        hot_rules=tuple(hot),
        capped_out=tuple(capped_out),
    )


__all__ = [
    "COMPILED",
    "CompiledMapping",
    "GateHit",
    "Reason",
    "ScoreResult",
    "compile_mapping",
    "describe_activity",
    "index_activities",
    "score",
]
