"""API calls of a full HubSpot sync vs the theoretical minimum and a naive baseline.

Runs a first (backfill) sync of N sandbox contacts through the official SDK, then two more
syncs with nothing changed in the portal, and prints:
- calls used, by endpoint, from the sandbox's request log;
- the theoretical minimum: ceil(N/200) search pages + ceil(E_type/100) engagement reads per
  type + ceil(changed/100) writes. A first sync pulls every contact, so it lists each
  engagement type once with the contact ids inline (CRM v3 objects list, 100 a page) and
  needs no association reads (`minimum_calls` in sandbox_child.py, which bench_scale.py
  uses too);
- a naive baseline: one GET and one PATCH per contact (2N), which still ignores activities;
- the second and third syncs' calls. Every contact mqlsync wrote comes back on the second
  sync as a change (its echo): mqlsync does not skip its own writes when pulling, so an edit
  someone makes between its write and the next pull is never lost. An echo's modified time
  is the one mqlsync's write left, and the adapter finds changed meetings, calls and emails
  by itself (one search per type for `hs_lastmodifieddate >= since`), so an echo keeps its
  stored engagements: no association or engagement read. Run seconds after the first, both
  later syncs still re-pull every contact, because the default 10-minute lookback covers
  the first sync's writes: each is ceil(N/200) search pages + 3 engagement searches when
  nothing changed. Both may write a few contacts whose score moved with the clock: the runs
  are minutes apart at 100k, and the mapping's activity windows use the run's time.
Targets: used / minimum <= 1.1; naive / used >= 50.

    python benchmarks/bench_hubspot_sync.py [--contacts 20000]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.mapping.loader import load_mapping
from connector.pipeline.sync import Sync
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_child import engagement_counts, minimum_calls, path_key

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    args = parser.parse_args()
    n = args.contacts
    spec = load_mapping(ROOT / "mappings" / "b2b-saas.toml")
    t0 = time.perf_counter()
    with HubSpotSandbox(contacts=n) as sandbox, tempfile.TemporaryDirectory() as tmp:
        print(f"sandbox with {n:,} contacts up in {time.perf_counter() - t0:.1f} s")
        calls = HubSpotCalls(
            sandbox.token, base_url=sandbox.base_url, limiter=RateLimiter(100_000, 10)
        )
        adapter = HubSpotAdapter(calls, spec)
        adapter.provision()
        with StateStore.open(f"sqlite:///{Path(tmp) / 'state.db'}") as store:
            sync = Sync(adapter, compile_mapping(spec), store, clock=lambda: datetime.now(UTC))
            sandbox.request_log.clear()
            t0 = time.perf_counter()
            first = sync.run()
            elapsed = time.perf_counter() - t0
            log = sandbox.request_log
            by_path: dict[str, int] = {}
            for entry in log.entries():
                key = path_key(entry.path)
                by_path[key] = by_path.get(key, 0) + 1
            used = first.api_calls
            engagements = engagement_counts(sandbox)
            minimum = minimum_calls(n, engagements, first.written)
            naive = 2 * n
            echoes = sync.run()
            quiet = sync.run()
    print(
        f"first sync: {first.pulled:,} pulled, {first.written:,} written in {elapsed:.1f} s "
        f"({first.pulled / elapsed:,.0f} contacts/s)"
    )
    for path, count in sorted(by_path.items()):
        print(f"  {count:6,}  {path}")
    print(f"engagements: {engagements}")
    print(f"API calls used          : {used:,}")
    print(f"theoretical minimum     : {minimum:,}")
    print(f"naive GET+PATCH per rec : {naive:,}")
    print(f"used / minimum          : {used / minimum:.3f}  (target <= 1.1)")
    print(f"naive / used            : {naive / used:.1f}x fewer  (target >= 50x)")
    pages = math.ceil(n / 200)
    print(
        f"second sync (echoes)    : {echoes.api_calls:,} calls, {echoes.pulled:,} pulled, "
        f"{echoes.written} written  (the {first.written:,} echoes keep their stored "
        f"engagements: {pages} search pages + 3 engagement searches)"
    )
    print(
        f"third sync (quiet)      : {quiet.api_calls:,} calls, {quiet.pulled:,} pulled, "
        f"{quiet.written} written  (no echo left; {pages} of the calls are the "
        "lookback's search pages, 3 the engagement searches)"
    )


if __name__ == "__main__":
    main()
