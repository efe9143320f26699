"""One writer per CRM account: a lock every writing run holds, that dies with its process.

Two processes syncing one CRM account from one state store would both write every record
and journal every change twice, and their settle steps would fight over each other's
pending writes. So a writing run first takes the account's lock:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held
  for as long as the lock is; the server releases it when that connection ends, so a
  process killed with -9 frees it as soon as the server notices the socket is gone.
- SQLite: an exclusive ``flock`` on a file beside the database; the kernel releases it when
  the process dies.

Both are non-blocking: ``acquire`` answers at once, so a daemon that does not hold the lock
stays a hot standby and tries again at its next interval.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Self

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from ..errors import LockHeld

__all__ = ["AccountLock", "LockHeld", "lock_key"]


def lock_key(account: str) -> int:
    """A stable signed 64-bit key for ``account`` (PostgreSQL advisory locks take bigint)."""
    digest = hashlib.sha256(account.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AccountLock:
    """The lock of one CRM account on one state store; re-entrant within the process."""

    def __init__(self, engine: Engine, account: str) -> None:
        self.engine = engine
        self.account = account
        self.key = lock_key(account)
        self._conn: Connection | None = None
        self._file: IO[str] | None = None
        self._depth = 0

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._depth > 0

    def acquire(self) -> bool:
        """Take the lock if free; True when held (already, or now), False if another has it."""
        if self._depth:
            self._depth += 1
            return True
        got = self._acquire_pg() if self.engine.dialect.name == "postgresql" else self._flock()
        if got:
            self._depth = 1
        return got

    def release(self) -> None:
        """Give one hold back; the lock is freed when the last is returned."""
        if not self._depth:
            return
        self._depth -= 1
        if self._depth:
            return
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            except DBAPIError:
                pass  # the session is gone, and the lock with it
            finally:
                self._conn.close()
                self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        if not self.acquire():
            raise LockHeld(
                f"another mqlsync process holds the lock for {self.account}; "
                "it is syncing or standing by: stop it, or let it do the work"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _acquire_pg(self) -> bool:
        conn = self.engine.connect()
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
            conn.commit()  # the lock is the session's: ending the transaction keeps it
        except BaseException:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _flock(self) -> bool:
        handle = open(self._lock_path(), "a+", encoding="utf-8")  # noqa: SIM115 - kept open
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {self.account}\n")
        handle.flush()
        self._file = handle
        return True

    def _lock_path(self) -> Path:
        database = self.engine.url.database
        name = f"mqlsync-{self.key & 0xFFFFFFFFFFFF:012x}.lock"
        if not database or database == ":memory:":
            # an in-memory store lives in one process: a per-process file is enough
            return Path(tempfile.gettempdir()) / f"{os.getpid()}-{name}"
        return Path(f"{database}.{name}")
