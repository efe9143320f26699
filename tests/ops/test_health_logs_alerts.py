"""The pieces of the daemon's observability, alone: health rules on a fake clock, log
scrubbing and formats, and alerts that never block."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from datetime import timedelta

import pytest

from connector.errors import AuthenticationError, FatalSyncError
from connector.ops.alerts import Alerts
from connector.ops.daemon import JobOutcome
from connector.ops.health import Health
from connector.ops.logs import EMAIL_MASK, configure_logging
from tests.ops.helpers import EMAIL, receiver

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"

# -- health -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_healthy_until_three_intervals_pass_without_a_successful_sync():
    clock = Clock()
    health = Health(timedelta(minutes=15), clock=clock)
    assert health.report()[0]  # none due yet
    clock.now += 44 * 60
    assert health.report()[0]
    clock.now += 2 * 60
    healthy, body = health.report()
    assert not healthy and body["status"] == "unhealthy"
    assert "no successful sync" in str(body["reason"])
    health.job_done("sync", JobOutcome("ok", 1.0))
    assert health.report()[0]
    health.job_done("sync", JobOutcome("failed", 1.0, error=FatalSyncError("HTTP 400")))
    clock.now += 44 * 60
    healthy, body = health.report()
    assert healthy and body["last_failure"] == "HTTP 400"  # one failure is not an outage
    clock.now += 2 * 60
    assert not health.report()[0]


def test_an_authentication_failure_is_unhealthy_at_once_and_redacted():
    health = Health(timedelta(minutes=15), clock=Clock())
    error = AuthenticationError(f"HubSpot refused the token Bearer {TOKEN}")
    health.job_done("sync", JobOutcome("failed", 0.1, error=error, fatal=True))
    healthy, body = health.report()
    assert not healthy and str(body["reason"]).startswith("authentication failed")
    assert TOKEN not in json.dumps(body)


def test_a_standby_daemon_is_healthy():
    clock = Clock()
    health = Health(timedelta(minutes=1), clock=clock)
    clock.now += 3600
    health.job_done("sync", JobOutcome("skipped", reason="standby"))
    healthy, body = health.report()
    assert healthy and body["role"] == "standby"


# -- logs -------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging():
    yield
    configure_logging("text", "warning", io.StringIO())


def test_json_lines_mask_tokens_and_email_addresses(restore_logging):
    out = io.StringIO()
    configure_logging("json", "info", out)
    log = logging.getLogger("connector.test")
    log.info("contact wei.cohen1000@riverfield313.com rejected; Authorization: Bearer %s", TOKEN)
    log.warning("sync finished", extra={"written": 3, "who": "ana@example.com"})
    log.debug("not at info level")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and "message" not in first
    assert EMAIL_MASK in first["event"] and TOKEN not in out.getvalue()
    assert not EMAIL.search(out.getvalue())
    assert second["written"] == 3 and second["who"] == EMAIL_MASK
    assert second["level"] == "warning" and second["timestamp"].endswith("Z")


def test_text_format_and_reconfiguring_never_doubles_lines(restore_logging):
    out = io.StringIO()
    configure_logging("json", "info", io.StringIO())
    configure_logging("text", "info", out)
    logging.getLogger("connector.test").info("sync started")
    text = out.getvalue()
    assert text.count("sync started") == 1 and not text.startswith("{")


def test_auto_is_json_off_a_terminal_and_text_on_one(restore_logging):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    pipe, tty = io.StringIO(), Tty()
    configure_logging("auto", "info", pipe)
    logging.getLogger("connector.test").info("hello")
    configure_logging("auto", "info", tty)
    logging.getLogger("connector.test").info("hello")
    assert json.loads(pipe.getvalue())["event"] == "hello"
    assert not tty.getvalue().startswith("{") and "hello" in tty.getvalue()


# -- alerts -----------------------------------------------------------------------------------


def test_a_slow_webhook_never_blocks_the_sender():
    release = threading.Event()
    seen: list[bytes] = []

    def slow_post(url: str, body: bytes, timeout: float) -> None:
        release.wait(10)
        seen.append(body)

    alerts = Alerts("http://127.0.0.1:9/hook", post=slow_post)
    started = time.monotonic()
    for n in range(5):
        alerts.send("run_failed", f"sync failed {n}: contact bob@example.com, token {TOKEN}")
    assert time.monotonic() - started < 0.5
    release.set()
    alerts.close()
    assert len(seen) == 5
    body = json.loads(seen[0])
    assert body["alert"] == "run_failed" and TOKEN not in seen[0].decode()
    assert not EMAIL.search(b"".join(seen).decode())


def test_alerts_reach_a_local_http_server_and_a_dead_one_is_survived(caplog):
    with receiver() as hook:
        alerts = Alerts(hook.url)
        alerts.send("sla_breach", "sync: 2 MQL(s) passed an SLA window", count=2)
        alerts.close()
        assert hook.alerts("sla_breach")[0]["count"] == 2
    dead = Alerts("http://127.0.0.1:9/hook", timeout=1)
    dead.send("run_failed", "x")
    dead.close()
    assert dead.sent == 0 and "alert to 127.0.0.1:9 failed" in caplog.text
