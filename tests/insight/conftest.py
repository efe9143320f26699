"""A state store filled with known snapshots and runs, for the report's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.state import Snapshot, StateStore

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def snap(
    rid: str,
    total: int,
    grade: str,
    *,
    stage: str = "lead",
    mql_day: int | None = None,
    source: str = "webinar",
    created_day: int = 0,
    reason: str | None = None,
    sla: str | None = None,
) -> Snapshot:
    mql_at = None if mql_day is None else T0 + timedelta(days=mql_day)
    record = {
        "id": rid,
        "properties": {
            "source": source,
            "created_at": (T0 + timedelta(days=created_day)).isoformat(),
        },
    }
    return Snapshot(
        "hubspot",
        "contact",
        rid,
        fit=total // 2,
        engagement=total - total // 2,
        total=total,
        scored_at=T0 + timedelta(days=60),
        grade=grade,
        route="sales",
        temperature="warm",
        stage=stage,
        mql_at=mql_at,
        recycled_at=mql_at + timedelta(days=3) if reason else None,
        recycle_reason=reason,
        written={"sla": sla} if sla else {},
        record=record,
        model="b2b-saas@0123456789ab",
    )


# 3 webinar MQLs (1 reached SQL), 2 seo MQLs (both SQL or later), 1 rejected, 1 stale,
# 1 at MQL with a breached first-touch SLA
SNAPSHOTS = [
    snap("1", 120, "A1", stage="sql", mql_day=2, created_day=0),
    snap("2", 90, "B2", stage="lead", mql_day=5, created_day=1, reason="UNQUALIFIED"),
    snap("3", 80, "B2", stage="mql", mql_day=9, created_day=5, sla="breached:first_touch"),
    snap("4", 70, "A2", stage="opportunity", mql_day=12, source="seo", created_day=10),
    snap(
        "5",
        65,
        "A2",
        stage="customer",
        mql_day=20,
        source="seo",
        created_day=10,
        reason="no sales touch in 14 days",
    ),
    snap("6", 10, "D4"),
    snap("7", 5, "D4"),
]


@pytest.fixture
def filled_store(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with StateStore.open(url) as store:
        store.upsert_snapshots(SNAPSHOTS)
        run = store.start_run(
            "sync", crm="hubspot", started_at=T0, mapping_version="b2b-saas@0123456789ab"
        )
        store.finish_run(run, "ok", {"written": 7}, 12, finished_at=T0 + timedelta(minutes=1))
    config = tmp_path / "mqlsync.toml"
    config.write_text(f'[state]\nurl = "{url}"\n')
    return config
