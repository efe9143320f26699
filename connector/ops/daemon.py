"""The long-running ``mqlsync run``: an incremental sync every N minutes, a daily rescore.

Why the job bodies are injected (:class:`Jobs`): the daemon is only about *when* and *how
safely* things run, so it is testable with fake jobs and knows nothing about CRMs.

Rules, and why:

- One lock shared by both jobs: a sync and the rescore write the same CRM fields and state
  rows, so they never overlap; a job that comes due while the other runs waits for it.
- ``max_instances=1`` + ``coalesce=True``: a slow sync is never doubled, and runs missed while
  the process was stalled collapse into one.
- The first sync runs at start, so a restart does not leave the CRM stale for a whole interval.
- A failing job is logged (message redacted) and the daemon carries on, except
  :class:`~connector.errors.AuthenticationError`, which stops it with exit code 1: bad
  credentials do not fix themselves, and retrying every 15 minutes only spams the CRM.
- :class:`~connector.errors.DailyLimitExceeded` pauses both jobs until the next calendar day in
  the schedule's time zone (HubSpot resets at midnight); the first run of that day tries again.
- SIGTERM/SIGINT stop scheduling and set the ``stop`` event the jobs poll between pages:
  a long run commits what it wrote and ends at its next page boundary (instead of being
  killed by the container runtime's grace timeout mid-write), then the daemon returns 0.
- One writer per CRM account (``lock``): before a job, the daemon takes the account's lock
  and keeps it until it exits. A daemon that cannot get it is a hot standby: it logs so,
  skips the job, and tries again at its next interval, so it takes over within one
  interval of the holder's death (the lock dies with its process).
- A job's result that is a :class:`RunReport` is logged as fields (run id, counts, API
  calls), not as its repr: log collectors index fields, and a repr gets cut mid-word.
- Every job's outcome, skips included, goes to the ``watcher`` (health, metrics, alerts);
  a watcher that raises is logged and ignored, since observing must never stop syncing.
- ``stop`` set from outside ends the daemon as a signal does (for embedding and tests).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import Settings
from connector.errors import AuthenticationError, DailyLimitExceeded, Interrupted, redact

__all__ = [
    "RESCORE_MISFIRE_GRACE_S",
    "JobOutcome",
    "JobRunner",
    "Jobs",
    "RunReport",
    "Watcher",
    "build_scheduler",
    "rescore_trigger",
    "run_daemon",
    "sync_interval",
]

logger = logging.getLogger(__name__)

# A rescore delayed by a stalled process (suspend, long sync) is still worth running that day.
RESCORE_MISFIRE_GRACE_S = 6 * 3600
_RESULT_LOG_CHARS = 300
_SIGNAL_POLL_S = 0.2  # SIGTERM must end the daemon within 2 s when idle


class Leadership(Protocol):
    """A non-blocking lock one process at a time may hold (see ``connector.state.lock``)."""

    @property
    def held(self) -> bool: ...

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


@runtime_checkable
class RunReport(Protocol):
    """What a recorded run returns (``RunSummary``): logged and measured field by field."""

    run_id: int | None
    api_calls: int
    seconds: float

    def counts(self) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How one scheduled job ended.

    ``status``: ``ok``, ``failed`` (``fatal`` when it stops the daemon), ``stopped`` (on
    request, at a page boundary) or ``skipped`` (``reason`` says why: standby, daily limit).
    """

    status: Literal["ok", "failed", "stopped", "skipped"]
    seconds: float = 0.0
    result: object = None
    error: BaseException | None = None
    fatal: bool = False
    reason: str = ""


class Watcher(Protocol):
    """Told every job's outcome (see ``connector.ops.watch``)."""

    def job_done(self, name: str, outcome: JobOutcome) -> None: ...


@dataclass(frozen=True)
class Jobs:
    """What the daemon runs; each callable does one complete run and raises on failure."""

    sync: Callable[[], object]
    rescore: Callable[[], object]


class JobRunner:
    """Runs the jobs under one lock with logging and the error policy of this module.

    ``clock`` (aware datetimes) decides the calendar day for the daily-limit pause;
    ``on_fatal`` is called once when an :class:`AuthenticationError` ends the daemon.
    """

    def __init__(
        self,
        jobs: Jobs,
        *,
        tz: ZoneInfo,
        clock: Callable[[], datetime] | None = None,
        on_fatal: Callable[[], None] | None = None,
        lock: Leadership | None = None,
        watcher: Watcher | None = None,
    ) -> None:
        self._jobs = jobs
        self._watcher = watcher
        self._leader = lock
        self._tz = tz
        self._clock = clock or (lambda: datetime.now(tz))
        self._on_fatal = on_fatal
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._paused_day: date | None = None
        self.exit_code = 0

    def run_sync(self) -> None:
        """One incremental sync, as scheduled."""
        self._run("sync", self._jobs.sync)

    def run_rescore(self) -> None:
        """One daily rescore, as scheduled."""
        self._run("rescore", self._jobs.rescore)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """No job body starts after this (a job already running finishes)."""
        self._stopping.set()

    def wait_idle(self, timeout: float = -1) -> bool:
        """Block until no job body is running; False if ``timeout`` seconds passed first."""
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True

    def _today(self) -> date:
        return self._clock().astimezone(self._tz).date()

    def _run(self, name: str, body: Callable[[], object]) -> None:
        if not self._lock.acquire(blocking=False):
            logger.info("%s due: waiting for the running job to finish", name)
            self._lock.acquire()
        try:
            if self._stopping.is_set():
                logger.info("%s skipped: the daemon is stopping", name)
                return
            if self._leader is not None and not self._leader.held:
                if not self._leader.acquire():
                    logger.info(
                        "%s skipped: standing by, another process holds the lock; "
                        "trying again at the next interval", name,
                    )  # fmt: skip
                    self._tell(name, JobOutcome("skipped", reason="standby"))
                    return
                logger.info("took the lock: this process now runs the syncs")
            if self._paused_day is not None and self._paused_day == self._today():
                logger.warning(
                    "%s skipped: the daily API limit was reached today; next try after "
                    "midnight %s", name, self._tz.key,
                )  # fmt: skip
                self._tell(name, JobOutcome("skipped", reason="daily API limit reached"))
                return
            outcome = self._run_body(name, body)
            if outcome is not None:
                self._tell(name, outcome)
        finally:
            self._lock.release()

    def _tell(self, name: str, outcome: JobOutcome) -> None:
        if self._watcher is None:
            return
        try:
            self._watcher.job_done(name, outcome)
        except Exception as exc:  # noqa: BLE001 - observing must never stop the daemon
            logger.warning("could not record the %s outcome: %s", name, redact(str(exc)))

    def _run_body(self, name: str, body: Callable[[], object]) -> JobOutcome | None:
        """Run one job; its outcome, or None when the watcher was already told."""
        logger.info("%s started", name, extra={"job": name})
        started = time.monotonic()
        try:
            result = body()
        except AuthenticationError as exc:
            logger.critical(
                "%s failed: %s; stopping the daemon (exit 1): fix the credentials and restart",
                name, redact(str(exc)), extra={"job": name},
            )  # fmt: skip
            self.exit_code = 1
            self._stopping.set()
            outcome = JobOutcome("failed", time.monotonic() - started, error=exc, fatal=True)
            self._tell(name, outcome)  # before shutting down: health must flip first
            if self._on_fatal is not None:
                self._on_fatal()
            return None
        except Interrupted as exc:
            logger.info("%s stopped: %s", name, redact(str(exc)), extra={"job": name})
            return JobOutcome("stopped", time.monotonic() - started, error=exc)
        except DailyLimitExceeded as exc:
            self._paused_day = self._today()
            logger.warning(
                "%s stopped: %s; syncs and rescores pause until midnight %s",
                name, redact(str(exc)), self._tz.key, extra={"job": name},
            )  # fmt: skip
            return JobOutcome("failed", time.monotonic() - started, error=exc)
        except Exception as exc:  # noqa: BLE001 - any job failure is logged, the daemon goes on
            logger.error(
                "%s failed after %.1f s: %s: %s; the next scheduled run tries again",
                name, time.monotonic() - started, type(exc).__name__, redact(str(exc)),
                extra={"job": name, "error": type(exc).__name__},
            )  # fmt: skip
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s", redact("".join(traceback.format_exception(exc))))
            return JobOutcome("failed", time.monotonic() - started, error=exc)
        seconds = time.monotonic() - started
        _log_finished(name, result, seconds)
        return JobOutcome("ok", seconds, result=result)


def _log_finished(name: str, result: object, seconds: float) -> None:
    """One line per finished job; a :class:`RunReport` as readable text plus fields."""
    if isinstance(result, RunReport):
        counts = result.counts()
        shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)
        logger.info(
            "%s finished in %.1f s: %s; %d API calls (run %s)",
            name, seconds, shown or "nothing to do", result.api_calls, result.run_id,
            extra={
                "job": name, "run_id": result.run_id, "seconds": round(seconds, 3),
                "api_calls": result.api_calls, **counts,
            },
        )  # fmt: skip
        return
    summary = "" if result is None else f": {redact(str(result))[:_RESULT_LOG_CHARS]}"
    logger.info("%s finished in %.1f s%s", name, seconds, summary, extra={"job": name})


def build_scheduler(
    settings: Settings,
    jobs: Jobs,
    *,
    scheduler: BaseScheduler | None = None,
    lock: Leadership | None = None,
    watcher: Watcher | None = None,
) -> BaseScheduler:
    """Add the ``sync`` and ``rescore`` jobs (not started) to ``scheduler``.

    Default: a :class:`BlockingScheduler` in the schedule's time zone. An
    :class:`AuthenticationError` in a job shuts the scheduler down.
    """
    return _assemble(settings, jobs, scheduler, lock, watcher)[0]


def sync_interval(settings: Settings) -> timedelta:
    """Time between two scheduled syncs."""
    return timedelta(minutes=settings.schedule.sync_every_minutes)


def rescore_trigger(settings: Settings) -> CronTrigger:
    """Daily at ``[schedule] rescore_at`` in the schedule's time zone."""
    at, tz = settings.schedule.rescore_at, settings.schedule.tz
    return CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=tz)


def _assemble(
    settings: Settings,
    jobs: Jobs,
    scheduler: BaseScheduler | None,
    lock: Leadership | None,
    watcher: Watcher | None = None,
    interval: timedelta | None = None,
) -> tuple[BaseScheduler, JobRunner]:
    schedule = settings.schedule
    tz = schedule.tz
    sched: BaseScheduler = scheduler if scheduler is not None else BlockingScheduler(timezone=tz)

    def shut_down() -> None:
        # wait=False: called from a job thread, which the executor would otherwise wait for.
        with suppress(SchedulerNotRunningError):
            sched.shutdown(wait=False)

    runner = JobRunner(jobs, tz=tz, on_fatal=shut_down, lock=lock, watcher=watcher)
    every = interval if interval is not None else sync_interval(settings)
    seconds = every.total_seconds()
    sched.add_job(
        runner.run_sync,
        IntervalTrigger(seconds=seconds, timezone=tz),
        id="sync",
        name=f"incremental sync every {seconds / 60:g} min",
        next_run_time=datetime.now(tz),  # first sync at start
        max_instances=1,
        coalesce=True,
        # later than one interval, the next tick is as good
        misfire_grace_time=max(1, int(seconds)),
        replace_existing=True,
    )
    at = schedule.rescore_at
    sched.add_job(
        runner.run_rescore,
        rescore_trigger(settings),
        id="rescore",
        name=f"daily rescore at {at.isoformat()} {tz.key}",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=RESCORE_MISFIRE_GRACE_S,
        replace_existing=True,
    )
    return sched, runner


def run_daemon(
    settings: Settings,
    jobs: Jobs,
    *,
    stop: threading.Event | None = None,
    lock: Leadership | None = None,
    watcher: Watcher | None = None,
    interval: timedelta | None = None,
) -> int:
    """Run the schedule until SIGTERM/SIGINT (→ 0) or rejected credentials (→ 1).

    Blocks. On a signal, no new job starts, ``stop`` is set (jobs poll it between pages)
    and a running job is waited for; setting ``stop`` from outside does the same. With
    ``lock``, jobs run only while this process holds it (released on exit). ``watcher``
    hears every job's outcome; ``interval`` replaces the configured sync interval (tests
    run cycles a second apart). Signal handlers are installed only when called from the
    main thread.

    Why the scheduler loop runs in its own thread while this one polls a flag: a signal
    handler runs on the main thread between any two bytecodes, possibly while that thread
    holds a scheduler or executor lock, so the handler only sets the flag; stopping happens
    here, outside the handler.
    """
    if not logging.getLogger().handlers:  # the CLI may have configured logging already
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # we log each run ourselves
    scheduler, runner = _assemble(settings, jobs, None, lock, watcher, interval)
    received: int | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received = signum  # nothing else: see the docstring

    def stop_if_stopping(_: object) -> None:
        # The flag may have been set before the scheduler was running; stop it now.
        if runner.stopping:
            with suppress(SchedulerNotRunningError):
                scheduler.shutdown(wait=False)

    scheduler.add_listener(stop_if_stopping, EVENT_SCHEDULER_STARTED)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    s = settings.schedule
    every = interval if interval is not None else sync_interval(settings)
    logger.info(
        "daemon started: sync every %g min, rescore daily at %s %s",
        every.total_seconds() / 60, s.rescore_at.isoformat(), s.timezone,
    )  # fmt: skip
    loop = threading.Thread(target=scheduler.start, name="mqlsync-scheduler")
    try:
        loop.start()
        while loop.is_alive():
            loop.join(_SIGNAL_POLL_S)
            asked = stop is not None and stop.is_set()
            if (received is not None or asked) and not runner.stopping:
                logger.info(
                    "%s: stopping at the running job's next page boundary",
                    signal.Signals(received).name if received is not None else "stop requested",
                )
                runner.stop()
                if stop is not None:
                    stop.set()
                stop_if_stopping(None)
        runner.wait_idle()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if lock is not None and lock.held:
            lock.release()
    logger.info("daemon stopped (exit %d)", runner.exit_code)
    return runner.exit_code
