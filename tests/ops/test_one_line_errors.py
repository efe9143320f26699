"""Operator mistakes end in one line on stderr and exit 1, never a traceback.

Each case runs the real console entry point in a child process, as an operator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MAPPINGS

MAPPING = MAPPINGS / "b2b-saas.toml"
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
# Runs the CLI as if psycopg were not installed (the dev environment has it).
WITHOUT_PSYCOPG = (
    "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg2'] = None; "
    "from connector.cli.app import main; sys.argv[0] = 'mqlsync'; main()"
)


def mqlsync(
    tmp_path: Path, *args: str, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MQLSYNC_")}
    env["MQLSYNC_HUBSPOT_TOKEN"] = TOKEN
    head = ["-c", code] if code else ["-m", "connector"]
    return subprocess.run(
        [sys.executable, *head, *args], capture_output=True, text=True, cwd=tmp_path,
        env=env, timeout=60,
    )  # fmt: skip


def config(tmp_path: Path, **sections: dict[str, object]) -> str:
    body = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "mapping": {"path": str(MAPPING)},
    }
    body.update(sections)
    lines = []
    for name, values in body.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in values.items()]
    (tmp_path / "c.toml").write_text("\n".join(lines).replace("'", '"') + "\n")
    return str(tmp_path / "c.toml")


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert TOKEN not in result.stderr
    return lines[0]


def test_missing_state_directory(tmp_path):
    c = config(tmp_path, state={"url": f"sqlite:///{tmp_path / 'nope' / 'state.db'}"})
    line = one_line_error(mqlsync(tmp_path, "sync", "--once", "--config", c))
    assert f"directory {tmp_path / 'nope'} does not exist" in line


def test_unwritable_state_directory(tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere: stand in a regular file for the directory instead
        (tmp_path / "ro").write_text("")
        c = config(tmp_path, state={"url": f"sqlite:///{tmp_path / 'ro' / 'state.db'}"})
        line = one_line_error(mqlsync(tmp_path, "status", "--config", c))
        assert "does not exist" in line
        return
    (tmp_path / "ro").mkdir(mode=0o555)
    c = config(tmp_path, state={"url": f"sqlite:///{tmp_path / 'ro' / 'state.db'}"})
    line = one_line_error(mqlsync(tmp_path, "status", "--config", c))
    assert "is not writable by this user" in line


def test_default_relative_state_path_in_an_unwritable_working_directory(tmp_path, monkeypatch):
    """The container case: the default sqlite:///mqlsync.db resolved against a directory the
    user cannot write (checked in-process, since root may write anywhere)."""
    from typer.testing import CliRunner

    from connector.cli.app import app
    from connector.state import engine

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine.os, "access", lambda path, mode: False)
    monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
    monkeypatch.delenv("MQLSYNC_STATE__URL", raising=False)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: [state] url: cannot open the state store {tmp_path / 'mqlsync.db'}: "
        f"{tmp_path} is not writable by this user"
    )


def test_postgres_url_without_the_driver_says_which_extra(tmp_path):
    c = config(tmp_path, state={"url": "postgresql://mqlsync@127.0.0.1/mqlsync"})
    line = one_line_error(mqlsync(tmp_path, "status", "--config", c, code=WITHOUT_PSYCOPG))
    assert "pip install 'mqlsync[postgres]'" in line


def test_unreachable_crm_names_the_url(tmp_path):
    c = config(tmp_path, hubspot={"base_url": "http://127.0.0.1:9"}, sync={"retry_attempts": 1})
    line = one_line_error(mqlsync(tmp_path, "sync", "--once", "--config", c))
    assert "http://127.0.0.1:9" in line and "failed" in line


def test_a_base_url_that_is_not_a_url_is_refused_at_config_load(tmp_path):
    c = config(tmp_path, hubspot={"base_url": "not a url"})
    line = one_line_error(mqlsync(tmp_path, "sync", "--once", "--config", c))
    assert line == f"error: {c}: [hubspot] base_url: not an http(s) URL: 'not a url'"


def test_missing_mapping_file_names_the_resolved_path(tmp_path):
    c = config(tmp_path, mapping={"path": "missing.toml"})
    line = one_line_error(mqlsync(tmp_path, "sync", "--once", "--config", c))
    assert line == f"error: [mapping] path: mapping file not found: {tmp_path / 'missing.toml'}"
    assert ":1" not in line


def test_an_observability_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        c = config(tmp_path, observability={"port": port}, logging={"format": "text"})
        line = one_line_error(mqlsync(tmp_path, "run", "--config", c))
    assert line.startswith(f"error: [observability] port: cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("url", ["ftp://x", "http://", "https://exa mple.com"])
def test_alert_webhook_must_be_an_http_url(url):
    from connector.config import Settings
    from connector.errors import ConfigError

    with pytest.raises((ConfigError, ValueError)):
        Settings(alerts={"webhook_url": url})
