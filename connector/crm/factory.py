"""Build the configured CRM adapter from settings (the only place that picks a CRM)."""

from __future__ import annotations

from connector.config import Settings
from connector.crm.base import CrmAdapter
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
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
    raise ConfigError(
        "Salesforce sync is not available in this release yet (the sandbox is); "
        'use kind = "hubspot"',
        key="[crm] kind",
    )
