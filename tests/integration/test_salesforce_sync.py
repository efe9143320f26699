"""The whole pipeline on Salesforce: sync, idempotence, recycle, through sync --once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from connector.cli.app import app
from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.client import SalesforceCalls
from connector.mapping.schema import MappingSpec
from connector.sandbox.salesforce import SalesforceSandbox
from tests.conftest import MAPPINGS


def config_for(sandbox: SalesforceSandbox, tmp_path: Path) -> Path:
    """A config file for the sandbox org, with its own state store."""
    config = tmp_path / "mqlsync.toml"
    config.write_text(
        '[crm]\nkind = "salesforce"\n'
        f'[salesforce]\ninstance_url = "{sandbox.instance_url}"\n'
        f'ca_bundle = "{sandbox.ca_path}"\n'
        f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        "[limits]\nrequests_per_10s = 10000\n"
    )
    return config


def provisioned(sandbox: SalesforceSandbox, spec: MappingSpec) -> SalesforceAdapter:
    """An adapter on the sandbox through the real client, mqlsync's fields created."""
    calls = SalesforceCalls(
        sandbox.instance_url, sandbox.session_id, ca_bundle=sandbox.ca_path,
        limiter=RateLimiter(100_000, 10.0),
    )  # fmt: skip
    adapter = SalesforceAdapter(calls, spec)
    adapter.provision()
    return adapter


def test_sync_once_scores_leads_and_contacts_then_writes_nothing_more(tmp_path, monkeypatch):
    with SalesforceSandbox(contacts=300, seed=3, provisioned=False) as sandbox:
        config = config_for(sandbox, tmp_path)
        monkeypatch.setenv("MQLSYNC_SF_SESSION_ID", sandbox.session_id)
        monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
        runner = CliRunner()
        provision = runner.invoke(app, ["provision", "--config", str(config)])
        assert provision.exit_code == 0, provision.output
        first = runner.invoke(app, ["sync", "--once", "--config", str(config)])
        assert first.exit_code == 0, first.output
        assert "failed 0" in first.stdout and "written 0," not in first.stdout
        lead = next(
            r for r in (sandbox.store.get("Lead", rid) for rid in sandbox.store.tables["Lead"].by_id)
            if r and not r["IsConverted"] and r.get("MQLSync_Scored_At__c")
        )  # fmt: skip
        assert lead["MQLSync_Grade__c"] and lead["MQLSync_Reasons__c"]
        assert isinstance(lead["MQLSync_Scored_At__c"], datetime)
        assert lead["MQLSync_Scored_At__c"] <= datetime.now(UTC)
        second = runner.invoke(app, ["sync", "--once", "--config", str(config)])
        assert second.exit_code == 0 and "written 0," in second.stdout, second.stdout


def test_plan_and_explain_read_a_salesforce_org(tmp_path, monkeypatch):
    """`plan` lists what a sync would write without writing; `explain --contact` finds a
    Lead by email and a Contact by id and says why each scored."""
    with SalesforceSandbox(contacts=200, seed=9) as sandbox:
        config = config_for(sandbox, tmp_path)
        monkeypatch.setenv("MQLSYNC_SF_SESSION_ID", sandbox.session_id)
        monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
        runner = CliRunner()
        writes = len(sandbox.writes)
        plan = runner.invoke(app, ["plan", "--config", str(config), "-o", "json"])
        assert plan.exit_code == 0, plan.output
        planned = json.loads(plan.stdout)
        changes = planned["changes"]
        assert planned["totals"]["written"] == 0 and planned["totals"]["changed"] > 0
        assert changes and {x["record_id"][:3] for x in changes} == {"00Q", "003"}
        assert len(sandbox.writes) == writes  # a plan writes nothing
        lead = next(
            r for r in (sandbox.store.get("Lead", rid) for rid in sandbox.store.tables["Lead"].by_id)
            if r and not r["IsConverted"] and r.get("Email")
        )  # fmt: skip
        contact = next(iter(sandbox.store.tables["Contact"].by_id))
        for key, rid in ((lead["Email"], lead["Id"]), (contact, contact)):
            shown = runner.invoke(app, ["explain", "--config", str(config), "--contact", key])
            assert shown.exit_code == 0, shown.output
            assert rid[:15] in shown.stdout and "fit" in shown.stdout.lower()
        missing = runner.invoke(
            app, ["explain", "--config", str(config), "--contact", "nobody@example.invalid"]
        )
        assert missing.exit_code == 1 and "no lead or contact matches" in missing.output


def test_demo_on_the_salesforce_sandbox():
    result = CliRunner().invoke(app, ["demo", "--crm", "salesforce", "--contacts", "400"])
    assert result.exit_code == 0, result.output
    assert "salesforce sandbox" in result.stdout and "scored 400 records" in result.stdout
    assert "failed 0" in result.stdout


def test_sync_then_undo_gives_back_the_org_as_it_was(tmp_path):
    from connector.core.scoring import compile_mapping
    from connector.crm.salesforce.fields import field_specs
    from connector.mapping.loader import load_mapping
    from connector.pipeline.sync import Sync
    from connector.pipeline.undo import Undo
    from connector.state import StateStore

    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    with SalesforceSandbox(contacts=300, seed=4) as sandbox:
        adapter = provisioned(sandbox, spec)
        names = ["Status", "MQLSync_Stage__c", *(f.name for f in field_specs())]

        def org() -> dict[str, dict[str, object]]:
            out = {}
            for sobject in ("Lead", "Contact"):
                for rid in sandbox.store.tables[sobject].by_id:
                    record = sandbox.store.get(sobject, rid) or {}
                    out[rid] = {n: record.get(n) for n in names if n in record}
            return out

        before = org()
        with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
            summary = Sync(adapter, compile_mapping(spec), store).run()
            assert summary.written > 0 and summary.failed == 0
            assert org() != before
            report = Undo(adapter, store).run(summary.run_id)
            assert report.failed == 0 and report.skipped == []
        assert org() == before


def test_the_daily_rescore_recycles_untouched_salesforce_mqls(tmp_path):
    from datetime import timedelta

    from connector.core.scoring import compile_mapping
    from connector.mapping.loader import load_mapping
    from connector.pipeline.rescore import Rescore
    from connector.pipeline.sync import Sync
    from connector.state import StateStore

    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    t0 = datetime.now(UTC)
    with SalesforceSandbox(contacts=400, seed=6) as sandbox:
        adapter = provisioned(sandbox, spec)
        mapping = compile_mapping(spec)
        with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
            Sync(adapter, mapping, store, clock=lambda: t0).run()
            promoted = [
                s for s in store.iter_snapshots("salesforce", "lead")
                if s.stage == "mql" and s.mql_at == t0
            ]  # fmt: skip
            assert promoted, "the first sync should promote some leads"
            untouched = [
                s.record_id for s in promoted
                if not any(
                    a["type"] in ("sales_touch", "call", "meeting", "email_reply")
                    and datetime.fromisoformat(a["at"]) > t0
                    for a in s.record["activities"]
                )
            ]  # fmt: skip
            later = Rescore(adapter, mapping, store, clock=lambda: t0 + timedelta(days=15)).run()
            assert later.failed == 0 and later.recycled >= len(untouched) > 0
        for rid in untouched:
            lead = sandbox.store.get("Lead", rid) or {}
            assert lead["Status"] == "Open - Not Contacted"
            assert lead["MQLSync_Recycle_Reason__c"] == "no sales touch in 14 days"


def test_sla_breaches_become_salesforce_tasks_for_the_owner_once(tmp_path):
    """Opt-in SLA tasks on Salesforce: one High-priority Task per breach, on the lead, for
    its owner; the same breach never twice, and a task already made is found by its key."""
    from datetime import timedelta

    from connector.core.scoring import compile_mapping
    from connector.crm.base import SlaBreach
    from connector.crm.tasks import REF
    from connector.mapping.loader import parse_mapping
    from connector.pipeline.rescore import Rescore
    from connector.pipeline.sync import Sync
    from connector.state import StateStore

    text = (MAPPINGS / "b2b-saas.toml").read_text()
    spec = parse_mapping(text + "\n[lifecycle.sla]\ncreate_task_on_breach = true\n", "t.toml")
    t0 = datetime.now(UTC).replace(microsecond=0)
    with SalesforceSandbox(contacts=300, seed=6) as sandbox:
        adapter = provisioned(sandbox, spec)
        mapping = compile_mapping(spec)

        def tasks() -> list[dict[str, object]]:
            table = sandbox.store.tables["Task"]
            rows = (sandbox.store.get("Task", rid) or {} for rid in table.by_id)
            return [r for r in rows if str(r.get("Description") or "").find(REF) >= 0]

        with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
            Sync(adapter, mapping, store, clock=lambda: t0).run()
            assert tasks() == []  # nothing breached yet
            day = Rescore(adapter, mapping, store, clock=lambda: t0 + timedelta(hours=25)).run()
            made = tasks()
            assert day.sla_tasks == len(made) > 0
            for task in made:
                who = str(task["WhoId"])
                sobject = "Lead" if who.startswith("00Q") else "Contact"
                record = sandbox.store.get(sobject, who) or {}
                assert task["OwnerId"] == record["OwnerId"]
                assert task["Priority"] == "High" and task["Status"] == "Not Started"
                assert str(task["Subject"]).startswith("MQL SLA breached: ")
            again = Rescore(adapter, mapping, store, clock=lambda: t0 + timedelta(hours=26)).run()
            assert again.sla_tasks == 0 and len(tasks()) == len(made)
            # the look-up a crashed run relies on finds each task by the key in its body
            leads = [str(t["WhoId"]) for t in made if str(t["WhoId"]).startswith("00Q")][:3]
            fresh = [SlaBreach(rid, None, ("disposition",), t0, "fit A") for rid in leads]
            assert adapter.notify_sla_breaches("lead", fresh[:2], now=t0) == 2
            assert adapter.sla_tasks_present("lead", fresh) == {b.key for b in fresh[:2]}


def test_a_lead_sales_rejects_is_recycled_with_the_reason_and_an_unrejected_one_is_not(tmp_path):
    """Sales closes an MQL as "Closed - Not Converted": the next sync moves it back to
    "Open - Not Contacted" with the reason; a lead closed without ever being an MQL is
    left alone."""
    from datetime import timedelta

    from connector.core.scoring import compile_mapping
    from connector.mapping.loader import load_mapping
    from connector.pipeline.sync import Sync
    from connector.state import StateStore

    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    t0 = datetime.now(UTC)
    with SalesforceSandbox(contacts=300, seed=8) as sandbox:
        adapter = provisioned(sandbox, spec)
        mapping = compile_mapping(spec)
        with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
            Sync(adapter, mapping, store, clock=lambda: t0).run()
            mqls = [s.record_id for s in store.iter_snapshots("salesforce", "lead")
                    if s.stage == "mql"]  # fmt: skip
            never = [s.record_id for s in store.iter_snapshots("salesforce", "lead")
                     if s.stage == "lead" and s.mql_at is None]  # fmt: skip
            assert mqls and never
            rejected, closed = mqls[0], never[0]
            sandbox.store.touch("Lead", rejected, Status="Closed - Not Converted")
            sandbox.store.touch("Lead", closed, Status="Closed - Not Converted")
            later = Sync(adapter, mapping, store, clock=lambda: t0 + timedelta(hours=2)).run()
            assert later.failed == 0 and later.recycled >= 1
        back = sandbox.store.get("Lead", rejected) or {}
        assert back["Status"] == "Open - Not Contacted"
        assert back["MQLSync_Recycle_Reason__c"].startswith("rejected by sales")
        assert back["MQLSync_Recycled_At__c"] is not None
        left = sandbox.store.get("Lead", closed) or {}
        assert left["Status"] == "Closed - Not Converted" and not left["MQLSync_Recycle_Reason__c"]


def test_echoes_of_our_writes_cost_no_activity_reads_yet_a_task_logged_meanwhile_is_read(
    tmp_path,
):
    """Salesforce tells activity changes apart from record changes, so the next sync can
    trust our own write's echo: no activity is read again for it. A Task a rep logs
    between our read and our write still reaches the next sync's record."""
    from datetime import timedelta

    from connector.core.scoring import compile_mapping
    from connector.mapping.loader import load_mapping
    from connector.pipeline.sync import Sync
    from connector.state import StateStore

    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    t0 = datetime.now(UTC)
    with SalesforceSandbox(contacts=300, seed=12) as sandbox:
        adapter = provisioned(sandbox, spec)
        store_ = sandbox.store
        apply = store_.apply_update
        logged: list[str] = []

        def rep_logs_a_call_first(table, i, updates, *, auto_assign):  # type: ignore[no-untyped-def]
            if table.obj.name == "Lead" and not logged:
                who = table.rows[i][table.col["id"]]
                logged.append(store_.add_task(who, subject="Call between read and write"))
                logged.append(who)
            apply(table, i, updates, auto_assign=auto_assign)

        store_.apply_update = rep_logs_a_call_first  # type: ignore[method-assign]
        with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
            sync = Sync(adapter, compile_mapping(spec), store, clock=lambda: t0)
            first = sync.run()
            assert first.written > 0 and len(logged) == 2
            store_.apply_update = apply  # type: ignore[method-assign]
            sandbox.request_log.clear()
            sync.clock = lambda: t0 + timedelta(minutes=15)
            second = sync.run()
            assert second.written == 0
            reads = [e for e in sandbox.request_log.entries() if "FROM+Task+WHERE+WhoId" in e.query]
            assert len(reads) == 1  # only the one record whose Task changed, not every echo
            who = logged[1]
            snap = store.get_snapshots("salesforce", "lead", [who])[who]
            subjects = [a.get("detail", {}).get("subject") for a in snap.record["activities"]]
            assert "Call between read and write" in str(snap.record["activities"]), subjects
