"""`python -m connector.sandbox.serve`: the §9 contract lines, official SDKs, 401/429, SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from hubspot import Client
from hubspot.crm.contacts import ApiException
from simple_salesforce import Salesforce, SalesforceExpiredSession

from connector.sandbox.serve import parse_rate, serve


@contextmanager
def served(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start the server in an empty folder; yield it and its first stdout line's words."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.sandbox.serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("SANDBOX "), (line, proc.stderr.read() if proc.poll() else "")
        yield proc, line.split()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop_within_2s(proc: subprocess.Popen[str]) -> str:
    """SIGTERM → exit 0 in < 2 s; return whatever was left on stdout."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 2.0
    assert proc.stdout is not None
    return proc.stdout.read()


def test_hubspot_line_sdk_401_and_sigterm(tmp_path):
    with served(tmp_path, "--crm", "hubspot", "--contacts", "50") as (proc, words):
        assert len(words) == 4 and words[1] == "hubspot"
        base_url, token = words[2], words[3].removeprefix("token=")
        assert words[3].startswith("token=") and token
        assert base_url.startswith("http://127.0.0.1:") and not base_url.endswith("/")
        assert int(base_url.rsplit(":", 1)[1]) > 0  # no --port = a free port, shown

        client = Client.create(access_token=token, host=base_url)
        page = client.crm.contacts.basic_api.get_page(limit=10, properties=["email"])
        assert len(page.results) == 10 and page.paging.next.after

        bad = Client.create(access_token="pat-na1-wrong", host=base_url)
        with pytest.raises(ApiException) as err:
            bad.crm.contacts.basic_api.get_page(limit=1)
        assert err.value.status == 401 and "INVALID_AUTHENTICATION" in err.value.body

        # no --rate = no limit
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            codes = {s.get(f"{base_url}/crm/v3/objects/contacts?limit=1").status_code
                     for _ in range(30)}  # fmt: skip
        assert codes == {200}
        assert stop_within_2s(proc) == ""
        stderr = proc.stderr.read()
        assert f'base_url = "{base_url}"' in stderr and "export MQLSYNC_HUBSPOT_TOKEN=" in stderr
    assert list(tmp_path.iterdir()) == []


def test_hubspot_token_and_port_are_used_verbatim(tmp_path):
    with socket.socket() as sock:  # a port that is free now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with requests.Session() as probe:
        args = ("--crm", "hubspot", "--contacts", "5", "--port", str(port), "--token", "t0k")
        with served(tmp_path, *args) as (proc, words):
            assert words == ["SANDBOX", "hubspot", f"http://127.0.0.1:{port}", "token=t0k"]
            r = probe.get(f"http://127.0.0.1:{port}/crm/v3/objects/contacts",
                          headers={"Authorization": "Bearer t0k"})  # fmt: skip
            assert r.status_code == 200 and len(r.json()["results"]) == 5
            stop_within_2s(proc)


def test_hubspot_rate_limit_burst_gets_429(tmp_path):
    with served(tmp_path, "--crm", "hubspot", "--contacts", "5", "--rate", "5/1") as (proc, words):
        base_url, token = words[2], words[3].removeprefix("token=")
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            replies = [s.get(f"{base_url}/crm/v3/objects/contacts?limit=1") for _ in range(8)]
        assert [r.status_code for r in replies] == [200] * 5 + [429] * 3
        body = replies[-1].json()
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert replies[-1].headers["X-HubSpot-RateLimit-Max"] == "5"
        stop_within_2s(proc)


def test_salesforce_lines_sdk_401_and_sigterm(tmp_path):
    with served(tmp_path, "--crm", "salesforce", "--contacts", "30") as (proc, words):
        assert len(words) == 5 and words[1] == "salesforce"
        url, session_id, ca = words[2], words[3].removeprefix("token="), words[4]
        ca = ca.removeprefix("ca=")
        assert url.startswith("https://127.0.0.1:") and not url.endswith("/")
        bundle = proc.stdout.readline().split()
        assert bundle[0] == "BUNDLE" and os.path.exists(bundle[1]) and os.path.exists(ca)

        def client(sid: str) -> Salesforce:
            session = requests.Session()
            session.verify, session.trust_env = ca, False
            return Salesforce(instance_url=url, session_id=sid, session=session)

        assert client(session_id).query("SELECT COUNT() FROM Lead")["totalSize"] > 0
        with pytest.raises(SalesforceExpiredSession) as err:
            client("00DHs0000000001!wrong").query("SELECT Id FROM Lead LIMIT 1")
        assert err.value.status == 401
        assert stop_within_2s(proc) == ""
        assert not os.path.exists(ca)
        stderr = proc.stderr.read()
        assert f'instance_url = "{url}"' in stderr and "MQLSYNC_SF_SESSION_ID" in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--crm", "hubspot", "--rate", "fast"),
        ("--crm", "hubspot", "--rate", "0/10"),
        ("--crm", "salesforce", "--rate", "100/10"),
        ("--crm", "zoho"),
    ],
)
def test_usage_errors_exit_2_with_empty_stdout(tmp_path, args):
    done = subprocess.run(
        [sys.executable, "-m", "connector.sandbox.serve", *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=20,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == "" and done.stderr


@pytest.mark.parametrize(
    ("text", "expected"), [("100/10", (100, 10.0)), ("5/1", (5, 1.0)), (" 3 / 0.5 ", (3, 0.5))]
)
def test_parse_rate(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "100", "100/", "/10", "a/b", "-1/10", "1/0", "10/10/10"])
def test_parse_rate_rejects(text):
    with pytest.raises(ValueError, match=r"N/SECONDS|must be"):
        parse_rate(text)


def test_serve_validates_before_printing():
    out = io.StringIO()
    with pytest.raises(ValueError, match="one non-empty word"):
        serve("hubspot", token="two words", out=out)
    with pytest.raises(ValueError, match="port"):
        serve("hubspot", port=70000, out=out)
    assert out.getvalue() == ""


def test_mqlsync_sandbox_command_serves_the_same_contract(tmp_path):
    """The real console command (not only the module) prints the line and stops on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--crm", "hubspot", "--contacts", "30", "--token", "t0k"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        assert words[0] == "SANDBOX" and words[1] == "hubspot" and words[3] == "token=t0k"
        page = Client.create(access_token="t0k", host=words[2]).crm.contacts.basic_api.get_page(limit=5)
        assert len(page.results) == 5
        assert stop_within_2s(proc) == ""
        assert list(tmp_path.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_mqlsync_sandbox_rejects_a_bad_rate_as_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "connector", "sandbox", "--crm", "hubspot", "--rate", "fast"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert "N/SECONDS" in result.stderr
