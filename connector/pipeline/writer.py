"""Write scored records back in full batches, then make their new state durable.

Patches queue across pages so that every request carries a full batch (HubSpot 100,
Salesforce 200); backward stage moves queue apart because the CRM may need more than one
request for them (HubSpot: clear, then set).

Rules, and why:

- Journal first: each batch's changes (and the lifecycle memory they carry) are journaled
  ``pending`` before the CRM write, and settled ``applied`` with the record's snapshot in
  one transaction after it. A process killed in between leaves a record of what it may
  have written, which the next run settles against the CRM (``connector.pipeline.settle``) and
  which ``undo`` can reverse.
- A backward stage move (recycle) is checked against the CRM immediately before it is
  written: if the record is no longer at MQL or was changed by someone since mqlsync read
  it, the patch is dropped and the stored state left as it was; the next sync re-reads it.
- A patch that fails twice is dead-lettered with the CRM's reason and retried by id in
  later runs, until ``max_attempts`` park it. Its journal row is settled ``failed``, except
  for a move back: a failed clear-then-set may have cleared the stage, so that row stays
  ``pending`` and the next run checks the CRM (and sets the stage again if it is empty).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connector.core.lifecycle import Decision
from connector.core.scoring import ScoreResult
from connector.crm.base import (
    RIDE_ALONG,
    STAGE_FIELD,
    CrmAdapter,
    Outcome,
    Patch,
    Pulled,
    SlaBreach,
    Value,
)
from connector.crm.values import format_instant, normalise
from connector.errors import MqlsyncError
from connector.state import JournalRecord, PendingBreach, PreparedUpdates, Snapshot, StateStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Scored:
    """One record after scoring and the lifecycle decision, with its patch if any."""

    pulled: Pulled
    result: ScoreResult
    decision: Decision
    desired: dict[str, Value]
    patch: Patch | None
    due_at: datetime | None = None
    """When time alone can next change the written values (`connector.core.timers`)."""
    written: dict[str, Value] | None = None
    """`desired` as the snapshot stores it (see `written_values`); filled on first use."""

    @property
    def record_id(self) -> str:
        """The CRM id."""
        return self.pulled.record.id

    def written_values(self) -> dict[str, Value]:
        """The desired values normalised, without the stage (the snapshot has a column).

        Cached: rescore workers compute it so the job process, the rescore's bottleneck,
        does not normalise ~2M values.
        """
        if self.written is None:
            self.written = {f: normalise(f, v) for f, v in self.desired.items() if f != STAGE_FIELD}
        return self.written


def _written(item: Scored, modified: datetime | None) -> dict[str, Value]:
    """What the CRM holds of mqlsync's fields after this run (see `snapshot_of`)."""
    written: dict[str, Value] = {
        **item.written_values(),
        "modified_at": format_instant(item.pulled.modified_at),
    }
    if item.patch is None and modified is None:  # nothing written
        current = item.pulled.current
        for f in RIDE_ALONG:
            written[f] = normalise(f, current.get(f))
    echo = modified if modified is not None else item.pulled.echo_at
    if echo is not None:
        written["echo_at"] = format_instant(echo)
    return written


def snapshot_of(
    kind: str,
    obj: str,
    item: Scored,
    now: datetime,
    modified: datetime | None,
    *,
    with_record: bool,
    with_written: bool = True,
) -> Snapshot:
    """The state to remember for a record once its values are in the CRM.

    `written` is what the CRM holds of mqlsync's fields: the desired values, except that
    a record with nothing to write keeps its current scoring time and mapping version
    (those ride along only with a real change, so the CRM still has the old ones, and a
    later change must send the new ones). `written.modified_at` stays the modified time
    the record was *read* at, so the next pull reuses its activities only if nothing
    changed since that read (an activity logged between our read and our write must not
    be lost behind our write's echo).
    `written.echo_at` is the modified time after our write (`modified`, when this run
    wrote). `with_record=False` leaves out the canonical record (the rescore keeps the
    stored one); `with_written=False` leaves `written` empty, for an update that keeps the
    stored one.
    """
    result, memory = item.result, item.decision.memory
    return Snapshot(
        crm=kind,
        obj=obj,
        record_id=item.record_id,
        fit=result.fit,
        engagement=result.engagement,
        total=result.total,
        scored_at=now,
        grade=result.grade,
        route=result.route,
        temperature=result.temperature,
        stage=item.decision.stage,
        mql_at=memory.mql_at,
        recycled_at=memory.recycled_at,
        recycle_reason=memory.recycle_reason,
        lead_status_at_promotion=memory.status_at_promotion,
        written=_written(item, modified) if with_written else {},
        record=item.pulled.record.to_json() if with_record else {},
        due_at=item.due_at,
        model=str(item.desired["model"]) if item.desired.get("model") else None,
    )


def _windows(sla: object) -> set[str]:
    text = str(sla or "")
    return set(text.removeprefix("breached:").split(",")) if text.startswith("breached:") else set()


def new_breach(item: Scored) -> SlaBreach | None:
    """The SLA windows this write newly marks as breached, as a task request (or None)."""
    fresh = _windows(item.decision.sla) - _windows(item.pulled.current.get("sla"))
    mql_at = item.decision.memory.mql_at
    if not fresh or mql_at is None:
        return None
    record = item.pulled.record
    owner = record.properties.get("owner")
    return SlaBreach(
        record_id=record.id,
        owner=str(owner) if owner else None,
        breached=tuple(sorted(fresh)),
        mql_at=mql_at,
        reasons=str(item.desired.get("reasons") or ""),
    )


TASK_BATCH = 100
"""Breaches per task request (the CRMs' batch create limit)."""


def _stored(kind: str, obj: str, b: SlaBreach) -> PendingBreach:
    return PendingBreach(kind, obj, b.record_id, b.key, b.owner, b.breached, b.mql_at, b.reasons)


def _crm(b: PendingBreach) -> SlaBreach:
    return SlaBreach(b.record_id, b.owner, b.breached, b.mql_at, b.reasons)


@dataclass(slots=True)
class WriteTally:
    """Counts and times a writer accumulates for the run summary and the watermark."""

    written: int = 0
    failed: int = 0
    dead_lettered: int = 0
    sla_tasks: int = 0
    dropped: int = 0
    """Backward stage moves not written: the record left MQL or changed since it was read."""
    sla_breaches: int = 0
    """MQLs whose write newly marked an SLA window breached (tasks or not)."""


class BatchWriter:
    """Queues patches into full batches, journals, writes, retries once, commits."""

    def __init__(
        self,
        adapter: CrmAdapter,
        store: StateStore,
        obj: str,
        now: datetime,
        run_id: int | None,
        *,
        on_done: Callable[[str, Outcome | None], None] | None = None,
        keep_records: bool = False,
        sla_tasks: bool = False,
        max_attempts: int | None = None,
    ) -> None:
        self.adapter = adapter
        self.store = store
        self.obj = obj
        self.now = now
        self.run_id = run_id
        self.on_done = on_done
        """Called with each record id once its state is committed (with the write's
        outcome, None when nothing was written)."""
        self.keep_records = keep_records
        """Update snapshots without their record JSON (the rescore did not re-read it)."""
        self.sla_tasks = sla_tasks
        """Ask the CRM for an owner task when a written SLA state gains a breached window."""
        self.max_attempts = max_attempts
        """Dead-letter attempts after which a record is parked (None = never)."""
        self.tally = WriteTally()
        self._waiting: dict[str, Scored] = {}
        self._queues: dict[bool, list[Patch]] = {False: [], True: []}
        self._outcomes: dict[str, Outcome] = {}
        self._kept: list[tuple[list[str], PreparedUpdates]] = []

    def add(self, items: list[Scored]) -> None:
        """Queue a page; unchanged records are committed at the next flush."""
        for item in items:
            if item.record_id in self._waiting:  # seen twice in a run: finish the first one
                self.flush(final=True)
            self._waiting[item.record_id] = item
            if item.patch is not None:
                self._queues[item.patch.stage_backward].append(item.patch)

    def keep(self, record_ids: list[str], updates: PreparedUpdates) -> None:
        """Queue snapshot updates of records with nothing to write (prepared by a rescore
        worker); they are committed at the next flush."""
        if updates or record_ids:
            self._kept.append((record_ids, updates))

    def flush(self, *, final: bool = False) -> None:
        """Send every full batch (all queued patches when `final`), then commit."""
        size = self.adapter.write_batch_size
        for queue in self._queues.values():
            while len(queue) >= size or (final and queue):
                batch = queue[:size]
                del queue[:size]
                self._send(batch)
        self._commit()
        if final and self.sla_tasks:
            self._notify()

    def _notify(self) -> None:
        """Create the tasks of every breach still owed one (this run's and any an earlier
        run could not finish), ≤ 100 a request. A breach is marked ``sent`` before its
        request and ``done`` after; a ``sent`` one is first looked up in the CRM, so a
        request whose answer was lost (a crash, a timeout) never makes a second task."""
        kind = self.adapter.kind
        owed = self.store.open_breaches(kind, self.obj)
        uncertain = [b for b in owed if b.state == "sent"]
        if uncertain:
            present = self.adapter.sla_tasks_present(self.obj, [_crm(b) for b in uncertain])
            self.store.mark_breaches([b.id for b in uncertain if b.key in present and b.id], "done")
            owed = [b for b in owed if b.key not in present]
        for start in range(0, len(owed), TASK_BATCH):
            chunk = owed[start : start + TASK_BATCH]
            ids = [b.id for b in chunk if b.id is not None]
            self.store.mark_breaches(ids, "sent")
            try:
                created = self.adapter.notify_sla_breaches(
                    self.obj, [_crm(b) for b in chunk], now=self.now
                )
            except MqlsyncError as exc:  # kept as sent: the next run looks, then retries
                log.warning("could not create %d SLA task(s), retried next run: %s",
                            len(chunk), exc)  # fmt: skip
                return
            self.store.mark_breaches(ids, "done")
            self.tally.sla_tasks += created

    def _send(self, batch: list[Patch]) -> None:
        batch = self._guard(batch)
        if not batch:
            return
        if self.run_id is not None:
            self.store.journal(self.run_id, self._intents(batch), state="pending")
        self._write(batch)

    def _guard(self, batch: list[Patch]) -> list[Patch]:
        """Drop backward stage moves whose record no longer holds the stage the decision
        was made on (MQL, or a status sales rejected it with), or was changed by someone
        since mqlsync read it (a rep's meeting, a move to SQL)."""
        backward = [p.record_id for p in batch if p.stage_backward]
        if not backward:
            return batch
        current = self.adapter.peek(self.obj, backward)
        keep = []
        for patch in batch:
            if patch.stage_backward:
                item = self._waiting[patch.record_id]
                now = current.get(patch.record_id)
                if (
                    now is None
                    or now.values.get(STAGE_FIELD) != item.pulled.current.get(STAGE_FIELD)
                    or now.modified_at > item.pulled.seen_at
                ):
                    del self._waiting[patch.record_id]
                    self.tally.dropped += 1
                    log.info(
                        "recycle of %s %s not written: %s",
                        self.obj,
                        patch.record_id,
                        "record gone" if now is None else "changed in the CRM since read",
                    )
                    continue
            keep.append(patch)
        return keep

    def _intents(self, batch: list[Patch]) -> list[JournalRecord]:
        kind = self.adapter.kind
        out = []
        for patch in batch:
            item = self._waiting[patch.record_id]
            current = item.pulled.current
            changes = {f: (current.get(f), v) for f, v in patch.values.items()}
            memory = item.decision.memory.to_json()
            out.append(JournalRecord(kind, self.obj, patch.record_id, changes, memory))
        return out

    def _write(self, batch: list[Patch]) -> None:
        outcomes = {o.record_id: o for o in self.adapter.write(self.obj, batch)}
        retry = [p for p in batch if outcomes[p.record_id].error]
        if retry:
            log.warning("retrying %d record(s) that failed to write", len(retry))
            outcomes.update((o.record_id, o) for o in self.adapter.write(self.obj, retry))
        for patch in retry:
            outcome = outcomes[patch.record_id]
            if outcome.error:
                self.tally.dead_lettered += 1
                self.store.dead_letter(
                    run_id=self.run_id,
                    crm=self.adapter.kind,
                    obj=self.obj,
                    record_id=patch.record_id,
                    payload=dict(patch.values),
                    error=outcome.error,
                    attempts=2,
                    max_attempts=self.max_attempts,
                )
        self._outcomes.update(outcomes)

    def _commit(self) -> None:
        snapshots: list[Snapshot] = []
        applied: list[str] = []
        failed: list[str] = []
        breaches: list[PendingBreach] = []
        kind = self.adapter.kind
        done: list[tuple[str, Outcome | None]] = [
            (rid, None) for ids, _ in self._kept for rid in ids
        ]
        kept, self._kept = self._kept, []
        for rid, item in list(self._waiting.items()):
            outcome = self._outcomes.pop(rid, None)
            if item.patch is not None and outcome is None:
                continue  # still queued
            del self._waiting[rid]
            done.append((rid, outcome))
            if outcome is not None and outcome.error:
                self.tally.failed += 1
                if item.patch is not None and not item.patch.stage_backward:
                    failed.append(rid)  # refused whole; a move back may be half done
                continue
            modified = None
            if outcome is not None and item.patch is not None:
                self.tally.written += 1
                modified = outcome.modified_at or item.pulled.modified_at
                applied.append(rid)
                breach = new_breach(item)
                if breach is not None:
                    self.tally.sla_breaches += 1
                    if self.sla_tasks:
                        breaches.append(_stored(kind, self.obj, breach))
            snapshots.append(
                snapshot_of(
                    kind, self.obj, item, self.now, modified, with_record=not self.keep_records
                )
            )
        if snapshots or applied or failed or kept:
            with self.store.transaction() as conn:
                for _, updates in kept:
                    self.store.apply_updates(updates, conn=conn)
                if self.keep_records:
                    self.store.update_snapshots(snapshots, conn=conn)
                else:
                    self.store.upsert_snapshots(snapshots, conn=conn)
                self.store.queue_breaches(breaches, conn=conn)
                if self.run_id is not None and applied:
                    self.store.settle(self.run_id, kind, self.obj, applied, "applied", conn=conn)
                if self.run_id is not None and failed:
                    self.store.settle(self.run_id, kind, self.obj, failed, "failed", conn=conn)
        if self.on_done is not None:
            for rid, outcome in done:
                self.on_done(rid, outcome)
