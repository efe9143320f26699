"""What the daemon tells its watcher, and how it logs a run's report (fields, not a repr)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from connector.errors import AuthenticationError
from connector.ops.daemon import JobOutcome, JobRunner, Jobs
from connector.pipeline.steps import RunSummary

UTC = ZoneInfo("UTC")


class Told:
    def __init__(self, fail: bool = False) -> None:
        self.outcomes: list[tuple[str, JobOutcome]] = []
        self.fail = fail

    def job_done(self, name: str, outcome: JobOutcome) -> None:
        self.outcomes.append((name, outcome))
        if self.fail:
            raise RuntimeError("metrics backend down")


def summary() -> RunSummary:
    s = RunSummary(run_id=7, pulled=300, changed=12, written=12, promoted=2, api_calls=9)
    s.routes.update({"B4": 299, "A1": 1})  # a Counter: what used to end up cut in the log
    return s


def test_a_run_report_is_logged_as_fields_and_told_to_the_watcher(caplog):
    told = Told()
    runner = JobRunner(Jobs(summary, lambda: None), tz=UTC, watcher=told)
    with caplog.at_level(logging.INFO, logger="connector.ops.daemon"):
        runner.run_sync()
    record = next(r for r in caplog.records if r.getMessage().startswith("sync finished"))
    assert record.run_id == 7 and record.written == 12 and record.api_calls == 9  # type: ignore[attr-defined]
    assert (
        "pulled 300, changed 12, written 12, promoted 2; 9 API calls (run 7)" in record.getMessage()
    )
    assert "Counter(" not in caplog.text
    [(name, outcome)] = told.outcomes
    assert name == "sync" and outcome.status == "ok" and outcome.result.written == 12  # type: ignore[union-attr]


def test_a_failing_watcher_never_stops_the_jobs(caplog):
    told = Told(fail=True)
    calls: list[int] = []
    runner = JobRunner(Jobs(lambda: calls.append(1), lambda: None), tz=UTC, watcher=told)
    runner.run_sync()
    runner.run_sync()
    assert len(calls) == 2 and len(told.outcomes) == 2
    assert "could not record the sync outcome: metrics backend down" in caplog.text


def test_the_watcher_hears_an_auth_failure_before_the_daemon_shuts_down():
    told = Told()
    order: list[str] = []

    def refuse() -> None:
        raise AuthenticationError("HTTP 401")

    def on_fatal() -> None:
        order.append(f"shutdown after {len(told.outcomes)} outcome(s)")

    runner = JobRunner(Jobs(refuse, lambda: None), tz=UTC, watcher=told, on_fatal=on_fatal)
    runner.run_sync()
    assert order == ["shutdown after 1 outcome(s)"]
    [(_, outcome)] = told.outcomes
    assert outcome.status == "failed" and outcome.fatal and runner.exit_code == 1


def test_a_standby_skip_is_told():
    class Held:
        held = False

        def acquire(self) -> bool:
            return False

        def release(self) -> None:
            pass

    told = Told()
    JobRunner(Jobs(lambda: None, lambda: None), tz=UTC, watcher=told, lock=Held()).run_sync()
    [(_, outcome)] = told.outcomes
    assert outcome.status == "skipped" and outcome.reason == "standby"


class Sent:
    """Stands in for Alerts: keeps (alert, message, fields)."""

    def __init__(self) -> None:
        self.alerts: list[tuple[str, str, dict[str, object]]] = []

    def send(self, alert: str, message: str, **fields: object) -> None:
        self.alerts.append((alert, message, fields))


def test_the_watch_alerts_on_what_needs_a_person():
    from datetime import timedelta

    from connector.ops.health import Health
    from connector.ops.metrics import Metrics
    from connector.ops.watch import DaemonWatch

    sent = Sent()
    watch = DaemonWatch(Health(timedelta(minutes=15)), Metrics(), sent, dead_letters=lambda: 4)  # type: ignore[arg-type]
    quiet = RunSummary(run_id=1, pulled=10, written=3)
    watch.job_done("sync", JobOutcome("ok", 1.0, result=quiet))
    assert sent.alerts == []  # a normal run alerts nobody
    busy = RunSummary(run_id=2, dead_lettered=3, sla_breaches=2)
    watch.job_done("rescore", JobOutcome("ok", 1.0, result=busy))
    watch.job_done("sync", JobOutcome("failed", 1.0, error=RuntimeError("HTTP 503")))
    watch.job_done("sync", JobOutcome("failed", 1.0, error=AuthenticationError("401"), fatal=True))
    watch.job_done("sync", JobOutcome("skipped", reason="standby"))
    assert [(a, f.get("count")) for a, _, f in sent.alerts] == [
        ("dead_letters", 3), ("sla_breach", 2), ("run_failed", None), ("auth_failed", None),
    ]  # fmt: skip
    assert sent.alerts[0][2]["run_id"] == 2 and "rescore: 3 record(s)" in sent.alerts[0][1]
    assert watch.metrics.dead_letters._value.get() == 4  # type: ignore[attr-defined]
