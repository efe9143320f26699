"""``mqlsync run`` assembled: logs, endpoints, alerts and the scheduled jobs of a context.

The CLI calls :func:`run_service` and nothing else, so tests drive the very daemon an
operator runs (with a shorter interval).

After an authentication failure the jobs stop for good (credentials do not fix
themselves). With the endpoints on, the process then stays up answering ``/healthz`` with
503 until it is stopped, and exits 1: an orchestrator's health check shows the problem,
where an exit would only restart the daemon into the same refusal, over and over, each
time knocking on the CRM with bad credentials.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import ExitStack
from datetime import timedelta

from connector.ops.alerts import Alerts
from connector.ops.daemon import Jobs, run_daemon, sync_interval
from connector.ops.endpoints import Endpoints
from connector.ops.health import Health
from connector.ops.logs import configure_logging
from connector.ops.metrics import Metrics
from connector.ops.runner import Context, LiveContext, mapping_path
from connector.ops.watch import DaemonWatch

__all__ = ["build_watch", "run_service"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_POLL_S = 0.2  # a signal handler only sets the event; the wait wakes up to notice it


def build_watch(
    live: LiveContext, interval: timedelta, stack: ExitStack
) -> tuple[DaemonWatch, Endpoints | None]:
    """Health, metrics, alerts and (when a port is set) the endpoint server, entered on
    ``stack`` so they stop when the daemon does."""
    settings = live.context.settings
    crm = settings.crm.kind
    alerts = None
    if settings.alerts.webhook_url:
        alerts = Alerts(settings.alerts.webhook_url, timeout=settings.alerts.timeout_seconds)
        stack.callback(alerts.close)
    watch = DaemonWatch(
        Health(interval),
        Metrics(lambda: live.context.limiter),
        alerts,
        dead_letters=lambda: len(live.context.store.open_dead_letters(crm)),
    )
    obs = settings.observability
    endpoints = None
    if obs.port:
        endpoints = stack.enter_context(Endpoints(obs.host, obs.port, watch.health, watch.metrics))
    return watch, endpoints


def run_service(
    ctx: Context,
    *,
    interval: timedelta | None = None,
    stop: threading.Event | None = None,
    configure_logs: bool = True,
) -> int:
    """Run the daemon on ``ctx`` until SIGTERM (0), ``stop`` (0) or an auth failure (1)."""
    settings = ctx.settings
    if configure_logs:
        configure_logging(settings.logging.format, settings.logging.level)
    stop = stop if stop is not None else threading.Event()
    every = interval if interval is not None else sync_interval(settings)
    live = LiveContext(ctx, mapping_path(settings))
    should_stop = stop.is_set
    jobs = Jobs(
        sync=lambda: live.current().sync().run(should_stop=should_stop),
        rescore=lambda: live.current().rescore().run(should_stop=should_stop),
    )
    with ExitStack() as stack:
        watch, endpoints = build_watch(live, every, stack)
        code = run_daemon(settings, jobs, stop=stop, lock=ctx.lock, watcher=watch, interval=every)
        if code and endpoints is not None and watch.health.auth_failure and not stop.is_set():
            log.critical(
                "jobs stopped: %s/healthz answers 503 until the daemon is stopped", endpoints.url
            )
            _wait_for_stop(stop)
        return code


def _wait_for_stop(stop: threading.Event) -> None:
    """Block until SIGTERM/SIGINT (main thread) or ``stop`` is set."""
    if threading.current_thread() is threading.main_thread():
        received: list[int] = []  # the handler only appends: it may interrupt any bytecode

        def on_signal(signum: int, frame: object) -> None:
            received.append(signum)

        previous = {s: signal.signal(s, on_signal) for s in _SIGNALS}
        try:
            while not received and not stop.wait(_POLL_S):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    else:
        stop.wait()
