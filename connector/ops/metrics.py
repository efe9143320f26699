"""Prometheus metrics of the daemon, in a registry of its own.

Rules, and why:

- A registry per daemon (not the library's global one), so tests can build as many as
  they like and ``/metrics`` shows mqlsync's series only.
- Run counters move when a run ends, from its :class:`~connector.ops.daemon.RunReport`;
  API traffic (calls, 429s, retries, the day's quota) is read from the account's rate
  limiter when scraped, so a long run is visible while it goes on.
- The API budget left is mqlsync's share of the CRM's daily quota minus what the CRM says
  is used today; it is absent until the CRM has reported its quota (HubSpot and
  Salesforce do on every answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.crm.ratelimit import RateLimiter
from connector.ops.daemon import JobOutcome, RunReport

__all__ = ["DURATION_BUCKETS", "Metrics"]

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class _ApiCollector(Collector):
    """API traffic and quota, read from the current limiter at scrape time."""

    def __init__(self, limiter: Callable[[], RateLimiter | None]) -> None:
        self._limiter = limiter

    def collect(self) -> Iterator[Metric]:
        limiter = self._limiter()
        if limiter is None:
            return
        yield CounterMetricFamily(
            "mqlsync_api_calls", "HTTP requests sent to the CRM", value=limiter.acquired
        )
        yield CounterMetricFamily(
            "mqlsync_rate_limited", "HTTP 429 answers from the CRM", value=limiter.throttled
        )
        yield CounterMetricFamily(
            "mqlsync_retries", "CRM calls sent again after a 429 or a failure",
            value=limiter.retried,
        )  # fmt: skip
        usage = limiter.daily_usage
        if usage is None:
            return
        share = limiter.daily_budget_share or 1.0
        yield GaugeMetricFamily(
            "mqlsync_api_daily_used", "API calls used today, as the CRM reports", value=usage.used
        )
        yield GaugeMetricFamily(
            "mqlsync_api_budget_remaining",
            "API calls left today within mqlsync's share of the daily quota",
            value=max(0.0, share * usage.limit - usage.used),
        )


class Metrics:
    """The daemon's series; :meth:`job_done` is called with every job's outcome."""

    def __init__(
        self,
        limiter: Callable[[], RateLimiter | None] = lambda: None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        r = self.registry
        self.runs = Counter(
            "mqlsync_runs", "Runs by kind and status", ["kind", "status"], registry=r
        )
        self.written = Counter("mqlsync_records_written", "Records written to the CRM", registry=r)
        self.failed = Counter("mqlsync_records_failed", "Record writes the CRM refused", registry=r)
        self.dead_lettered = Counter(
            "mqlsync_records_dead_lettered", "Records sent to the dead letter", registry=r
        )
        self.promoted = Counter("mqlsync_mqls_promoted", "Records promoted to MQL", registry=r)
        self.recycled = Counter(
            "mqlsync_mqls_recycled", "MQLs recycled back to nurture", registry=r
        )
        self.duration = Histogram(
            "mqlsync_run_duration_seconds", "Run duration by kind", ["kind"],
            buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.last_success = Gauge(
            "mqlsync_last_success_timestamp_seconds",
            "Unix time of the last successful sync",
            registry=r,
        )
        self.dead_letters = Gauge(
            "mqlsync_dead_letters", "Open dead letters in the state store", registry=r
        )
        r.register(_ApiCollector(limiter))

    def job_done(self, name: str, outcome: JobOutcome) -> None:
        """Count a finished (or failed) run; skipped jobs are not runs."""
        if outcome.status == "skipped":
            return
        self.runs.labels(kind=name, status=outcome.status).inc()
        self.duration.labels(kind=name).observe(outcome.seconds)
        if outcome.status == "ok" and name == "sync":
            self.last_success.set(self._clock())
        report = outcome.result
        if isinstance(report, RunReport):
            counts = report.counts()
            self.written.inc(counts.get("written", 0))
            self.failed.inc(counts.get("failed", 0))
            self.dead_lettered.inc(counts.get("dead_lettered", 0))
            self.promoted.inc(counts.get("promoted", 0))
            self.recycled.inc(counts.get("recycled", 0))
