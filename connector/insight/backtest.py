"""Backtest a mapping: score records with the production engine, join them with known
outcomes, and measure how well the scores and the MQL rule pick the leads that converted.

Only records with an outcome count; records without one (and outcomes without a record)
are counted and reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.core.records import LeadRecord, RecordError, format_time, parse_time
from connector.core.scoring import CompiledMapping, score
from connector.insight import metrics
from connector.insight.metrics import Qualifying, Row
from connector.insight.outcomes import Outcome

NO_SOURCE = "(none)"
NO_GRADE = "none"


def created_at(properties: Mapping[str, Any]) -> datetime | None:
    """A record's creation time, or None when it has none or it is not a usable time."""
    value = properties.get("created_at")
    if value is None:
        return None
    try:
        return parse_time(value, "created_at")
    except RecordError:
        return None


def scored_rows(
    records: Iterable[LeadRecord],
    outcomes: Mapping[str, Outcome],
    mapping: CompiledMapping,
    now: datetime,
) -> tuple[list[Row], int]:
    """Rows for the records that have an outcome, and how many records had none."""
    rows: list[Row] = []
    unmatched = 0
    for record in records:
        outcome = outcomes.get(record.id)
        if outcome is None:
            unmatched += 1
            continue
        result = score(record, mapping, now)
        source = outcome.source or record.properties.get("source") or NO_SOURCE
        rows.append(
            Row(
                id=record.id,
                total=result.total,
                fit=result.fit,
                engagement=result.engagement,
                grade=result.grade,
                is_mql=result.is_mql,
                gated=bool(result.gates),
                fired=frozenset(r.rule for r in result.reasons),
                source=str(source),
                created_at=created_at(record.properties),
                converted=outcome.converted,
            )
        )
    return rows, unmatched


def rule_ids(mapping: CompiledMapping) -> list[str]:
    """Every rule that can appear in reasons, in mapping order (decay last)."""
    ids = [r.id for r in mapping.rules]
    if mapping.spec.decay is not None:
        ids.append(mapping.spec.decay.id)
    return ids


@dataclass(frozen=True, slots=True)
class Backtest:
    """The measured figures, plus what the HTML page draws (the ROC curve)."""

    summary: dict[str, Any]
    roc: list[tuple[float, float]] = field(default_factory=list)


def run_backtest(
    rows: list[Row],
    mapping: CompiledMapping,
    *,
    now: datetime,
    version: str,
    unmatched_records: int = 0,
    unmatched_outcomes: int = 0,
    capacity: float | None = None,
) -> Backtest:
    """Every figure of the backtest over joined rows, as one JSON-ready object."""
    q = mapping.spec.qualification
    rule = Qualifying(q.threshold, q.fit_min, q.engagement_min)
    totals = [float(r.total) for r in rows]
    labels = [r.converted for r in rows]
    positives = sum(labels)
    rules = metrics.rule_lift(rows, rule_ids(mapping))
    summary: dict[str, Any] = {
        "mapping": version,
        "now": format_time(now),
        "n": len(rows),
        "positives": positives,
        "rate": metrics.rate(positives, len(rows)),
        "records_without_outcome": unmatched_records,
        "outcomes_without_record": unmatched_outcomes,
        "auc": metrics.auc(totals, labels),
        "mql": metrics.confusion(rows, lambda r: r.is_mql),
        "by_grade": metrics.conversion_by(rows, lambda r: r.grade or NO_GRADE),
        "by_band": metrics.conversion_by_band(rows),
        "rules": rules,
        "top_lift": metrics.top_lift(rules),
        "by_source": metrics.mql_by_source(rows),
    }
    if capacity is not None:
        summary["capacity"] = metrics.capacity_threshold(rows, rule, capacity)
    return Backtest(summary, metrics.roc_points(totals, labels))
