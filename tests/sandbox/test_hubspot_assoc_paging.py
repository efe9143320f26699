"""Associations v4 batch read pages each input on its own, as HubSpot does.

HubSpot's "Retrieve associations" reference: the `after` of a result's `paging.next` goes
back alongside the `id` (`{"id": …, "after": …}`, the SDK's PublicFetchAssociationsBatchRequest)
for the next page of that object's associations, and `paging` is present only when there are
more pages.  The sandbox serves at most 500 `to` rows per input per page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import hubspot
import pytest
from hubspot.crm.associations.v4 import ApiException

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.hubspot.routes import ASSOC_PAGE_LIMIT

BIG, SMALL, MEETINGS = "5", "6", 1200


@pytest.fixture(scope="module")
def sb():
    with HubSpotSandbox(contacts=40, seed=3) as s:
        at = datetime(2026, 9, 1, tzinfo=UTC)
        for n in range(MEETINGS):
            s.store.add_engagement(int(BIG), "meetings", at + timedelta(minutes=n))
        for n in range(3):
            s.store.add_engagement(int(SMALL), "meetings", at + timedelta(days=n))
        yield s


@pytest.fixture(scope="module")
def hs(sb):
    return hubspot.Client.create(access_token=sb.token, host=sb.base_url)


def expected(sb, contact: str) -> list[str]:
    row = sb.store.tables["contacts"].row_of(contact)
    return sb.store.associated("contacts", "meetings", row)


def read(hs, inputs, **kw):
    return hs.crm.associations.v4.batch_api.get_page(
        "contacts", "meetings",
        batch_input_public_fetch_associations_batch_request={"inputs": inputs}, **kw,
    )  # fmt: skip


def raw(hs, inputs) -> dict:
    response = read(hs, inputs, _preload_content=False)
    return json.loads(response.data)


def test_a_result_holds_at_most_500_rows_and_a_cursor_when_more_remain(sb, hs):
    assert ASSOC_PAGE_LIMIT == 500
    assert len(expected(sb, BIG)) >= MEETINGS
    assert 0 < len(expected(sb, SMALL)) < ASSOC_PAGE_LIMIT
    body = raw(hs, [{"id": BIG}, {"id": SMALL}])
    big, small = body["results"]
    assert big["from"] == {"id": BIG} and len(big["to"]) == ASSOC_PAGE_LIMIT
    assert isinstance(big["paging"]["next"]["after"], str) and big["paging"]["next"]["after"]
    # "The 'paging' field will only be present if there are more pages and absent otherwise."
    assert small["from"] == {"id": SMALL} and "paging" not in small
    assert [str(t["toObjectId"]) for t in small["to"]] == expected(sb, SMALL)


def test_following_the_per_input_cursor_returns_every_association_once(sb, hs):
    got, after, pages = [], None, 0
    while True:
        page = read(hs, [{"id": BIG} if after is None else {"id": BIG, "after": after}])
        (result,) = page.results
        got += [t.to_object_id for t in result.to]
        pages += 1
        if result.paging is None:
            break
        after = result.paging.next.after
    assert pages == 3  # 500 + 500 + the rest
    assert got == expected(sb, BIG) and len(set(got)) == len(got)


def test_cursors_are_per_input_in_one_batch(sb, hs):
    first = read(hs, [{"id": BIG}]).results[0]
    cursor = first.paging.next.after
    page = read(hs, [{"id": SMALL}, {"id": BIG, "after": cursor}])
    by_id = {r._from.id: r for r in page.results}
    assert [t.to_object_id for t in by_id[SMALL].to] == expected(sb, SMALL)
    assert by_id[SMALL].paging is None
    second = [t.to_object_id for t in by_id[BIG].to]
    assert second == expected(sb, BIG)[ASSOC_PAGE_LIMIT : 2 * ASSOC_PAGE_LIMIT]
    assert by_id[BIG].paging.next.after != cursor


def test_a_cursor_the_sandbox_did_not_issue_is_a_400(hs):
    with pytest.raises(ApiException) as err:
        read(hs, [{"id": BIG, "after": "not-a-cursor"}])
    assert err.value.status == 400


def test_more_than_1000_inputs_is_still_a_400(hs):
    with pytest.raises(ApiException) as err:
        read(hs, [{"id": str(i)} for i in range(1, 1002)])
    assert err.value.status == 400
