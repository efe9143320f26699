"""A contact with more associated engagements than one associations page loses none of them.

HubSpot's associations v4 batch read pages each input on its own (`paging.next.after` per
result); the sandbox serves 500 `to` rows a page.  `associated()` must follow those cursors,
re-asking only for the inputs that have one, and stop on a cursor that does not advance.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from connector.crm.hubspot import HubSpotCalls
from connector.crm.hubspot.activities import associated, engagement_activities
from connector.crm.hubspot.search import PaginationLoop
from connector.crm.ratelimit import RateLimiter
from connector.sandbox.hubspot import HubSpotSandbox

BIG, MEETINGS = "7", 1200
ASSOC = "/crm/v4/associations/"
START = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(contacts=60, seed=5) as sb:
        for n in range(MEETINGS):
            sb.store.add_engagement(
                int(BIG), "meetings", START + timedelta(hours=n), hs_meeting_title=f"bulk-{n}"
            )
        yield sb


def make_calls(sb: HubSpotSandbox) -> HubSpotCalls:
    return HubSpotCalls(
        sb.token, base_url=sb.base_url, timeout=10, limiter=RateLimiter(100_000, 10.0)
    )


def assoc_requests(sb: HubSpotSandbox, since: int) -> list[tuple[str, int]]:
    """(path, number of inputs) of the associations calls made after log entry `since`."""
    return [
        (e.path, e.inputs) for e in sb.request_log.entries()[since:] if e.path.startswith(ASSOC)
    ]


def test_all_1200_meetings_of_one_contact_become_meeting_activities(sandbox):
    calls = make_calls(sandbox)
    block = [str(i) for i in range(1, 61)]
    start = len(sandbox.request_log)
    before = calls.calls
    activities = engagement_activities(calls, block, 1000, 100)
    used = calls.calls - before

    row = sandbox.store.tables["contacts"].row_of(BIG)
    meetings_of_big = sandbox.store.associated("contacts", "meetings", row)
    got = [a for a in activities[BIG] if a.type == "meeting"]
    bulk = [a for a in got if str(a.detail["title"]).startswith("bulk-")]
    assert len(bulk) == MEETINGS
    assert {a.detail["title"] for a in bulk} == {f"bulk-{n}" for n in range(MEETINGS)}
    assert {a.at for a in bulk} == {START + timedelta(hours=n) for n in range(MEETINGS)}
    assert len(got) == len(meetings_of_big)  # the synthetic ones too, none twice

    # Meetings: the whole block once, then only the paged contact (500 + 500 + the rest);
    # calls and emails: no contact has a second page, so one call each, as before paging.
    requests = assoc_requests(sandbox, start)
    meetings = [n for path, n in requests if path.endswith("/contacts/meetings/batch/read")]
    assert meetings == [len(block), 1, 1]
    assert [n for path, n in requests if "/meetings/" not in path] == [len(block), len(block)]
    print(f"\nassociations calls: {len(requests)}; all calls for the block: {used}")


def test_no_paging_costs_one_call_per_1000_inputs(sandbox):
    calls = make_calls(sandbox)
    small = [str(i) for i in range(10, 40)]
    start = len(sandbox.request_log)
    links = associated(calls, "meetings", small)
    assert assoc_requests(sandbox, start) == [(f"{ASSOC}contacts/meetings/batch/read", 30)]
    for cid in small:
        row = sandbox.store.tables["contacts"].row_of(cid)
        assert links.get(cid, []) == sandbox.store.associated("contacts", "meetings", row)


def test_paged_inputs_are_batched_at_most_batch_a_call(sandbox):
    calls = make_calls(sandbox)
    start = len(sandbox.request_log)
    links = associated(calls, "meetings", [BIG, "8", "9"], batch=2)
    requests = [n for _, n in assoc_requests(sandbox, start)]
    assert requests == [2, 1, 1, 1]  # [BIG, 8], [9], then BIG's pages two and three
    row = sandbox.store.tables["contacts"].row_of(BIG)
    assert links[BIG] == sandbox.store.associated("contacts", "meetings", row)


class _StuckAssociations:
    """An API stub whose every result says there is a next page at the same cursor."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.requests: list[dict[str, Any]] = []

    def get_page(self, **kw: Any) -> Any:
        body = kw["batch_input_public_fetch_associations_batch_request"]
        self.requests.append(body)
        results = [
            SimpleNamespace(
                _from=SimpleNamespace(id=inp["id"]),
                to=[SimpleNamespace(to_object_id=str(n)) for n in range(self.rows)],
                paging=SimpleNamespace(next=SimpleNamespace(after="stuck")),
            )
            for inp in body["inputs"]
        ]
        return SimpleNamespace(results=results)


def _stub_calls(api: _StuckAssociations) -> Any:
    v4 = SimpleNamespace(batch_api=api)
    client = SimpleNamespace(crm=SimpleNamespace(associations=SimpleNamespace(v4=v4)))
    return SimpleNamespace(client=client, call=lambda _what, fn, /, **kw: fn(**kw))


@pytest.mark.parametrize("rows", [3, 0])
def test_a_cursor_that_does_not_advance_raises_instead_of_looping(rows):
    api = _StuckAssociations(rows)
    with pytest.raises(PaginationLoop):
        associated(_stub_calls(api), "meetings", ["1"])
    assert len(api.requests) <= 2
