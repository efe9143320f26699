"""Extraction side by side: Singer's tap-hubspot vs mqlsync's pull, on one sandbox portal.

Users who want HubSpot contacts with their engagements elsewhere would often reach for the
Singer tap. Both clients extract N contacts and their engagements from the same HubSpot
sandbox in one run, each as its own child process (the sandbox serves from this process, so
neither client shares a GIL with the server); the sandbox's request log counts the calls each
one made. Printed: calls and wall time of each, records extracted, and the ratios.

tap-hubspot (PyPI ``tap-hubspot``, singer-io's implementation, not the Singer SDK one) is
installed into its own virtualenv, reused on later runs. It has no base-URL setting (the
module constant ``BASE_URL = "https://api.hubapi.com"``), so a small launcher run with the
tap's interpreter sets that one constant to the sandbox URL and then calls the tap's own
``main()``; nothing else in the tap is changed. Its catalog is built by the tap's own
discovery code for the two streams (``contacts``, ``engagements``), every field selected, as
``meltano select tap-hubspot contacts '*'`` would; full discovery would also read endpoints
of streams not extracted here (deals, forms, workflows, ...), which the sandbox does not serve.
The tap reads contacts from the v3 list (100 a page, every selected property) and every
engagement type from the legacy ``/engagements/v1/engagements/modified/after`` (190 a page).
mqlsync's first pull searches contacts (200 a page) and lists each engagement type it scores
(meetings, calls, emails) from the CRM v3 objects list with the contact ids inline (100 a
page, the documented maximum), with no association reads.

    python benchmarks/bench_vs_tap_hubspot.py [--contacts 20000] [--tap-venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from connector.sandbox.hubspot import HubSpotSandbox

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
TAP = "tap-hubspot==4.5.0"
STREAMS = ("contacts", "engagements")
START_DATE = "2000-01-01T00:00:00Z"
LAUNCHER = """\
import json, sys
import tap_hubspot as tap
tap.BASE_URL = sys.argv[1]  # the tap has no base-URL setting: point its one constant
if sys.argv[2] == "catalog":  # the tap's own discovery, for the streams named
    with open(sys.argv[3]) as f:
        tap.CONFIG.update(json.load(f))
    wanted = sys.argv[4].split(",")
    streams = []
    for stream in tap.STREAMS:
        if stream.tap_stream_id in wanted:
            schema, mdata = tap.load_discovered_schema(stream)
            for entry in mdata:
                entry["metadata"]["selected"] = True
            streams.append({"stream": stream.tap_stream_id, "schema": schema,
                            "tap_stream_id": stream.tap_stream_id, "metadata": mdata})
    json.dump({"streams": streams}, sys.stdout)
else:
    sys.argv = ["tap-hubspot", *sys.argv[3:]]
    tap.main()
"""
WANTED = ("meetings", "calls", "emails")
"""The engagement types mqlsync reads; the tap's v1 names for them are ``V1_TYPES``."""
V1_TYPES = ("MEETING", "CALL", "EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")


@dataclass(frozen=True, slots=True)
class Run:
    """What one client did: calls the sandbox served for it, wall time, records by kind."""

    calls: int
    seconds: float
    records: dict[str, int]
    endpoints: dict[str, tuple[int, int]]
    """Calls and batch inputs per endpoint (associations reads folded into one line)."""


def served(sandbox: HubSpotSandbox, since: int) -> tuple[int, dict[str, tuple[int, int]]]:
    """Requests the sandbox answered after the first ``since`` log entries, by endpoint."""
    by: dict[str, tuple[int, int]] = {}
    entries = sandbox.request_log.entries()[since:]
    for e in entries:
        key = e.path if "/associations/" not in e.path else "/crm/v4/associations/…/batch/read"
        calls, inputs = by.get(f"{e.method} {key}", (0, 0))
        by[f"{e.method} {key}"] = (calls + 1, inputs + e.inputs)
    return len(entries), dict(sorted(by.items()))


class TapUnavailable(Exception):
    """tap-hubspot could not be installed or started; the message says why."""


def default_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mqlsync-bench" / TAP.replace("==", "-")


def tap_python(venv: Path) -> Path:
    """The tap venv's interpreter, creating the venv and installing the tap if needed."""
    python = venv / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import tap_hubspot"]).returncode == 0:
        return python
    print(f"installing {TAP} into {venv} ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", TAP],
        [str(python), "-c", "import tap_hubspot"],
    ]
    for step in steps:
        done = _run(step)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise TapUnavailable(f"`{' '.join(step)}` failed ({done.returncode}):\n{tail}")
    return python


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def run_tap(sandbox: HubSpotSandbox, python: Path, work: Path) -> tuple[int, Run]:
    """Discovery calls, then the timed sync; records counted from its Singer output."""
    launcher = work / "launch_tap.py"
    launcher.write_text(LAUNCHER)
    config = work / "config.json"
    config.write_text(json.dumps({"api_key": sandbox.token, "start_date": START_DATE}))
    base = [str(python), str(launcher), sandbox.base_url]
    before = len(sandbox.request_log)
    found = _run([*base, "catalog", str(config), ",".join(STREAMS)])
    if found.returncode != 0:
        raise TapUnavailable(f"tap-hubspot discovery failed:\n{found.stderr[-2000:]}")
    catalog = work / "catalog.json"
    catalog.write_text(found.stdout)
    discovery = len(sandbox.request_log) - before
    out, err = work / "tap.out", work / "tap.err"
    before = len(sandbox.request_log)
    t0 = time.perf_counter()
    with out.open("w") as stdout, err.open("w") as stderr:
        cmd = [*base, "sync", "--config", str(config), "--properties", str(catalog)]
        code = subprocess.run(cmd, stdout=stdout, stderr=stderr, check=False).returncode
    seconds = time.perf_counter() - t0
    if code != 0:
        raise TapUnavailable(f"tap-hubspot sync exited {code}:\n{err.read_text()[-2000:]}")
    calls, endpoints = served(sandbox, before)
    return discovery, Run(calls, seconds, tap_records(out.read_text().splitlines()), endpoints)


def tap_records(lines: Iterable[str]) -> dict[str, int]:
    """Singer RECORD messages: contacts, and engagements by v1 type."""
    counts: Counter[str] = Counter()
    for line in lines:
        message = json.loads(line)
        if message.get("type") != "RECORD":
            continue
        record = message["record"]
        if message["stream"] == "engagements":
            counts[f"engagement {record['engagement']['type']}"] += 1
        else:
            counts[message["stream"]] += 1
    return dict(sorted(counts.items()))


def run_mqlsync(sandbox: HubSpotSandbox) -> Run:
    """mqlsync's pull of every contact with its activities, in a child process."""
    before = len(sandbox.request_log)
    cmd = [sys.executable, __file__, "--pull-child", sandbox.base_url, sandbox.token]
    t0 = time.perf_counter()
    done = _run(cmd)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"mqlsync pull failed:\n{done.stderr[-2000:]}")
    calls, endpoints = served(sandbox, before)
    return Run(calls, seconds, json.loads(done.stdout.splitlines()[-1]), endpoints)


def pull_child(base_url: str, token: str) -> None:
    """Child side of :func:`run_mqlsync`: a read-only first pull (no provision, no writes)."""
    from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
    from connector.crm.ratelimit import RateLimiter
    from connector.mapping.loader import load_mapping

    counts: Counter[str] = Counter()

    class CountingCalls(HubSpotCalls):
        """Counts the meeting/call/email objects the answers carry (list pages or batch reads)."""

        def call(self, what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
            result = super().call(what, fn, **kwargs)
            verb, _, kind = what.partition(" ")
            if verb in ("list", "read") and kind in WANTED:
                counts["engagement objects read"] += len(getattr(result, "results", None) or ())
            return result

    spec = load_mapping(ROOT / "mappings" / "b2b-saas.toml")
    calls = CountingCalls(token, base_url=base_url, limiter=RateLimiter(100_000, 10))
    adapter = HubSpotAdapter(calls, spec)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for page in adapter.pull("contact", epoch, datetime.now(UTC)):
        counts["contacts"] += len(page.items)
        counts["rejected"] += len(page.rejected)
        for item in page.items:
            counts.update(f"activity {a.type}" for a in item.record.activities)
    print(json.dumps(dict(sorted(counts.items()))))


def show(run: Run) -> None:
    print(f"  {run.calls:,} calls, {run.seconds:.1f} s wall (child process, start-up included)")
    for endpoint, (calls, inputs) in run.endpoints.items():
        print(f"    {calls:6,}  {endpoint}" + (f"  ({inputs:,} ids)" if inputs else ""))
    print(f"  records: {run.records}")


def report(n: int, sandbox: HubSpotSandbox, discovery: int, tap: Run, ours: Run) -> None:
    tables = sandbox.store.tables
    portal = {k: tables[k].size for k in ("meetings", "calls", "emails", "notes", "tasks")}
    print(f"portal: {n:,} contacts; engagements {portal}")
    print(f"{TAP} (singer-io), pointed at the sandbox by setting tap_hubspot.BASE_URL")
    print(f"  catalog (the tap's discovery for {', '.join(STREAMS)}): {discovery} calls")
    show(tap)
    print("mqlsync pull (HubSpotAdapter.pull, b2b-saas mapping, read only, no provision)")
    show(ours)
    tap_objects = sum(tap.records.get(f"engagement {t}", 0) for t in V1_TYPES)
    our_objects = ours.records.get("engagement objects read", 0)
    print(
        f"same data: contacts {tap.records.get('contacts', 0):,} vs "
        f"{ours.records.get('contacts', 0):,}; meeting/call/email objects {tap_objects:,} vs "
        f"{our_objects:,} (the tap also reads notes and tasks: one v1 stream holds every type)"
    )
    print(f"calls   tap / mqlsync: {tap.calls / ours.calls:.2f}x ({tap.calls:,} vs {ours.calls:,})")
    print(f"seconds tap / mqlsync: {tap.seconds / ours.seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--tap-venv", type=Path, default=None)
    parser.add_argument("--pull-child", nargs=2, metavar=("BASE_URL", "TOKEN"))
    args = parser.parse_args()
    if args.pull_child:
        pull_child(*args.pull_child)
        return
    try:
        python = tap_python(args.tap_venv or default_venv())
    except TapUnavailable as exc:
        sys.exit(f"tap-hubspot is not available, nothing was measured:\n{exc}")
    n = args.contacts
    with HubSpotSandbox(contacts=n) as sandbox, tempfile.TemporaryDirectory() as tmp:
        try:
            discovery, tap = run_tap(sandbox, python, Path(tmp))
        except TapUnavailable as exc:
            sys.exit(str(exc))
        ours = run_mqlsync(sandbox)
        report(n, sandbox, discovery, tap, ours)


if __name__ == "__main__":
    main()
