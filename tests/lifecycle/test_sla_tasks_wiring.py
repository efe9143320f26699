"""Opt-in SLA breach tasks: created once per newly breached window, by sync or rescore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter
from connector.mapping.loader import parse_mapping
from connector.pipeline.rescore import Rescore
from connector.pipeline.sync import Sync
from tests.conftest import MAPPINGS
from tests.integration.conftest import make_rig

T0 = datetime.now(UTC).replace(microsecond=0)
TASKS = "/crm/v3/objects/tasks/batch/create"


def test_breaches_create_one_task_per_new_window_and_none_by_default(tmp_path):
    text = (MAPPINGS / "b2b-saas.toml").read_text() + "\n[lifecycle.sla]\ncreate_task_on_breach = true\n"
    spec = parse_mapping(text, "with-tasks.toml")
    for rig in make_rig(tmp_path, 300):
        rig.adapter.provision()
        # default mapping: no tasks, whatever the SLA state
        rig.sync.clock = lambda: T0
        rig.sync.run()
        assert rig.sandbox.request_log.count(path_prefix=TASKS) == 0
        mapping = compile_mapping(spec)
        adapter = HubSpotAdapter(rig.adapter.calls, spec)
        mqls = [s for s in rig.store.iter_snapshots("hubspot") if s.stage == "mql"]
        assert mqls
        # a day later every untouched MQL breached handoff and first touch: tasks via rescore
        day = Rescore(adapter, mapping, rig.store, clock=lambda: T0 + timedelta(hours=25)).run()
        assert day.sla_tasks > 0
        assert day.sla_breaches == day.sla_tasks  # one task per breach, counted for alerts
        assert rig.sandbox.request_log.count(path_prefix=TASKS) == -(-day.sla_tasks // 100)
        # the same breach is not re-notified
        again = Rescore(adapter, mapping, rig.store, clock=lambda: T0 + timedelta(hours=26)).run()
        assert again.sla_tasks == 0 and again.sla_breaches == 0
        # a new window (disposition at 48 h) is
        later = Rescore(adapter, mapping, rig.store, clock=lambda: T0 + timedelta(hours=49)).run()
        assert 0 < later.sla_tasks <= day.sla_tasks
        # a sync that sees nothing new creates no task either
        quiet = Sync(adapter, mapping, rig.store, clock=lambda: T0 + timedelta(hours=49, minutes=5)).run()
        assert quiet.sla_tasks == 0
