"""The sync loop: pull → score → decide → diff → write → checkpoint.

CRM-agnostic: it talks to a `CrmAdapter` only. Per page it scores every record under the
lifecycle rules and computes the fields whose value really changes; `BatchWriter` sends
them in full batches, retries failures once, dead-letters the rest and commits snapshots
and journal as records complete.

Rules, and why:

- Every run first settles what an earlier run left unfinished (`connector.pipeline.settle`): a
  write journaled but never confirmed is checked against the CRM, so a killed run is
  neither lost to undo nor repeated with new times.
- Lifecycle memory missing from the store is recovered from the CRM's own mqlsync fields
  (`Memory.recovered`): `mql_at` and `recycled_at` are never stamped twice.
- Our own writes' echoes are pulled again next run (no server-side exclusion): telling
  them from a rep's edit made in the same seconds is impossible, and an echo costs one
  read and no write.
- The watermark moves to the run's start once the whole pull is durable. Records that
  failed are dead-lettered and retried by id, so one bad record never holds it back.
- A stop request (SIGTERM) ends the run at the next page boundary, after committing what
  was written; the watermark stays, so the next run re-reads the rest.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.lifecycle import AT_OR_PAST_MQL, stage_of
from connector.core.records import LeadRecord, read_line
from connector.core.scoring import CompiledMapping
from connector.crm.base import CrmAdapter, Page, Rejected
from connector.crm.values import parse_instant
from connector.pipeline.settle import settle_pending
from connector.pipeline.steps import (
    ItemScorer,
    PlanSink,
    Progress,
    Remodel,
    RunOptions,
    RunSummary,
    ShouldStop,
    memory_with_crm,
    recorded_run,
    run_writer,
    write_or_plan,
)
from connector.pipeline.writer import Scored
from connector.state import StateStore, Watermark

log = logging.getLogger(__name__)


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
        max_attempts: int | None = 10,
        version: str | None = None,
        remodel: Remodel | None = None,
    ) -> None:
        self.adapter = adapter
        self.mapping = mapping
        self.store = store
        self.lookback = lookback
        self.clock = clock
        self.max_attempts = max_attempts
        self.version = version
        """The mapping's `<stem>@<hex12>`, recorded on each run and written with changes."""
        self.remodel = remodel
        """Run before each pull: brings snapshots of an earlier mapping version up to date."""
        self._scorer = ItemScorer(mapping, version)

    # ------------------------------------------------------------------ state helpers
    def _watermark(self, obj: str) -> Watermark:
        field_ = self.adapter.watermark_field
        found = self.store.get_watermark(self.adapter.kind, obj, field_, lookback=self.lookback)
        return found or Watermark.initial(field_, self.lookback)

    def _previous(self, obj: str) -> Callable[[Sequence[str]], Mapping[str, Any]]:
        """What the last run read of each record, and as of when: the time it was read,
        or the echo of mqlsync's own write when the adapter finds activity changes by
        itself (then an unchanged echo needs no activity read)."""
        echo_ok = self.adapter.tracks_activity_changes

        def lookup(ids: Sequence[str]) -> dict[str, tuple[datetime, LeadRecord]]:
            found = {}
            stored = self.store.get_snapshot_texts(self.adapter.kind, obj, ids)
            for rid, (snap, text) in stored.items():
                at = parse_instant(snap.written.get("modified_at"))
                echo = parse_instant(snap.written.get("echo_at")) if echo_ok else None
                if at is not None and echo is not None and echo > at:
                    at = echo
                if at is not None and text is not None and text != "{}":
                    found[rid] = (at, read_line(text))  # typed decode, as the rescore reads
            return found

        return lookup

    # -------------------------------------------------------------------------- run
    def run(
        self,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
        plan: PlanSink | None = None,
        should_stop: ShouldStop | None = None,
    ) -> RunSummary:
        """One incremental sync of every object; `dry_run` writes nothing and hands each
        change it would write to `plan`; `should_stop` is polled between pages."""
        now = self.clock()
        options = RunOptions(dry_run, progress, plan, should_stop, self.max_attempts)
        with recorded_run(self.store, self.adapter, "sync", now, dry_run, self.version) as summary:
            for obj in self.adapter.objects:
                if not dry_run:
                    summary.settled += settle_pending(self.adapter, self.store, obj)
                if self.remodel is not None:
                    self.remodel(obj, now, options, summary)
                self._sync_object(obj, now, options, summary)
            summary.report_review()
        return summary

    def _sync_object(
        self, obj: str, now: datetime, options: RunOptions, summary: RunSummary
    ) -> None:
        watermark = self._watermark(obj)
        letters, writer = run_writer(
            self.adapter, self.store, self.mapping, obj, now, summary, options.max_attempts
        )
        # Dead letters first, read by id (an incremental pull may not see them again), and
        # left out of the pull so no record is scored and written twice in one run.
        retry = [] if options.dry_run else letters
        retried = self.adapter.read(obj, retry, now) if retry else iter(())
        pulled = without(self.adapter.pull(obj, watermark.since, now, self._previous(obj)), retry)
        pages = itertools.chain(retried, pulled)
        scored = (self._score_page(obj, page, now, summary) for page in pages)
        write_or_plan(writer, scored, options, summary)
        if options.dry_run:
            return
        # Everything up to the run's start has been read (the next query's lookback covers
        # search-index lag and clock skew below it), so the cursor moves to the start.
        self.store.save_watermark(self.adapter.kind, obj, watermark.advance(now, now))

    def _score_page(self, obj: str, page: Page, now: datetime, summary: RunSummary) -> list[Scored]:
        if page.rejected:
            self._reject(obj, page.rejected, summary)
        items = page.items
        snaps = self.store.get_snapshots(self.adapter.kind, obj, [i.record.id for i in items])
        out = []
        for item in items:
            snap = snaps.get(item.record.id)
            memory = memory_with_crm(snap, item.current, now)
            stage = stage_of(item.record)
            adopted = memory.mql_at is None and stage in AT_OR_PAST_MQL
            if adopted:
                memory = replace(memory, mql_at=item.crm_mql_at)  # may be None: stays empty
            scored, decision = self._scorer.score(obj, item, memory, now)
            if stage in ("mql", "sal"):
                summary.mqls_in_crm += 1
                if adopted and snap is None:
                    summary.adopt(item.record.id, scored.result, self.mapping)
            out.append(scored)
            summary.count(scored.result, decision, scored.patch)
        return out

    def _reject(self, obj: str, rejected: list[Rejected], summary: RunSummary) -> None:
        """Report records whose CRM data could not be read; keep each as a dead letter
        (shown in `status`, retried by id until parked) so none is silently dropped."""
        kind = self.adapter.kind
        with self.store.transaction() as conn:
            for bad in rejected:
                log.warning("%s %s skipped: %s", obj, bad.record_id, bad.reason)
                self.store.dead_letter(
                    summary.run_id, kind, obj, bad.record_id, None, bad.reason, 1,
                    max_attempts=self.max_attempts, conn=conn,
                )  # fmt: skip
        summary.rejected += len(rejected)


def without(pages: Iterable[Page], ids: Sequence[str]) -> Iterator[Page]:
    """`pages` without the records whose id is in `ids` (already handled this run)."""
    if not ids:
        yield from pages
        return
    skip = set(ids)
    for page in pages:
        items = [i for i in page.items if i.record.id not in skip]
        rejected = [r for r in page.rejected if r.record_id not in skip]
        if items or rejected:
            yield Page(items, rejected)
