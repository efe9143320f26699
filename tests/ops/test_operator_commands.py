"""`config check`, `status` with the schedule and today's API use, and `--version`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from connector.cli.ops_commands import package_version
from tests.conftest import MAPPINGS

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MQLSYNC_CONFIG", "MQLSYNC_HUBSPOT_TOKEN", "MQLSYNC_LIMITS__REQUESTS_PER_10S"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "mqlsync.toml"
    path.write_text(
        f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        f'[state]\nurl = "postgresql+psycopg://app:pa55word@db.internal/mqlsync"\n'
        '[schedule]\nsync_every_minutes = 30\nrescore_at = "02:30"\ntimezone = "Europe/Paris"\n'
        '[alerts]\nwebhook_url = "https://hooks.example.com/services/T000/B000/XXXXSECRET"\n'
    )
    return path


def test_config_check_shows_each_value_with_its_source_and_hides_secrets(config, monkeypatch):
    monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("MQLSYNC_LIMITS__REQUESTS_PER_10S", "50")
    result = invoke("config", "check", "--config", str(config), "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {r["key"]: (r["value"], r["source"]) for r in report["settings"]}
    assert rows["[schedule] sync_every_minutes"] == ("30", f"file {config}")
    assert rows["[limits] requests_per_10s"] == ("50", "env MQLSYNC_LIMITS__REQUESTS_PER_10S")
    assert rows["[crm] kind"] == ("hubspot", "default")
    assert rows["[schedule] rescore_at"] == ("02:30", f"file {config}")
    assert rows["MQLSYNC_HUBSPOT_TOKEN"] == ("set", "env")
    assert rows["MQLSYNC_SF_PASSWORD"] == ("unset", "-")
    assert rows["[alerts] webhook_url"][0] == "https://hooks.example.com/…"
    assert "pa55word" not in result.stdout and "***" in rows["[state] url"][0]
    assert TOKEN not in result.stdout and "XXXXSECRET" not in result.stdout
    assert report["mapping"]["rules"] > 0 and report["mapping"]["version"].startswith("b2b-saas@")


def test_config_check_table_and_an_invalid_mapping_exits_1(config, tmp_path):
    table = invoke("config", "check", "--config", str(config))
    assert table.exit_code == 0, table.output
    assert "[schedule] timezone" in table.stdout and "Europe/Paris" in table.stdout
    assert "mapping " in table.stdout and ": ok (" in table.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[qualification]\nthreshold = 'high'\n")
    config.write_text(config.read_text().replace(str(MAPPINGS / "b2b-saas.toml"), str(bad)))
    result = invoke("config", "check", "--config", str(config))
    assert result.exit_code == 1 and "bad.toml:" in result.output


def test_status_shows_next_sync_and_rescore_and_todays_api_calls(config, tmp_path):
    from connector.state import StateStore

    url = f"sqlite:///{tmp_path / 'state.db'}"
    config.write_text(config.read_text().replace(
        "postgresql+psycopg://app:pa55word@db.internal/mqlsync", url))  # fmt: skip
    started = datetime.now(UTC) - timedelta(minutes=5)
    with StateStore.open(url) as store:
        yesterday = store.start_run("sync", crm="hubspot", started_at=started - timedelta(days=2))
        store.finish_run(yesterday, "ok", {"written": 1}, 400, None)
        run = store.start_run("sync", crm="hubspot", started_at=started)
        store.finish_run(run, "ok", {"written": 3}, 7, None)
    result = invoke("status", "--config", str(config), "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert datetime.fromisoformat(report["next_sync"]) == started + timedelta(minutes=30)
    rescore = datetime.fromisoformat(report["next_rescore"])
    assert rescore.strftime("%H:%M") == "02:30" and rescore > datetime.now(UTC)
    assert report["api_calls_today"] == 7 and report["daily_budget_share"] == 0.5
    assert {"runs", "dead_letters", "watermark"} <= report.keys()
    table = invoke("status", "--config", str(config))
    assert "next sync: " in table.stdout and "next rescore: " in table.stdout
    assert "API calls today: 7 (mqlsync may use 50% of the CRM's daily quota)" in table.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"mqlsync {package_version()}\n"
    assert package_version()[0].isdigit()
