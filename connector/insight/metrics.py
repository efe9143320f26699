"""Backtest metrics over scored rows with known outcomes: pure arithmetic, no I/O.

Rates are fractions and are never rounded here (rounding is for display), so a test can
compare them with hand-computed values exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

AVERAGE_MONTH_DAYS = 365.25 / 12
"""Monthly volumes divide the observed span by the average month length."""


@dataclass(frozen=True, slots=True)
class Row:
    """One record as scored, joined with its outcome."""

    id: str
    total: int
    fit: int
    engagement: int
    grade: str | None
    is_mql: bool
    gated: bool
    fired: frozenset[str]
    source: str
    created_at: datetime | None
    converted: bool


@dataclass(frozen=True, slots=True)
class Qualifying:
    """The mapping's MQL rule minus its threshold, so other thresholds can be tried."""

    threshold: int
    fit_min: int | None = None
    engagement_min: int | None = None

    def flags(self, row: Row, threshold: int) -> bool:
        """Would `row` be an MQL at `threshold`, all else as the mapping says?"""
        return (
            row.total >= threshold
            and (self.fit_min is None or row.fit >= self.fit_min)
            and (self.engagement_min is None or row.engagement >= self.engagement_min)
            and not row.gated
        )


def rate(part: int, whole: int) -> float | None:
    """`part / whole`, or None when there is nothing to divide by."""
    return part / whole if whole else None


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """ROC AUC as the Mann-Whitney statistic: the chance a random converter outscores a
    random non-converter, ties counted half. None when either class is empty.

    Computed from average ranks (O(n log n)), which counts tied pairs exactly half.
    """
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average_rank = (start + end) / 2 + 1  # 1-based ranks start+1 … end+1
        rank_sum += average_rank * sum(labels[order[i]] for i in range(start, end + 1))
        start = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def roc_points(scores: Sequence[float], labels: Sequence[bool]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0)
    to (1, 1); tied scores move along the diagonal, matching the AUC's half credit."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return []
    by_score: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    for value, label in zip(scores, labels, strict=True):
        by_score[value][0 if label else 1] += 1
    points = [(0.0, 0.0)]
    tp = fp = 0
    for value in sorted(by_score, reverse=True):
        tp += by_score[value][0]
        fp += by_score[value][1]
        points.append((fp / negatives, tp / positives))
    return points


def confusion(rows: Iterable[Row], flagged: Callable[[Row], bool]) -> dict[str, Any]:
    """Precision and recall of a yes/no rule: of the flagged, how many converted; of the
    converted, how many were flagged."""
    flagged_n = hits = positives = 0
    for row in rows:
        yes = flagged(row)
        flagged_n += yes
        hits += yes and row.converted
        positives += row.converted
    return {
        "flagged": flagged_n,
        "converted_flagged": hits,
        "precision": rate(hits, flagged_n),
        "recall": rate(hits, positives),
    }


def conversion_by(rows: Iterable[Row], key: Callable[[Row], str]) -> dict[str, dict[str, Any]]:
    """Count and conversion rate per group, groups in sorted order."""
    n: dict[str, int] = defaultdict(int)
    won: dict[str, int] = defaultdict(int)
    for row in rows:
        group = key(row)
        n[group] += 1
        won[group] += row.converted
    return {g: {"n": n[g], "converted": won[g], "rate": rate(won[g], n[g])} for g in sorted(n)}


def band_width(low: int, high: int, most: int = 10) -> int:
    """The smallest round band width that cuts [low, high] into at most `most` bands."""
    for width in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if (high // width) - (low // width) + 1 <= most:
            return width
    return max(1, math.ceil((high - low + 1) / most))


def conversion_by_band(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Conversion per band of `total` (bands of one round width, lowest first), so a
    reader sees whether higher scores convert more across the whole range."""
    if not rows:
        return {}
    low = min(r.total for r in rows)
    high = max(r.total for r in rows)
    width = band_width(low, high)

    def start(row: Row) -> int:
        return (row.total // width) * width

    grouped = conversion_by(rows, lambda r: f"{start(r):012d}")
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(grouped, key=int):
        first = int(key)
        label = str(first) if width == 1 else f"{first}..{first + width - 1}"
        out[label] = grouped[key]
    return out


def rule_lift(rows: Sequence[Row], rule_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per rule: how often it fired, conversion when it fired and when it did not, and
    lift (rate when fired ÷ overall rate; None when it never fires or nobody converted).
    A rule "fired" on a record when it counted non-zero points there."""
    won_all = sum(r.converted for r in rows)
    overall = rate(won_all, len(rows))
    out: dict[str, dict[str, Any]] = {}
    for rule in rule_ids:
        fired = [r for r in rows if rule in r.fired]
        won_fired = sum(r.converted for r in fired)
        rate_fired = rate(won_fired, len(fired))
        out[rule] = {
            "fired": len(fired),
            "converted_fired": won_fired,
            "rate_fired": rate_fired,
            "rate_not_fired": rate(won_all - won_fired, len(rows) - len(fired)),
            "lift": rate_fired / overall if rate_fired is not None and overall else None,
        }
    return out


def mql_by_source(rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """Per source: leads, MQLs, and how many of each converted (MQL→conversion)."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.source].append(row)
    out: dict[str, dict[str, Any]] = {}
    for source in sorted(groups):
        members = groups[source]
        mqls = [r for r in members if r.is_mql]
        won = sum(r.converted for r in members)
        mql_won = sum(r.converted for r in mqls)
        out[source] = {
            "n": len(members),
            "converted": won,
            "rate": rate(won, len(members)),
            "mql": len(mqls),
            "mql_converted": mql_won,
            "mql_rate": rate(mql_won, len(mqls)),
        }
    return out


def months_spanned(rows: Iterable[Row]) -> float | None:
    """Months between the first and last `created_at` (at least one day), or None when
    no record carries a creation time."""
    times = [r.created_at for r in rows if r.created_at is not None]
    if not times:
        return None
    days = max((max(times) - min(times)).total_seconds() / 86_400, 1.0)
    return days / AVERAGE_MONTH_DAYS


def capacity_threshold(rows: Sequence[Row], rule: Qualifying, per_month: float) -> dict[str, Any]:
    """The lowest `total` threshold whose MQLs per month, at the observed volume, stay
    within sales capacity (the fit/engagement minimums and gates still apply).

    The observed volume is the joined records over the months their `created_at` spans;
    without creation times there is no volume, and the answer says so."""
    months = months_spanned(rows)
    if months is None:
        return {"per_month": per_month, "threshold": None,
                "note": "records carry no created_at, so there is no monthly volume"}  # fmt: skip
    candidates = sorted({r.total for r in rows}, reverse=True)
    chosen: int | None = None
    for threshold in candidates:
        if sum(rule.flags(r, threshold) for r in rows) / months > per_month:
            break
        chosen = threshold
    if chosen is None:
        best = candidates[0] if candidates else rule.threshold
        note = (f"even the top score ({best}) gives more MQLs than capacity: "
                "the scores are too coarse to cut there")  # fmt: skip
        return {"per_month": per_month, "threshold": best + 1, "months": months,
                "mql_per_month": 0.0, "precision": None, "recall": None, "note": note}  # fmt: skip
    at = chosen
    stats = confusion(rows, lambda r: rule.flags(r, at))
    return {
        "per_month": per_month,
        "threshold": chosen,
        "months": months,
        "mql_per_month": stats["flagged"] / months,
        "precision": stats["precision"],
        "recall": stats["recall"],
        "current_threshold": rule.threshold,
        "current_mql_per_month": sum(rule.flags(r, rule.threshold) for r in rows) / months,
    }


def top_lift(rules: dict[str, dict[str, Any]], count: int = 3) -> list[str]:
    """The rules with most lift (ties by rule id), skipping rules that never fired."""
    ranked = [(-v["lift"], k) for k, v in rules.items() if v["lift"] is not None]
    return [k for _, k in sorted(ranked)[:count]]
