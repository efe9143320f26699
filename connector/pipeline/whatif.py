"""What-if: the changes a switch to another mapping would write, from the state store only.

An admin about to lower a threshold wants "threshold 50 → +140 MQLs, mostly B2" before
switching, not after. Every stored snapshot is rescored under the other mapping exactly as
a sync after the switch would (held at its stage, with its lifecycle memory, at `now`),
diffed against what the CRM holds per the snapshot, and streamed out change by change,
with totals: MQLs gained and lost, by grade and by route. No CRM call is made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.core.scoring import CompiledMapping
from connector.pipeline.rescore import score_snapshots
from connector.pipeline.steps import PlannedChange, planned_changes
from connector.state import Snapshot, StateStore

PAGE = 2_000


@dataclass(slots=True)
class WhatIf:
    """Totals of a what-if over the stored records."""

    records: int = 0
    changed: int = 0
    mqls_before: int = 0
    mqls_after: int = 0
    gained_by_grade: Counter[str] = field(default_factory=Counter)
    """New MQLs, by their grade under the other mapping."""
    lost_by_grade: Counter[str] = field(default_factory=Counter)
    """MQLs no longer, by their grade today."""
    routes_before: Counter[str] = field(default_factory=Counter)
    routes_after: Counter[str] = field(default_factory=Counter)

    @property
    def gained(self) -> int:
        return sum(self.gained_by_grade.values())

    @property
    def lost(self) -> int:
        return sum(self.lost_by_grade.values())

    def to_json(self) -> dict[str, Any]:
        """The totals object of `plan --mapping -o json`."""
        return {
            "records": self.records,
            "changed": self.changed,
            "mqls_before": self.mqls_before,
            "mqls_after": self.mqls_after,
            "gained": self.gained,
            "lost": self.lost,
            "gained_by_grade": dict(sorted(self.gained_by_grade.items())),
            "lost_by_grade": dict(sorted(self.lost_by_grade.items())),
            "routes_before": dict(sorted(self.routes_before.items())),
            "routes_after": dict(sorted(self.routes_after.items())),
        }

    def headline(self) -> str:
        """One line for people, e.g. `+140 MQLs (−12), now 512; gained mostly B2`."""
        net = self.mqls_after - self.mqls_before
        line = (
            f"{net:+d} MQLs ({self.gained} gained, {self.lost} lost): "
            f"{self.mqls_before} → {self.mqls_after} of {self.records} records; "
            f"{self.changed} record(s) would be written"
        )
        if self.gained_by_grade:
            grade, count = self.gained_by_grade.most_common(1)[0]
            line += f"; gained mostly {grade} ({count})"
        return line


def _grade(value: str | None) -> str:
    return value or "none"


def what_if(
    store: StateStore,
    crm: str,
    mapping: CompiledMapping,
    version: str | None,
    now: datetime,
    sink: Callable[[PlannedChange], None] | None = None,
) -> WhatIf:
    """Rescore every stored snapshot of `crm` under `mapping`; stream changes to `sink`."""
    totals = WhatIf()
    page: list[Snapshot] = []
    for snap in store.iter_snapshots(crm, batch=PAGE):
        if page and (len(page) >= PAGE or snap.obj != page[0].obj):
            _tally(totals, page, mapping, version, now, sink)
            page = []
        if snap.record:  # a snapshot kept from a settled crash has no record yet
            page.append(snap)
    if page:
        _tally(totals, page, mapping, version, now, sink)
    return totals


def _tally(
    totals: WhatIf,
    snaps: list[Snapshot],
    mapping: CompiledMapping,
    version: str | None,
    now: datetime,
    sink: Callable[[PlannedChange], None] | None,
) -> None:
    scored = score_snapshots(mapping, version, snaps[0].obj, snaps, now)
    before = {s.record_id: s for s in snaps}
    for item in scored:
        old = before[item.record_id]
        was = old.route == "sales"  # the route is `sales` exactly when a record is an MQL
        now_mql = item.result.is_mql
        totals.records += 1
        totals.changed += item.patch is not None
        totals.mqls_before += was
        totals.mqls_after += now_mql
        totals.routes_before[old.route or "none"] += 1
        totals.routes_after[item.result.route] += 1
        if now_mql and not was:
            totals.gained_by_grade[_grade(item.result.grade)] += 1
        elif was and not now_mql:
            totals.lost_by_grade[_grade(old.grade)] += 1
    if sink is not None:
        for change in planned_changes(scored):
            sink(change)
