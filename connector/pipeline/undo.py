"""Undo a run: write back the before-image of every field it changed, unless changed since.

The journal holds, per record a run wrote, each field's value before and after. Undo reads
mqlsync's fields of those records from the CRM once (no activities) and, field by field:

- the CRM still holds the run's value: restore the value from before the run;
- the CRM holds something else: someone (a rep, a later run) changed it since, and their
  value wins: the field is skipped and listed;
- a stage is restored backward (the run promoted to MQL): written as a move back, the way
  the CRM needs it (HubSpot clears first).

Undo is itself a run (kind ``undo``) with its own journal, written before each CRM write
like any run's, so an undo can be undone, and a crashed undo settled by the next run.
Snapshots are set back with the fields, so the next rescore diffs against what the CRM
holds. Undo does not change the mapping: the next sync or rescore under the same mapping
computes the same values again, so fix the mapping (or pause the daemon) first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from connector.core.lifecycle import STAGES
from connector.crm.base import RIDE_ALONG, STAGE_FIELD, CrmAdapter, Current, Patch, Value
from connector.crm.values import normalise, parse_instant
from connector.errors import MqlsyncError
from connector.pipeline.settle import settle_pending
from connector.pipeline.steps import RunSummary, recorded_run
from connector.state import JournalEntry, JournalRecord, Snapshot, StateStore


class RunNotFound(MqlsyncError):
    """The run id names no run in this state store."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A field undo left alone, and why."""

    record_id: str
    field: str
    reason: str


@dataclass(slots=True)
class UndoReport:
    """What an undo restored and what it left alone."""

    run_id: int | None = None
    """The undo's own run id (None for a dry run)."""
    records: int = 0
    restored: int = 0
    """Fields written back (or, in a dry run, that would be)."""
    skipped: list[Skipped] = field(default_factory=list)
    failed: int = 0
    summary: RunSummary | None = None


def _changes(entries: Iterable[JournalEntry]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(object, record id, {field: (before, after)}) per journal row.

    Fed newest row first: a record a run wrote twice is restored to its second write's
    before-image, which the first row then finds in the CRM and restores in turn.
    """
    for (obj, rid), group in itertools.groupby(entries, key=lambda e: (e.obj, e.record_id)):
        yield obj, rid, {e.field: (e.before, e.after) for e in group}


def _rank(stage: Value) -> int:
    return STAGES.index(str(stage)) if stage in STAGES else -1


def restore(
    record_id: str, fields: Mapping[str, tuple[Any, Any]], current: Current | None
) -> tuple[dict[str, Value], list[Skipped]]:
    """The before-values to write back for one record, and the fields left alone."""
    if current is None:
        return {}, [Skipped(record_id, f, "record no longer in the CRM") for f in fields]
    values: dict[str, Value] = {}
    skipped = []
    for f, (before, after) in fields.items():
        now = normalise(f, current.values.get(f))
        if now == normalise(f, before):
            continue  # already as before (the write never landed, or was undone)
        if now != normalise(f, after) and f not in RIDE_ALONG:
            skipped.append(Skipped(record_id, f, f"changed in the CRM since (now {now!r})"))
            continue
        values[f] = normalise(f, before)
    if values.keys() <= RIDE_ALONG:
        return {}, skipped
    return values, skipped


class Undo:
    """Undo one run of a CRM account (the caller holds the account's lock)."""

    def __init__(
        self,
        adapter: CrmAdapter,
        store: StateStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        version: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.store = store
        self.clock = clock
        self.version = version

    def run(self, run_id: int, *, dry_run: bool = False) -> UndoReport:
        """Restore what run `run_id` changed; `dry_run` only reports."""
        target = self.store.get_run(run_id)
        if target is None or (target.crm not in (None, self.adapter.kind)):
            raise RunNotFound(f"no run {run_id} of {self.adapter.kind} in this state store")
        now = self.clock()
        report = UndoReport()
        with recorded_run(self.store, self.adapter, "undo", now, dry_run, self.version) as summary:
            report.run_id, report.summary = summary.run_id, summary
            if not dry_run:
                for obj in self.adapter.objects:
                    summary.settled += settle_pending(self.adapter, self.store, obj)
            records = _changes(self.store.journal_for_run(run_id, newest_first=True))
            size = self.adapter.write_batch_size
            while chunk := list(itertools.islice(records, size)):
                for obj, group in itertools.groupby(chunk, key=lambda r: r[0]):
                    self._batch(obj, list(group), now, dry_run, report)
            summary.pulled = report.records
            summary.changed = summary.written = report.restored
            summary.failed = report.failed
        return report

    def _batch(
        self,
        obj: str,
        rows: list[tuple[str, str, dict[str, Any]]],
        now: datetime,
        dry_run: bool,
        report: UndoReport,
    ) -> None:
        current = self.adapter.peek(obj, [rid for _, rid, _ in rows])
        patches: list[Patch] = []
        intents: list[JournalRecord] = []
        for _, rid, fields in rows:
            report.records += 1
            values, skipped = restore(rid, fields, current.get(rid))
            report.skipped.extend(skipped)
            if not values:
                continue
            cur = current[rid].values
            backward = STAGE_FIELD in values and _rank(values[STAGE_FIELD]) < _rank(
                cur.get(STAGE_FIELD)
            )
            patches.append(Patch(obj, rid, values, stage_backward=backward))
            changes = {f: (cur.get(f), v) for f, v in values.items()}
            intents.append(JournalRecord(self.adapter.kind, obj, rid, changes))
        if dry_run or not patches:
            report.restored += sum(len(p.values) for p in patches)
            return
        run_id = report.run_id
        assert run_id is not None
        self.store.journal(run_id, intents, state="pending")
        outcomes = {o.record_id: o for o in self.adapter.write(obj, patches)}
        done = [p for p in patches if outcomes[p.record_id].error is None]
        report.failed += len(patches) - len(done)
        report.restored += sum(len(p.values) for p in done)
        with self.store.transaction() as conn:
            self.store.upsert_snapshots(self._restored(obj, done), conn=conn)
            self.store.settle(run_id, self.adapter.kind, obj, [p.record_id for p in done],
                              "applied", conn=conn)  # fmt: skip

    def _restored(self, obj: str, patches: list[Patch]) -> list[Snapshot]:
        """Snapshots with the restored fields, so the next rescore diffs against the CRM."""
        snaps = self.store.get_snapshots(self.adapter.kind, obj, [p.record_id for p in patches])
        out = []
        for patch in patches:
            snap = snaps.get(patch.record_id)
            if snap is None:
                continue
            values = patch.values
            written = {**snap.written, **{f: v for f, v in values.items() if f != STAGE_FIELD}}
            fields: dict[str, Any] = {"written": written, "due_at": None}
            for name, column in (("fit", "fit"), ("engagement", "engagement"), ("score", "total")):
                if name in values and isinstance(values[name], int):
                    fields[column] = values[name]
            for name in ("grade", "route", "temperature", "recycle_reason"):
                if name in values:
                    fields[name] = values[name]
            for name in ("mql_at", "recycled_at"):
                if name in values:
                    fields[name] = parse_instant(values[name])
            if STAGE_FIELD in values:
                stage = values[STAGE_FIELD]
                fields["stage"] = None if stage is None else str(stage)
            out.append(replace(snap, **fields))
        return out
