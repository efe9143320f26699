"""`mqlsync run` as an operator starts it: on a pipe (a container, systemd) it logs JSON
lines, and SIGTERM stops it with exit 0."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from connector.sandbox.hubspot import HubSpotSandbox
from tests.ops.helpers import (
    EMAIL,
    daemon_process,
    provision,
    terminate,
    wait_for,
    write_config,
)


def test_mqlsync_run_logs_json_lines_on_a_pipe_and_stops_on_sigterm(tmp_path: Path, monkeypatch):
    with HubSpotSandbox(contacts=60) as sandbox:
        config = write_config(tmp_path, sandbox)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MQLSYNC_")}
        env["MQLSYNC_HUBSPOT_TOKEN"] = sandbox.token
        monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", sandbox.token)
        provision(config)
        command = [sys.executable, "-m", "connector", "run", "--config", str(config)]
        with daemon_process(command, env=env, cwd=tmp_path) as proc:
            lines: list[str] = []
            assert proc.stderr is not None
            wait_for(lambda: lines.append(proc.stderr.readline()) or "sync finished" in lines[-1])
            rest = terminate(proc)
        assert proc.returncode == 0
        events = [json.loads(line) for line in [*lines, *rest.splitlines()] if line]
        assert all({"event", "level", "timestamp"} <= e.keys() for e in events)
        finished = next(e for e in events if e["event"].startswith("sync finished"))
        assert finished["pulled"] == 60 and finished["written"] == 60
        text = "".join(lines) + rest
        assert sandbox.token not in text and not EMAIL.search(text)
