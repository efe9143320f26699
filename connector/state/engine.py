"""Engine set-up: which databases the store accepts and how SQLite connections behave."""

from __future__ import annotations

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


def make_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for ``url``; only SQLite and PostgreSQL are accepted (``[state] url``)."""
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
    engine = create_engine(parsed, **engine_options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine
