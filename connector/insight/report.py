"""The KPI report's figures, read from the state store: what mqlsync scored and decided
for every record (snapshots) and what each run did (the run journal).

Only reads; the figures describe the records as of their last sync or rescore.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from connector.insight.backtest import created_at
from connector.state import Run, Snapshot, StateStore

PAST_MQL = frozenset({"sal", "sql", "opportunity", "customer"})
"""Stages that mean sales accepted the MQL."""
PAST_SQL = frozenset({"sql", "opportunity", "customer"})
STALE_PREFIX = "no sales touch"
"""Recycle reasons written for stale MQLs start with this; others are rejections."""
NO_SOURCE = "(none)"


@dataclass
class ReportData:
    """Everything the report shows, already counted."""

    crm: str
    snapshots: int = 0
    runs: list[Run] = field(default_factory=list)
    models: Counter[str] = field(default_factory=Counter)
    mqls_by_period: Counter[str] = field(default_factory=Counter)
    period: str = "week"
    by_source: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    """source → [MQLs, of which SQL or later]."""
    days_to_mql: list[float] = field(default_factory=list)
    grades: Counter[str] = field(default_factory=Counter)
    totals_by_grade: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    accepted: int = 0
    rejected: int = 0
    recycled_stale: int = 0
    at_mql: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    sla: Counter[str] = field(default_factory=Counter)
    breached: list[tuple[str, str, str]] = field(default_factory=list)
    """(record id, MQL since, windows) of records at MQL with a breached SLA."""

    @property
    def model(self) -> str | None:
        """The mapping version of the newest run that recorded one."""
        return next((r.mapping_version for r in self.runs if r.mapping_version), None)


def period_key(at: datetime, period: str) -> str:
    """`2026-W44` for weeks (ISO), `2026-10` for months."""
    if period == "month":
        return f"{at.year}-{at.month:02d}"
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def _count(data: ReportData, s: Snapshot, mql_times: list[datetime]) -> None:
    data.snapshots += 1
    data.models[s.model or "unknown"] += 1
    grade = s.grade or "none"
    data.grades[grade] += 1
    data.totals_by_grade[grade].append(s.total)
    stage = (s.stage or "").lower()
    if s.mql_at is not None:
        mql_times.append(s.mql_at)
        source = (s.record.get("properties") or {}).get("source") or NO_SOURCE
        counts = data.by_source[str(source)]
        counts[0] += 1
        counts[1] += stage in PAST_SQL
        created = created_at(s.record.get("properties") or {})
        if created is not None and s.mql_at >= created:
            data.days_to_mql.append((s.mql_at - created).total_seconds() / 86_400)
    data.accepted += stage in PAST_MQL
    data.at_mql += stage == "mql"
    if s.recycle_reason:
        data.reasons[s.recycle_reason] += 1
        if s.recycle_reason.startswith(STALE_PREFIX):
            data.recycled_stale += 1
        else:
            data.rejected += 1
    sla = str(s.written.get("sla") or "")
    if sla.startswith("breached:") and stage == "mql":
        windows = sla.removeprefix("breached:")
        for window in windows.split(","):
            data.sla[window] += 1
        since = s.mql_at.isoformat(timespec="minutes") if s.mql_at else ""
        data.breached.append((s.record_id, since, windows))


def gather(store: StateStore, crm: str, *, runs: int = 30) -> ReportData:
    """Count every snapshot of `crm` once (streamed) and read the newest runs."""
    data = ReportData(crm)
    mql_times: list[datetime] = []
    for snapshot in store.iter_snapshots(crm):
        _count(data, snapshot, mql_times)
    data.runs = store.recent_runs(runs)
    if mql_times:
        span = max(mql_times) - min(mql_times)
        data.period = "month" if span > timedelta(weeks=26) else "week"
        data.mqls_by_period = Counter(period_key(t, data.period) for t in mql_times)
    data.breached.sort(key=lambda b: b[1])
    return data


def median_or_none(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return median(values) if values else None
