"""The legacy engagements read other HubSpot clients use (Singer's tap-hubspot), over HTTP."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.error import HTTPError

import pytest

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.hubspot.legacy import PORTAL_ID
from connector.sandbox.hubspot.schema import ENGAGEMENT_KINDS

PATH = "/engagements/v1/engagements/modified/after"


@pytest.fixture(scope="module")
def sb() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(contacts=300, seed=11) as s:
        yield s


def get(sb: HubSpotSandbox, path: str, **params: object) -> dict:
    url = f"{sb.base_url}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {sb.token}"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def read_all(sb: HubSpotSandbox, after: object, limit: int) -> tuple[list[dict], int, str]:
    """Every engagement from ``after``, the calls it took and the last cursor."""
    out: list[dict] = []
    calls = 0
    while True:
        page = get(sb, PATH, after=after, limit=limit)
        calls += 1
        out.extend(page["results"])
        after = page["after"]
        if not page["hasMore"]:
            return out, calls, str(after)


def total(sb: HubSpotSandbox) -> int:
    return sum(sb.store.tables[k].size for k in ENGAGEMENT_KINDS)


def test_paging_returns_every_engagement_once_oldest_change_first(sb: HubSpotSandbox) -> None:
    results, calls, _ = read_all(sb, 0, 37)
    ids = [r["engagement"]["id"] for r in results]
    assert len(ids) == len(set(ids)) == total(sb)
    assert calls == -(-total(sb) // 37)
    updated = [r["engagement"]["lastUpdated"] for r in results]
    assert updated == sorted(updated)


def test_an_engagement_carries_its_type_contact_and_v1_metadata(sb: HubSpotSandbox) -> None:
    results, _, _ = read_all(sb, 0, 1000)
    by_type: dict[str, dict] = {}
    for r in results:
        by_type.setdefault(r["engagement"]["type"], r)
    assert {"MEETING", "CALL", "EMAIL", "NOTE"} <= set(by_type)
    meeting = by_type["MEETING"]
    eng = meeting["engagement"]
    assert eng["portalId"] == PORTAL_ID and eng["active"] is True
    assert all(isinstance(eng[k], int) for k in ("id", "createdAt", "lastUpdated", "timestamp"))
    row = sb.store.tables["meetings"].row_of(eng["id"])
    assert row is not None
    contact = sb.store.associated("meetings", "contacts", row)
    assert meeting["associations"]["contactIds"] == [int(c) for c in contact]
    assert meeting["associations"]["companyIds"] == []
    assert isinstance(meeting["metadata"]["startTime"], int)
    assert meeting["metadata"]["title"]
    assert by_type["NOTE"]["metadata"]["body"]


def test_a_time_returns_only_engagements_changed_after_it(sb: HubSpotSandbox) -> None:
    results, _, _ = read_all(sb, 0, 1000)
    middle = results[len(results) // 2]["engagement"]["lastUpdated"]
    later, _, _ = read_all(sb, middle, 100)
    assert later
    assert all(r["engagement"]["lastUpdated"] > middle for r in later)
    assert len(later) == sum(1 for r in results if r["engagement"]["lastUpdated"] > middle)


def test_the_last_cursor_resumes_with_new_changes_only(sb: HubSpotSandbox) -> None:
    _, _, cursor = read_all(sb, 0, 500)
    quiet = get(sb, PATH, after=cursor)
    assert quiet == {"results": [], "hasMore": False, "after": cursor}
    sb.store.add_engagement("3", "calls", datetime.now(UTC), hs_call_title="Follow-up")
    fresh = get(sb, PATH, after=cursor)
    assert [r["metadata"]["title"] for r in fresh["results"]] == ["Follow-up"]
    assert fresh["results"][0]["associations"]["contactIds"] == [3]


@pytest.mark.parametrize(
    ("params", "reason"),
    [({"limit": 1001}, "limit"), ({"limit": 0}, "limit"), ({"after": "bm90LW91cnM"}, "after")],
)
def test_a_bad_limit_or_a_foreign_cursor_is_a_400(
    sb: HubSpotSandbox, params: dict, reason: str
) -> None:
    with pytest.raises(HTTPError) as err:
        get(sb, PATH, **params)
    assert err.value.code == 400
    assert reason in json.loads(err.value.read())["message"]


def test_a_portal_without_custom_objects_lists_no_schemas(sb: HubSpotSandbox) -> None:
    assert get(sb, "/crm/v3/schemas") == {"results": []}
