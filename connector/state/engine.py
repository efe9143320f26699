"""Engine set-up: which databases the store accepts and how SQLite connections behave."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import ConfigError

__all__ = ["IMMEDIATE", "make_engine"]

IMMEDIATE = "mqlsync_begin_immediate"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside a writer; FKs keep journal rows tied to runs.

    The driver's own transaction handling is switched off so :func:`_sqlite_begin` decides
    how each transaction starts.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",  # durable at checkpoints in WAL mode; far fewer fsyncs
        "busy_timeout=10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Write transactions take the write lock up front (``BEGIN IMMEDIATE``).

    A deferred transaction that reads then writes (dead-letter merge, upserts) can fail with
    SQLITE_BUSY when another process wrote in between; taking the lock first makes it wait
    (busy_timeout) instead. Reads stay deferred so they never block on a writer.
    """
    immediate = conn.get_execution_options().get(IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


POSTGRES_EXTRA = "pip install 'mqlsync[postgres]'"


def make_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for ``url``; only SQLite and PostgreSQL are accepted (``[state] url``).

    A bare ``postgresql://`` URL means the driver the ``postgres`` extra installs
    (psycopg 3), not SQLAlchemy's default psycopg2, which mqlsync does not ship.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {exc}", key="[state] url") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite:///FILE or "
            "postgresql+psycopg://…",
            key="[state] url",
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed.database)
    try:
        engine = create_engine(parsed, **engine_options)
    except ImportError as exc:
        raise ConfigError(
            f"the PostgreSQL driver is not installed ({exc.name}): {POSTGRES_EXTRA}",
            key="[state] url",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _check_sqlite_path(database: str | None) -> None:
    """Refuse a SQLite file whose directory is missing or not writable, naming it.

    SQLite itself only says "unable to open database file"; the directory is what the
    operator has to create or mount (e.g. a container volume).
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser().absolute()
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"cannot open the state store {path}: directory {folder} does not exist",
            key="[state] url",
        )
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise ConfigError(
            f"cannot open the state store {path}: {target} is not writable by this user",
            key="[state] url",
        )
