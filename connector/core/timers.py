"""When can a stored record's result change with time alone?

Between syncs a record's data is frozen, yet its score and lifecycle still move with the
clock. That only happens at known instants: an activity leaving a rule's window, the next
inactivity-decay period, the stale-recycle deadline, the end of a recycle cooldown and the
SLA windows of an MQL. `next_change_at` returns the earliest of them after `now`; the state
store keeps it as the snapshot's `due_at`, so the daily rescore reads only snapshots whose
due time has passed instead of rescoring a million unchanged records.

Pure and conservative: the answer may be earlier than the real change (the rescore then
finds nothing to write and stores the next instant), never later. Between `now` and the
returned instant, `evaluate` gives the same written values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.core.lifecycle import SALES_TOUCHES, Memory
from connector.core.records import LeadRecord
from connector.core.scoring import CompiledMapping
from connector.mapping.conditions import DAY
from connector.mapping.schema import Condition, Decay, MappingSpec

NEVER = datetime(9999, 12, 31, tzinfo=UTC)
"""The due time of a record that time alone will never change."""

TICK = timedelta(microseconds=1)
"""Datetime resolution: a strict `>` boundary at `t` first bites at `t + TICK`."""


@dataclass(frozen=True, slots=True)
class Window:
    """Activities of these types count while `now - at <= span` (rule `within_days`).

    Engagement rules see only activities after the last recycle (`types`); fit rules see
    the whole history (`fit_types`).
    """

    span: timedelta
    types: frozenset[str]
    fit_types: frozenset[str] = frozenset()


def _activity_windows(
    conditions: Iterable[Condition], window_days: float, fit: bool
) -> Iterable[Window]:
    for cond in conditions:
        if cond.activity is not None:
            days = cond.activity.within_days
            span = timedelta(days=window_days if days is None else days)
            types = frozenset(cond.activity.types)
            yield Window(span, frozenset(), types) if fit else Window(span, types)
        yield from _activity_windows(cond.any or cond.all or (), window_days, fit)


def windows_of(spec: MappingSpec) -> tuple[Window, ...]:
    """Distinct activity windows of the scoring rules, types merged per span.

    Data-quality gates see the whole history, so they never expire anything.
    """
    merged: dict[timedelta, Window] = {}
    for rule in spec.rules:
        for w in _activity_windows([rule], spec.mapping.window_days, rule.axis == "fit"):
            old = merged.get(w.span, Window(w.span, frozenset()))
            merged[w.span] = Window(w.span, old.types | w.types, old.fit_types | w.fit_types)
    return tuple(merged[span] for span in sorted(merged))


def decay_periods(decay: Decay, newest: datetime, at: datetime) -> int:
    """Full decay periods at `at` — the same float arithmetic as `scoring._decay_reason`."""
    days = (at - newest).total_seconds() / DAY
    return math.floor(max(days - decay.grace_days, 0.0) / decay.every_days)


def _next_decay(decay: Decay, newest: datetime, now: datetime) -> datetime:
    """First instant after `now` with one more decay period (exact to the microsecond)."""
    periods = decay_periods(decay, newest, now) + 1
    at = newest + timedelta(days=decay.grace_days + periods * decay.every_days)
    while decay_periods(decay, newest, at) < periods:  # float rounding: never be late
        at += TICK
    return at


def _newest_counting(record: LeadRecord, since: datetime | None) -> datetime | None:
    """The newest activity that decay measures from (after a recycle: only newer ones)."""
    for act in record.activities:  # newest first
        if since is None or act.at > since:
            return act.at
        break
    return None


def _touched_since(record: LeadRecord, since: datetime) -> bool:
    for act in record.activities:
        if act.at <= since:
            return False
        if act.type in SALES_TOUCHES:
            return True
    return False


def next_change_at(
    record: LeadRecord,
    mapping: CompiledMapping,
    memory: Memory,
    now: datetime,
    windows: tuple[Window, ...] | None = None,
) -> datetime | None:
    """Earliest instant after `now` at which this record's written values may change.

    `memory` is the lifecycle memory *after* this run's decision (what the snapshot
    stores; `memory.stage` is the stage held). `windows` may be passed precomputed
    (`windows_of(mapping.spec)`) on hot loops. None means "never, by time alone".
    """
    spec = mapping.spec
    best: datetime | None = None

    def consider(at: datetime) -> None:
        nonlocal best
        if at > now and (best is None or at < best):
            best = at

    # 1. an activity leaves a rule's window: it counts while at >= now - span
    since = memory.recycled_at
    for window in windows if windows is not None else windows_of(spec):
        cutoff = now - window.span
        oldest_inside = None
        for act in record.activities:  # newest first
            if act.at < cutoff:
                break
            if act.type in window.fit_types or (
                act.type in window.types and (since is None or act.at > since)
            ):
                oldest_inside = act.at
        if oldest_inside is not None:
            consider(oldest_inside + window.span + TICK)
    # 2. the next full inactivity-decay period
    if spec.decay is not None:
        newest = _newest_counting(record, memory.recycled_at)
        if newest is not None:
            consider(_next_decay(spec.decay, newest, now))
    policy = spec.lifecycle
    # 3. the recycle cooldown ends (a hot rule is no longer needed to re-qualify)
    if memory.recycled_at is not None:
        consider(memory.recycled_at + timedelta(days=policy.cooldown_days))
    # 4. an MQL: stale recycle (at exactly N days) and the SLA windows (strictly after)
    if memory.stage == "mql" and memory.mql_at is not None:
        mql_at = memory.mql_at
        touched = _touched_since(record, mql_at)
        if not touched:
            consider(mql_at + timedelta(days=policy.stale_after_days))
            consider(mql_at + timedelta(hours=policy.sla.first_touch_hours) + TICK)
        if not record.properties.get("owner"):
            consider(mql_at + timedelta(hours=policy.sla.handoff_hours) + TICK)
        consider(mql_at + timedelta(hours=policy.sla.disposition_hours) + TICK)
    return best


def due_at(
    record: LeadRecord,
    mapping: CompiledMapping,
    memory: Memory,
    now: datetime,
    windows: tuple[Window, ...] | None = None,
) -> datetime:
    """The `Snapshot.due_at` to store for a record scored at `now`; `NEVER` if time alone
    cannot change it (`None` in the store means "not known", which the rescore treats as due).

    The sync and the rescore both call this with the memory *after* the decision.
    """
    return next_change_at(record, mapping, memory, now, windows) or NEVER


__all__ = ["TICK", "Window", "decay_periods", "due_at", "next_change_at", "windows_of"]
