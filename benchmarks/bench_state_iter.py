"""Stream 1M score snapshots out of SQLite, as the daily rescore does (issue 6: ≤ 60 s).

Usage: python benchmarks/bench_state_iter.py [--n 1000000] [--db PATH] [--batch 5000] [--keep]

Populates the database in a child process (so its memory does not count), then times
``StateStore.iter_snapshots`` over every row in this process and prints seconds, rows/s
and peak RSS. ``--keep`` reuses an existing database of the right size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cached_store import ensure_snapshots

from connector.state import Snapshot, StateStore

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
PAGE = 10_000


def make(i: int) -> Snapshot:
    """A realistic snapshot: ~1 KB canonical record with a handful of activities."""
    rid = f"{i:09d}"
    at = T0 - timedelta(days=i % 120)
    record = {
        "id": rid,
        "crm": "hubspot",
        "object": "contact",
        "properties": {
            "email": f"user{i}@company{i % 5000}.com",
            "title": "VP Marketing" if i % 7 == 0 else "Analyst",
            "company": f"Company {i % 5000}",
            "employees": 20 + i % 900,
            "industry": "Software",
            "annual_revenue": 1_000_000 * (i % 60),
            "country": "US",
            "source": "webinar",
            "lifecycle_stage": "lead",
            "lead_status": "OPEN",
            "email_opt_out": False,
            "created_at": "2026-01-01T10:00:00Z",
        },
        "activities": [
            {
                "type": kind,
                "at": (at - timedelta(days=k * 3)).isoformat(),
                "detail": {"url": "https://acme.io/pricing"} if kind == "page_view" else {},
            }
            for k, kind in enumerate(
                ("page_view", "email_open", "form_submission", "meeting")[: 1 + i % 4]
            )
        ],
        "account": {
            "id": str(i % 5000),
            "domain": f"company{i % 5000}.com",
            "engaged_contacts_30d": i % 5,
        },
    }
    total = i % 140
    return Snapshot(
        crm="hubspot",
        obj="contact",
        record_id=rid,
        fit=total // 2,
        engagement=total - total // 2,
        total=total,
        scored_at=T0,
        grade="B2",
        route="sales" if total >= 60 else "nurture",
        temperature="warm" if total >= 60 else "cold",
        stage="mql" if total >= 60 else "lead",
        mql_at=at if total >= 60 else None,
        written={"mqlsync_score": total, "mqlsync_grade": "B2", "mqlsync_route": "nurture"},
        record=record,
    )


def pages(n: int) -> Iterator[list[Snapshot]]:
    for start in range(0, n, PAGE):
        yield [make(i) for i in range(start, min(n, start + PAGE))]


def populate(url: str, n: int) -> None:
    started = time.perf_counter()
    with StateStore.open(url) as store:
        for page in pages(n):
            store.upsert_snapshots(page)
    print(f"populated {n:,} snapshots in {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "mqlsync-bench-state.db"
    )
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--keep", action="store_true", help="reuse an existing database")
    args = parser.parse_args()
    url = ensure_snapshots(args.db, args.n, args.keep, populate, args.n)
    size_mb = args.db.stat().st_size / 1e6

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with StateStore.open(url) as store:
        started = time.perf_counter()
        count = 0
        checksum = 0
        for snap in store.iter_snapshots("hubspot", batch=args.batch):
            count += 1
            checksum += snap.total + len(snap.record["activities"])
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database: {args.db} ({size_mb:,.0f} MB, {count:,} snapshots, batch {args.batch:,})")
    print(
        f"iter_snapshots: {elapsed:.1f} s, {count / elapsed:,.0f} snapshots/s (checksum {checksum})"
    )
    print(f"peak RSS: {peak:.0f} MB (before iterating: {rss_before:.0f} MB)")
    if count != args.n:
        sys.exit(f"expected {args.n:,} snapshots, iterated {count:,}")


if __name__ == "__main__":
    main()
