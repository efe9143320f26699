"""The daemon: triggers from settings, first sync at start, one job at a time, error policy,
SIGTERM. Fake jobs and clocks; a BackgroundScheduler stands in for the blocking one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import ScheduleSection, Settings
from connector.errors import (
    AuthenticationError,
    DailyLimitExceeded,
    FatalSyncError,
    Interrupted,
)
from connector.ops.daemon import JobRunner, Jobs, build_scheduler, run_daemon

BERLIN = ZoneInfo("Europe/Berlin")


def settings(every: int = 15, at: dtime = dtime(3, 0), tz: str = "UTC") -> Settings:
    return Settings(schedule=ScheduleSection(sync_every_minutes=every, rescore_at=at, timezone=tz))


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class Recorder:
    """Fake job: records calls; optional gate to hold it running; optional errors to raise."""

    def __init__(self, name: str, log: list[str], *errors: BaseException) -> None:
        self.name, self.log, self.errors = name, log, list(errors)
        self.calls = 0
        self.gate: threading.Event | None = None
        self.running = threading.Event()

    def __call__(self) -> str:
        self.calls += 1
        self.log.append(f"{self.name} start")
        self.running.set()
        try:
            if self.gate is not None:
                assert self.gate.wait(5)
            if self.errors:
                raise self.errors.pop(0)
            return f"{self.name} ok"
        finally:
            self.log.append(f"{self.name} end")
            self.running.clear()


@pytest.fixture
def background():
    sched = BackgroundScheduler(timezone=ZoneInfo("UTC"))
    yield sched
    if sched.running:
        sched.shutdown(wait=True)


# -- triggers ---------------------------------------------------------------------------------


def test_triggers_follow_the_schedule_settings():
    sched = build_scheduler(
        settings(every=7, at=dtime(2, 30), tz="Europe/Berlin"),
        Jobs(sync=lambda: None, rescore=lambda: None),
    )
    assert isinstance(sched, BlockingScheduler)
    sync, rescore = sched.get_job("sync"), sched.get_job("rescore")
    assert isinstance(sync.trigger, IntervalTrigger)
    assert sync.trigger.interval == timedelta(minutes=7)
    assert isinstance(rescore.trigger, CronTrigger)
    assert str(rescore.trigger.timezone) == "Europe/Berlin"
    fields = {f.name: str(f) for f in rescore.trigger.fields}
    assert (fields["hour"], fields["minute"], fields["second"]) == ("2", "30", "0")
    nxt = rescore.trigger.get_next_fire_time(None, datetime(2026, 6, 10, 12, tzinfo=BERLIN))
    assert nxt == datetime(2026, 6, 11, 2, 30, tzinfo=BERLIN)  # 00:30 UTC: local time counts
    for job in (sync, rescore):
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time > 0
    assert sync.misfire_grace_time == 7 * 60


def test_first_sync_runs_at_start(background):
    log: list[str] = []
    sync = Recorder("sync", log)
    build_scheduler(settings(every=60), Jobs(sync, Recorder("rescore", log)), scheduler=background)
    background.start()
    wait_for(lambda: log[-1:] == ["sync end"], 3)
    assert sync.calls == 1
    nxt = background.get_job("sync").next_run_time
    assert timedelta(minutes=59) < nxt - datetime.now(ZoneInfo("UTC")) <= timedelta(minutes=60)


# -- one job at a time ------------------------------------------------------------------------


def test_slow_sync_blocks_the_rescore_until_it_ends(background):
    log: list[str] = []
    sync, rescore = Recorder("sync", log), Recorder("rescore", log)
    sync.gate = threading.Event()
    build_scheduler(settings(), Jobs(sync, rescore), scheduler=background)
    background.start()
    assert sync.running.wait(3)
    background.modify_job("rescore", next_run_time=datetime.now(ZoneInfo("UTC")))  # due now
    background.modify_job("sync", next_run_time=datetime.now(ZoneInfo("UTC")))  # and a 2nd sync
    time.sleep(0.3)
    assert log == ["sync start"] and rescore.calls == 0 and sync.calls == 1
    sync.gate.set()
    wait_for(lambda: log[-1:] == ["rescore end"])
    assert log == ["sync start", "sync end", "rescore start", "rescore end"]
    assert sync.calls == 1  # the overlapping sync tick was skipped (max_instances=1)


def test_runner_serialises_jobs_started_from_threads():
    log: list[str] = []
    sync, rescore = Recorder("sync", log), Recorder("rescore", log)
    rescore.gate = threading.Event()
    runner = JobRunner(Jobs(sync, rescore), tz=ZoneInfo("UTC"))
    t1 = threading.Thread(target=runner.run_rescore)
    t1.start()
    assert rescore.running.wait(2)
    t2 = threading.Thread(target=runner.run_sync)
    t2.start()
    time.sleep(0.2)
    assert sync.calls == 0 and not runner.wait_idle(timeout=0.05)
    rescore.gate.set()
    t1.join(2)
    t2.join(2)
    assert log == ["rescore start", "rescore end", "sync start", "sync end"]


# -- error policy -----------------------------------------------------------------------------


def test_a_failing_job_is_logged_redacted_and_the_scheduler_goes_on(background, caplog):
    log: list[str] = []
    leak = RuntimeError("GET /x?access_token=s3cret failed: Authorization: Bearer s3cret")
    sync = Recorder("sync", log, leak, FatalSyncError("HTTP 400 rejected"))
    build_scheduler(settings(), Jobs(sync, Recorder("rescore", log)), scheduler=background)
    with caplog.at_level(logging.INFO, logger="connector.ops.daemon"):
        background.start()
        for calls in (1, 2, 3):
            wait_for(lambda c=calls: sync.calls == c and log[-1:] == ["sync end"])
            if calls < 3:
                background.modify_job("sync", next_run_time=datetime.now(ZoneInfo("UTC")))
    assert background.running
    assert "s3cret" not in caplog.text
    assert "sync failed" in caplog.text and "RuntimeError" in caplog.text
    assert "FatalSyncError: HTTP 400 rejected" in caplog.text
    assert "sync finished" in caplog.text and "sync ok" in caplog.text


def test_authentication_error_stops_the_scheduler(background, caplog):
    log: list[str] = []
    sync = Recorder("sync", log, AuthenticationError("401 INVALID_AUTHENTICATION"))
    build_scheduler(settings(), Jobs(sync, Recorder("rescore", log)), scheduler=background)
    background.start()
    wait_for(lambda: not background.running)
    assert sync.calls == 1
    assert "stopping the daemon" in caplog.text


def test_run_daemon_returns_1_on_authentication_error():
    log: list[str] = []
    sync = Recorder("sync", log, AuthenticationError("bad token pat-na1-12345678-aaaa"))
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(run_daemon(settings(), Jobs(sync, print))))
    t.start()
    t.join(5)
    assert not t.is_alive() and result == [1] and sync.calls == 1


def test_daily_limit_pauses_jobs_until_the_next_day():
    log: list[str] = []
    sync = Recorder("sync", log, DailyLimitExceeded("DAILY"))
    rescore = Recorder("rescore", log)
    now = [datetime(2026, 5, 4, 22, 50, tzinfo=ZoneInfo("UTC"))]
    runner = JobRunner(Jobs(sync, rescore), tz=BERLIN, clock=lambda: now[0])
    runner.run_sync()  # 00:50 Berlin on the 5th: quota spent
    now[0] += timedelta(minutes=15)
    runner.run_sync()
    runner.run_rescore()
    assert (sync.calls, rescore.calls) == (1, 0)
    now[0] = datetime(2026, 5, 5, 21, 59, tzinfo=ZoneInfo("UTC"))  # 23:59 Berlin, same day
    runner.run_sync()
    assert sync.calls == 1
    now[0] = datetime(2026, 5, 5, 22, 0, tzinfo=ZoneInfo("UTC"))  # midnight Berlin: next day
    runner.run_sync()
    runner.run_rescore()
    assert (sync.calls, rescore.calls) == (2, 1) and runner.exit_code == 0


def test_stopped_runner_starts_no_job():
    log: list[str] = []
    runner = JobRunner(Jobs(Recorder("sync", log), Recorder("rescore", log)), tz=BERLIN)
    runner.stop()
    runner.run_sync()
    runner.run_rescore()
    assert log == []


class FakeLock:
    """A lock another process may hold: `free` says whether acquire would succeed."""

    def __init__(self, free: bool) -> None:
        self.free, self.held, self.acquires = free, False, 0

    def acquire(self) -> bool:
        self.acquires += 1
        self.held = self.held or self.free
        return self.held

    def release(self) -> None:
        self.held = False


def test_standby_skips_jobs_until_the_lock_is_free_then_keeps_it(caplog):
    log: list[str] = []
    lock = FakeLock(free=False)
    runner = JobRunner(Jobs(Recorder("sync", log), Recorder("rescore", log)), tz=BERLIN, lock=lock)
    with caplog.at_level(logging.INFO, logger="connector.ops.daemon"):
        runner.run_sync()
        runner.run_rescore()
    assert log == [] and lock.acquires == 2
    assert "standing by, another process holds the lock" in caplog.text
    lock.free = True  # the holder died
    runner.run_sync()
    assert log == ["sync start", "sync end"] and lock.held
    runner.run_sync()
    assert lock.acquires == 3  # kept, not taken again for every run


def test_interrupted_job_is_logged_as_stopped_not_failed(caplog):
    log: list[str] = []
    sync = Recorder("sync", log, Interrupted("stopped on request after 200 record(s)"))
    runner = JobRunner(Jobs(sync, Recorder("rescore", log)), tz=BERLIN)
    with caplog.at_level(logging.INFO, logger="connector.ops.daemon"):
        runner.run_sync()
    assert "sync stopped: stopped on request after 200 record(s)" in caplog.text
    assert "failed" not in caplog.text


# -- signals ----------------------------------------------------------------------------------

DAEMON = textwrap.dedent(
    """
    import sys, time
    from connector.config import ScheduleSection, Settings
    from connector.ops.daemon import Jobs, run_daemon

    def sync():
        print("sync start", flush=True)
        time.sleep(float(sys.argv[1]))
        print("sync end", flush=True)

    settings = Settings(schedule=ScheduleSection(sync_every_minutes=60))
    code = run_daemon(settings, Jobs(sync=sync, rescore=lambda: None))
    print(f"exit {code}", flush=True)
    sys.exit(code)
    """
)


def start_daemon(tmp_path, sync_seconds: float) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MQLSYNC_")}
    return subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(sync_seconds)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip


def test_sigterm_waits_for_the_running_sync_then_exits_0(tmp_path):
    proc = start_daemon(tmp_path, 1.0)
    try:
        assert proc.stdout.readline() == "sync start\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == "sync end\nexit 0\n"
        assert 0.5 < time.monotonic() - started < 3
        assert "SIGTERM: stopping at the running job's next page boundary" in err
        assert "sync finished" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_idle_exits_0_quickly(tmp_path, sig):
    proc = start_daemon(tmp_path, 0.0)
    try:
        assert proc.stdout.readline() == "sync start\n"
        assert proc.stdout.readline() == "sync end\n"
        time.sleep(0.2)
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 2
        assert list(tmp_path.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
