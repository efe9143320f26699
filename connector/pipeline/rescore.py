"""The daily time-based rescore: decay, window expiry and lifecycle timers, zero CRM reads.

Scores move with the clock even when nothing in the CRM changes: activities age out of
rule windows, inactivity decay takes another step, an MQL nobody touched goes stale, a
recycle cooldown ends, SLA windows pass. The sync stores each record's canonical data and
the instant such a change can next happen (`due_at`, see `connector.core.timers`), so this job
streams only the due snapshots, rescores them from the snapshot alone (no pull, no read),
and writes through the adapter only the records whose written values change — with the
sync's own diff, batching, retry, dead-letter, journal and snapshot code.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.pool import AsyncResult, Pool

from connector.core.lifecycle import Decision, Memory, evaluate
from connector.core.records import LeadRecord, parse_record, read_line
from connector.core.scoring import CompiledMapping, ScoreResult, compile_mapping
from connector.crm.base import CrmAdapter, Pulled, Value
from connector.crm.values import parse_instant
from connector.mapping.schema import MappingSpec
from connector.pipeline.settle import settle_pending
from connector.pipeline.steps import (
    ItemScorer,
    PlanSink,
    Progress,
    RunOptions,
    RunSummary,
    ShouldStop,
    desired_values,
    memory_of,
    recorded_run,
    run_writer,
    write_or_plan,
)
from connector.pipeline.writer import BatchWriter, Scored, snapshot_of
from connector.state import PreparedUpdates, Snapshot, StateStore
from connector.state.engine import make_engine

STAGE_PROPERTY = "lifecycle_stage"


def stored_record(snapshot: Snapshot) -> LeadRecord:
    """The snapshot's canonical record, held at the stage mqlsync last wrote or saw."""
    return held_record(parse_record(snapshot.record), snapshot.stage)


def held_record(record: LeadRecord, stage: str | None) -> LeadRecord:
    """The record as the CRM holds it after mqlsync's last write: with the stage it holds.

    A snapshot keeps the record as pulled, i.e. before that sync promoted or recycled it;
    rescoring that as-is would promote an MQL again and restart its clocks.
    """
    if record.properties.get(STAGE_PROPERTY) == stage:
        return record
    properties = dict(record.properties)
    if stage is None:
        properties.pop(STAGE_PROPERTY, None)
    else:
        properties[STAGE_PROPERTY] = stage
    return replace(record, properties=properties)


def rescore_record(
    record: LeadRecord,
    mapping: CompiledMapping,
    memory: Memory,
    now: datetime,
    model: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[ScoreResult, Decision, dict[str, Value]]:
    """Score and decide one held record at `now`; the desired write-back values.

    Exactly what the sync computes for a record pulled unchanged at `now` (pass the
    mapping's `connector.reasons.descriptions` as `labels`, as the sync does).
    """
    result, decision = evaluate(record, mapping, memory, now)
    return result, decision, desired_values(result, decision, now, model, labels)


_NOT_WRITTEN = frozenset({"modified_at", "echo_at"})
"""Keys of a snapshot's `written` that record CRM times, not values mqlsync wrote."""


def current_values(snapshot: Snapshot) -> dict[str, Value]:
    """What the CRM holds of mqlsync's fields, per the snapshot (the diff's "before")."""
    current = {f: v for f, v in snapshot.written.items() if f != "modified_at"}
    current["stage"] = snapshot.stage
    return current


Stored = tuple[Snapshot, LeadRecord]
"""A snapshot and its record as the CRM holds it after mqlsync's last write."""


def read_stored(store: StateStore, kind: str, obj: str, ids: list[str]) -> list[Stored]:
    """The snapshots of `ids` that have a record, in `ids` order, each with its held record.

    The records are decoded from their stored text straight into typed records (twice as
    fast as plain JSON values validated after). A snapshot kept from a settled crash has
    no record yet and is left out: the next sync reads it from the CRM.
    """
    found = store.get_snapshot_texts(kind, obj, ids)
    out = []
    for rid in ids:
        snap, text = found.get(rid, (None, None))
        if snap is not None and text is not None and text != "{}":
            out.append((snap, held_record(read_line(text), snap.stage)))
    return out


@dataclass(slots=True)
class _Batch:
    """A page of rescored snapshots and its counters: the records with something to
    write (each with its next due time), and the snapshot updates of the others, which
    only need storing (the new scores, due time and mapping version)."""

    changed: list[Scored]
    unchanged_ids: list[str]
    unchanged: PreparedUpdates
    tally: RunSummary


class _Scorer:
    """Rescores snapshots; runs in the job's process or in a worker process."""

    def __init__(self, mapping: CompiledMapping, model: str | None) -> None:
        self.items = ItemScorer(mapping, model)

    def page(
        self, obj: str, stored: Iterable[Stored], now: datetime
    ) -> tuple[list[Scored], RunSummary]:
        """Every snapshot rescored at `now`, and the page's counters."""
        tally = RunSummary()
        scored = []
        for snap, record in stored:
            written = snap.written
            modified = parse_instant(written.get("modified_at")) or snap.scored_at
            echo = parse_instant(written.get("echo_at"))
            pulled = Pulled(record, current_values(snap), modified, echo)
            item, decision = self.items.score(obj, pulled, memory_of(snap), now)
            tally.count(item.result, decision, item.patch)
            scored.append(item)
        return scored, tally

    def batch(
        self, store: StateStore, kind: str, obj: str, ids: list[str], now: datetime
    ) -> _Batch:
        """Read, rescore and split one page: the unchanged records' snapshot updates are
        prepared here, so the one process that writes only executes them. Their `written`
        is left as stored: nothing was written, so the CRM holds what it held."""
        scored, tally = self.page(obj, read_stored(store, kind, obj, ids), now)
        changed = [item for item in scored if item.patch is not None]
        same = [item for item in scored if item.patch is None]
        updates = store.prepare_updates(
            (
                snapshot_of(kind, obj, item, now, None, with_record=False, with_written=False)
                for item in same
            ),
            written=False,
        )
        return _Batch(changed, [item.record_id for item in same], updates, tally)


def score_snapshots(
    mapping: CompiledMapping,
    model: str | None,
    obj: str,
    snaps: Iterable[Snapshot],
    now: datetime,
) -> list[Scored]:
    """Rescore stored snapshots at `now` as a sync would (for what-if previews); snapshots
    without a record (kept from a settled crash) are left out."""
    stored = ((snap, stored_record(snap)) for snap in snaps if snap.record)
    return _Scorer(mapping, model).page(obj, stored, now)[0]


_worker: tuple[_Scorer, StateStore] | None = None


_GC_THRESHOLD = 50_000
"""Allocations between young-generation collections while rescoring (Python's default:
700). Rescoring makes tens of thousands of objects a page, none in a reference cycle, so
the cycle collector's passes find nothing while costing a sixth of the CPU (measured)."""


@contextmanager
def _rare_collections() -> Iterator[None]:
    """Collect cyclic garbage every `_GC_THRESHOLD` allocations for the body's duration,
    then restore the process's settings (the rescore runs inside a daemon or a CLI)."""
    before = gc.get_threshold()
    gc.set_threshold(_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _start_worker(spec: MappingSpec, url: str, model: str | None) -> None:
    """Pool initializer: compile the mapping and connect to the store once per process.

    The worker then spends its life rescoring, so what exists at start-up (modules, the
    compiled mapping) is frozen out of the cycle collector's scans, and collections are
    rare (see `_GC_THRESHOLD`).
    """
    global _worker
    _worker = (_Scorer(compile_mapping(spec), model), StateStore(make_engine(url)))
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, *gc.get_threshold()[1:])


def _score_ids(task: tuple[str, str, list[str], datetime]) -> _Batch:
    """Worker task: read one page of snapshots by id, rescore it and split it.

    Sends back only what the writer needs — prepared updates for the unchanged records;
    for the changed ones no reasons and no activities, only the owner for SLA tasks and
    the email for plans — because pickling full records costs more than reading them
    again.
    """
    assert _worker is not None
    scorer, store = _worker
    kind, obj, ids, now = task
    batch = scorer.batch(store, kind, obj, ids, now)
    for item in batch.changed:
        record = item.pulled.record
        kept = {k: v for k in ("owner", "email") if (v := record.properties.get(k))}
        item.pulled = replace(
            item.pulled, record=LeadRecord(record.id, record.crm, record.object, kept)
        )
        item.result = replace(item.result, reasons=(), gates=(), hot_rules=(), capped_out=())
        item.written_values()  # here, not in the job process
    return batch


class Rescore:
    """Rescoring stored snapshots without reading the CRM: the daily rescore of every due
    snapshot (`run`), and, after a mapping edit, every snapshot another mapping version
    computed (`remodel`, which the sync runs first)."""

    def __init__(
        self,
        adapter: CrmAdapter,
        mapping: CompiledMapping,
        store: StateStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch: int = 5_000,
        workers: int = 1,
        max_attempts: int | None = 10,
        version: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.mapping = mapping
        self.store = store
        self.clock = clock
        self.batch = batch
        """Snapshots read, scored and committed together (one transaction per batch)."""
        self.workers = workers
        """Processes that rescore (CPU-bound) while this one writes; 1 = no pool."""
        self.max_attempts = max_attempts
        self.version = version
        """The mapping's `<stem>@<hex12>`, recorded on each run."""
        self._scorer = _Scorer(mapping, version)

    def run(
        self,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        plan: PlanSink | None = None,
        should_stop: ShouldStop | None = None,
    ) -> RunSummary:
        """Rescore every due snapshot; `dry_run` writes nothing and hands each change it
        would write to `plan`; `should_stop` is polled between pages.

        `summary.pulled` counts the snapshots rescored (none were pulled from the CRM).
        """
        now = self.clock()
        options = RunOptions(dry_run, progress, plan, should_stop, self.max_attempts)
        with (
            recorded_run(
                self.store, self.adapter, "rescore", now, dry_run, self.version
            ) as summary,
            self._pool() as pool,
        ):
            for obj in self.adapter.objects:
                if not dry_run:
                    summary.settled += settle_pending(self.adapter, self.store, obj)
                batches = self._batches(obj, now, pool)
                self._rescore_object(obj, batches, now, options, summary)
        return summary

    def remodel(self, obj: str, now: datetime, options: RunOptions, summary: RunSummary) -> None:
        """Within a sync: rescore every stored snapshot of `obj` that another mapping version
        computed, and write what changed (the new version rides along), so an edited
        mapping reaches every contact in one cycle, with no CRM reads. Nothing to do when
        the mapping has no version or every snapshot already has it."""
        if self.version is None:
            return
        kind, version = self.adapter.kind, self.version
        stale = self.store.iter_stale_model_ids(version, kind, obj, batch=self.batch)
        first = next(stale, None)
        if first is None:
            return
        pages = itertools.chain([first], stale)
        with self._pool() as pool:
            batches = self._by_ids(obj, pages, now, pool)
            self._rescore_object(obj, batches, now, options, summary)

    def _pool(self) -> AbstractContextManager[Pool | None]:
        if self.workers <= 1:
            return nullcontext()
        url = self.store.engine.url.render_as_string(hide_password=False)
        context = multiprocessing.get_context("spawn")  # no forked engines or locks
        return context.Pool(self.workers, _start_worker, (self.mapping.spec, url, self.version))

    def _batches(self, obj: str, now: datetime, pool: Pool | None) -> Iterator[_Batch]:
        """Rescored pages in due order: here, or by the pool with a bounded read-ahead."""
        size = self.batch if pool is None else max(1, min(self.batch, 1_000))
        # Small tasks keep every worker busy.
        pages = self.store.iter_due_ids(now, self.adapter.kind, obj, batch=size)
        yield from self._by_ids(obj, pages, now, pool)

    def _by_ids(
        self, obj: str, pages: Iterator[list[str]], now: datetime, pool: Pool | None
    ) -> Iterator[_Batch]:
        """Rescored pages of snapshots read by id: here, or by the pool with a bounded
        read-ahead."""
        kind = self.adapter.kind
        if pool is None:
            for ids in pages:
                yield self._scorer.batch(self.store, kind, obj, ids, now)
            return
        pending: deque[AsyncResult[_Batch]] = deque()
        for ids in pages:
            pending.append(pool.apply_async(_score_ids, ((kind, obj, ids, now),)))
            # Deep enough that workers keep scoring while this process waits on a commit.
            if len(pending) > 8 * self.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def _rescore_object(
        self,
        obj: str,
        batches: Iterable[_Batch],
        now: datetime,
        options: RunOptions,
        summary: RunSummary,
    ) -> None:
        _, writer = run_writer(
            self.adapter,
            self.store,
            self.mapping,
            obj,
            now,
            summary,
            options.max_attempts,
            keep_records=True,
        )
        pages = (_taken(writer, summary, batch, options.dry_run) for batch in batches)
        with _rare_collections():
            write_or_plan(writer, pages, options, summary)


def _taken(writer: BatchWriter, summary: RunSummary, batch: _Batch, dry_run: bool) -> list[Scored]:
    """Add a page's scoring counters to the run's and (unless a dry run) queue its
    unchanged snapshots' updates for the writer's next commit; the records to write."""
    if not dry_run:
        writer.keep(batch.unchanged_ids, batch.unchanged)
    part = batch.tally
    summary.pulled += part.pulled
    summary.changed += part.changed
    summary.mqls += part.mqls
    summary.promoted += part.promoted
    summary.recycled += part.recycled
    summary.routes.update(part.routes)
    summary.grades.update(part.grades)
    summary.reasons.update(part.reasons)
    return batch.changed


__all__ = [
    "Rescore",
    "Stored",
    "current_values",
    "held_record",
    "read_stored",
    "rescore_record",
    "score_snapshots",
    "stored_record",
]
