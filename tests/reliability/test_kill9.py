"""kill -9 at seeded points of a multi-batch sync: the restart ends where an uninterrupted
run would have, and no CRM field is ever written with two different values.

The sync runs in a child process against the sandbox served by this one. The sandbox
kills the child with SIGKILL when it applies the n-th contact write: either after letting
that request finish (the CRM took the batch, the client died before its state commit) or
instead of it (the client died between batches, or between the clear and the set of a
move back, with part of a batch applied). The same sync is then run again here, with the
clock an hour later, and the CRM compared with a run that was never interrupted: every
field equal, except that a record the killed run never wrote carries the restart's time
in its time fields. A time the killed run did write is never written again with the
restart's (the two-values check), so mql_at and recycled_at are never re-stamped.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.client import SalesforceCalls
from connector.crm.tasks import REF
from connector.crm.values import format_instant, parse_instant
from connector.mapping.loader import load_mapping, parse_mapping
from connector.mapping.schema import MappingSpec
from connector.pipeline.rescore import Rescore
from connector.pipeline.sync import Sync
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS

CONTACTS = 300
SEED = 11
POINTS = 20
DATA_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
T0 = DATA_AT + timedelta(hours=1)
RESTART = T0 + timedelta(hours=1)
TIMES = {"mqlsync_scored_at", "mqlsync_mql_at", "mqlsync_recycled_at"}
FIELDS = (
    "lifecyclestage", "mqlsync_fit", "mqlsync_engagement", "mqlsync_score", "mqlsync_grade",
    "mqlsync_route", "mqlsync_temperature", "mqlsync_reasons", "mqlsync_scored_at",
    "mqlsync_mql_at", "mqlsync_recycle_reason", "mqlsync_recycled_at", "mqlsync_sla",
)  # fmt: skip

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()"
)


def hubspot_adapter(base_url: str, token: str, spec: MappingSpec) -> HubSpotAdapter:
    """The adapter a run uses here: quick retries, no client-side rate limit."""
    calls = HubSpotCalls(
        token, base_url=base_url, timeout=10, limiter=RateLimiter(100_000, 10.0),
        attempts=3, max_wait=0.05,
    )  # fmt: skip
    return HubSpotAdapter(calls, spec)


def sync_once(base_url: str, token: str, db: str, at: datetime = T0) -> None:
    """One sync at `at` (T0 for the child, RESTART for the restart)."""
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    adapter = hubspot_adapter(base_url, token, spec)
    with StateStore.open(f"sqlite:///{db}") as store:
        Sync(adapter, compile_mapping(spec), store, clock=lambda: at).run()


def _child(base_url: str, token: str, db: str) -> None:
    sync_once(base_url, token, db)
    os._exit(0)


TASKS_MAPPING = (MAPPINGS / "b2b-saas.toml").read_text() + (
    "\n[lifecycle.sla]\ncreate_task_on_breach = true\n"
)
DAY_LATER = T0 + timedelta(hours=25)


def rescore_with_tasks(base_url: str, token: str, db: str) -> None:
    """The rescore a day later: every untouched MQL breached its SLA and is owed a task."""
    spec = parse_mapping(TASKS_MAPPING, "with-tasks.toml")
    adapter = hubspot_adapter(base_url, token, spec)
    with StateStore.open(f"sqlite:///{db}") as store:
        Rescore(adapter, compile_mapping(spec), store, clock=lambda: DAY_LATER).run()


def _rescore_child(base_url: str, token: str, db: str) -> None:
    rescore_with_tasks(base_url, token, db)
    os._exit(0)


@dataclass
class Killer:
    """Counts the writes a sandbox applies; kills the child at the n-th, either letting
    that write land (`before=False`) or refusing it. Records every value written per
    field, to check that none takes two values."""

    at: int | None = None
    before: bool = False
    pid: int | None = None
    fired: bool = False
    applied: int = 0
    values: dict[tuple[Any, ...], set[Any]] = field(default_factory=lambda: defaultdict(set))

    def _count(self) -> None:
        self.applied += 1
        if self.at == self.applied and self.pid and not self.fired:
            self.fired = True
            os.kill(self.pid, signal.SIGKILL)
            if self.before:
                raise RuntimeError("client killed before this write")

    def install(self, sandbox: HubSpotSandbox) -> None:
        """Count HubSpot contact updates."""
        apply: Callable[..., bool] = sandbox.store.apply

        def hooked(table: Any, row: int, values: dict[str, str | None]) -> bool:
            if table.object_type == "contacts":
                self._count()
                for name, value in values.items():
                    if not (name == "lifecyclestage" and value is None):  # a clear's first half
                        self.values[(row, name)].add(value)
            return apply(table, row, values)

        sandbox.store.apply = hooked  # type: ignore[method-assign]

    def install_tasks(self, sandbox: HubSpotSandbox) -> None:
        """Count HubSpot task creations instead (SLA follow-up tasks)."""
        create: Callable[..., int] = sandbox.store.create_engagement

        def hooked(kind: str, contact_row: int | None, values: Any) -> int:
            if kind == "tasks":
                self._count()
            return create(kind, contact_row, values)

        sandbox.store.create_engagement = hooked  # type: ignore[method-assign]

    def install_salesforce(self, sandbox: SalesforceSandbox) -> None:
        """Count Salesforce record updates."""
        apply: Callable[..., None] = sandbox.store.apply_update

        def hooked(table: Any, i: int, updates: dict[int, Any], *, auto_assign: bool) -> None:
            self._count()
            for col, value in updates.items():
                self.values[(table.obj.name, i, col)].add(value)
            apply(table, i, updates, auto_assign=auto_assign)

        sandbox.store.apply_update = hooked  # type: ignore[method-assign]


@contextmanager
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(contacts=CONTACTS, seed=SEED, now=DATA_AT) as sb:
        yield sb


def crm_state(sb: HubSpotSandbox) -> dict[str, tuple[str | None, ...]]:
    table = sb.store.tables["contacts"]
    return {
        table.id_of(row): tuple(table.value(row, name) for name in FIELDS)
        for row in range(table.size)
    }


def provision(sb: HubSpotSandbox) -> None:
    hubspot_adapter(sb.base_url, sb.token, load_mapping(MAPPINGS / "b2b-saas.toml")).provision()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    """The CRM after an uninterrupted sync, and how many contact writes it made."""
    db = tmp_path_factory.mktemp("reference") / "state.db"
    with sandbox() as sb:
        provision(sb)
        killer = Killer()
        killer.install(sb)
        sync_once(sb.base_url, sb.token, str(db))
        assert all(len(v) == 1 for v in killer.values.values())
        return crm_state(sb), killer.applied


def _later(value: str | None) -> str | None:
    at = parse_instant(value)
    return None if at is None else format_instant(at + (RESTART - T0))


def same_but_later(got: tuple[str | None, ...], expected: tuple[str | None, ...]) -> bool:
    """Equal, except that a time field may carry the restart's time instead (a record the
    killed run had not written yet); a time taken from the CRM (an adopted MQL date) is
    the same in both."""
    times = [i for i, name in enumerate(FIELDS) if name in TIMES]
    if any(g != e for i, (g, e) in enumerate(zip(got, expected, strict=True)) if i not in times):
        return False
    return all(got[i] in (expected[i], _later(expected[i])) for i in times)


def kill_points() -> list[tuple[float, bool]]:
    rng = random.Random(20261204)
    return [(rng.random(), rng.random() < 0.5) for _ in range(POINTS)]


@pytest.mark.parametrize(("where", "before"), kill_points())
def test_kill9_then_restart_equals_an_uninterrupted_run(
    where: float, before: bool, reference: tuple[dict[str, Any], int], tmp_path: Path
) -> None:
    expected, writes = reference
    assert writes > 2 * 100, "the reference run should span several batches"
    db = tmp_path / "state.db"
    with sandbox() as sb:
        provision(sb)
        killer = Killer(at=1 + int(where * (writes - 1)), before=before)
        killer.install(sb)
        child = multiprocessing.get_context("fork").Process(
            target=_child, args=(sb.base_url, sb.token, str(db))
        )
        child.start()
        killer.pid = child.pid
        child.join(60)
        assert killer.fired and child.exitcode == -signal.SIGKILL

        sync_once(sb.base_url, sb.token, str(db), RESTART)

        got = crm_state(sb)
        diff = {
            rid: (got[rid], expected[rid])
            for rid in expected
            if not same_but_later(got[rid], expected[rid])
        }
        assert not diff, f"{len(diff)} contact(s) differ from the uninterrupted run"
        twice = {k: v for k, v in killer.values.items() if len(v) > 1}
        assert not twice, f"fields written with two different values: {twice}"
        with StateStore.open(f"sqlite:///{db}") as store:
            statuses = [run.status for run in store.recent_runs(5)]
        assert statuses == ["ok", "crashed"]


def sla_tasks(sb: HubSpotSandbox) -> dict[str, int]:
    """Contact id → SLA tasks mqlsync created on it."""
    contacts, tasks = sb.store.tables["contacts"], sb.store.tables["tasks"]
    out: dict[str, int] = {}
    for row in range(contacts.size):
        for task_id in sb.store.associated("contacts", "tasks", row):
            task_row = tasks.row_of(task_id)
            body = tasks.value(task_row, "hs_task_body") if task_row is not None else ""
            if body and REF in body:
                out[contacts.id_of(row)] = out.get(contacts.id_of(row), 0) + 1
    return out


@pytest.fixture(scope="module")
def reference_tasks(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], int]:
    """The SLA tasks after an uninterrupted sync and rescore, and how many were created."""
    db = tmp_path_factory.mktemp("reference-tasks") / "state.db"
    with sandbox() as sb:
        provision(sb)
        sync_once(sb.base_url, sb.token, str(db))
        rescore_with_tasks(sb.base_url, sb.token, str(db))
        tasks = sla_tasks(sb)
        assert tasks and set(tasks.values()) == {1}
        return tasks, sum(tasks.values())


@pytest.mark.parametrize(("where", "before"), [(0.0, True), (0.0, False), (0.99, False)])
def test_kill9_during_sla_task_creation_leaves_one_task_per_breach(
    where: float, before: bool, reference_tasks: tuple[dict[str, int], int], tmp_path: Path
) -> None:
    expected, count = reference_tasks
    db = tmp_path / "state.db"
    with sandbox() as sb:
        provision(sb)
        sync_once(sb.base_url, sb.token, str(db))
        killer = Killer(at=1 + int(where * (count - 1)), before=before)
        killer.install_tasks(sb)
        child = multiprocessing.get_context("fork").Process(
            target=_rescore_child, args=(sb.base_url, sb.token, str(db))
        )
        child.start()
        killer.pid = child.pid
        child.join(60)
        assert killer.fired and child.exitcode == -signal.SIGKILL

        rescore_with_tasks(sb.base_url, sb.token, str(db))  # the restart
        assert sla_tasks(sb) == expected


# -- the same on Salesforce ---------------------------------------------------------------


def sf_sync_once(instance_url: str, session_id: str, ca: str, db: str, at: datetime = T0) -> None:
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    calls = SalesforceCalls(
        instance_url, session_id, ca_bundle=ca, limiter=RateLimiter(100_000, 10.0),
        attempts=3, max_wait=0.05,
    )  # fmt: skip
    with StateStore.open(f"sqlite:///{db}") as store:
        Sync(SalesforceAdapter(calls, spec), compile_mapping(spec), store, clock=lambda: at).run()


def _sf_child(instance_url: str, session_id: str, ca: str, db: str) -> None:
    sf_sync_once(instance_url, session_id, ca, db)
    os._exit(0)


SF_NAMES = ("Status", "MQLSync_Stage__c", "MQLSync_Score__c", "MQLSync_Grade__c",
            "MQLSync_Reasons__c", "MQLSync_MQL_At__c", "MQLSync_Recycled_At__c")  # fmt: skip


def sf_state(sb: SalesforceSandbox) -> dict[str, tuple[Any, ...]]:
    out = {}
    for sobject in ("Lead", "Contact"):
        for rid in sb.store.tables[sobject].by_id:
            record = sb.store.get(sobject, rid) or {}
            out[rid] = tuple(record.get(n) for n in SF_NAMES)
    return out


@pytest.fixture(scope="module")
def sf_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    db = tmp_path_factory.mktemp("sf-reference") / "state.db"
    with SalesforceSandbox(contacts=500, seed=11) as sb:
        killer = Killer()
        killer.install_salesforce(sb)
        sf_sync_once(sb.instance_url, sb.session_id, sb.ca_path, str(db))
        return sf_state(sb), killer.applied


@pytest.mark.parametrize(("where", "before"), kill_points()[:6])
def test_salesforce_kill9_then_restart_equals_an_uninterrupted_run(
    where: float, before: bool, sf_reference: tuple[dict[str, Any], int], tmp_path: Path
) -> None:
    expected, writes = sf_reference
    assert writes > 2 * 200, "the reference run should span several batches"
    db = tmp_path / "state.db"
    with SalesforceSandbox(contacts=500, seed=11) as sb:
        killer = Killer(at=1 + int(where * (writes - 1)), before=before)
        killer.install_salesforce(sb)
        child = multiprocessing.get_context("fork").Process(
            target=_sf_child, args=(sb.instance_url, sb.session_id, sb.ca_path, str(db))
        )
        child.start()
        killer.pid = child.pid
        child.join(60)
        assert killer.fired and child.exitcode == -signal.SIGKILL
        sf_sync_once(sb.instance_url, sb.session_id, sb.ca_path, str(db), RESTART)
        got = sf_state(sb)
        times = {SF_NAMES.index("MQLSync_MQL_At__c"), SF_NAMES.index("MQLSync_Recycled_At__c")}
        later = RESTART - T0
        diff = {
            rid: (got[rid], expected[rid])
            for rid in expected
            if any(
                g != e and not (i in times and g is not None and e is not None and g - e == later)
                for i, (g, e) in enumerate(zip(got[rid], expected[rid], strict=True))
            )
        }
        assert not diff, f"{len(diff)} record(s) differ from the uninterrupted run"
        twice = {k: v for k, v in killer.values.items() if len(v) > 1}
        assert not twice, f"fields written with two different values: {len(twice)}"
