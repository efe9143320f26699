"""The HubSpot sandbox in its own process, and mqlsync commands as measured child processes.

Why a separate process for the sandbox: on a 2-core machine an in-process server shares the
GIL with the sync it serves, so its CPU would be billed to mqlsync's wall time and its
memory to mqlsync's RSS. ``mqlsync sandbox`` serves the same emulator but cannot report what
it saw, so this module serves it itself (``python benchmarks/sandbox_child.py``), prints the
same ``SANDBOX hubspot <base_url> token=<token>`` first line, and once its stdin closes prints
one JSON line summarising its request log: the server's count of requests and 429s is the ground
truth, not the client's own tally.

mqlsync runs as ``python -m connector <command>`` children; :func:`run_measured` reaps each
with ``os.wait4`` so its peak RSS is that child's alone (``RUSAGE_CHILDREN`` would mix every
child reaped so far into one maximum). Linux carries the forking process's peak RSS over
into the child's (the high-water mark survives ``exec``), so a child can never report less
than the launcher's own peak: the launcher keeps itself small, reading only the last lines
of a child's output, and :func:`launcher_rss_mb` shows that floor.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "b2b-saas.toml"

__all__ = [
    "Child",
    "SandboxProcess",
    "engagement_counts",
    "launcher_rss_mb",
    "minimum_calls",
    "path_key",
    "run_measured",
    "sandbox_process",
    "write_config",
]


def _busiest_window(times: Sequence[float], seconds: float) -> int:
    """Most requests the server admitted within any ``seconds``-long rolling window."""
    window: deque[float] = deque()
    best = 0
    for t in times:
        window.append(t)
        while window[0] <= t - seconds:
            window.popleft()
        best = max(best, len(window))
    return best


def minimum_calls(contacts: int, engagements: dict[str, int], written: int) -> int:
    """The fewest calls a first sync can make: every page and batch full.

    ceil(N/200) search pages + ceil(E_type/100) pages of each engagement type listed with
    its contacts inline + ceil(written/100) writes. (A first sync pulls every contact, so
    it needs no association reads: those are what an incremental sync pays to read the
    engagements of a block of changed contacts.)
    """
    return (
        math.ceil(contacts / 200)
        + sum(math.ceil(e / 100) for e in engagements.values())
        + math.ceil(written / 100)
    )


def engagement_counts(sandbox: Any) -> dict[str, int]:
    """Engagements associated with contacts, per type, as the sandbox seeded them."""
    from connector.crm.hubspot.activities import ENGAGEMENTS

    loaded = sandbox.store._loaded.contact_engagements
    return {kind: sum(len(v) for v in loaded[kind].values()) for kind in ENGAGEMENTS}


def path_key(path: str) -> str:
    """Request path with the association's object types folded into one key."""
    return path if "/associations/" not in path else "/crm/v4/associations/…/batch/read"


class _TimedRouter:
    """Wraps the sandbox's router to add up the server's own time per path.

    A client waiting on the server is not waiting on its limiter: this separates the two
    when a rate-limited sync falls short of the allowed rate.
    """

    def __init__(self, router: Any) -> None:
        self._router = router
        self.seconds: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def dispatch(self, method: str, parts: list[str], query: Any, body: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._router.dispatch(method, parts, query, body)
        finally:
            key = path_key("/" + "/".join(parts))
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0
            self.count[key] = self.count.get(key, 0) + 1

    def clear(self) -> None:
        self.seconds.clear()
        self.count.clear()


def _summary(sandbox: Any, window_s: float, router: _TimedRouter) -> dict[str, Any]:
    entries = sandbox.request_log.entries()
    ok = [e.at for e in entries if e.status != 429]
    by_path: dict[str, int] = {}
    for e in entries:
        key = path_key(e.path)
        by_path[key] = by_path.get(key, 0) + 1
    return {
        "requests": len(entries),
        "throttled": sum(1 for e in entries if e.status == 429),
        "first": min((e.at for e in entries), default=0.0),
        "last": max((e.at for e in entries), default=0.0),
        "busiest_window": _busiest_window(sorted(ok), window_s),
        "by_path": by_path,
        "engagements": engagement_counts(sandbox),
        "server_seconds": router.seconds,
    }


def serve(contacts: int, rate: str | None, seed: int, partial_failure: float = 0.0) -> int:
    """Serve until stdin closes, then print the request-log summary as one JSON line.

    Stdin, not a signal, drives it: ``clear`` lines reset the log between phases, and the
    parent closing the pipe (or dying) ends the server.
    """
    from connector.sandbox.faults import Faults
    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.serve import parse_rate

    window = parse_rate(rate) if rate else None
    t0 = time.perf_counter()
    with HubSpotSandbox(
        contacts=contacts,
        seed=seed,
        rate=window,
        faults=Faults(partial_batch_failure=partial_failure, seed=seed),
    ) as sandbox:
        print(
            f"sandbox: {contacts:,} contacts up in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        print(f"SANDBOX hubspot {sandbox.base_url} token={sandbox.token}", flush=True)
        router = _TimedRouter(sandbox.router)
        sandbox.router = router  # type: ignore[assignment]  # same dispatch(), timed
        for line in sys.stdin:
            if line.strip() == "clear":
                sandbox.request_log.clear()
                router.clear()
                print("CLEARED", flush=True)
        summary = _summary(sandbox, window[1] if window else 10.0, router)
        print(json.dumps(summary), flush=True)
    return 0


@dataclass
class SandboxProcess:
    """A running sandbox child: where it listens, and how to read its request log."""

    proc: subprocess.Popen[str]
    base_url: str
    token: str

    def clear_log(self) -> None:
        """Forget the requests so far (provisioning), so the summary covers one phase."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("clear\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if line.strip() != "CLEARED":
            raise RuntimeError(f"sandbox did not clear its log: {line!r}")

    def summary(self) -> dict[str, Any]:
        """Stop the sandbox and return its request-log summary."""
        out, _ = self.proc.communicate(timeout=120)
        return dict(json.loads(out.strip().splitlines()[-1]))


@contextmanager
def sandbox_process(
    contacts: int, rate: str | None = None, seed: int = 7, partial_failure: float = 0.0
) -> Iterator[SandboxProcess]:
    """Start the sandbox child and wait for its first line; kill it if the caller fails.

    ``partial_failure`` is the share of batch-write inputs the sandbox refuses, so a run
    leaves dead letters behind.
    """
    cmd = [sys.executable, str(Path(__file__)), "--contacts", str(contacts), "--seed", str(seed)]
    cmd += ["--partial-failure", str(partial_failure)]
    if rate:
        cmd += ["--rate", rate]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, bufsize=1
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        if len(first) != 4 or first[:2] != ["SANDBOX", "hubspot"]:
            raise RuntimeError(f"unexpected sandbox line: {first}")
        yield SandboxProcess(proc, first[2], first[3].removeprefix("token="))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def write_config(path: Path, base_url: str, state_db: Path, requests_per_10s: int) -> Path:
    """A config TOML pointing mqlsync at the sandbox, with its client-side rate limit."""
    path.write_text(
        f'[hubspot]\nbase_url = "{base_url}"\n'
        f'[mapping]\npath = "{MAPPING}"\n'
        f'[state]\nurl = "sqlite:///{state_db}"\n'
        f"[limits]\nrequests_per_10s = {requests_per_10s}\n"
        '[logging]\nformat = "text"\nlevel = "warning"\n'
    )
    return path


@dataclass(frozen=True)
class Child:
    """One finished mqlsync child: exit code, wall and CPU time, peak RSS, its output's tail."""

    returncode: int
    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    stdout: str
    stderr: str


def run_measured(args: Sequence[str], token: str, config: Path) -> Child:
    """Run ``python -m connector <args>``; its own peak RSS comes from ``os.wait4``.

    Output goes to temporary files, not pipes, so a large plan cannot block the child on a
    full pipe while this process waits in ``wait4``; only its last 64 KiB are read back.
    """
    env = dict(os.environ, MQLSYNC_HUBSPOT_TOKEN=token, MQLSYNC_CONFIG=str(config))
    out_path, err_path = config.with_suffix(".out"), config.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", *args], stdout=out, stderr=err, env=env, cwd=ROOT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB.
    return Child(
        proc.returncode,
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        _tail(out_path),
        _tail(err_path),
    )


def _tail(path: Path, size: int = 65536) -> str:
    """The last ``size`` bytes of a file, decoded: all a report needs of a child's output."""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read().decode("utf-8", "replace")


def launcher_rss_mb() -> float:
    """This process's peak RSS: the floor under every child's figure (see the module doc)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Serve the HubSpot sandbox; report its log when stdin closes."
    )
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--rate", default=None, help="rolling window N/SECONDS, e.g. 100/10")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--partial-failure", type=float, default=0.0, help="share of writes refused")
    args = ap.parse_args()
    return serve(args.contacts, args.rate, args.seed, args.partial_failure)


if __name__ == "__main__":
    sys.exit(main())
