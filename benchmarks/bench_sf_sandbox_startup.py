"""Start-up time and memory of the Salesforce sandbox (issue 4: 100k contacts ≤ 10 s).

Usage: python benchmarks/bench_sf_sandbox_startup.py [--contacts N]
Prints wall time to serve, row counts, peak RSS, and RSS growth over the baseline process.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=100_000)
    args = ap.parse_args()
    from connector.sandbox.salesforce import SalesforceSandbox

    base = rss_mb()
    t0 = time.perf_counter()
    sb = SalesforceSandbox(contacts=args.contacts, now=datetime(2026, 11, 1, tzinfo=UTC)).start()
    elapsed = time.perf_counter() - t0
    rows = {name: len(t.rows) for name, t in sb.store.tables.items()}
    t1 = time.perf_counter()
    n = sum(1 for _ in sb.client().query_all_iter("SELECT Id, Email, SystemModstamp FROM Lead"))
    read = time.perf_counter() - t1
    sb.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"contacts={args.contacts} start={elapsed:.2f}s rows={rows} total_rows={sum(rows.values())}"
    )
    print(f"rss_base={base:.0f}MB rss_growth={rss_mb() - base:.0f}MB peak_rss={peak:.0f}MB")
    print(f"full Lead read via query_all_iter: {n} rows in {read:.2f}s")


if __name__ == "__main__":
    main()
