"""The steps every run shares (sync, rescore, undo, previews): one scorer for an item,
the desired write-back values, lifecycle memory from the store and the CRM, the run
record, the writer a run uses and the plan of a dry run.

Sync and rescore differ only in where records come from (a CRM pull, or stored
snapshots); from a pulled item on, they go through exactly these steps.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from connector.core.lifecycle import Decision, Memory, evaluate
from connector.core.reasons import descriptions, reasons_text
from connector.core.scoring import CompiledMapping, ScoreResult
from connector.core.timers import due_at, windows_of
from connector.crm.base import RIDE_ALONG, STAGE_FIELD, CrmAdapter, Outcome, Patch, Pulled, Value
from connector.crm.values import changed_fields, format_instant, normalise, parse_instant
from connector.errors import Interrupted
from connector.pipeline.writer import BatchWriter, Scored, WriteTally
from connector.state import RunKind, Snapshot, StateStore

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
ShouldStop = Callable[[], bool]
"""Polled at page boundaries: True asks the run to commit what it wrote and stop."""


RECYCLES = frozenset({"recycle_rejected", "recycle_stale"})
REVIEW_SAMPLE = 20


def desired_values(
    result: ScoreResult,
    decision: Decision,
    now: datetime,
    model: str | None = None,
    labels: Mapping[str, str] | None = None,
    stamp: str | None = None,
) -> dict[str, Value]:
    """The write-back fields for one scored and decided record; `model` is the mapping
    version (`<stem>@<hex12>`), written along with any real change; `labels` are the
    rules' descriptions the reasons text uses (see `connector.core.reasons`); `stamp` is
    `now` as written, for a caller that scores many records at one `now` and formats it
    once."""
    memory = decision.memory
    reasons = reasons_text(
        result,
        labels or {},
        recycled_at=memory.recycled_at,
        recycle_reason=memory.recycle_reason,
    )
    values: dict[str, Value] = {
        "fit": result.fit,
        "engagement": result.engagement,
        "score": result.total,
        "grade": result.grade,
        "route": result.route,
        "temperature": result.temperature,
        "reasons": reasons or None,
        "scored_at": stamp or format_instant(now),
        "mql_at": format_instant(memory.mql_at) if memory.mql_at else None,
        "recycle_reason": memory.recycle_reason,
        "recycled_at": format_instant(memory.recycled_at) if memory.recycled_at else None,
        "sla": decision.sla or None,
    }
    if model is not None:
        values["model"] = model
    if decision.stage_changed:
        values[STAGE_FIELD] = decision.stage
    return values


def memory_of(snapshot: Snapshot | None) -> Memory:
    """Lifecycle memory from the state snapshot (empty before the first sync)."""
    if snapshot is None:
        return Memory()
    return Memory(
        stage=snapshot.stage,
        mql_at=snapshot.mql_at,
        status_at_promotion=snapshot.lead_status_at_promotion,
        recycled_at=snapshot.recycled_at,
        recycle_reason=snapshot.recycle_reason,
    )


def memory_with_crm(
    snapshot: Snapshot | None, current: Mapping[str, Value], now: datetime
) -> Memory:
    """The snapshot's memory, with promotion and recycle times the CRM's mqlsync fields
    show but the store lost (see `Memory.recovered`). A time after `now` was not written
    by mqlsync (it writes the time of its run): such a value is garbage, not memory."""

    def written(name: str) -> datetime | None:
        at = parse_instant(current.get(name))
        return at if at is not None and at <= now else None

    reason = current.get("recycle_reason")
    return memory_of(snapshot).recovered(
        written("mql_at"), written("recycled_at"), str(reason) if reason is not None else None
    )


@dataclass(slots=True)
class PlannedChange:
    """One field a sync would change (for `plan`)."""

    record_id: str
    field: str
    before: Value
    after: Value
    email: str | None = None
    """The record's email, so people can tell records apart in a plan."""


@dataclass(slots=True)
class RunSummary:
    """What a run did, for the run history, `demo` and `plan`."""

    run_id: int | None = None
    pulled: int = 0
    changed: int = 0
    written: int = 0
    failed: int = 0
    dead_lettered: int = 0
    promoted: int = 0
    recycled: int = 0
    mqls: int = 0
    sla_tasks: int = 0
    sla_breaches: int = 0
    dropped: int = 0
    settled: int = 0
    rejected: int = 0
    mqls_in_crm: int = 0
    """Records at MQL (or accepted by sales) in the CRM when pulled."""
    adopted: int = 0
    """MQLs mqlsync first saw at MQL, not promoted by it: kept, with the CRM's MQL date."""
    adopted_review: int = 0
    """Adopted MQLs scoring below half the threshold: for sales to review, not demoted."""
    review_sample: list[str] = field(default_factory=list)
    """The first ids of those (the log names them; all of them would flood it)."""
    api_calls: int = 0
    seconds: float = 0.0
    routes: Counter[str] = field(default_factory=Counter)
    grades: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def count(self, result: ScoreResult, decision: Decision, patch: Patch | None) -> None:
        """Add one scored record to the counters."""
        self.pulled += 1
        self.changed += patch is not None
        self.mqls += result.is_mql
        self.promoted += decision.action == "promote"
        self.recycled += decision.action in RECYCLES
        self.routes[result.route] += 1
        if result.grade:
            self.grades[result.grade] += 1
        for reason in result.reasons[:3]:
            self.reasons[reason.rule] += 1

    def adopt(self, record_id: str, result: ScoreResult, mapping: CompiledMapping) -> None:
        """Count an MQL adopted from the CRM; one far below the threshold is reported."""
        self.adopted += 1
        threshold = mapping.spec.qualification.threshold
        if result.total < threshold / 2:
            self.adopted_review += 1
            if len(self.review_sample) < REVIEW_SAMPLE:
                self.review_sample.append(record_id)

    def report_review(self) -> None:
        """One log line for the adopted MQLs that score far below the threshold."""
        if not self.adopted_review:
            return
        more = self.adopted_review - len(self.review_sample)
        log.warning(
            "%d MQL(s) the CRM already had score below half the threshold: kept at MQL, "
            "for sales to review: %s%s", self.adopted_review, ", ".join(self.review_sample),
            f" and {more} more" if more > 0 else "",
        )  # fmt: skip

    def add_writes(self, tally: WriteTally) -> None:
        """Add a writer's outcome counters."""
        self.written += tally.written
        self.failed += tally.failed
        self.dead_lettered += tally.dead_lettered
        self.sla_tasks += tally.sla_tasks
        self.sla_breaches += tally.sla_breaches
        self.dropped += tally.dropped

    def counts(self) -> dict[str, int]:
        """Counters for the run history."""
        return {
            "pulled": self.pulled,
            "changed": self.changed,
            "written": self.written,
            "failed": self.failed,
            "dead_lettered": self.dead_lettered,
            "promoted": self.promoted,
            "recycled": self.recycled,
            "mqls": self.mqls,
            "sla_tasks": self.sla_tasks,
            "sla_breaches": self.sla_breaches,
            "dropped": self.dropped,
            "settled": self.settled,
            "rejected": self.rejected,
            "mqls_in_crm": self.mqls_in_crm,
            "adopted": self.adopted,
            "adopted_review": self.adopted_review,
        }


PlanSink = Callable[[PlannedChange], None]
"""Receives each change a dry run would write, as it is computed (streamed, not kept)."""

Remodel = Callable[[str, datetime, "RunOptions", RunSummary], None]
"""Rescores one object's stored snapshots that another mapping version computed, inside
the sync's run (see `Rescore.remodel`)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run is carried out, shared by sync and rescore."""

    dry_run: bool = False
    progress: Progress | None = None
    plan: PlanSink | None = None
    should_stop: ShouldStop | None = None
    max_attempts: int | None = 10
    """Dead-letter attempts after which a record is parked (not retried)."""


class ItemScorer:
    """Scores and decides one pulled item at `now` and diffs it against what the CRM holds:
    the same for a record pulled from the CRM and one rescored from the store."""

    def __init__(self, mapping: CompiledMapping, version: str | None = None) -> None:
        self.mapping = mapping
        self.version = version
        self.labels = descriptions(mapping)
        self.windows = windows_of(mapping.spec)
        self._stamp: tuple[datetime, str] | None = None

    def score(
        self, obj: str, pulled: Pulled, memory: Memory, now: datetime
    ) -> tuple[Scored, Decision]:
        """The item with its result, decision, desired values, patch and next due time."""
        record = pulled.record
        result, decision = evaluate(record, self.mapping, memory, now)
        if self._stamp is None or self._stamp[0] is not now:
            self._stamp = (now, format_instant(now))
        stamp = self._stamp[1]
        desired = desired_values(result, decision, now, self.version, self.labels, stamp)
        due = due_at(record, self.mapping, decision.memory, now, self.windows)
        item = Scored(pulled, result, decision, desired, None, due)
        diff = changed_fields(desired, dict(pulled.current), RIDE_ALONG, item.written_values())
        if diff:
            item.patch = Patch(obj, record.id, diff, decision.action in RECYCLES)
        return item, decision


@contextmanager
def recorded_run(
    store: StateStore,
    adapter: CrmAdapter,
    kind: RunKind,
    now: datetime,
    dry_run: bool,
    version: str | None = None,
) -> Iterator[RunSummary]:
    """Record a run in the history around the body: started, then closed `ok` or `failed`
    with its counters, API calls and error. Runs left `running` by a dead process are
    marked `crashed` first (the caller holds the account's lock, so none is alive). Dry
    runs are not recorded."""
    started = time.monotonic()
    calls_before = adapter.api_calls
    summary = RunSummary()
    if not dry_run:
        summary.run_id = store.start_run(
            kind, crm=adapter.kind, started_at=now, mapping_version=version
        )
        crashed = store.mark_crashed(adapter.kind, before=summary.run_id)
        if crashed:
            log.warning("%d earlier run(s) had died mid-way: marked crashed", crashed)
    status, error = "ok", None
    # Every log line of the run carries its id (structured logs group a run's lines by it).
    ids = {} if summary.run_id is None else {"run_id": summary.run_id}
    bound = structlog.contextvars.bound_contextvars(**ids)
    try:
        with bound:
            yield summary
    except BaseException as exc:  # KeyboardInterrupt too: a run cut short is not ok
        status, error = "failed", str(exc) or type(exc).__name__
        raise
    finally:
        summary.api_calls = adapter.api_calls - calls_before
        summary.seconds = time.monotonic() - started
        if summary.run_id is not None:
            store.finish_run(summary.run_id, status, summary.counts(), summary.api_calls, error)


def write_or_plan(
    writer: BatchWriter,
    pages: Iterable[list[Scored]],
    options: RunOptions,
    summary: RunSummary,
) -> None:
    """Feed scored pages to the writer (or, in a dry run, to the plan), reporting progress;
    then send what is still queued and add the writer's counters to the summary.

    A stop request is honoured between pages: what is queued is written and committed,
    then `Interrupted` ends the run.
    """
    stopped = False
    for scored in pages:
        if options.dry_run:
            if options.plan is not None:
                for change in planned_changes(scored):
                    options.plan(change)
        else:
            writer.add(scored)
            writer.flush()
        if options.progress is not None:
            options.progress(summary.pulled, None)
        if options.should_stop is not None and options.should_stop():
            stopped = True
            break
    if not options.dry_run:
        writer.flush(final=True)
        summary.add_writes(writer.tally)
    if stopped:
        raise Interrupted(
            f"stopped on request after {summary.pulled} record(s); what was written is "
            "committed and the next run continues from the same watermark"
        )


def run_writer(
    adapter: CrmAdapter,
    store: StateStore,
    mapping: CompiledMapping,
    obj: str,
    now: datetime,
    summary: RunSummary,
    max_attempts: int | None,
    *,
    keep_records: bool = False,
) -> tuple[list[str], BatchWriter]:
    """A run's writer for one object, resolving dead letters as their records complete and
    creating SLA tasks if the mapping asks; also the ids of the letters to retry (open and
    not parked)."""
    open_letters = store.open_dead_letters(adapter.kind, obj)
    letters = {d.record_id: d.id for d in open_letters}
    retry = [d.record_id for d in open_letters if d.parked_at is None]

    def resolve(record_id: str, outcome: Outcome | None) -> None:
        if record_id in letters and not (outcome is not None and outcome.error):
            store.resolve_dead_letter(letters.pop(record_id))

    writer = BatchWriter(
        adapter,
        store,
        obj,
        now,
        summary.run_id,
        on_done=resolve,
        keep_records=keep_records,
        sla_tasks=mapping.spec.lifecycle.sla.create_task_on_breach,
        max_attempts=max_attempts,
    )
    return retry, writer


def planned_changes(scored: Iterable[Scored]) -> Iterator[PlannedChange]:
    """The field changes a run would write (for `plan` and dry runs)."""
    for item in scored:
        if item.patch is None:
            continue
        record = item.pulled.record
        email = record.properties.get("email")
        for f, value in item.patch.values.items():
            before = item.pulled.current.get(f)
            yield PlannedChange(
                record.id, f, before, normalise(f, value), str(email) if email else None
            )
