"""An edited mapping reaches every contact in one sync, versioned, previewed by plan.

On the old main, an admin who lowered the threshold and added a rule saw `plan` → "pulled
0, changed 0": the new model reached a contact only when that contact changed in the CRM.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from connector.core.reasons import descriptions
from connector.core.records import parse_record
from connector.core.scoring import compile_mapping
from connector.crm.base import RIDE_ALONG
from connector.crm.values import changed_fields
from connector.mapping.loader import load_mapping, mapping_version
from connector.ops.runner import LiveContext, open_context
from connector.pipeline.rescore import current_values, held_record, rescore_record
from connector.pipeline.steps import memory_of
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS

EDIT = (
    "threshold = 60",
    "threshold = 50",
)
CLICK_RULE = """
[[rules]]
id = "email_click"
description = "clicked a marketing email"
axis = "engagement"
points = 5
activity = { type = "email_click" }
"""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mapping = tmp_path / "my-model.toml"
    shutil.copy(MAPPINGS / "b2b-saas.toml", mapping)
    with HubSpotSandbox(contacts=300) as sandbox:
        config = tmp_path / "mqlsync.toml"
        config.write_text(
            f'[hubspot]\nbase_url = "{sandbox.base_url}"\n'
            f'[mapping]\npath = "{mapping}"\n'
            f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
            "[limits]\nrequests_per_10s = 10000\n"
        )
        monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", sandbox.token)
        monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
        assert invoke("provision", "--config", str(config)).exit_code == 0
        assert invoke("sync", "--once", "--config", str(config)).exit_code == 0
        assert invoke("sync", "--once", "--config", str(config)).exit_code == 0  # echoes
        yield sandbox, str(config), mapping, tmp_path / "state.db"


def test_an_edited_mapping_is_written_to_exactly_the_contacts_it_changes(portal):
    sandbox, config, mapping, db = portal
    text = mapping.read_text()
    assert EDIT[0] in text
    edited = text.replace(*EDIT) + CLICK_RULE
    # what-if first: the switch previewed from the stored records, no CRM call
    other = mapping.with_name("candidate.toml")
    other.write_text(edited)
    calls = len(sandbox.request_log)
    what = invoke("plan", "--config", config, "--mapping", str(other), "-o", "json")
    assert what.exit_code == 0, what.output
    assert len(sandbox.request_log) == calls
    what_if = json.loads(what.stdout)
    assert what_if["totals"]["gained"] > 0  # threshold 60 → 50
    table_view = invoke("plan", "--config", config, "--mapping", str(other))
    assert f"{what_if['totals']['mqls_after'] - what_if['totals']['mqls_before']:+d} MQLs" in (
        table_view.stdout
    )
    mapping.write_text(edited)
    assert invoke("validate", str(mapping)).exit_code == 0
    version = mapping_version(mapping)
    compiled = compile_mapping(load_mapping(mapping))

    # independently: which stored contacts the edited mapping writes (same diff rules)
    with StateStore.open(f"sqlite:///{db}") as store:
        snaps = list(store.iter_snapshots("hubspot", "contact"))
    assert snaps and all(s.model and s.model != version for s in snaps)
    now = datetime.now(UTC)
    changed = set()
    for snap in snaps:
        record = held_record(parse_record(snap.record), snap.stage)
        _, _, desired = rescore_record(
            record, compiled, memory_of(snap), now, version, descriptions(compiled)
        )
        if changed_fields(desired, current_values(snap), RIDE_ALONG):
            changed.add(snap.record_id)
    assert changed, "lowering the threshold and a new rule should change some contacts"

    plan = invoke("plan", "--config", config, "-o", "json")
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.stdout)
    planned_ids = {c["record_id"] for c in planned["changes"]}

    table = sandbox.store.tables["contacts"]
    before = {table.id_of(r): table.value(r, "mqlsync_model") for r in range(table.size)}
    sync = invoke("sync", "--once", "--config", config)
    assert sync.exit_code == 0, sync.output
    after = {table.id_of(r): table.value(r, "mqlsync_model") for r in range(table.size)}
    written = {rid for rid in after if after[rid] != before[rid]}
    assert written == planned_ids == changed  # exactly the contacts whose values move …
    assert {c["record_id"] for c in what_if["changes"]} == written  # … as the what-if said
    assert all(after[rid] == version for rid in written)  # … each with the new version
    with StateStore.open(f"sqlite:///{db}") as store:
        assert {s.model for s in store.iter_snapshots("hubspot")} == {version}
        runs = store.recent_runs(1)
        assert runs[0].mapping_version == version
        routes = [s.route for s in store.iter_snapshots("hubspot")]
    assert routes.count("sales") == what_if["totals"]["mqls_after"]

    again = invoke("sync", "--once", "--config", config)
    assert again.exit_code == 0 and "written 0," in again.stdout


def test_the_daemon_picks_up_a_valid_edit_and_keeps_the_last_good_mapping_on_a_bad_one(
    portal, caplog: pytest.LogCaptureFixture
):
    _, config, mapping, _ = portal
    good = mapping_version(mapping)
    with open_context(Path(config)) as ctx:
        live = LiveContext(ctx, mapping)
        assert live.current() is ctx and ctx.version == good
        mapping.write_text(mapping.read_text().replace("threshold = 60", "threshold = sixty"))
        with caplog.at_level(logging.ERROR, logger="connector.ops.runner"):
            kept = live.current()
        assert kept is ctx and kept.version == good
        assert f"{mapping}:15:" in caplog.text  # the file:line of the bad value
        assert f"keeping {good} until it is fixed" in caplog.text
        mapping.write_text(mapping.read_text().replace("threshold = sixty", "threshold = 50"))
        switched = live.current()
        assert switched.version == mapping_version(mapping) != good
        assert switched.mapping.spec.qualification.threshold == 50
        summary = switched.sync().run()
        assert summary.run_id is not None
        with StateStore.open(switched.settings.state.url) as store:
            assert store.get_run(summary.run_id).mapping_version == switched.version


def test_explain_contact_through_the_cli(portal):
    _, config, _, _ = portal
    result = invoke("explain", "--config", config, "--contact", "42")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Lead 42") and "Lifecycle:" in result.stdout
    missing = invoke("explain", "--config", config, "--contact", "nobody@example.invalid")
    assert missing.exit_code == 1 and "no contact matches" in missing.output
    usage = invoke("explain")
    assert usage.exit_code == 2 and "--contact" in usage.output


def test_plan_filters_by_contact_field_and_limit_and_shows_emails(portal):
    _, config, mapping, _ = portal
    mapping.write_text(mapping.read_text().replace(*EDIT) + CLICK_RULE)
    everything = json.loads(invoke("plan", "--config", config, "-o", "json").stdout)
    assert everything["changes"] and all(c["email"] for c in everything["changes"])
    some = everything["changes"][0]
    one = json.loads(
        invoke("plan", "--config", config, "-o", "json", "--contact", some["email"]).stdout
    )
    assert {c["record_id"] for c in one["changes"]} == {some["record_id"]}
    scores = json.loads(
        invoke("plan", "--config", config, "-o", "json", "--field", "score", "--limit", "3").stdout
    )
    assert len(scores["changes"]) == min(
        3, sum(c["field"] == "score" for c in everything["changes"])
    )
    assert {c["field"] for c in scores["changes"]} <= {"score"}
    assert scores["totals"] == everything["totals"]  # the totals still cover everything
    table = invoke("plan", "--config", config, "--limit", "1").stdout.splitlines()
    assert table[0].startswith("plan: pulled")  # the totals first …
    header = table.index("record\tfield\tbefore → after")
    changes = table[header + 1 :]  # … then the changes
    assert len(changes) == 1
    assert "@" in changes[0].split("\t")[0]  # id and email side by side


def test_validate_with_config_checks_lifecycle_statuses_against_the_crm(portal):
    _, config, mapping, _ = portal
    assert invoke("validate", str(mapping), "--config", config).exit_code == 0
    text = mapping.read_text()
    mapping.write_text(
        text + '\n[lifecycle.rejected_statuses]\nhubspot = ["UNQUALIFIED", "UNQUALIFED"]\n'
    )
    line = len(text.splitlines()) + 3
    result = invoke("validate", str(mapping), "--config", config)
    assert result.exit_code == 1
    assert f"{mapping}:{line}: rejected status 'UNQUALIFED' is not one of the CRM's" in (
        result.stdout
    )
    assert invoke("validate", str(mapping)).exit_code == 0  # without --config: not checked
