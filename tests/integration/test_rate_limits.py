"""429s from HubSpot are retried with backoff; a DAILY 429 stops the run cleanly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.errors import DailyLimitExceeded
from connector.mapping.loader import load_mapping
from connector.pipeline.sync import Sync
from connector.sandbox.faults import Faults
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS

SPEC = load_mapping(MAPPINGS / "b2b-saas.toml")


def sync_against(sandbox, tmp_path, limiter):
    calls = HubSpotCalls(
        sandbox.token, base_url=sandbox.base_url, limiter=limiter, attempts=8, max_wait=2.0
    )
    adapter = HubSpotAdapter(calls, SPEC, page_size=50)
    adapter.provision()
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    return (
        adapter,
        store,
        Sync(adapter, compile_mapping(SPEC), store, clock=lambda: datetime.now(UTC)),
    )


def test_rolling_window_429s_are_retried_and_the_sync_completes(tmp_path):
    # Our client limit is deliberately looser than the server's. The server's Remaining
    # headers now keep the client under its window, so other apps sharing the account are
    # what still causes 429s: injected ones stand in for them.
    faults = Faults(rate_429=0.15, seed=2)
    with HubSpotSandbox(contacts=150, rate=(15, 1.0), faults=faults) as sandbox:
        _, store, sync = sync_against(sandbox, tmp_path, RateLimiter(1000, 1.0))
        with store:
            summary = sync.run()
        assert summary.pulled == 150 and summary.written == 150 and summary.failed == 0
        assert sandbox.request_log.count(status=429) > 0
        assert summary.api_calls > sandbox.request_log.count(status=200) - 1


def test_client_limiter_keeps_under_the_server_limit(tmp_path):
    with HubSpotSandbox(contacts=100, rate=(20, 1.0)) as sandbox:
        _, store, sync = sync_against(sandbox, tmp_path, RateLimiter(18, 1.0))
        with store:
            sync.run()
        assert sandbox.request_log.count(status=429) == 0


def test_daily_limit_stops_the_run_without_spinning(tmp_path):
    with HubSpotSandbox(contacts=300, daily_limit=10) as sandbox:
        _, store, sync = sync_against(sandbox, tmp_path, RateLimiter(1000, 1.0))
        with store, pytest.raises(DailyLimitExceeded):
            sync.run()
        # The daily-quota headers stop the run before HubSpot's DAILY 429; never a retry after it.
        assert sandbox.request_log.count(status=429) <= 1
        (run,) = store.recent_runs(1)
        assert run.status == "failed" and "daily" in (run.error or "").lower()
        assert store.get_watermark("hubspot", "contact", "lastmodifieddate") is None
