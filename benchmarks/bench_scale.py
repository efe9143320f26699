"""Peak memory and wall time of mqlsync's commands as the portal grows.

For each size N the sandbox runs in its own process (its memory is not mqlsync's), with a
share of batch-write inputs refused so the sync leaves dead letters behind (a refused
input is retried once, so about N x share^2 of them end as dead letters), and mqlsync runs
as separate child processes, each reaped with ``os.wait4`` for its own peak RSS:

1. ``provision`` (not measured: a handful of calls);
2. ``plan -o json`` over the whole portal (changes spooled to the child's stdout file);
3. ``sync --dry-run``;
4. ``sync --once`` (the first, backfill sync; refused writes become dead letters);
5. ``status`` (reads the runs and every open dead letter).

Printed per N: seconds, peak RSS and CPU seconds of each command, the sync's calls (from
the sandbox's log) against the quota-bound minimum, and the sync's wall time against the
time HubSpot's default limit of 100 calls per 10 s alone would impose on that minimum.
Streaming means RSS stays flat as N grows (target <= 300 MB at 1,000,000 contacts).

    python benchmarks/bench_scale.py --contacts 50000 100000 200000 [--partial-failure 0.05]
        [--commands plan dry-run sync status]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_child import (
    launcher_rss_mb,
    minimum_calls,
    run_measured,
    sandbox_process,
    write_config,
)

QUOTA_PER_S = 10.0  # HubSpot's default rolling limit, 100 calls per 10 s
UNLIMITED = 1_000_000  # the client limiter out of the way: this measures mqlsync, not the quota
COMMANDS = (
    ("plan", ["plan", "-o", "json"]),
    ("dry-run", ["sync", "--once", "--dry-run"]),
    ("sync", ["sync", "--once"]),
    ("status", ["status"]),
)


def measure(contacts: int, partial_failure: float, wanted: Sequence[str]) -> None:
    with (
        sandbox_process(contacts, partial_failure=partial_failure) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = write_config(
            Path(tmp) / "mqlsync.toml", sandbox.base_url, Path(tmp) / "s.db", UNLIMITED
        )
        provision = run_measured(["provision"], sandbox.token, config)
        if provision.returncode != 0:
            sys.exit(f"provision failed:\n{provision.stderr}")
        results = {}
        for name, args in COMMANDS:
            if name not in wanted:
                continue
            if name == "sync":
                sandbox.clear_log()
            child = run_measured(args, sandbox.token, config)
            # A sync that dead-letters refused writes exits 1 by design; anything else must be 0.
            if child.returncode and not (name == "sync" and _count(child.stdout, "failed")):
                sys.exit(f"{name} failed ({child.returncode}):\n{child.stderr[-3000:]}")
            results[name] = child
            last = child.stdout.strip().splitlines()[-1:] if name != "plan" else []
            print(
                f"{contacts:>9,}  {name:8} {child.seconds:8.1f} s  {child.max_rss_mb:6.0f} MB"
                f"  {child.cpu_seconds:6.1f} s CPU" + (f"   {last[0][:90]}" if last else ""),
                flush=True,
            )
            if name == "sync":
                log = sandbox.summary()
    if "sync" not in results:
        return
    sync = results["sync"]
    written = _count(sync.stdout, "written")
    minimum = minimum_calls(contacts, log["engagements"], written)
    admitted = log["requests"] - log["throttled"]
    floor = minimum / QUOTA_PER_S
    print(
        f"{contacts:>9,}  sync calls {admitted:,} vs minimum {minimum:,} "
        f"({admitted / minimum:.3f}x, refused writes' retries included); "
        f"wall {sync.seconds:.1f} s vs quota-bound {floor:.1f} s ({sync.seconds / floor:.2f}x)",
        flush=True,
    )


def _count(summary: str, what: str) -> int:
    """A count from a run's summary line ("..., written 99000, failed 1000, ...")."""
    match = re.search(rf"\b{what} (\d+)", summary)
    return int(match[1]) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument(
        "--partial-failure",
        type=float,
        default=0.05,
        help="share of batch-write inputs the sandbox refuses (dead letters)",
    )
    parser.add_argument(
        "--commands",
        nargs="+",
        choices=[name for name, _ in COMMANDS],
        default=[name for name, _ in COMMANDS],
        help="measure only these (a big portal's sync alone takes long enough)",
    )
    args = parser.parse_args()
    print("  contacts  command   wall       peak RSS   mqlsync CPU")
    for n in args.contacts:
        measure(n, args.partial_failure, args.commands)
    print(f"launcher's own peak RSS: {launcher_rss_mb():.0f} MB (no child can report less)")


if __name__ == "__main__":
    main()
