"""Two `mqlsync sync --once` processes on one state store: one writes, the other refuses.

Measured on the old main: both wrote all 1,000 contacts and journaled every change twice.
Runs on the local PostgreSQL (advisory lock) and on SQLite (a file lock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from connector.sandbox.faults import Faults
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS
from tests.state.conftest import pg_schema_url  # noqa: F401 - fixture

CONTACTS = 400
BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"


def write_config(tmp_path: Path, sandbox: HubSpotSandbox, state_url: str) -> Path:
    config = tmp_path / "mqlsync.toml"
    config.write_text(
        f'[hubspot]\nbase_url = "{sandbox.base_url}"\n'
        f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        f'[state]\nurl = "{state_url}"\n'
        "[limits]\nrequests_per_10s = 10000\n"
    )
    return config


def cli(config: Path, token: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MQLSYNC_")}
    env["MQLSYNC_HUBSPOT_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "connector", *args, "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


def test_two_processes_never_both_write(tmp_path: Path, state_url: str) -> None:
    # Latency makes the sync last long enough for the two processes to overlap: a first
    # sync of 400 contacts is about ten calls, and the second process needs a second or
    # two to start on a loaded machine.
    with HubSpotSandbox(contacts=CONTACTS, faults=Faults(latency_ms=400)) as sandbox:
        config = write_config(tmp_path, sandbox, state_url)
        assert cli(config, sandbox.token, "provision").wait(60) == 0
        first = cli(config, sandbox.token, "sync", "--once")
        with StateStore.open(state_url) as store:  # wait until the first one is running
            for _ in range(600):
                if store.recent_runs(1):
                    break
                first.poll()
                assert first.returncode is None, first.stderr.read() if first.stderr else ""
                time.sleep(0.05)
        second = cli(config, sandbox.token, "sync", "--once")
        out2, err2 = second.communicate(timeout=120)
        _, err1 = first.communicate(timeout=120)
        assert first.returncode == 0, err1
        assert second.returncode == 1, out2 + err2
        assert "another mqlsync process holds the lock" in err2
        assert "Traceback" not in err2
        written = sum(e.inputs for e in sandbox.request_log if e.path == BATCH_UPDATE)
        with StateStore.open(state_url) as store:
            runs = store.recent_runs(10)
            assert [r.kind for r in runs] == ["sync"] and runs[0].status == "ok"
            # every contact written once, by one process (a move back costs a second input)
            assert written == CONTACTS + runs[0].counts["recycled"]
            journaled = {e.record_id for e in store.journal_for_run(runs[0].id)}
            assert len(journaled) == CONTACTS


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_status_json_and_undo_through_the_cli(tmp_path: Path, monkeypatch) -> None:
    with HubSpotSandbox(contacts=120) as sandbox:
        config = str(write_config(tmp_path, sandbox, f"sqlite:///{tmp_path / 'state.db'}"))
        monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", sandbox.token)
        monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
        assert invoke("provision", "--config", config).exit_code == 0
        table = sandbox.store.tables["contacts"]
        before = {table.id_of(r): table.value(r, "mqlsync_score") for r in range(table.size)}
        assert invoke("sync", "--once", "--config", config).exit_code == 0

        status = invoke("status", "--config", config, "-o", "json")
        assert status.exit_code == 0, status.output
        report = json.loads(status.stdout)
        assert set(report) >= {"runs", "dead_letters", "watermark"}
        (run,) = report["runs"]
        assert run["kind"] == "sync" and run["status"] == "ok" and run["finished_at"]
        assert run["mapping_version"].startswith("b2b-saas@") and len(run["mapping_version"]) == 21
        assert run["counts"]["written"] == 120 and report["dead_letters"] == []
        assert report["watermark"] == run["started_at"]

        dry = invoke("undo", str(run["id"]), "--config", config, "--dry-run")
        assert dry.exit_code == 0 and "would restore" in dry.stdout
        undo = invoke("undo", str(run["id"]), "--config", config)
        assert undo.exit_code == 0, undo.output
        assert {table.id_of(r): table.value(r, "mqlsync_score") for r in range(table.size)} == before
        runs = json.loads(invoke("status", "--config", config, "-o", "json").stdout)["runs"]
        assert [(r["kind"], r["status"]) for r in runs] == [("undo", "ok"), ("sync", "ok")]
        missing = invoke("undo", "999", "--config", config)
        assert missing.exit_code == 1 and "no run 999" in missing.output
