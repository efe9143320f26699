"""Signing in to Salesforce from the environment: session id, username/password/token and
the JWT bearer flow, each through simple-salesforce's own login code against the sandbox,
and an expired session renewed mid-run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from connector.cli.app import app
from connector.config import load_settings
from connector.crm.factory import build_adapter
from connector.crm.salesforce.signin import Credentials
from connector.errors import AuthenticationError, ConfigError
from connector.mapping.loader import load_mapping
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.login import (
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    ConnectedApp,
)
from tests.conftest import MAPPINGS

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CONSUMER_KEY = "3MVG9mqlsync.test.consumer"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def sb(key: rsa.RSAPrivateKey) -> Iterator[SalesforceSandbox]:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app_ = ConnectedApp(CONSUMER_KEY, "secret", public.decode())
    with SalesforceSandbox(contacts=60, now=NOW, connected_app=app_) as sandbox:
        yield sandbox


def _config(tmp_path: Path, sb: SalesforceSandbox, *, instance: bool = True) -> Path:
    config = tmp_path / "mqlsync.toml"
    instance_line = f'instance_url = "{sb.instance_url}"\n' if instance else ""
    config.write_text(
        '[crm]\nkind = "salesforce"\n'
        f"[salesforce]\n{instance_line}"
        f'login_url = "{sb.instance_url}"\n'
        f'ca_bundle = "{sb.ca_path}"\n'
        f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        "[limits]\nrequests_per_10s = 10000\n"
    )
    return config


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "MQLSYNC_CONFIG",
        "MQLSYNC_SF_SESSION_ID",
        "MQLSYNC_SF_USERNAME",
        "MQLSYNC_SF_PASSWORD",
        "MQLSYNC_SF_TOKEN",
        "MQLSYNC_SF_CONSUMER_KEY",
        "MQLSYNC_SF_JWT_KEY_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def key_file(path: Path, key: rsa.RSAPrivateKey) -> Path:
    """The private key as the PEM file MQLSYNC_SF_JWT_KEY_FILE names."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _adapter(config: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(config)
    return build_adapter(settings, load_mapping(MAPPINGS / "b2b-saas.toml"))


def test_username_password_token_signs_in_and_syncs(tmp_path, sb, clean_env):
    clean_env.setenv("MQLSYNC_SF_USERNAME", DEFAULT_USERNAME)
    clean_env.setenv("MQLSYNC_SF_PASSWORD", DEFAULT_PASSWORD)
    clean_env.setenv("MQLSYNC_SF_TOKEN", DEFAULT_TOKEN)
    config = _config(tmp_path, sb, instance=False)  # the org's URL comes from the sign-in
    adapter = _adapter(config)
    assert adapter.calls.client.session_id != sb.session_id  # a session of its own
    result = CliRunner().invoke(app, ["sync", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "failed 0" in result.stdout


def test_jwt_bearer_flow_signs_in(tmp_path, sb, key, clean_env):
    pem = key_file(tmp_path / "server.key", key)
    clean_env.setenv("MQLSYNC_SF_USERNAME", DEFAULT_USERNAME)
    clean_env.setenv("MQLSYNC_SF_CONSUMER_KEY", CONSUMER_KEY)
    clean_env.setenv("MQLSYNC_SF_JWT_KEY_FILE", str(pem))
    adapter = _adapter(_config(tmp_path, sb))
    assert adapter.lead_statuses()  # an authenticated REST call works
    assert adapter.write_batch_size == 600  # [salesforce] batch_write_size 200, three a call


def test_a_key_the_connected_app_does_not_know_is_refused_in_one_line(tmp_path, sb, clean_env):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key_file(tmp_path / "other.key", other)
    clean_env.setenv("MQLSYNC_SF_USERNAME", DEFAULT_USERNAME)
    clean_env.setenv("MQLSYNC_SF_CONSUMER_KEY", CONSUMER_KEY)
    clean_env.setenv("MQLSYNC_SF_JWT_KEY_FILE", str(pem))
    with pytest.raises(AuthenticationError, match=r"sign-in \(jwt\) failed: invalid_grant"):
        _adapter(_config(tmp_path, sb))


def test_wrong_password_is_one_line_exit_1(tmp_path, sb, clean_env):
    clean_env.setenv("MQLSYNC_SF_USERNAME", DEFAULT_USERNAME)
    clean_env.setenv("MQLSYNC_SF_PASSWORD", "not-the-password")
    clean_env.setenv("MQLSYNC_SF_TOKEN", DEFAULT_TOKEN)
    result = CliRunner().invoke(app, ["sync", "--once", "--config", str(_config(tmp_path, sb))])
    assert result.exit_code == 1
    assert "INVALID_LOGIN" in result.output and "MQLSYNC_SF_PASSWORD" in result.output
    assert "Traceback" not in result.output and "not-the-password" not in result.output


def test_an_expired_session_is_renewed_once_and_the_call_goes_through(tmp_path, sb, clean_env):
    clean_env.setenv("MQLSYNC_SF_USERNAME", DEFAULT_USERNAME)
    clean_env.setenv("MQLSYNC_SF_PASSWORD", DEFAULT_PASSWORD)
    clean_env.setenv("MQLSYNC_SF_TOKEN", DEFAULT_TOKEN)
    adapter = _adapter(_config(tmp_path, sb))
    first = adapter.calls.client.session_id
    assert sb.expire_sessions() >= 1
    assert adapter.find("lead", "nobody@example.invalid") is None  # a query after expiry
    assert adapter.calls.client.session_id != first


def test_a_ready_session_id_is_not_renewable(sb, clean_env):
    clean_env.setenv("MQLSYNC_SF_SESSION_ID", sb.session_id)
    clean_env.setenv("MQLSYNC_SF_USERNAME", DEFAULT_USERNAME)  # a session id wins
    assert Credentials(session_id="x", username="u", password="p").method == "session"
    assert Credentials(username="u", consumer_key="k", jwt_key_file=Path("k")).method == "jwt"
    with pytest.raises(ConfigError, match="MQLSYNC_SF_SESSION_ID"):
        _ = Credentials(username="u").method


def test_an_unreachable_org_is_named_in_one_line(tmp_path, clean_env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    clean_env.setenv("MQLSYNC_SF_SESSION_ID", "00D!x")
    config = tmp_path / "mqlsync.toml"
    config.write_text(
        '[crm]\nkind = "salesforce"\n'
        f'[salesforce]\ninstance_url = "https://127.0.0.1:{port}"\n'
        f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        "[sync]\nretry_attempts = 1\n"
    )
    result = CliRunner().invoke(app, ["sync", "--once", "--config", str(config)])
    assert result.exit_code == 1
    assert f"connection to https://127.0.0.1:{port} failed" in result.output
    assert "Traceback" not in result.output
