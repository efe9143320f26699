"""Hands every job outcome to health, metrics and alerts, and decides what to alert on.

Alert on what needs a person, once per run that shows it:

- ``auth_failed``: the CRM refused the credentials (the daemon stops);
- ``run_failed``: a sync or rescore failed (daily quota spent included);
- ``dead_letters``: a run parked records the CRM keeps refusing;
- ``sla_breach``: MQLs passed an SLA window without sales follow-up.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.errors import redact
from connector.ops.alerts import Alerts
from connector.ops.daemon import JobOutcome, RunReport
from connector.ops.health import Health
from connector.ops.metrics import Metrics

__all__ = ["DaemonWatch"]

# Run counts that call for a person: (count, alert name, what the message says).
_COUNTED = (
    ("dead_lettered", "dead_letters", "record(s) went to the dead letter (see `mqlsync status`)"),
    ("sla_breaches", "sla_breach", "MQL(s) passed an SLA window without follow-up"),
)


class DaemonWatch:
    """The daemon's :class:`~connector.ops.daemon.Watcher`.

    ``dead_letters`` counts the open dead letters (read after every run, from the job's
    thread, for the gauge).
    """

    def __init__(
        self,
        health: Health,
        metrics: Metrics,
        alerts: Alerts | None = None,
        dead_letters: Callable[[], int] | None = None,
    ) -> None:
        self.health = health
        self.metrics = metrics
        self.alerts = alerts
        self._dead_letters = dead_letters

    def job_done(self, name: str, outcome: JobOutcome) -> None:
        """Update health and metrics, then alert if the outcome needs a person."""
        self.health.job_done(name, outcome)
        self.metrics.job_done(name, outcome)
        if self._dead_letters is not None and outcome.status != "skipped":
            self.metrics.dead_letters.set(self._dead_letters())
        if self.alerts is not None:
            self._alert(self.alerts, name, outcome)

    @staticmethod
    def _alert(alerts: Alerts, name: str, outcome: JobOutcome) -> None:
        if outcome.status == "failed":
            error = redact(str(outcome.error))
            kind = type(outcome.error).__name__
            if outcome.fatal:
                alerts.send(
                    "auth_failed",
                    f"{name}: the CRM refused mqlsync's credentials; the daemon stopped: {error}",
                    job=name, error=kind,
                )  # fmt: skip
            else:
                alerts.send("run_failed", f"{name} failed: {error}", job=name, error=kind)
            return
        report = outcome.result
        if outcome.status != "ok" or not isinstance(report, RunReport):
            return
        counts = report.counts()
        for key, alert, what in _COUNTED:
            if counts.get(key):
                alerts.send(
                    alert, f"{name}: {counts[key]} {what}",
                    job=name, run_id=report.run_id, count=counts[key],
                )  # fmt: skip
