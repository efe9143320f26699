"""The sync loop: pull → score → decide → diff → write → checkpoint (design §1).

CRM-agnostic: it talks to a `CrmAdapter` only. Per page it scores every record under the
lifecycle rules and computes the fields whose value really changes; `BatchWriter` sends
them in full batches, retries failures once, dead-letters the rest and commits snapshots
and journal as records complete. The watermark moves once the whole pull is durable, and
never past a failed record.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.crm.base import (
    STAGE_FIELD,
    TIMESTAMP_FIELDS,
    CrmAdapter,
    Outcome,
    OwnWrites,
    Patch,
    Pulled,
    Value,
)
from connector.crm.values import changed_fields, format_instant, normalise, parse_instant
from connector.lifecycle import Decision, Memory, evaluate
from connector.records import LeadRecord, parse_record
from connector.scoring import CompiledMapping, ScoreResult
from connector.state import RunKind, Snapshot, StateStore, Watermark
from connector.timers import due_at, windows_of
from connector.writer import BatchWriter, Scored, WriteTally

log = logging.getLogger(__name__)

REASONS_LIMIT = 1000
OWN_FROM, OWN_TO, OWN_TOKEN = (
    "mqlsync:own_writes_from",
    "mqlsync:own_writes_to",
    "mqlsync:own_writes_token",
)
"""Watermark rows that remember the last run's write window in CRM time, and the
`scored_at` it wrote (see `OwnWrites`)."""

Progress = Callable[[int, int | None], None]
RECYCLES = frozenset({"recycle_rejected", "recycle_stale"})


def format_reasons(result: ScoreResult, limit: int = REASONS_LIMIT) -> str:
    """Top reasons as one line a rep can read in the CRM, cut at whole reasons."""
    parts = [f"review: {g.reason} ({g.evidence})" for g in result.gates]
    parts += [f"{r.points:+d} {r.rule}: {r.evidence}" for r in result.reasons]
    text = ""
    for part in parts:
        candidate = f"{text}; {part}" if text else part
        if len(candidate) > limit:
            break
        text = candidate
    return text


def desired_values(result: ScoreResult, decision: Decision, now: datetime) -> dict[str, Value]:
    """The write-back fields (design §6) for one scored and decided record."""
    memory = decision.memory
    values: dict[str, Value] = {
        "fit": result.fit,
        "engagement": result.engagement,
        "score": result.total,
        "grade": result.grade,
        "route": result.route,
        "temperature": result.temperature,
        "reasons": format_reasons(result) or None,
        "scored_at": format_instant(now),
        "mql_at": format_instant(memory.mql_at) if memory.mql_at else None,
        "recycle_reason": memory.recycle_reason,
        "recycled_at": format_instant(memory.recycled_at) if memory.recycled_at else None,
        "sla": decision.sla or None,
    }
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


@dataclass(slots=True)
class PlannedChange:
    """One field a sync would change (for `plan`)."""

    record_id: str
    field: str
    before: Value
    after: Value


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
    api_calls: int = 0
    seconds: float = 0.0
    routes: Counter[str] = field(default_factory=Counter)
    grades: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    planned: list[PlannedChange] = field(default_factory=list)

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

    def add_writes(self, tally: WriteTally) -> None:
        """Add a writer's outcome counters."""
        self.written += tally.written
        self.failed += tally.failed
        self.dead_lettered += tally.dead_lettered
        self.sla_tasks += tally.sla_tasks

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
        }


class Sync:
    """One configured sync: an adapter, a compiled mapping and a state store."""

    def __init__(
        self,
        adapter: CrmAdapter,
        mapping: CompiledMapping,
        store: StateStore,
        *,
        lookback: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.adapter = adapter
        self.mapping = mapping
        self.store = store
        self.lookback = lookback
        self.clock = clock
        self._windows = windows_of(mapping.spec)

    # ------------------------------------------------------------------ state helpers
    def _watermark(self, obj: str) -> Watermark:
        field_ = self.adapter.watermark_field
        found = self.store.get_watermark(self.adapter.kind, obj, field_, lookback=self.lookback)
        return found or Watermark.initial(field_, self.lookback)

    def _own_writes(self, obj: str) -> OwnWrites | None:
        kind = self.adapter.kind
        start = self.store.get_watermark(kind, obj, OWN_FROM)
        end = self.store.get_watermark(kind, obj, OWN_TO)
        token = self.store.get_watermark(kind, obj, OWN_TOKEN)
        if start is None or end is None or token is None:
            return None
        return OwnWrites(start.value, end.value, _token(token.value))

    def _previous(self, obj: str) -> Callable[[Sequence[str]], Mapping[str, Any]]:
        def lookup(ids: Sequence[str]) -> dict[str, tuple[datetime, LeadRecord]]:
            found = {}
            for rid, snap in self.store.get_snapshots(self.adapter.kind, obj, ids).items():
                at = parse_instant(snap.written.get("modified_at"))
                if at is not None and snap.record:
                    found[rid] = (at, parse_record(snap.record))
            return found

        return lookup

    # -------------------------------------------------------------------------- run
    def run(self, *, dry_run: bool = False, progress: Progress | None = None) -> RunSummary:
        """One incremental sync of every object; `dry_run` writes nothing (the plan)."""
        now = self.clock()
        with recorded_run(self.store, self.adapter, "sync", now, dry_run) as summary:
            for obj in self.adapter.objects:
                self._sync_object(obj, now, dry_run, summary, progress)
        return summary

    def _sync_object(
        self,
        obj: str,
        now: datetime,
        dry_run: bool,
        summary: RunSummary,
        progress: Progress | None,
    ) -> None:
        watermark = self._watermark(obj)
        own = self._own_writes(obj)
        letters, writer = run_writer(self.adapter, self.store, self.mapping, obj, now, summary)
        # Dead letters first, read by id: a half-applied write (e.g. a lifecycle clear whose
        # set failed) may look like our own echo to the incremental pull and be skipped.
        retried = self.adapter.read(obj, letters) if letters and not dry_run else iter(())
        pulled = self.adapter.pull(obj, watermark, own, self._previous(obj))
        pages = itertools.chain(retried, pulled)
        scored = (self._score_page(obj, page.items, now, summary) for page in pages)
        write_or_plan(writer, scored, dry_run, summary, progress)
        if dry_run:
            return
        # Everything up to the run's start has been read (the next query's lookback covers
        # search-index lag and clock skew below it), so the cursor moves to the start even
        # when few records changed; a failed record holds it back, to be re-read next time.
        max_seen = now if not writer.failed else min(writer.failed.values())
        kind = self.adapter.kind
        self.store.save_watermark(kind, obj, watermark.advance(max_seen, now))
        save_own_writes(self.store, kind, obj, writer.written_at, now)

    def _score_page(
        self, obj: str, items: list[Pulled], now: datetime, summary: RunSummary
    ) -> list[Scored]:
        snaps = self.store.get_snapshots(self.adapter.kind, obj, [i.record.id for i in items])
        out = []
        for item in items:
            result, decision = evaluate(
                item.record, self.mapping, memory_of(snaps.get(item.record.id)), now
            )
            desired = desired_values(result, decision, now)
            diff = changed_fields(desired, dict(item.current), TIMESTAMP_FIELDS)
            backward = decision.action in RECYCLES
            patch = Patch(obj, item.record.id, diff, backward) if diff else None
            due = due_at(item.record, self.mapping, decision.memory, now, self._windows)
            out.append(Scored(item, result, decision, desired, patch, due))
            summary.count(result, decision, patch)
        return out


@contextmanager
def recorded_run(
    store: StateStore, adapter: CrmAdapter, kind: RunKind, now: datetime, dry_run: bool
) -> Iterator[RunSummary]:
    """Record a run in the history around the body: started, then closed `ok` or `failed`
    with its counters, API calls and error. Dry runs are not recorded."""
    started = time.monotonic()
    calls_before = adapter.api_calls
    summary = RunSummary()
    if not dry_run:
        summary.run_id = store.start_run(kind, crm=adapter.kind, started_at=now)
    status, error = "ok", None
    try:
        yield summary
    except Exception as exc:
        status, error = "failed", str(exc)
        raise
    finally:
        summary.api_calls = adapter.api_calls - calls_before
        summary.seconds = time.monotonic() - started
        if summary.run_id is not None:
            store.finish_run(summary.run_id, status, summary.counts(), summary.api_calls, error)


def write_or_plan(
    writer: BatchWriter,
    pages: Iterable[list[Scored]],
    dry_run: bool,
    summary: RunSummary,
    progress: Progress | None,
) -> None:
    """Feed scored pages to the writer (or, in a dry run, to the plan), reporting progress;
    then send what is still queued and add the writer's counters to the summary."""
    for scored in pages:
        if dry_run:
            summary.planned.extend(planned_changes(scored))
        else:
            writer.add(scored)
            writer.flush()
        if progress is not None:
            progress(summary.pulled, None)
    if not dry_run:
        writer.flush(final=True)
        summary.add_writes(writer.tally)


def save_own_writes(
    store: StateStore, kind: str, obj: str, written_at: list[datetime], now: datetime
) -> None:
    """Remember a run's write window (CRM time) and the `scored_at` it wrote, so the next
    pull skips the echoes of these writes (see `OwnWrites`)."""
    if not written_at:
        return
    marks = {OWN_FROM: min(written_at), OWN_TO: max(written_at), OWN_TOKEN: now}
    with store.transaction() as conn:
        for name, value in marks.items():
            store.save_watermark(kind, obj, Watermark(name, value), conn=conn)


def run_writer(
    adapter: CrmAdapter,
    store: StateStore,
    mapping: CompiledMapping,
    obj: str,
    now: datetime,
    summary: RunSummary,
    *,
    keep_records: bool = False,
) -> tuple[list[str], BatchWriter]:
    """A run's writer for one object, resolving dead letters as their records complete and
    creating SLA tasks if the mapping asks; also returns the open dead letters' ids."""
    letters, resolve = dead_letter_resolver(store, adapter.kind, obj)
    writer = BatchWriter(
        adapter,
        store,
        obj,
        now,
        summary.run_id,
        on_done=resolve,
        keep_records=keep_records,
        sla_tasks=mapping.spec.lifecycle.sla.create_task_on_breach,
    )
    return letters, writer


def dead_letter_resolver(
    store: StateStore, kind: str, obj: str
) -> tuple[list[str], Callable[[Scored, Outcome | None], None]]:
    """Open dead letters' record ids, and a writer callback that resolves each one as soon
    as its record completes without error (written, or already right in the CRM)."""
    letters = {d.record_id: d.id for d in store.open_dead_letters(kind, obj)}

    def resolve(item: Scored, outcome: Outcome | None) -> None:
        if item.record_id in letters and not (outcome is not None and outcome.error):
            store.resolve_dead_letter(letters.pop(item.record_id))

    return list(letters), resolve


def _token(at: datetime) -> str:
    """The `scored_at` a run wrote, as CRM filters compare datetimes: epoch milliseconds,
    truncated like `format_instant` (rounding could name a different millisecond)."""
    return str(int(at.timestamp()) * 1000 + at.microsecond // 1000)


def planned_changes(scored: Iterable[Scored]) -> list[PlannedChange]:
    """The field changes a run would write (for `plan` and dry runs)."""
    out = []
    for item in scored:
        if item.patch is None:
            continue
        for f, value in item.patch.values.items():
            before = item.pulled.current.get(f)
            out.append(PlannedChange(item.pulled.record.id, f, before, normalise(f, value)))
    return out
