"""Account rules through the sandbox: the company and its engaged contacts (buying group)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.crm.values import parse_instant
from connector.mapping.loader import load_mapping
from connector.pipeline.sync import Sync
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS

ABM = load_mapping(MAPPINGS / "b2b-saas-abm.toml")


def test_engaged_contacts_30d_counts_the_companys_recently_active_contacts(tmp_path):
    with HubSpotSandbox(contacts=200) as sandbox:
        calls = HubSpotCalls(
            sandbox.token, base_url=sandbox.base_url, limiter=RateLimiter(10_000, 10)
        )
        adapter = HubSpotAdapter(calls, ABM, activity_block=1000)
        adapter.provision()
        # make one company a buying group: three of its contacts visit the site today
        client = calls.client
        company = (
            client.crm.associations.v4.batch_api.get_page(
                "contacts",
                "companies",
                batch_input_public_fetch_associations_batch_request={"inputs": [{"id": "1"}]},
            )
            .results[0]
            .to[0]
            .to_object_id
        )
        members = [
            t.to_object_id
            for t in client.crm.associations.v4.batch_api.get_page(
                "companies",
                "contacts",
                batch_input_public_fetch_associations_batch_request={"inputs": [{"id": company}]},
            )
            .results[0]
            .to
        ]
        assert len(members) >= 3
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        for member in members[:3]:
            sandbox.store.touch(
                int(member),
                hs_analytics_last_visit_timestamp=str(now_ms),
                hs_analytics_last_url="https://example.com/pricing",
            )
        with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
            Sync(adapter, compile_mapping(ABM), store).run()
            snaps = store.get_snapshots("hubspot", "contact", [str(m) for m in members])
        since = datetime.now(UTC) - timedelta(days=30)
        dates = adapter.engagement_dates
        expected = 0
        for member in members:
            props = client.crm.contacts.basic_api.get_by_id(
                str(member), properties=dates
            ).properties
            expected += any(
                (at := parse_instant(props.get(d))) is not None and at >= since for d in dates
            )
        for member in members:
            account = snaps[str(member)].record["account"]
            assert account["id"] == str(company)
            assert account["engaged_contacts_30d"] == expected >= 3
            reasons = snaps[str(member)].written["reasons"] or ""
            assert "3+ contacts of the account engaged in the last 30 days +20" in reasons


def test_mapping_without_account_rules_reads_no_companies(rig):
    rig.adapter.provision()
    rig.sandbox.request_log.clear()
    rig.sync.run()
    assert rig.sandbox.request_log.count(path_prefix="/crm/v3/objects/companies") == 0
    assert rig.sandbox.request_log.count(path_prefix="/crm/v4/associations/contacts/companies") == 0
