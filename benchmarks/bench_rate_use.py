"""How much of a 100-per-10 s rolling window a first HubSpot sync turns into useful calls.

The sandbox runs in its own process with its rolling-window limiter on (``--rate``), and
mqlsync runs ``provision`` then ``sync --once`` as a child configured for the same limit
(``[limits] requests_per_10s``), exactly as an operator would. The sandbox's request log,
not mqlsync's own tally, counts the requests and the 429s. Printed:

- requests and 429s (count and share of all requests; target < 1 %);
- achieved rate of admitted requests over the sync's wall time vs the allowed rate
  (target >= 90 %);
- wall time vs requests / allowed rate, the time the limit alone imposes (target <= 1.2x);
- the busiest rolling window the server saw (by the log's stamps, taken when a request is
  answered, so one over the limit is the stamps' skew, not an over-admission);
- where the wall time went: mqlsync's own CPU, the sandbox's time answering (per path), and
  the rest, spent waiting on the limiter, the network or the disk (state commits). The sync
  is sequential, so a stretch where CPU plus answer time exceeds the allowed pace loses its
  window slots.

    python benchmarks/bench_rate_use.py [--contacts 100000] [--rate 100/10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_child import launcher_rss_mb, run_measured, sandbox_process, write_config

from connector.sandbox.serve import parse_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rate", default="100/10", help="sandbox and client limit, N/SECONDS")
    args = parser.parse_args()
    limit, per = parse_rate(args.rate)
    if per != 10:
        parser.error("mqlsync's limit is per 10 s ([limits] requests_per_10s): use N/10")
    allowed = limit / per
    with sandbox_process(args.contacts, args.rate) as sandbox, tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp) / "mqlsync.toml", sandbox.base_url, Path(tmp) / "s.db", limit
        )
        provision = run_measured(["provision"], sandbox.token, config)
        if provision.returncode != 0:
            sys.exit(f"provision failed:\n{provision.stderr}")
        sandbox.clear_log()
        sync = run_measured(["sync", "--once"], sandbox.token, config)
        if sync.returncode != 0:
            sys.exit(f"sync failed ({sync.returncode}):\n{sync.stderr[-3000:]}")
        log = sandbox.summary()
    requests, throttled = log["requests"], log["throttled"]
    admitted = requests - throttled
    served_span = log["last"] - log["first"]
    floor = admitted / allowed
    print(f"contacts                : {args.contacts:,}  (limit {limit} per {per:g} s)")
    print(
        f"sync                    : {sync.stdout.strip().splitlines()[-1] if sync.stdout else ''}"
    )
    for path, count in sorted(log["by_path"].items()):
        print(f"  {count:6,}  {path}")
    print(f"requests                : {requests:,}  ({admitted:,} admitted)")
    print(
        f"429 answers             : {throttled:,}  "
        f"({throttled / requests:.2%} of requests; target < 1%)"
    )
    print(f"busiest rolling window  : {log['busiest_window']}  (limit {limit})")
    print(
        f"achieved rate           : {admitted / sync.seconds:.2f}/s over the sync's "
        f"{sync.seconds:.1f} s = {admitted / sync.seconds / allowed:.1%} of {allowed:g}/s "
        f"(target >= 90%); {admitted / served_span:.2f}/s first to last request"
    )
    print(
        f"wall time vs limit alone: {sync.seconds:.1f} s / {floor:.1f} s "
        f"= {sync.seconds / floor:.3f}x  (target <= 1.2x)"
    )
    server = log["server_seconds"]
    busy = sum(server.values())
    print(
        f"where the wall time went: mqlsync CPU {sync.cpu_seconds:.1f} s, sandbox answering "
        f"{busy:.1f} s, the rest ({sync.seconds - sync.cpu_seconds - busy:.1f} s) waiting "
        "on the limiter, the network or the disk"
    )
    for path, seconds in sorted(server.items(), key=lambda kv: -kv[1]):
        count = log["by_path"].get(path, 0) or 1
        print(f"  {seconds:7.1f} s  {1000 * seconds / count:6.1f} ms/request  {path}")
    print(
        f"peak RSS of the sync    : {sync.max_rss_mb:.0f} MB "
        f"(launcher's own: {launcher_rss_mb():.0f} MB)"
    )


if __name__ == "__main__":
    main()
