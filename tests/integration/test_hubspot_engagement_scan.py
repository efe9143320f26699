"""A first sync reads engagements by type with their contacts inline: same records, fewer calls.

A pull from the epoch lists every meeting, call and email once (CRM v3 objects list, 100 a
page, `associations=contacts`) instead of reading associations v4 per block of 1,000 contacts
and then batch-reading the engagements; an incremental pull keeps the block route.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.hubspot.activities import ENGAGEMENTS
from connector.crm.hubspot.scan import EngagementScan
from connector.crm.ratelimit import RateLimiter
from connector.errors import FatalSyncError
from connector.mapping.loader import load_mapping
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.hubspot.routes import Router
from tests.conftest import MAPPINGS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SPEC = load_mapping(MAPPINGS / "b2b-saas.toml")
N = 1500


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(contacts=N, seed=11) as sb:
        yield sb


def adapter(sb: HubSpotSandbox, **kw: Any) -> HubSpotAdapter:
    calls = HubSpotCalls(sb.token, base_url=sb.base_url, timeout=10, limiter=RateLimiter(10**5, 10))
    return HubSpotAdapter(calls, SPEC, **kw)


def pull(ad: HubSpotAdapter, since: datetime = EPOCH) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {p.record.id: p.record for page in ad.pull("contact", since, now) for p in page.items}


def paths(sb: HubSpotSandbox, since: int) -> list[str]:
    return [e.path for e in sb.request_log.entries()[since:]]


def portal_engagements(sb: HubSpotSandbox) -> dict[str, int]:
    return {kind: sb.store.tables[kind].size for kind in ENGAGEMENTS}


def test_a_first_pull_gives_the_block_routes_records_without_association_reads(sandbox):
    start = len(sandbox.request_log)
    scanned = pull(adapter(sandbox))
    used = paths(sandbox, start)
    blocks = pull(adapter(sandbox, scan_first_sync=False))

    assert scanned.keys() == blocks.keys() and len(scanned) == N
    assert scanned == blocks  # same properties, same activities in the same order
    assert sum(len(r.activities) for r in scanned.values()) > N // 2
    assert not [p for p in used if "/associations/" in p or p.endswith("/batch/read")]
    engagements = portal_engagements(sandbox)
    for kind, size in engagements.items():
        assert used.count(f"/crm/v3/objects/{kind}") == math.ceil(size / 100), kind
    minimum = math.ceil(N / 200) + sum(math.ceil(e / 100) for e in engagements.values())
    assert len(used) == minimum


def test_the_first_pull_needs_fewer_calls_than_reading_by_contact_block(sandbox):
    scan, blocks = adapter(sandbox), adapter(sandbox, scan_first_sync=False)
    pull(scan)
    pull(blocks)
    associations = len(ENGAGEMENTS) * math.ceil(N / 1000)
    assert scan.api_calls <= blocks.api_calls - associations


def test_an_incremental_pull_keeps_reading_by_contact_block(sandbox):
    since = datetime.now(UTC) - timedelta(days=3650)
    start = len(sandbox.request_log)
    records = pull(adapter(sandbox), since)
    used = paths(sandbox, start)
    assert records
    assert not [p for p in used if p.rstrip("/").split("/")[-1] in ENGAGEMENTS]
    assert [p for p in used if "/associations/" in p]


def test_contacts_an_engagement_pages_inline_come_from_the_associations_read(monkeypatch):
    with HubSpotSandbox(contacts=40, seed=3) as sb:
        row = sb.store.tables["contacts"].row_of("9")
        eid = sb.store.add_engagement("9", "meetings", datetime(2026, 5, 1, tzinfo=UTC))
        assert eid in sb.store.associated("contacts", "meetings", row)
        inline = Router._with_assoc

        def paged_for_one(self, table, r, rec, kinds):  # type: ignore[no-untyped-def]
            out = inline(self, table, r, rec, kinds)
            if table.object_type == "meetings" and str(out.get("id")) == eid:
                more = {"after": "x", "link": "?after=x"}
                out["associations"] = {"contacts": {"results": [], "paging": {"next": more}}}
            return out

        monkeypatch.setattr(Router, "_with_assoc", paged_for_one)
        start = len(sb.request_log)
        scanned = pull(adapter(sb))
        used = paths(sb, start)
        blocks = pull(adapter(sb, scan_first_sync=False))
    assert used.count("/crm/v4/associations/meetings/contacts/batch/read") == 1
    assert len(scanned["9"].activities) == len(blocks["9"].activities)
    assert scanned == blocks


def test_the_scan_database_is_dropped_when_the_pull_stops_early(sandbox, monkeypatch):
    made: list[EngagementScan] = []
    real = HubSpotAdapter._scan

    def keep(self: HubSpotAdapter) -> EngagementScan:
        made.append(real(self))
        return made[-1]

    monkeypatch.setattr(HubSpotAdapter, "_scan", keep)
    pages = adapter(sandbox, activity_block=1000).pull("contact", EPOCH, datetime.now(UTC))
    first = next(pages)
    assert first.items and made[0].loaded
    pages.close()
    assert not made[0].loaded


def test_a_list_page_larger_than_hubspots_limit_is_refused(sandbox):
    ad = adapter(sandbox)
    scan = EngagementScan(ad.calls, {"meetings": ["hs_timestamp"]}, page_size=101)
    with pytest.raises(FatalSyncError, match="limit"), scan:
        scan.load()
