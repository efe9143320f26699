"""One contract for every CRM adapter, against its sandbox, through the `CrmAdapter`
Protocol only: what the pipeline relies on, tested the same way for each CRM.

Each CRM contributes a `Rig`: the adapter, and the few sandbox-side actions a test needs
(edit a record as a rep would, count requests). Everything else is the Protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.crm.base import STAGE_FIELD, CrmAdapter, Patch, Pulled
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.client import SalesforceCalls
from connector.mapping.loader import load_mapping
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from tests.conftest import MAPPINGS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Rig:
    adapter: CrmAdapter
    obj: str
    requests: Callable[[], int]
    """Requests the sandbox has answered so far."""
    edit: Callable[[str], None]
    """Change a record as a rep would (its modified time moves)."""
    records: int
    mql_dates: bool = False
    """The CRM keeps its own date of becoming an MQL (HubSpot does, Salesforce does not)."""


def _hubspot(tmp_path: Path) -> Iterator[Rig]:
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    with HubSpotSandbox(contacts=150, seed=5) as sandbox:
        calls = HubSpotCalls(
            sandbox.token, base_url=sandbox.base_url, limiter=RateLimiter(100_000, 10.0)
        )
        adapter = HubSpotAdapter(calls, spec, page_size=50, activity_block=1000)

        def edit(rid: str) -> None:
            sandbox.store.touch(int(rid), jobtitle="VP Revenue")

        yield Rig(adapter, "contact", lambda: len(sandbox.request_log), edit, 150, mql_dates=True)


def _salesforce(tmp_path: Path) -> Iterator[Rig]:
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    with SalesforceSandbox(contacts=300, seed=5, provisioned=False) as sandbox:
        calls = SalesforceCalls(
            sandbox.instance_url, sandbox.session_id, ca_bundle=sandbox.ca_path,
            limiter=RateLimiter(100_000, 10.0),
        )  # fmt: skip
        adapter = SalesforceAdapter(calls, spec, page_size=200)
        table = sandbox.store.tables["Lead"]
        converted = table.col["isconverted"]
        leads = sum(1 for row in table.rows if not row[converted])

        def edit(rid: str) -> None:
            sandbox.store.touch("Lead", rid, Title="VP Revenue")

        yield Rig(adapter, "lead", lambda: len(sandbox.request_log), edit, leads)


RIGS = {"hubspot": _hubspot, "salesforce": _salesforce}


@pytest.fixture(params=sorted(RIGS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    yield from RIGS[request.param](tmp_path)


def pulled(rig: Rig, since: datetime = EPOCH) -> list[Pulled]:
    now = datetime.now(UTC)
    return [item for page in rig.adapter.pull(rig.obj, since, now) for item in page.items]


def test_provision_is_idempotent(rig: Rig) -> None:
    first = rig.adapter.provision()
    assert first.created and not first.problems
    again = rig.adapter.provision()
    assert not again.created and not again.problems and again.existing


def test_pull_pages_every_record_once_with_current_values(rig: Rig) -> None:
    rig.adapter.provision()
    items = pulled(rig)
    ids = [i.record.id for i in items]
    assert len(ids) == len(set(ids)) == rig.records
    assert all(i.record.crm == rig.adapter.kind for i in items)
    assert all(i.modified_at.tzinfo is not None for i in items)
    assert all(STAGE_FIELD in i.current and "fit" in i.current for i in items)


def after_a_full_pull(rig: Rig) -> tuple[list[Pulled], datetime]:
    """Every record, and a moment after which nothing has changed yet."""
    items = pulled(rig)
    since = datetime.now(UTC)
    time.sleep(0.01)  # later edits get later modified times
    return items, since


def test_an_incremental_pull_returns_what_changed_since(rig: Rig) -> None:
    rig.adapter.provision()
    items, since = after_a_full_pull(rig)
    target = items[7].record.id
    rig.edit(target)
    assert [i.record.id for i in pulled(rig, since)] == [target]


def test_read_peek_and_find_agree_with_the_pull(rig: Rig) -> None:
    rig.adapter.provision()
    items = {i.record.id: i for i in pulled(rig)}
    some = sorted(items)[:5]
    now = datetime.now(UTC)
    read = {i.record.id: i for p in rig.adapter.read(rig.obj, some, now) for i in p.items}
    assert set(read) == set(some)
    assert all(read[r].record.properties == items[r].record.properties for r in some)
    peeked = rig.adapter.peek(rig.obj, some)
    assert {r: peeked[r].values for r in some} == {r: dict(items[r].current) for r in some}
    email = str(items[some[0]].record.properties["email"])
    assert rig.adapter.find(rig.obj, email) == some[0]
    assert rig.adapter.find(rig.obj, some[1]) == some[1]


def test_a_batch_write_reports_every_record_and_changes_only_them(rig: Rig) -> None:
    rig.adapter.provision()
    everyone = pulled(rig)
    size = min(rig.adapter.write_batch_size, len(everyone) - 1)
    items = everyone[: size + 1]  # one record more than the batch written
    first = items[:size]
    patches = [Patch(rig.obj, i.record.id, {"fit": 42, "grade": "B2"}) for i in first]
    outcomes = rig.adapter.write(rig.obj, patches)
    assert [o.record_id for o in outcomes] == [p.record_id for p in patches]
    assert all(o.error is None and o.modified_at is not None for o in outcomes)
    peeked = rig.adapter.peek(rig.obj, [i.record.id for i in items])
    assert all(peeked[i.record.id].values["fit"] == 42 for i in first)
    assert peeked[items[-1].record.id].values["fit"] != 42


def test_a_move_back_lands_at_the_stage_asked(rig: Rig) -> None:
    rig.adapter.provision()
    target = next(i for i in pulled(rig) if i.current[STAGE_FIELD] in ("lead", "subscriber"))
    rid = target.record.id
    (up,) = rig.adapter.write(rig.obj, [Patch(rig.obj, rid, {STAGE_FIELD: "mql"})])
    assert up.error is None and rig.adapter.peek(rig.obj, [rid])[rid].values[STAGE_FIELD] == "mql"
    back = Patch(rig.obj, rid, {STAGE_FIELD: "lead"}, stage_backward=True)
    (down,) = rig.adapter.write(rig.obj, [back])
    assert down.error is None
    assert rig.adapter.peek(rig.obj, [rid])[rid].values[STAGE_FIELD] == "lead"


def test_our_own_writes_come_back_in_the_next_pull(rig: Rig) -> None:
    rig.adapter.provision()
    items, since = after_a_full_pull(rig)
    rid = items[3].record.id
    rig.adapter.write(rig.obj, [Patch(rig.obj, rid, {"fit": 7})])
    echo = pulled(rig, since)
    assert [i.record.id for i in echo] == [rid] and echo[0].current["fit"] == 7


def test_api_calls_count_every_request(rig: Rig) -> None:
    before_calls, before_requests = rig.adapter.api_calls, rig.requests()
    rig.adapter.provision()
    pulled(rig)
    assert rig.adapter.api_calls - before_calls == rig.requests() - before_requests > 0


def test_records_at_mql_carry_the_crms_own_mql_date_when_it_has_one(rig: Rig) -> None:
    rig.adapter.provision()
    at_mql = [i for i in pulled(rig) if i.current[STAGE_FIELD] in ("mql", "sal")]
    assert at_mql
    assert all(i.crm_mql_at is None or i.crm_mql_at.tzinfo is not None for i in at_mql)
    assert any(i.crm_mql_at is not None for i in at_mql) == rig.mql_dates
