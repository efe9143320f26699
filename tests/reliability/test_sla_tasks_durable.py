"""SLA breach tasks are owed until they exist: a failed task request is retried next run,
and a request whose answer was lost (a crash after HubSpot created the tasks) never
creates a second task. On the old main both were lost: breaches were kept in memory
until the final flush and a failed batch was only logged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.tasks import REF
from connector.errors import RetriableError
from connector.mapping.loader import parse_mapping
from connector.pipeline.rescore import Rescore
from connector.state import StateStore
from tests.conftest import MAPPINGS
from tests.integration.conftest import Rig, make_rig

T0 = datetime.now(UTC).replace(microsecond=0)
DAY_LATER = T0 + timedelta(hours=25)


@pytest.fixture
def rig(tmp_path) -> Iterator[tuple[Rig, HubSpotAdapter, Rescore]]:
    text = (MAPPINGS / "b2b-saas.toml").read_text() + "\n[lifecycle.sla]\ncreate_task_on_breach = true\n"
    spec = parse_mapping(text, "with-tasks.toml")
    for r in make_rig(tmp_path, 300):
        r.adapter.provision()
        r.sync.clock = lambda: T0
        r.sync.run()  # MQLs now; a day later their handoff and first-touch SLAs breach
        adapter = HubSpotAdapter(r.adapter.calls, spec)
        rescore = Rescore(adapter, compile_mapping(spec), r.store, clock=lambda: DAY_LATER)
        yield r, adapter, rescore


def tasks_per_contact(rig: Rig) -> Counter[str]:
    """Contact id → how many SLA tasks mqlsync created on it (the data has other tasks)."""
    store = rig.sandbox.store
    contacts, tasks = store.tables["contacts"], store.tables["tasks"]
    out: Counter[str] = Counter()
    for row in range(contacts.size):
        for task_id in store.associated("contacts", "tasks", row):
            task_row = tasks.row_of(task_id)
            body = tasks.value(task_row, "hs_task_body") if task_row is not None else None
            if body and REF in body:
                out[contacts.id_of(row)] += 1
    return out


def owed(store: StateStore) -> list[str]:
    return [b.state for b in store.open_breaches("hubspot", "contact")]


def test_a_failed_task_request_is_retried_by_the_next_run(rig):
    r, adapter, rescore = rig
    create = adapter.notify_sla_breaches

    def unavailable(*args, **kwargs):
        raise RetriableError("create SLA tasks: HubSpot server error", status=503)

    adapter.notify_sla_breaches = unavailable  # type: ignore[method-assign]
    failing = rescore.run()
    assert failing.sla_tasks == 0 and tasks_per_contact(r) == Counter()
    breaches = owed(r.store)
    assert breaches and set(breaches) == {"sent"}  # owed, and maybe sent: checked first

    adapter.notify_sla_breaches = create  # type: ignore[method-assign]
    rescore.clock = lambda: DAY_LATER + timedelta(minutes=5)
    retry = rescore.run()
    assert retry.sla_tasks == len(breaches)
    assert owed(r.store) == []
    per_contact = tasks_per_contact(r)
    assert len(per_contact) == len(breaches) and set(per_contact.values()) == {1}


def test_tasks_created_before_a_crash_are_found_not_created_twice(rig):
    r, _, rescore = rig
    mark = r.store.mark_breaches

    def crash_before_done(ids, state):
        if state == "done":
            raise KeyboardInterrupt("killed after HubSpot created the tasks")
        mark(ids, state)

    r.store.mark_breaches = crash_before_done  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        rescore.run()
    r.store.mark_breaches = mark  # type: ignore[method-assign]
    created = tasks_per_contact(r)
    assert created and set(created.values()) == {1}
    assert set(owed(r.store)) == {"sent"}

    rescore.clock = lambda: DAY_LATER + timedelta(minutes=5)
    again = rescore.run()
    assert again.sla_tasks == 0  # found by their key, none requested again
    assert owed(r.store) == []
    assert tasks_per_contact(r) == created
