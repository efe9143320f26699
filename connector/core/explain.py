"""Human-readable score breakdowns: what a rep reads to trust (or challenge) a score."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from connector.core.lifecycle import Decision, Memory, in_cooldown
from connector.core.records import LeadRecord
from connector.core.scoring import CompiledMapping, Reason, ScoreResult


def _signed(points: int) -> str:
    return f"{points:+d}"


def _rule_line(reason: Reason, descriptions: dict[str, str]) -> str:
    label = descriptions.get(reason.rule, reason.rule)
    line = f"  {_signed(reason.points):>5}  {label} [{reason.rule}] — {reason.evidence}"
    if reason.raw_points != reason.points:
        why = f"category '{reason.category}' cap" if reason.category else "max_points cap"
        line += f" (capped from {_signed(reason.raw_points)} by {why})"
    return line


def _verdict(result: ScoreResult, mapping: CompiledMapping) -> list[str]:
    q = mapping.spec.qualification
    lines = []
    checks = [(f"total {result.total} >= threshold {q.threshold}", result.total >= q.threshold)]
    if q.fit_min is not None:
        checks.append((f"fit {result.fit} >= fit_min {q.fit_min}", result.fit >= q.fit_min))
    if q.engagement_min is not None:
        checks.append(
            (
                f"engagement {result.engagement} >= engagement_min {q.engagement_min}",
                result.engagement >= q.engagement_min,
            )
        )
    for text, ok in checks:
        lines.append(f"  [{'x' if ok else ' '}] {text}")
    for gate in result.gates:
        lines.append(f"  [!] blocked: {gate.reason} ({gate.evidence})")
    if result.is_mql:
        kind = "hot: " + ", ".join(result.hot_rules) if result.hot_rules else "warm"
        lines.append(f"  => MQL ({kind})")
    else:
        lines.append("  => not an MQL")
    return lines


def explain(record: LeadRecord, result: ScoreResult, mapping: CompiledMapping) -> str:
    """A plain-text breakdown: every contributing rule with evidence and caps, then the verdict."""
    spec = mapping.spec
    descriptions = {r.id: r.description or r.id for r in spec.rules}
    if spec.decay is not None:
        descriptions[spec.decay.id] = "Inactivity decay"
    title = record.properties.get("title") or ""
    email = record.properties.get("email") or ""
    who = " · ".join(str(x) for x in (email, title) if x)
    out = [
        f"Lead {record.id}" + (f" ({who})" if who else "") + f" under mapping '{spec.mapping.name}'"
    ]
    for axis in ("fit", "engagement"):
        total = result.fit if axis == "fit" else result.engagement
        out.append(f"{axis.capitalize()}: {total}")
        fired = [*result.reasons, *result.capped_out]
        lines = [_rule_line(r, descriptions) for r in fired if r.axis == axis]
        out.extend(lines or ["  (no rule fired)"])
    grade = result.grade or "none (this mapping has no grade bands)"
    out.append(f"Total: {result.total}   Grade: {grade}")
    out.append("Qualification:")
    out.extend(_verdict(result, mapping))
    out.append(f"Temperature: {result.temperature}   Route: {result.route}")
    return "\n".join(out)


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def lifecycle_lines(
    record: LeadRecord,
    decision: Decision,
    memory: Memory,
    mapping: CompiledMapping,
    now: datetime,
) -> list[str]:
    """The lifecycle part of a live explanation: the stage, the MQL and recycle history,
    why engagement is low after a recycle, and what the next sync will do."""
    policy = mapping.spec.lifecycle
    stage = record.properties.get("lifecycle_stage") or "none"
    out = ["Lifecycle:", f"  stage in the CRM: {stage}"]
    if memory.mql_at is not None:
        out.append(f"  MQL since {_day(memory.mql_at)}")
    if memory.recycled_at is not None:
        older = sum(1 for a in record.activities if a.at <= memory.recycled_at)
        out.append(
            f"  recycled {_day(memory.recycled_at)} ({memory.recycle_reason or 'no reason'}): "
            f"engagement counts only activities after that, so {older} earlier "
            f"activit{'y' if older == 1 else 'ies'} no longer count"
        )
        if in_cooldown(memory, policy, now):
            until = memory.recycled_at + timedelta(days=policy.cooldown_days)
            out.append(
                f"  cooldown until {_day(until)}: only a hot rule can make it an MQL again"
            )
    action = {
        "promote": "the next sync promotes it to MQL",
        "recycle_rejected": f"the next sync recycles it: {decision.memory.recycle_reason}",
        "recycle_stale": f"the next sync recycles it: {decision.memory.recycle_reason}",
    }.get(decision.action)
    if action:
        out.append(f"  => {action}")
    if decision.sla:
        out.append(f"  SLA: {decision.sla}")
    return out


def change_lines(current: Mapping[str, object], changes: Mapping[str, object]) -> list[str]:
    """What the next sync would write to this record, field by field."""
    if not changes:
        return ["Next sync: nothing to write (the CRM already holds these values)"]
    out = ["Next sync writes:"]
    for name, value in changes.items():
        out.append(f"  {name}: {current.get(name)!r} → {value!r}")
    return out
