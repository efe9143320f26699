"""Build the configured CRM adapter from settings (the only place that picks a CRM)."""

from __future__ import annotations

from connector.config import Settings
from connector.crm.base import CrmAdapter
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.client import SalesforceCalls
from connector.errors import ConfigError
from connector.mapping.schema import MappingSpec


def build_adapter(settings: Settings, mapping: MappingSpec) -> CrmAdapter:
    """The adapter for `[crm] kind`, sharing one rate limiter for the whole account."""
    limits = settings.limits
    limiter = RateLimiter(
        limits.requests_per_10s, 10.0, daily_budget_share=limits.daily_budget_share
    )
    if settings.crm.kind == "hubspot":
        if settings.hubspot_token is None:
            raise ConfigError(
                "no HubSpot token: export MQLSYNC_HUBSPOT_TOKEN=<private app token>",
                key="MQLSYNC_HUBSPOT_TOKEN",
            )
        hs = settings.hubspot
        calls = HubSpotCalls(
            settings.hubspot_token.get_secret_value(),
            base_url=hs.base_url,
            timeout=hs.timeout_seconds,
            limiter=limiter,
            attempts=settings.sync.retry_attempts,
            max_wait=settings.sync.retry_max_wait_seconds,
        )
        return HubSpotAdapter(
            calls,
            mapping,
            page_size=hs.search_page_size,
            write_batch_size=hs.batch_write_size,
            read_batch_size=hs.batch_read_size,
            association_batch_size=hs.association_batch_size,
        )
    return _salesforce(settings, mapping, limiter)


def _salesforce(settings: Settings, mapping: MappingSpec, limiter: RateLimiter) -> CrmAdapter:
    sf = settings.salesforce
    if sf.instance_url is None:
        raise ConfigError(
            "no Salesforce org: set instance_url (e.g. https://acme.my.salesforce.com, or "
            "the URL `mqlsync sandbox --crm salesforce` prints)",
            key="[salesforce] instance_url",
        )
    if settings.sf_session_id is None:
        raise ConfigError(
            "no Salesforce session: export MQLSYNC_SF_SESSION_ID=<session id> (username/"
            "password and JWT sign-in are not available in this release yet)",
            key="MQLSYNC_SF_SESSION_ID",
        )
    if mapping.lifecycle.sla.create_task_on_breach:
        raise ConfigError(
            "SLA follow-up tasks are not available for Salesforce yet: set "
            "create_task_on_breach = false in the mapping's [lifecycle.sla]",
            key="[lifecycle.sla] create_task_on_breach",
        )
    calls = SalesforceCalls(
        sf.instance_url,
        settings.sf_session_id.get_secret_value(),
        version=sf.api_version,
        ca_bundle=sf.ca_bundle,
        timeout=sf.timeout_seconds,
        limiter=limiter,
        attempts=settings.sync.retry_attempts,
        max_wait=settings.sync.retry_max_wait_seconds,
    )
    return SalesforceAdapter(calls, mapping)
