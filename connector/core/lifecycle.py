"""The lifecycle state machine: promote to MQL, recycle, SLA — pure, no I/O.

mqlsync owns exactly two moves: subscriber/lead → mql (promotion) and mql → lead (recycle,
after a sales rejection or when sales never touched the lead). Everything from SAL on
belongs to sales and is never moved or overwritten. Stages are canonical here; adapters
translate CRM values (HubSpot lifecyclestage, Salesforce Status) both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from connector.core.records import LeadRecord
from connector.core.scoring import CompiledMapping, ScoreResult, score
from connector.mapping.schema import Lifecycle

STAGES = ("subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer")
PROMOTABLE = frozenset({"subscriber", "lead"})
AT_OR_PAST_MQL = frozenset(STAGES[STAGES.index("mql") :])
SALES_TOUCHES = frozenset({"sales_touch", "call", "meeting", "email_reply"})
"""Activities that show sales worked an MQL (stale-recycle and first-touch SLA)."""

Action = Literal["none", "promote", "recycle_rejected", "recycle_stale"]


@dataclass(frozen=True, slots=True)
class Memory:
    """What mqlsync remembers about a record between runs (from its state snapshot)."""

    stage: str | None = None
    """The stage mqlsync last wrote or saw."""
    mql_at: datetime | None = None
    status_at_promotion: str | None = None
    recycled_at: datetime | None = None
    recycle_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON values (ISO times), for the journal entry a write carries."""
        return {
            "stage": self.stage,
            "mql_at": self.mql_at.isoformat() if self.mql_at else None,
            "status_at_promotion": self.status_at_promotion,
            "recycled_at": self.recycled_at.isoformat() if self.recycled_at else None,
            "recycle_reason": self.recycle_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Memory:
        """Inverse of `to_json`."""
        mql_at, recycled_at = data.get("mql_at"), data.get("recycled_at")
        return cls(
            stage=data.get("stage"),
            mql_at=datetime.fromisoformat(mql_at) if mql_at else None,
            status_at_promotion=data.get("status_at_promotion"),
            recycled_at=datetime.fromisoformat(recycled_at) if recycled_at else None,
            recycle_reason=data.get("recycle_reason"),
        )

    def recovered(
        self,
        mql_at: datetime | None,
        recycled_at: datetime | None,
        recycle_reason: str | None,
    ) -> Memory:
        """This memory, brought up to date with the promotion and recycle times the CRM's
        own mqlsync fields hold.

        mqlsync only ever moves these times forward, so a later time in the CRM is a move
        whose state commit was lost (a crash between write and commit, a new state
        store): taking it keeps the next run from stamping the move again with a new time.
        The lead status at a recovered promotion is unknown (None).
        """
        out = self
        if mql_at is not None and (self.mql_at is None or mql_at > self.mql_at):
            out = replace(out, mql_at=mql_at, status_at_promotion=None)
        if recycled_at is not None and (self.recycled_at is None or recycled_at > self.recycled_at):
            out = replace(out, recycled_at=recycled_at, recycle_reason=recycle_reason)
        if out is self:
            return self
        promoted_last = out.mql_at is not None and (
            out.recycled_at is None or out.mql_at > out.recycled_at
        )
        return replace(out, stage="mql" if promoted_last else "lead")


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one record: the stage to hold and the lifecycle fields to write."""

    action: Action
    stage: str | None
    """Canonical stage after this run (None = the CRM has none and we set none)."""
    memory: Memory
    sla: str
    """`ok`, `breached:<which>,…` while at MQL; empty otherwise."""

    @property
    def stage_changed(self) -> bool:
        """True when the CRM stage must be written."""
        return self.action != "none"


def stage_of(record: LeadRecord) -> str | None:
    """The record's canonical stage (adapters put it in `lifecycle_stage`)."""
    value = record.properties.get("lifecycle_stage")
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


def _status(record: LeadRecord) -> str | None:
    value = record.properties.get("lead_status")
    return value.strip() if isinstance(value, str) and value.strip() else None


def in_cooldown(memory: Memory, policy: Lifecycle, now: datetime) -> bool:
    """Within `cooldown_days` of a recycle, only a hot rule may re-qualify the record."""
    if memory.recycled_at is None:
        return False
    return now - memory.recycled_at < timedelta(days=policy.cooldown_days)


def _rejected(record: LeadRecord, stage: str | None, memory: Memory, policy: Lifecycle) -> bool:
    status = _status(record)
    if status is None:
        return False
    rejected = policy.rejected_for(record.crm)
    at_mql = stage == "mql" or (memory.stage == "mql" and stage in PROMOTABLE | {None})
    return (
        at_mql
        and status.casefold() in rejected
        and status.casefold() != (memory.status_at_promotion or "").casefold()
    )


def _rejection_reason(record: LeadRecord, policy: Lifecycle) -> str:
    status = _status(record) or "rejected"
    field = policy.rejection_reason_field
    if field:
        given = record.properties.get(field)
        if isinstance(given, str) and given.strip():
            return f"rejected by sales ({status}): {given.strip()}"
    return f"rejected by sales: {status}"


def _touched_since(record: LeadRecord, since: datetime) -> datetime | None:
    """Time of the first sales touch after `since`, if any (activities are newest first)."""
    first = None
    for act in record.activities:
        if act.at <= since:
            break
        if act.type in SALES_TOUCHES:
            first = act.at
    return first


def _promotable(record: LeadRecord, stage: str | None, policy: Lifecycle) -> bool:
    if stage is not None and stage not in PROMOTABLE:
        return False
    allowed = policy.promotable_for(record.crm, record.object)
    return allowed is None or (_status(record) or "").casefold() in allowed


def sla_flags(record: LeadRecord, mql_at: datetime, policy: Lifecycle, now: datetime) -> str:
    """SLA state of an MQL: `ok` or `breached:` + the windows exceeded (strictly)."""
    sla = policy.sla
    elapsed = now - mql_at
    touched = _touched_since(record, mql_at)
    breached = []
    owner = record.properties.get("owner")
    if not owner and elapsed > timedelta(hours=sla.handoff_hours):
        breached.append("handoff")
    first_touch = timedelta(hours=sla.first_touch_hours)
    if (touched is None and elapsed > first_touch) or (
        touched is not None and touched - mql_at > first_touch
    ):
        breached.append("first_touch")
    if elapsed > timedelta(hours=sla.disposition_hours):
        breached.append("disposition")
    return "breached:" + ",".join(breached) if breached else "ok"


def _at_stage(memory: Memory, stage: str | None) -> Memory:
    """The memory at `stage`: the same frozen value when it is there already, as most
    records' is (`dataclasses.replace` cost a rescore of a million records seconds)."""
    return memory if memory.stage == stage else replace(memory, stage=stage)


def decide(
    record: LeadRecord, result: ScoreResult, memory: Memory, policy: Lifecycle, now: datetime
) -> Decision:
    """Pick the lifecycle action for one scored record. Pure and total."""
    stage = stage_of(record)
    if _rejected(record, stage, memory, policy):
        recycled = replace(
            memory,
            stage="lead",
            recycled_at=now,
            recycle_reason=_rejection_reason(record, policy),
        )
        return Decision("recycle_rejected", "lead", recycled, "")
    if stage == "mql":
        # An MQL mqlsync did not promote keeps the CRM's own MQL date (the sync adopts it),
        # or none: its clock is never started at the time mqlsync first saw it, since that
        # is not when it became an MQL. Without a time there is no stale recycle or SLA.
        mql_at = memory.mql_at
        held = _at_stage(memory, "mql")
        if mql_at is None:
            return Decision("none", "mql", held, "")
        stale_after = timedelta(days=policy.stale_after_days)
        if now - mql_at >= stale_after and _touched_since(record, mql_at) is None:
            days = f"{policy.stale_after_days:g}"
            recycled = replace(
                held,
                stage="lead",
                recycled_at=now,
                recycle_reason=f"no sales touch in {days} days",
            )
            return Decision("recycle_stale", "lead", recycled, "")
        return Decision("none", "mql", held, sla_flags(record, mql_at, policy, now))
    if result.is_mql and _promotable(record, stage, policy):
        promoted = replace(memory, stage="mql", mql_at=now, status_at_promotion=_status(record))
        return Decision("promote", "mql", promoted, sla_flags(record, now, policy, now))
    return Decision("none", stage, _at_stage(memory, stage), "")


def evaluate(
    record: LeadRecord,
    mapping: CompiledMapping,
    memory: Memory,
    now: datetime,
) -> tuple[ScoreResult, Decision]:
    """Score under the recycle rules, then decide; rescore if this run recycles.

    After a recycle only newer activities count toward engagement and, inside the
    cooldown, only a hot rule can re-qualify — so the score written on the recycling
    run already reflects the reset.
    """
    policy = mapping.spec.lifecycle
    result = score(
        record,
        mapping,
        now,
        engagement_since=memory.recycled_at,
        require_hot=in_cooldown(memory, policy, now),
    )
    decision = decide(record, result, memory, policy, now)
    if decision.action in ("recycle_rejected", "recycle_stale"):
        result = score(record, mapping, now, engagement_since=now, require_hot=True)
    return result, decision
