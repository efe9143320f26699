"""Settings: defaults, precedence and merging, env-only secrets, errors naming file and key."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from connector.config import SECRET_ENV_VARS, Settings, load_settings
from connector.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the MQLSYNC_* variables they set."""
    for name in list(os.environ):
        if name.startswith("MQLSYNC_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file() -> None:
    s = load_settings()
    assert s.crm.kind == "hubspot"
    assert s.hubspot.base_url == "https://api.hubapi.com"
    assert s.salesforce.api_version == "59.0"
    assert s.salesforce.ca_bundle is None
    assert s.state.url == "sqlite:///mqlsync.db"
    assert s.mapping.path is None
    assert s.sync.lookback_minutes == 10
    assert s.schedule.sync_every_minutes == 15
    assert s.schedule.rescore_at == dt.time(3, 0)
    assert s.schedule.timezone == "UTC"
    assert s.limits.requests_per_10s == 100
    assert s.limits.daily_budget_share == 0.5
    assert s.hubspot_token is None


def test_file_values_override_defaults_and_keep_other_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[crm]\nkind = "salesforce"\n[hubspot]\ntimeout_seconds = 5\n'
        '[schedule]\nrescore_at = "04:30"\ntimezone = "Europe/Paris"\n',
    )
    s = load_settings(path)
    assert s.crm.kind == "salesforce"
    assert s.hubspot.timeout_seconds == 5
    assert s.hubspot.base_url == "https://api.hubapi.com"
    assert s.schedule.rescore_at == dt.time(4, 30)
    assert str(s.schedule.tz) == "Europe/Paris"


def test_precedence_init_over_env_over_file_merged_per_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "[limits]\nrequests_per_10s = 10\ndaily_budget_share = 0.2\n"
        "[sync]\nlookback_minutes = 3\npage_size = 50\n",
    )
    monkeypatch.setenv("MQLSYNC_LIMITS__REQUESTS_PER_10S", "20")
    monkeypatch.setenv("MQLSYNC_SYNC__LOOKBACK_MINUTES", "4")
    s = load_settings(path, sync={"lookback_minutes": 5})
    assert s.limits.requests_per_10s == 20  # env beats file
    assert s.limits.daily_budget_share == 0.2  # file key kept next to env key
    assert s.sync.lookback_minutes == 5  # init beats env
    assert s.sync.page_size == 50  # file key kept next to init key


def test_config_path_from_env_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[state]\nurl = "sqlite:////var/lib/mqlsync/state.db"\n')
    monkeypatch.setenv("MQLSYNC_CONFIG", str(path))
    assert load_settings().state.url == "sqlite:////var/lib/mqlsync/state.db"
    other = write(tmp_path, '[state]\nurl = "sqlite:///other.db"\n', "o.toml")
    assert load_settings(other).state.url == "sqlite:///other.db"  # explicit path wins


def test_secrets_come_from_env_as_secretstr(monkeypatch: pytest.MonkeyPatch) -> None:
    for field, var in SECRET_ENV_VARS.items():
        monkeypatch.setenv(var, f"value-of-{field}")
    s = load_settings()
    assert s.hubspot_token is not None
    assert s.hubspot_token.get_secret_value() == "value-of-hubspot_token"
    assert s.sf_session_id is not None
    assert s.sf_session_id.get_secret_value() == "value-of-sf_session_id"
    assert s.sf_password is not None
    assert s.sf_password.get_secret_value() == "value-of-sf_password"
    assert s.sf_jwt_key_file == Path("value-of-sf_jwt_key_file")
    assert "value-of-hubspot_token" not in repr(s)
    assert "value-of-sf_password" not in str(s)


@pytest.mark.parametrize(
    ("toml", "key", "var"),
    [
        ('[hubspot]\ntoken = "pat-na1-abc"\n', "[hubspot] token", "MQLSYNC_HUBSPOT_TOKEN"),
        ('[salesforce]\npassword = "hunter2"\n', "[salesforce] password", "MQLSYNC_SF_PASSWORD"),
        ('[salesforce]\nsession_id = "00D"\n', "[salesforce] session_id", "MQLSYNC_SF_SESSION_ID"),
        ('hubspot_token = "pat-na1-abc"\n', "hubspot_token", "MQLSYNC_HUBSPOT_TOKEN"),
        ('sf_token = "t"\n', "sf_token", "MQLSYNC_SF_TOKEN"),
    ],
)
def test_secret_in_file_rejected_with_env_var_to_use(
    tmp_path: Path, toml: str, key: str, var: str
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {key}: secrets are not read from config files")
    assert var in msg
    assert "hunter2" not in msg and "pat-na1-abc" not in msg


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nrequest_per_10s = 5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: [limits] request_per_10s: unknown key"
    assert info.value.key == "[limits] request_per_10s"
    assert info.value.file == str(path)


def test_unknown_section_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[lifecycle]\ncooldown_days = 3\n")
    with pytest.raises(ConfigError, match=r"c\.toml: \[lifecycle\]: unknown key"):
        load_settings(path)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[limits]\nrequests_per_10s = 0\n", "[limits] requests_per_10s: must be > 0"),
        ("[limits]\ndaily_budget_share = 1.5\n", "[limits] daily_budget_share: must be <= 1"),
        ('[crm]\nkind = "pipedrive"\n', "[crm] kind: must be 'hubspot' or 'salesforce'"),
        ('[schedule]\ntimezone = "Mars/Olympus"\n', "[schedule] timezone: unknown time zone"),
        ('[schedule]\nrescore_at = "25:00"\n', "[schedule] rescore_at:"),
        ("[hubspot]\nbatch_write_size = 500\n", "[hubspot] batch_write_size: must be <= 100"),
    ],
)
def test_bad_value_names_file_and_key(tmp_path: Path, toml: str, expected: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQLSYNC_LIMITS__REQUESTS_PER_10S", "-1")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == "environment: MQLSYNC_LIMITS__REQUESTS_PER_10S: must be > 0"


def test_several_errors_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nrequests_per_10s = 0\n[sync]\nbogus = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "[limits] requests_per_10s: must be > 0" in str(info.value)
    assert "[sync] bogus: unknown key" in str(info.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_settings(tmp_path / "nope.toml")
    bad = write(tmp_path, "[crm\nkind=1\n")
    with pytest.raises(ConfigError, match=r"c\.toml: invalid TOML"):
        load_settings(bad)


def test_relative_paths_in_file_resolve_next_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, '[mapping]\npath = "maps/b2b.toml"\n[salesforce]\nca_bundle = "ca.pem"\n'
    )
    s = load_settings(path)
    assert s.mapping.path == tmp_path / "maps/b2b.toml"
    assert s.salesforce.ca_bundle == tmp_path / "ca.pem"
    monkeypatch.setenv("MQLSYNC_MAPPING__PATH", "env.toml")
    assert load_settings(path).mapping.path == Path("env.toml")  # env keeps cwd meaning


def test_example_config_loads_and_documents_every_key() -> None:
    example = REPO / "config.example.toml"
    s = load_settings(example)
    assert s == load_settings().model_copy(
        update={"mapping": s.mapping, "salesforce": s.salesforce}
    )
    text = example.read_text(encoding="utf-8")
    tomllib.loads(text)
    for section, field in Settings.model_fields.items():
        if isinstance(field.default, BaseModel):
            assert f"[{section}]" in text
            for key in type(field.default).model_fields:
                assert f"{key} =" in text, f"[{section}] {key} undocumented"
    for var in SECRET_ENV_VARS.values():
        assert var in text
