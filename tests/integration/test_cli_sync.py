"""The operator's path through the CLI against a sandbox: provision, plan, sync, status, demo."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from connector.sandbox.hubspot import HubSpotSandbox
from tests.conftest import MAPPINGS


@pytest.fixture
def configured(tmp_path, monkeypatch):
    with HubSpotSandbox(contacts=120) as sandbox:
        config = tmp_path / "mqlsync.toml"
        config.write_text(
            f'[hubspot]\nbase_url = "{sandbox.base_url}"\n'
            f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
            f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
            "[limits]\nrequests_per_10s = 10000\n"
        )
        monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", sandbox.token)
        monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
        yield sandbox, str(config)


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def test_provision_plan_sync_status(configured):
    sandbox, config = configured
    first = invoke("provision", "--config", config)
    assert first.exit_code == 0, first.output
    assert "mqlsync_fit" in first.stdout.split("already there")[0]
    assert "created: nothing" in invoke("provision", "--config", config).stdout

    writes_before = sandbox.request_log.count(
        method="POST", path_prefix="/crm/v3/objects/contacts/batch/update"
    )
    plan = invoke("plan", "--config", config, "--output", "json")
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.stdout)
    assert planned["totals"]["pulled"] == 120
    assert {c["field"] for c in planned["changes"]} >= {"fit", "engagement", "score", "reasons"}
    assert (
        sandbox.request_log.count(
            method="POST", path_prefix="/crm/v3/objects/contacts/batch/update"
        )
        == writes_before
    )

    sync = invoke("sync", "--once", "--config", config)
    assert sync.exit_code == 0, sync.output
    assert "pulled 120" in sync.stdout and "written 120" in sync.stdout

    after = json.loads(invoke("plan", "--config", config, "-o", "json").stdout)
    assert after["changes"] == []

    status = invoke("status", "--config", config)
    assert (
        status.exit_code == 0
        and "sync" in status.stdout
        and "open dead letters: 0" in status.stdout
    )


def test_missing_token_is_a_clear_handled_failure(configured, monkeypatch):
    _, config = configured
    monkeypatch.delenv("MQLSYNC_HUBSPOT_TOKEN")
    result = invoke("sync", "--once", "--config", config)
    assert result.exit_code == 1
    assert "MQLSYNC_HUBSPOT_TOKEN" in result.stderr


def test_wrong_token_stops_with_auth_error(configured, monkeypatch):
    _, config = configured
    monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", "pat-na1-wrong-token-value")
    result = invoke("sync", "--once", "--config", config)
    assert result.exit_code == 1
    assert "refused the token" in result.stderr
    assert "wrong-token-value" not in result.stderr


def test_demo_runs_offline_and_summarises():
    result = invoke("demo", "--contacts", "200")
    assert result.exit_code == 0, result.output
    assert "scored 200 records" in result.stdout
    assert "routes" in result.stdout and "top reasons" in result.stdout


def test_rescore_command_reads_nothing_from_the_crm(configured):
    sandbox, config = configured
    assert invoke("provision", "--config", config).exit_code == 0
    assert invoke("sync", "--once", "--config", config).exit_code == 0
    before = len(sandbox.request_log)
    result = invoke("rescore", "--config", config, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("rescore: ")
    assert all(
        e.method == "POST" and e.path.endswith("/batch/update")
        for e in sandbox.request_log.entries()[before:]
    )


def test_run_daemon_syncs_at_start_and_stops_on_sigterm(configured, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from connector.state import StateStore

    sandbox, config = configured
    assert invoke("provision", "--config", config).exit_code == 0
    env = {**os.environ, "MQLSYNC_HUBSPOT_TOKEN": sandbox.token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", config],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        state = config.replace("mqlsync.toml", "state.db")
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                with StateStore.open(f"sqlite:///{state}") as store:
                    runs = [
                        r for r in store.recent_runs(5) if r.kind == "sync" and r.status == "ok"
                    ]
            except Exception:  # noqa: BLE001 - the daemon may be creating the file
                runs = []
            if runs:
                break
        assert runs, proc.stderr.read() if proc.poll() is not None else "no sync run recorded"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
