"""Daily rescore of 1M stored snapshots with zero CRM reads (target ≤ 60 s).

Usage: python benchmarks/bench_rescore.py [--n 1000000] [--db PATH] [--reuse]
                                          [--days 1] [--unknown] [--remodel [--edit E]]
                                          [--workers 2]
                                          [--build-workers 2]

Builds the state a sync at T0 would leave (in child processes, cached in /tmp): synthetic
people (`connector.sandbox.synthetic`, ~12 activities each, all ages, real MQLs, SAL and
customers), each scored and decided at T0 under b2b-saas by the sync's own scorer, with
the written values, the lifecycle memory, the mapping version and `due_at` the sync
stores. Then, in this process, runs `Rescore` at
T0 + `--days` against a counting fake adapter (every write acknowledged; any pull or read
fails the run; the check of each recycle against the CRM's current stage is counted) and
prints totals, due, rescored, changed, written, seconds, peak RSS and calls.
`--unknown` first clears every `due_at` (a store the sync never gave due times to: the
worst case, every snapshot rescored). `--remodel` times the other whole-store pass: after a
mapping edit, every snapshot another mapping version computed is rescored and stamped with
the new version (target: 1M in 90 s); `--edit` picks the edit (see `edited`). The
database is copied before each run so the cached one stays at T0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cached_store import ensure_snapshots
from sqlalchemy import text

from connector.core.lifecycle import Memory
from connector.core.records import Activity, LeadRecord
from connector.core.scoring import CompiledMapping, compile_mapping
from connector.crm.base import Current, Outcome, Page, Patch, ProvisionReport, Pulled
from connector.mapping.loader import load_mapping
from connector.pipeline.rescore import Rescore
from connector.pipeline.steps import ItemScorer, RunOptions, recorded_run
from connector.pipeline.writer import snapshot_of
from connector.sandbox.synthetic import SyntheticPerson, generate_people, person_for
from connector.state import EPOCH, Snapshot, StateStore

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
STORED_VERSION = "b2b-saas@0123456789ab"
EDITED_VERSION = "b2b-saas@edited000000"
MAPPING = Path(__file__).resolve().parent.parent / "mappings" / "b2b-saas.toml"
CHUNK = 10_000

_mapping: CompiledMapping | None = None


def mapping() -> CompiledMapping:
    global _mapping
    if _mapping is None:
        _mapping = compile_mapping(load_mapping(MAPPING))
    return _mapping


def record_of(p: SyntheticPerson) -> LeadRecord:
    """The canonical record the HubSpot adapter would build for a synthetic person."""
    c = p.company
    props = {
        "email": p.email,
        "title": p.title,
        "company": c.name,
        "employees": c.employees,
        "industry": c.industry,
        "annual_revenue": c.annual_revenue,
        "tech_stack": c.tech_stack,
        "country": c.country,
        "source": p.source,
        "lifecycle_stage": p.stage,
        "lead_status": p.lead_status,
        "email_opt_out": p.email_opt_out,
        "created_at": p.created_at.isoformat(),
        "owner": "42" if p.stage != "subscriber" and p.id % 3 else None,
    }
    acts = tuple(Activity(a.type, a.at, a.detail) for a in p.activities)
    return LeadRecord(str(p.id), "hubspot", "contact", props, acts)


def synced(p: SyntheticPerson) -> Snapshot:
    """The snapshot a sync at T0 stores for one person (the sync's own scorer: reasons
    worded with the rules' descriptions, the mapping version written along)."""
    item, _ = _scorer().score("contact", Pulled(record_of(p), {}, T0), Memory(), T0)
    return snapshot_of("hubspot", "contact", item, T0, T0, with_record=True)


_item_scorer: ItemScorer | None = None


def _scorer() -> ItemScorer:
    """The sync's scorer under the stored version, built once per process."""
    global _item_scorer
    if _item_scorer is None:
        _item_scorer = ItemScorer(mapping(), STORED_VERSION)
    return _item_scorer


def edited(kind: str) -> CompiledMapping:
    """The mapping after an admin's edit: `version` changes nothing but the version;
    `threshold` lowers the MQL threshold 60 → 50 and gives a form submission 5 more points
    (an edit that moves scores and stages of part of the database)."""
    if kind == "version":
        return mapping()
    spec = mapping().spec
    rules = [
        r.model_copy(update={"points": r.points + 5}) if r.id == "form_submission" else r
        for r in spec.rules
    ]
    qualification = spec.qualification.model_copy(update={"threshold": 50})
    return compile_mapping(spec.model_copy(update={"rules": rules, "qualification": qualification}))


def build_chunk(start: int, stop: int) -> list[Snapshot]:
    people = generate_people(stop - start, now=T0) if start == 0 else None
    if people is None:
        return [synced(person_for(i, now=T0)) for i in range(start + 1, stop + 1)]
    return [synced(p) for p in people]


def _chunk(bounds: tuple[int, int]) -> list[Snapshot]:
    return build_chunk(*bounds)


def populate(url: str, n: int, workers: int) -> None:
    started = time.perf_counter()
    bounds = [(s, min(n, s + CHUNK)) for s in range(0, n, CHUNK)]
    with (
        StateStore.open(url) as store,
        multiprocessing.get_context("spawn").Pool(workers) as pool,
    ):
        done = 0
        for page in pool.imap(_chunk, bounds):
            store.upsert_snapshots(page)
            done += len(page)
            if done % 100_000 == 0:
                print(f"  built {done:,} in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"built {n:,} snapshots in {time.perf_counter() - started:.0f} s", flush=True)


class CountingAdapter:
    """A CRM that acknowledges every write and counts calls; reads are errors."""

    kind = "hubspot"
    objects = ("contact",)
    watermark_field = "lastmodifieddate"
    tracks_activity_changes = False
    write_batch_size = 100

    def __init__(self) -> None:
        self.reads = 0
        self.guard_reads = 0
        self.writes = 0
        self.patches = 0

    @property
    def api_calls(self) -> int:
        return self.reads + self.guard_reads + self.writes

    def provision(self, *, dry_run: bool = False) -> ProvisionReport:
        raise AssertionError("the rescore must not provision")

    def pull(self, obj: str, *args: Any, **kwargs: Any) -> Iterator[Page]:
        self.reads += 1
        raise AssertionError("the rescore must not pull")

    def read(self, obj: str, ids: Sequence[str], now: datetime) -> Iterator[Page]:
        self.reads += 1
        raise AssertionError("the rescore must not read")

    def peek(self, obj: str, ids: Sequence[str]) -> dict[str, Current]:
        """The check of each recycle against the CRM's stage: every record still at MQL
        and unchanged (a batch read of ≤ 100 ids a call, as HubSpot's)."""
        self.guard_reads += -(-len(ids) // self.write_batch_size)
        return {i: Current({"stage": "mql"}, EPOCH) for i in ids}

    def write(self, obj: str, patches: list[Patch]) -> list[Outcome]:
        assert len(patches) <= self.write_batch_size
        self.writes += 1 + any(p.stage_backward for p in patches)  # clear, then set
        self.patches += len(patches)
        at = datetime.now(UTC)
        return [Outcome(p.record_id, modified_at=at) for p in patches]


def _cpu() -> tuple[float, float]:
    """User + system CPU seconds of this process and of its finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "mqlsync-bench-rescore.db"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse a cached database of --n")
    parser.add_argument("--days", type=float, default=1.0, help="rescore at T0 + DAYS")
    parser.add_argument("--unknown", action="store_true", help="clear due_at: rescore all")
    parser.add_argument(
        "--remodel", action="store_true",
        help="an edited mapping: rescore every snapshot another version computed, as the "
        "sync does first after a mapping change (every snapshot gets the new version)",
    )  # fmt: skip
    parser.add_argument(
        "--edit", choices=("threshold", "version"), default="threshold",
        help="with --remodel, the mapping edit: threshold 60 -> 50 and +5 per form submission "
        "(default), or the same rules under a new version",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="rescore worker processes")
    parser.add_argument("--build-workers", type=int, default=2)
    args = parser.parse_args()
    url = ensure_snapshots(args.db, args.n, args.reuse, populate, args.n, args.build_workers)
    work = args.db.with_suffix(".run.db")
    with StateStore.open(url) as store, store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(args.db, work)
    for suffix in ("-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    os.sync()  # the copy's dirty pages must not be written back during the timed run
    work_url = f"sqlite:///{work}"
    now = T0 + timedelta(days=args.days)
    with StateStore.open(work_url) as store:
        if args.unknown:
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE snapshots SET due_at = NULL"))
        total = store.count_snapshots()
        with store.engine.connect() as conn:
            due = conn.execute(
                text("SELECT count(*) FROM snapshots WHERE due_at IS NULL OR due_at <= :now"),
                {"now": now.isoformat(timespec="microseconds")},
            ).scalar_one()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    adapter = CountingAdapter()
    with StateStore.open(work_url) as store:
        started = time.perf_counter()
        cpu_before = _cpu()
        if args.remodel:
            job = Rescore(
                adapter,
                edited(args.edit),
                store,
                clock=lambda: now,
                workers=args.workers,
                version=EDITED_VERSION,
            )
            # Inside a recorded run, as the sync runs it: every write is journaled
            # (pending before it, settled after), which undo and crash recovery need.
            with recorded_run(store, adapter, "sync", now, False, EDITED_VERSION) as summary:
                for obj in adapter.objects:
                    job.remodel(obj, now, RunOptions(), summary)
        else:
            job = Rescore(
                adapter,
                mapping(),
                store,
                clock=lambda: now,
                workers=args.workers,
                version=STORED_VERSION,
            )
            summary = job.run()
        elapsed = time.perf_counter() - started
        cpu_after = _cpu()
    main_cpu, workers_cpu = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = args.db.stat().st_size / 1e6
    print(
        f"database: {args.db} ({size_mb:,.0f} MB), rescore at T0 + {args.days:g} days, "
        f"{args.workers} worker(s)"
    )
    print(f"snapshots total: {total:,}   due: {due:,}   rescored: {summary.pulled:,}")
    print(
        f"changed: {summary.changed:,}   written: {summary.written:,}   "
        f"promoted: {summary.promoted:,}   recycled: {summary.recycled:,}"
    )
    print(f"elapsed: {elapsed:.1f} s   ({summary.pulled / elapsed:,.0f} rescored/s)")
    # Which side bounds the wall time: the job process (SQL writes) or the scoring workers.
    print(f"CPU: job process {main_cpu:.1f} s, worker processes {workers_cpu:.1f} s")
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak RSS: {peak:.0f} MB (before the run: {rss_before:.0f} MB; "
        f"largest child process: {workers_peak:.0f} MB)"
    )
    print(
        f"CRM read calls: {adapter.reads}   recycle checks: {adapter.guard_reads}   "
        f"write calls: {adapter.writes} ({adapter.patches:,} records)"
    )
    work.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    if adapter.reads:
        sys.exit("the rescore read from the CRM")


if __name__ == "__main__":
    main()
