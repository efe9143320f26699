"""Typed daemon configuration: one TOML file, environment overrides, secrets from env only.

Precedence is visible in :meth:`Settings.settings_customise_sources` (style lesson 9):
init arguments > environment (``MQLSYNC_<SECTION>__<KEY>``) > TOML file > defaults. Sections
merge key by key, so ``MQLSYNC_LIMITS__REQUESTS_PER_10S=50`` changes one key only.

Credentials are ``SecretStr`` fields read from ``MQLSYNC_HUBSPOT_TOKEN``,
``MQLSYNC_SF_SESSION_ID`` … and never from the file: config files get copied into tickets
and repositories, so a secret key in one is rejected with the variable to use instead.
Every problem surfaces as :class:`~connector.errors.ConfigError` naming file and key.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "SECRET_ENV_VARS",
    "Settings",
    "env_var",
    "load_settings",
]

ENV_PREFIX = "MQLSYNC_"
CONFIG_ENV = "MQLSYNC_CONFIG"

# Settings field → environment variable; the only way these values get in.
SECRET_ENV_VARS: dict[str, str] = {
    name: f"{ENV_PREFIX}{name.upper()}"
    for name in (
        "hubspot_token",
        "sf_session_id",
        "sf_username",
        "sf_password",
        "sf_token",
        "sf_jwt_key_file",
        "sf_consumer_key",
    )
}
# Keys that look like credentials inside a section, e.g. ``[hubspot] token = "pat-…"``.
_SECRET_SECTION_KEYS: dict[tuple[str, str], str] = {
    ("hubspot", "token"): "hubspot_token",
    ("hubspot", "access_token"): "hubspot_token",
    ("hubspot", "api_key"): "hubspot_token",
    ("hubspot", "hapikey"): "hubspot_token",
    ("salesforce", "session_id"): "sf_session_id",
    ("salesforce", "username"): "sf_username",
    ("salesforce", "password"): "sf_password",
    ("salesforce", "token"): "sf_token",
    ("salesforce", "security_token"): "sf_token",
    ("salesforce", "jwt_key_file"): "sf_jwt_key_file",
    ("salesforce", "private_key"): "sf_jwt_key_file",
    ("salesforce", "consumer_key"): "sf_consumer_key",
}

_config_file: ContextVar[Path | None] = ContextVar("mqlsync_config_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmSection(_Section):
    """Which CRM this daemon syncs."""

    kind: Literal["hubspot", "salesforce"] = "hubspot"


def _http_url(value: str | None) -> str | None:
    """An http(s) URL with a host, refused at load time: a typo such as ``"not a url"``
    would otherwise surface only at the first request, as retried connection errors."""
    if value is None:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class HubSpotSection(_Section):
    """HubSpot API endpoint and request sizes (limits are HubSpot's maxima)."""

    base_url: str = "https://api.hubapi.com"
    _url = field_validator("base_url")(_http_url)
    timeout_seconds: float = Field(default=30.0, gt=0)
    search_page_size: int = Field(default=200, ge=1, le=200)
    batch_read_size: int = Field(default=100, ge=1, le=100)
    batch_write_size: int = Field(default=100, ge=1, le=100)
    association_batch_size: int = Field(default=1000, ge=1, le=1000)


class SalesforceSection(_Section):
    """Salesforce org endpoint; ``ca_bundle`` lets the HTTPS sandbox be trusted."""

    instance_url: str | None = None
    _url = field_validator("instance_url")(_http_url)
    api_version: str = Field(default="59.0", pattern=r"^\d+\.\d$")
    domain: str = "login"
    login_url: str | None = None
    _login_url = field_validator("login_url")(_http_url)
    bulk_threshold: int = Field(default=2000, ge=0)
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    batch_write_size: int = Field(default=200, ge=1, le=200)


class StateSection(_Section):
    """Where watermarks, snapshots, runs and the journal live (a SQLAlchemy URL)."""

    url: str = "sqlite:///mqlsync.db"


class MappingSection(_Section):
    """The scoring mapping file (lifecycle overrides live in it too)."""

    path: Path | None = None


class SyncSection(_Section):
    """Incremental sync tuning."""

    lookback_minutes: int = Field(default=10, ge=0)
    page_size: int = Field(default=200, ge=1, le=2000)
    retry_attempts: int = Field(default=5, ge=1)
    retry_max_wait_seconds: float = Field(default=60.0, gt=0)
    dead_letter_max_attempts: int = Field(default=10, ge=1)


class ScheduleSection(_Section):
    """When the daemon syncs and runs the daily rescore."""

    sync_every_minutes: int = Field(default=15, ge=1)
    rescore_at: dt.time = dt.time(3, 0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)


class LimitsSection(_Section):
    """Client-side API budget: rolling 10 s window and share of the daily quota."""

    requests_per_10s: int = Field(default=100, gt=0)
    daily_budget_share: float = Field(default=0.5, gt=0, le=1)


class LoggingSection(_Section):
    """Daemon log lines: ``auto`` is JSON lines when stderr is not a terminal (a container,
    systemd), readable text on a terminal."""

    format: Literal["auto", "json", "text"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class ObservabilitySection(_Section):
    """The daemon's ``/healthz`` and ``/metrics`` endpoint; port 0 keeps it off."""

    port: int = Field(default=0, ge=0, le=65535)
    host: str = "127.0.0.1"


class AlertsSection(_Section):
    """Where the daemon POSTs a JSON alert (failed run, new dead letters, auth failure,
    SLA breaches); unset = no alerts."""

    webhook_url: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)
    _url = field_validator("webhook_url")(_http_url)


class _SecretFreeTomlSource(TomlConfigSettingsSource):
    """TOML source that refuses credentials, so they can only come from the environment."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        try:
            super().__init__(settings_cls, toml_file=toml_file)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", file=str(toml_file)) from exc
        for key, value in self.toml_data.items():
            if key in SECRET_ENV_VARS:
                raise _secret_in_file(toml_file, key, key)
            if isinstance(value, dict):
                for sub in value:
                    field = _SECRET_SECTION_KEYS.get((key, sub))
                    if field:
                        raise _secret_in_file(toml_file, f"[{key}] {sub}", field)


def _secret_in_file(file: Path, key: str, field: str) -> ConfigError:
    return ConfigError(
        f"secrets are not read from config files; set the environment variable "
        f"{SECRET_ENV_VARS[field]} instead",
        key=key,
        file=str(file),
    )


class Settings(BaseSettings):
    """The whole daemon configuration; see ``config.example.toml``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    crm: CrmSection = CrmSection()
    hubspot: HubSpotSection = HubSpotSection()
    salesforce: SalesforceSection = SalesforceSection()
    state: StateSection = StateSection()
    mapping: MappingSection = MappingSection()
    sync: SyncSection = SyncSection()
    schedule: ScheduleSection = ScheduleSection()
    limits: LimitsSection = LimitsSection()
    logging: LoggingSection = LoggingSection()
    observability: ObservabilitySection = ObservabilitySection()
    alerts: AlertsSection = AlertsSection()

    hubspot_token: SecretStr | None = None
    sf_session_id: SecretStr | None = None
    sf_username: SecretStr | None = None
    sf_password: SecretStr | None = None
    sf_token: SecretStr | None = None
    sf_jwt_key_file: Path | None = None
    sf_consumer_key: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init > environment > TOML file; no dotenv or secrets dir (one place to look)."""
        path = _config_file.get()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, _SecretFreeTomlSource(settings_cls, path))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (else ``$MQLSYNC_CONFIG``, else defaults) plus environment.

    ``overrides`` are init values (highest precedence), e.g. from CLI flags.

    Raises:
        ConfigError: missing/unreadable file, bad TOML, unknown key, bad value or a secret
            in the file; the message names the file (or environment variable) and the key.
    """
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is not None and not path.is_file():
        raise ConfigError("config file not found", file=str(path))
    token = _config_file.set(path)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise _config_error(exc, path, overrides) from None
    finally:
        _config_file.reset(token)
    return _resolve_relative_paths(settings, path)


def env_var(section: str, key: str) -> str:
    """The environment variable that overrides ``[section] key``."""
    return f"{ENV_PREFIX}{section}__{key}".upper()


def _config_error(
    exc: ValidationError, path: Path | None, overrides: dict[str, Any]
) -> ConfigError:
    """Validation errors as ``origin: [section] key: message``, naming where the value came from."""
    problems: list[tuple[str, str, str]] = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        key = _key_name(loc)
        variable = env_var(*loc[:2]) if len(loc) > 1 else f"{ENV_PREFIX}{loc[0]}".upper()
        if loc and loc[0] in overrides:
            origin = "arguments"
        elif variable in os.environ:
            origin, key = "environment", variable
        else:
            origin = str(path) if path else "defaults"
        problems.append((origin, key, _message(err)))
    if len(problems) == 1:
        origin, key, message = problems[0]
        return ConfigError(message, key=key, file=origin)
    return ConfigError("; ".join(f"{o}: {k}: {m}" for o, k, m in problems))


def _key_name(loc: list[str]) -> str:
    if len(loc) == 1:
        return (
            loc[0] if loc[0] in Settings.model_fields and loc[0] not in _SECTIONS else f"[{loc[0]}]"
        )
    return f"[{loc[0]}] {'.'.join(loc[1:])}"


_SECTIONS = frozenset(
    name for name, f in Settings.model_fields.items() if isinstance(f.default, BaseModel)
)


def _message(err: Any) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _resolve_relative_paths(settings: Settings, path: Path | None) -> Settings:
    """Relative file paths written in the config file are relative to that file, not the cwd.

    A daemon started by systemd has an arbitrary working directory; ``path = "b2b.toml"``
    next to the config must still work. Values from env/init keep their cwd meaning.
    """
    if path is None:
        return settings
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    base = path.parent
    mapping, sf = settings.mapping, settings.salesforce
    if _from_file(mapping.path, raw.get("mapping", {}).get("path")):
        mapping = mapping.model_copy(update={"path": base / str(mapping.path)})
    if _from_file(sf.ca_bundle, raw.get("salesforce", {}).get("ca_bundle")):
        sf = sf.model_copy(update={"ca_bundle": base / str(sf.ca_bundle)})
    return settings.model_copy(update={"mapping": mapping, "salesforce": sf})


def _from_file(value: Path | None, in_file: object) -> bool:
    """True when ``value`` is the relative path written in the file (not an override)."""
    return (
        value is not None
        and isinstance(in_file, str)
        and Path(in_file) == value
        and not value.is_absolute()
    )
