"""The daemon an operator runs, against the HubSpot sandbox with a 1-second sync interval:
cycles, /healthz, /metrics, JSON log lines and webhook alerts."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from connector.cli.app import app
from connector.ops.logs import configure_logging
from connector.ops.runner import open_context
from connector.ops.service import run_service
from connector.sandbox.faults import Faults
from connector.sandbox.hubspot import HubSpotSandbox
from tests.ops.helpers import (
    EMAIL,
    Receiver,
    free_port,
    get,
    provision,
    receiver,
    wait_for,
    write_config,
)

CONTACTS = 150
UPDATE = "/crm/v3/objects/contacts/batch/update"


@dataclass
class Daemon:
    sandbox: HubSpotSandbox
    hook: Receiver
    url: str
    logs: io.StringIO
    stop: threading.Event
    result: list[int]
    thread: threading.Thread
    token: str
    config: Path

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics (parsed by prometheus-client), keyed `name{labels}`."""
        status, body = get(f"{self.url}/metrics")
        assert status == 200
        samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return samples

    def syncs_ok(self) -> float:
        if get(f"{self.url}/metrics")[0] != 200:
            return 0  # still starting
        return self.metrics().get('mqlsync_runs_total{kind="sync",status="ok"}', 0)

    def health(self) -> tuple[int, dict[str, object]]:
        status, body = get(f"{self.url}/healthz")
        return status, json.loads(body)

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result[0]


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    faults = Faults(seed=3)
    with (
        HubSpotSandbox(contacts=CONTACTS, faults=faults, daily_limit=1_000_000) as sandbox,
        receiver() as hook,
    ):
        port = free_port()
        config = write_config(
            tmp_path, sandbox,
            logging='format = "json"\nlevel = "info"',
            observability=f"port = {port}",
            alerts=f'webhook_url = "{hook.url}"',
        )  # fmt: skip
        monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", sandbox.token)
        monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
        provision(config)
        logs = io.StringIO()
        configure_logging("json", "info", logs)
        stop, result = threading.Event(), []

        def run() -> None:
            with open_context(config) as ctx:
                result.append(
                    run_service(ctx, interval=timedelta(seconds=1), stop=stop, configure_logs=False)
                )

        thread = threading.Thread(target=run, name="daemon-under-test")
        d = Daemon(sandbox, hook, f"http://127.0.0.1:{port}", logs, stop, result, thread,
                   sandbox.token, config)  # fmt: skip
        thread.start()
        try:
            yield d
        finally:
            stop.set()
            thread.join(30)
            configure_logging("text", "warning", io.StringIO())


def status_json(config: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["status", "--config", str(config), "-o", "json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def written_in_sandbox(sandbox: HubSpotSandbox) -> int:
    return sum(
        e.inputs for e in sandbox.request_log if e.path.startswith(UPDATE) and e.status == 200
    )


def test_two_cycles_with_health_metrics_and_json_logs(daemon: Daemon) -> None:
    daemon.sandbox.faults.rate_429 = 0.15
    wait_for(lambda: daemon.syncs_ok() >= 2)
    status, body = daemon.health()
    assert status == 200 and body["status"] == "ok" and body["last_success"]

    m = daemon.metrics()
    # every contact got its scores once (a stage change may take the CRM two requests)
    assert m["mqlsync_records_written_total"] == CONTACTS <= written_in_sandbox(daemon.sandbox)
    runs = status_json(daemon.config)["runs"]
    assert sum(r["counts"]["written"] for r in runs) == CONTACTS
    assert 0 < m["mqlsync_api_calls_total"] <= len(daemon.sandbox.request_log)
    assert m["mqlsync_rate_limited_total"] > 0 and m["mqlsync_retries_total"] > 0
    assert m["mqlsync_mqls_promoted_total"] > 0
    assert "mqlsync_mqls_recycled_total" in m
    assert m["mqlsync_dead_letters"] == 0
    assert m['mqlsync_run_duration_seconds_count{kind="sync"}'] >= 2
    assert m["mqlsync_last_success_timestamp_seconds"] > 0
    assert 0 < m["mqlsync_api_budget_remaining"] < 500_000  # half of the sandbox's daily quota
    assert daemon.finish() == 0

    lines = daemon.logs.getvalue().splitlines()
    assert len(lines) > 5
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    for event in events:
        assert {"event", "level", "timestamp"} <= event.keys()
        assert event["timestamp"].endswith("Z")
    finished = [e for e in events if e["event"].startswith("sync finished")]
    assert len(finished) >= 2
    first = finished[0]
    assert first["written"] == CONTACTS and first["pulled"] == CONTACTS
    assert isinstance(first["run_id"], int) and first["api_calls"] > 0
    inside = [e for e in events if "run_id" in e and not e["event"].startswith("sync finished")]
    assert inside, "lines logged inside a run carry its run_id"
    text = daemon.logs.getvalue()
    assert daemon.token not in text and not EMAIL.search(text)


def test_healthz_turns_503_when_the_token_is_revoked(daemon: Daemon) -> None:
    wait_for(lambda: daemon.syncs_ok() >= 1)
    assert daemon.health()[0] == 200
    daemon.sandbox.token = "pat-na1-revoked-0000"
    _, body = wait_for(lambda: (h := daemon.health())[0] == 503 and h)
    assert body["status"] == "unhealthy"
    assert str(body["reason"]).startswith("authentication failed")
    alerts = wait_for(lambda: daemon.hook.alerts("auth_failed"))
    assert alerts[0]["source"] == "mqlsync" and "credentials" in alerts[0]["message"]
    runs_before = daemon.syncs_ok()
    assert daemon.thread.is_alive()  # jobs stopped, /healthz keeps answering 503
    assert daemon.syncs_ok() == runs_before
    assert daemon.finish() == 1
    assert daemon.token not in json.dumps(daemon.hook.bodies)


def test_alerts_on_dead_letters_and_failed_runs_reach_the_webhook(daemon: Daemon) -> None:
    daemon.sandbox.faults.partial_batch_failure = 1.0  # the CRM refuses every record
    letters = wait_for(lambda: daemon.hook.alerts("dead_letters"))
    assert letters[0]["count"] > 0 and isinstance(letters[0]["run_id"], int)
    assert wait_for(lambda: daemon.metrics()["mqlsync_dead_letters"] > 0)
    daemon.sandbox.faults.rate_5xx = 1.0  # and then fails every request
    failed = wait_for(lambda: daemon.hook.alerts("run_failed"))
    assert failed[0]["job"] == "sync" and "sync failed" in failed[0]["message"]
    assert daemon.finish() == 0
    sent = json.dumps(daemon.hook.bodies)
    assert daemon.token not in sent and not EMAIL.search(sent)
    for body in daemon.hook.bodies:
        assert {"source", "alert", "message", "timestamp"} <= body.keys()
