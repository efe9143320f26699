"""The account lock on both backends: one holder at a time, freed when its process dies,
and a standby daemon that takes over."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from connector.errors import LockHeld
from connector.ops.daemon import JobRunner, Jobs
from connector.state import StateStore
from connector.state.lock import AccountLock

ACCOUNT = "hubspot:http://127.0.0.1:1"


def test_one_holder_at_a_time_and_released_on_exit(store: StateStore) -> None:
    first = AccountLock(store.engine, ACCOUNT)
    second = AccountLock(store.engine, ACCOUNT)
    other_account = AccountLock(store.engine, "hubspot:http://127.0.0.1:2")
    with first:
        assert first.held
        assert not second.acquire()
        with pytest.raises(LockHeld, match="another mqlsync process holds the lock"):
            second.__enter__()
        assert other_account.acquire()  # accounts do not block each other
        other_account.release()
        assert first.acquire()  # re-entrant within its holder
        first.release()
        assert first.held
    assert not first.held
    assert second.acquire()
    second.release()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from connector.state import StateStore
    from connector.state.lock import AccountLock
    store = StateStore.open(sys.argv[1])
    lock = AccountLock(store.engine, sys.argv[2])
    assert lock.acquire()
    print("held", flush=True)
    time.sleep(60)
    """
)


def test_a_holder_killed_with_sigkill_frees_the_lock(store_url: str, store: StateStore) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_url, ACCOUNT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        standby = AccountLock(store.engine, ACCOUNT)
        assert not standby.acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while not standby.acquire():
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.05)
        standby.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Job:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.mark.postgres
def test_two_daemons_on_postgresql_one_writes_the_other_takes_over(pg_schema_url: str) -> None:
    """Daemon A holds the advisory lock; B stands by; A's session dies (as with kill -9:
    the server ends it); B's next interval takes over."""
    with StateStore.open(pg_schema_url) as a_store, StateStore.open(pg_schema_url) as b_store:
        a_lock = AccountLock(a_store.engine, ACCOUNT)
        b_lock = AccountLock(b_store.engine, ACCOUNT)
        a_sync, b_sync = Job(), Job()
        utc = ZoneInfo("UTC")
        daemon_a = JobRunner(Jobs(a_sync, Job()), tz=utc, lock=a_lock)
        daemon_b = JobRunner(Jobs(b_sync, Job()), tz=utc, lock=b_lock)
        for _ in range(3):  # three intervals: only A works
            daemon_a.run_sync()
            daemon_b.run_sync()
        assert (a_sync.calls, b_sync.calls) == (3, 0)
        assert a_lock._conn is not None
        pid = a_lock._conn.execute(text("select pg_backend_pid()")).scalar()
        with b_store.engine.begin() as conn:  # A's process is gone: its session ends
            conn.execute(text("select pg_terminate_backend(:p)"), {"p": pid})
        # termination is asynchronous: B's next interval comes after the session is gone
        deadline = time.monotonic() + 10
        while True:
            with b_store.engine.connect() as conn:
                alive = conn.execute(
                    text("select count(*) from pg_stat_activity where pid = :p"), {"p": pid}
                ).scalar()
            if not alive:
                break
            assert time.monotonic() < deadline, "the terminated session did not end"
            time.sleep(0.05)
        daemon_b.run_sync()  # B's next interval
        assert b_sync.calls == 1 and b_lock.held
        b_lock.release()
        a_lock.release()  # its session is gone: releasing only closes the connection
        assert not a_lock.held
