"""Build the configured CRM adapter from settings (the only place that picks a CRM)."""

from __future__ import annotations

from pydantic import SecretStr

from connector.config import Settings
from connector.crm.base import CrmAdapter
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.client import SalesforceCalls, make_session
from connector.crm.salesforce.signin import Credentials, SignIn, forward_sign_in
from connector.errors import ConfigError
from connector.mapping.schema import MappingSpec


def limiter_for(settings: Settings) -> RateLimiter:
    """The account's rate limiter under `[limits]`."""
    limits = settings.limits
    return RateLimiter(limits.requests_per_10s, 10.0, daily_budget_share=limits.daily_budget_share)


def build_adapter(
    settings: Settings, mapping: MappingSpec, limiter: RateLimiter | None = None
) -> CrmAdapter:
    """The adapter for `[crm] kind`, sharing one rate limiter for the whole account.

    Pass `limiter` to keep it across adapters: the daemon rebuilds its adapter when the
    mapping changes, and the day's quota and the 429 history must survive that."""
    limiter = limiter if limiter is not None else limiter_for(settings)
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


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _salesforce(settings: Settings, mapping: MappingSpec, limiter: RateLimiter) -> CrmAdapter:
    """Sign in (session id, JWT or username/password, from the environment) and connect."""
    sf = settings.salesforce
    credentials = Credentials(
        session_id=_secret(settings.sf_session_id),
        username=_secret(settings.sf_username),
        password=_secret(settings.sf_password),
        security_token=_secret(settings.sf_token),
        consumer_key=_secret(settings.sf_consumer_key),
        jwt_key_file=settings.sf_jwt_key_file,
    )
    if credentials.method == "session" and sf.instance_url is None:
        raise ConfigError(
            "no Salesforce org: set instance_url (e.g. https://acme.my.salesforce.com, or "
            "the URL `mqlsync sandbox --crm salesforce` prints)",
            key="[salesforce] instance_url",
        )
    session = make_session(sf.ca_bundle, sf.timeout_seconds)
    if sf.login_url is not None:
        forward_sign_in(session, sf.domain, sf.login_url, sf.timeout_seconds)
    sign_in = SignIn(credentials, session, domain=sf.domain, version=sf.api_version)
    session_id = sign_in.session_id()
    instance_url = sf.instance_url or f"https://{sign_in.instance}"
    calls = SalesforceCalls(
        instance_url,
        session_id,
        version=sf.api_version,
        timeout=sf.timeout_seconds,
        limiter=limiter,
        attempts=settings.sync.retry_attempts,
        max_wait=settings.sync.retry_max_wait_seconds,
        refresh=sign_in.refresh(),
        session=session,
    )
    return SalesforceAdapter(
        calls,
        mapping,
        bulk_threshold=sf.bulk_threshold,
        collection_size=sf.batch_write_size,
    )
