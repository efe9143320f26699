"""`python -m connector.sandbox.salesforce.serve`: contract lines, official client, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests
from simple_salesforce import Salesforce


def test_serve_prints_contract_lines_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.sandbox.salesforce.serve", "--contacts", "40",
         "--token", "tok123"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        first = proc.stdout.readline().split()
        second = proc.stdout.readline().split()
        assert first[:2] == ["SANDBOX", "salesforce"] and first[3] == "token=tok123"
        url, ca = first[2], first[4].removeprefix("ca=")
        assert url.startswith("https://127.0.0.1:") and not url.endswith("/")
        assert second[0] == "BUNDLE" and os.path.exists(second[1])
        session = requests.Session()
        session.verify, session.trust_env = ca, False
        sf = Salesforce(instance_url=url, session_id="tok123", session=session)
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 2.0
        assert not os.path.exists(ca)
        assert list(tmp_path.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
