"""One contract suite, two backends: every state test runs on SQLite and PostgreSQL.

PostgreSQL tests use a throwaway schema (random name, via search_path) created once per
session and dropped at the end; they skip, saying why, when the server is unreachable.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from connector.state import StateStore
from connector.state import tables as t

PG_HOST = "127.0.0.1:5432"
PG_DB = "test"
PG_USERS = ("postgres", "root")


def _pg_url(user: str, schema: str | None = None) -> str:
    url = f"postgresql+psycopg://{user}@{PG_HOST}/{PG_DB}"
    return f"{url}?options=-csearch_path%3D{schema}" if schema else url


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """URL of a fresh schema on the local PostgreSQL, or skip when there is none."""
    errors = []
    admin: Engine | None = None
    user = ""
    for user in PG_USERS:
        engine = create_engine(_pg_url(user), connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "no usable server"
            errors.append(f"{user}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            engine.dispose()
            continue
        admin = engine
        break
    if admin is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}/{PG_DB} ({'; '.join(errors)})")
    schema = f"mqlsync_test_{secrets.token_hex(4)}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_url(user, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    """An empty store on each backend."""
    s = StateStore.open(store_url)
    try:
        yield s
    finally:
        if s.dialect == "postgresql":
            names = ", ".join(table.name for table in t.metadata.sorted_tables)
            with s.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        s.close()
