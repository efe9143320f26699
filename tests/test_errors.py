"""redact() and the error hierarchy: secrets never survive str()/repr(), context does."""

from __future__ import annotations

import pytest

from connector.errors import (
    AuthenticationError,
    ConfigError,
    DailyLimitExceeded,
    FatalSyncError,
    MappingError,
    MqlsyncError,
    RetriableError,
    SkippableRecordError,
    redact,
    safe_url,
)

SF_SESSION = "00D5g000004XyZaEAK!AQ0AQH7c3Yq.Vb_zR9sKkL2mNpQ-rStUvWx"
PAT = "pat-na1-1b2c3d4e-5f60-7a8b-9c0d-e1f2a3b4c5d6"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
        ("authorization: bearer " + PAT, PAT),
        ("GET /oauth?access_token=s3cr3t&limit=10", "s3cr3t"),
        ('{"access_token": "tok-987", "instance_url": "https://x"}', "tok-987"),
        ("session " + SF_SESSION + " expired", SF_SESSION.split("!")[1]),
        ("Invalid session: " + SF_SESSION, "00D5g000004XyZaEAK!"),
        ("login failed password=hunter2 user=bob", "hunter2"),
        ("password: 'hunter 2'", "hunter 2"),
        ("https://api.hubapi.com/contacts?hapikey=abc123def&count=5", "abc123def"),
        ("MQLSYNC_SF_PASSWORD=hunter2", "hunter2"),
        ("postgresql+psycopg://app:pa55word@db:5432/state", "pa55word"),
        ("token " + PAT + " rejected", PAT),
        ("client_secret=xyz&grant_type=password", "xyz"),
        ("<sessionId>" + SF_SESSION + "</sessionId>", SF_SESSION),
        ("password: hunter", "hunter"),
        ("OAuth abcdef1234 rejected", "abcdef1234"),
    ],
)
def test_redact_removes_secret(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "***" in out


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 429 TEN_SECONDLY_ROLLING at https://api.hubapi.com/crm/v3/objects/contacts/search",
        "record 101: INVALID_EMAIL property email",
        "after=200&limit=100",
        "tokens used: 12",
        # words of a message are not values: only secrets are masked
        "no HubSpot token: export MQLSYNC_HUBSPOT_TOKEN=<private app token>",
        "OAuth authentication failed",
        "Bearer token expired",
    ],
)
def test_redact_keeps_harmless_text(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    once = redact(f"Bearer {PAT} password=x {SF_SESSION}")
    assert redact(once) == once


def test_safe_url_drops_userinfo_and_secret_query_values() -> None:
    url = safe_url("https://u:p@api.example.com:8443/v3/x?hapikey=k1&after=200&access_token=t")
    assert url is not None
    assert "k1" not in url and ":p@" not in url and "t&" not in url and not url.endswith("=t")
    assert "after=200" in url
    assert url.startswith("https://api.example.com:8443/v3/x?")


def test_every_error_str_and_repr_are_redacted() -> None:
    errors: list[MqlsyncError] = [
        FatalSyncError(f"auth failed with Bearer {PAT}"),
        AuthenticationError(f"INVALID_SESSION_ID {SF_SESSION}"),
        RetriableError("boom password=hunter2", status=503),
        SkippableRecordError("7", f"echoed header Authorization: Bearer {PAT}"),
        ConfigError("bad value hapikey=abc", key="[hubspot] base_url", file="c.toml"),
        MappingError("access_token=zzz", file="m.toml", line=3),
    ]
    for err in errors:
        for rendered in (str(err), repr(err)):
            assert PAT not in rendered
            assert "hunter2" not in rendered
            assert SF_SESSION not in rendered
            assert "hapikey=abc" not in rendered
            assert "zzz" not in rendered


def test_retriable_error_carries_context_without_query_secrets() -> None:
    err = RetriableError(
        "rate limited",
        status=429,
        url="https://api.hubapi.com/crm/v3/objects/contacts?hapikey=k&after=5",
        retry_after=1.5,
    )
    assert err.status == 429
    assert err.retry_after == 1.5
    assert err.url is not None and "hapikey=***" in err.url and "after=5" in err.url
    assert "HTTP 429" in str(err)
    assert isinstance(err, MqlsyncError) and not isinstance(err, FatalSyncError)


def test_daily_limit_is_fatal_and_names_policy() -> None:
    err = DailyLimitExceeded("DAILY")
    assert isinstance(err, FatalSyncError)
    assert err.policy == "DAILY"
    assert "DAILY" in str(err)


def test_skippable_record_error_names_record() -> None:
    err = SkippableRecordError("101", "INVALID_OPTION lifecyclestage")
    assert err.record_id == "101"
    assert str(err) == "record 101: INVALID_OPTION lifecyclestage"


def test_config_error_names_file_and_key() -> None:
    err = ConfigError("must be > 0", key="[limits] requests_per_10s", file="c.toml")
    assert str(err) == "c.toml: [limits] requests_per_10s: must be > 0"
    assert str(ConfigError("no config")) == "no config"


def test_config_error_keeps_the_advice_it_gives():
    err = ConfigError(
        "no HubSpot token: export MQLSYNC_HUBSPOT_TOKEN=<private app token>",
        key="MQLSYNC_HUBSPOT_TOKEN",
    )
    assert str(err).endswith("no HubSpot token: export MQLSYNC_HUBSPOT_TOKEN=<private app token>")


def test_mapping_error_renders_file_line() -> None:
    assert str(MappingError("bad regex", file="m.toml", line=12)) == "m.toml:12: bad regex"
    assert str(MappingError("bad regex", file="m.toml")) == "m.toml: bad regex"
