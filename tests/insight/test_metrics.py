"""Backtest metrics against small cases computed by hand (ties included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.insight import metrics
from connector.insight.metrics import Qualifying, Row

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(
    rid,
    total,
    converted,
    *,
    fired=(),
    mql=False,
    grade="A1",
    source="web",
    fit=50,
    engagement=50,
    gated=False,
    day=0,
):
    return Row(
        rid,
        total,
        fit,
        engagement,
        grade,
        mql,
        gated,
        frozenset(fired),
        source,
        T0 + timedelta(days=day),
        converted,
    )


def test_auc_counts_tied_pairs_half():
    # converters score 3 and 2, non-converters 2 and 1: pairs (3,2) (3,1) (2,1) won,
    # (2,2) tied → (1 + 1 + 0.5 + 1) / 4
    assert metrics.auc([3, 2, 2, 1], [True, True, False, False]) == 0.875


def test_auc_extremes_and_all_ties():
    assert metrics.auc([5, 4, 1, 0], [True, True, False, False]) == 1.0
    assert metrics.auc([0, 1, 4, 5], [True, True, False, False]) == 0.0
    assert metrics.auc([7, 7, 7], [True, False, False]) == 0.5


def test_auc_matches_pair_counting_on_a_larger_case():
    scores = [10, 10, 9, 7, 7, 7, 3, 3, 1, 0]
    labels = [True, False, True, True, False, False, True, False, False, True]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    assert metrics.auc(scores, labels) == pytest.approx(wins / (len(pos) * len(neg)))
    # by hand: converters 10, 9, 7, 3, 0 against non-converters 10, 7, 7, 3, 1 win
    # 4.5 (one tie), 4, 3 (two ties), 1.5 (one tie) and 0 pairs of 25
    assert wins == 13
    assert metrics.auc(scores, labels) == 13 / 25


def test_auc_undefined_with_one_class():
    assert metrics.auc([1, 2], [True, True]) is None
    assert metrics.auc([], []) is None


def test_roc_runs_from_origin_to_corner_and_diagonal_on_ties():
    points = metrics.roc_points([3, 2, 2, 1], [True, True, False, False])
    assert points == [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]


def test_precision_and_recall_of_the_mql_rule():
    rows = [
        row("a", 90, True, mql=True),
        row("b", 80, False, mql=True),
        row("c", 70, True, mql=True),
        row("d", 10, True),
        row("e", 5, False),
    ]
    got = metrics.confusion(rows, lambda r: r.is_mql)
    assert got == {"flagged": 3, "converted_flagged": 2, "precision": 2 / 3, "recall": 2 / 3}


def test_precision_undefined_when_nothing_is_flagged():
    got = metrics.confusion([row("a", 1, True)], lambda r: r.is_mql)
    assert got["precision"] is None and got["recall"] == 0.0


def test_rule_lift_fired_vs_not_fired():
    # 5 rows, 2 converted (overall 0.4); pricing fires on a (won) and b (lost):
    # rate fired 1/2, not fired 1/3, lift 0.5 / 0.4 = 1.25; demo never fires
    rows = [
        row("a", 1, True, fired={"pricing"}),
        row("b", 1, False, fired={"pricing", "blog"}),
        row("c", 1, True, fired={"blog"}),
        row("d", 1, False),
        row("e", 1, False),
    ]
    got = metrics.rule_lift(rows, ["pricing", "blog", "demo"])
    assert got["pricing"] == {
        "fired": 2,
        "converted_fired": 1,
        "rate_fired": 0.5,
        "rate_not_fired": 1 / 3,
        "lift": 0.5 / 0.4,
    }
    assert got["blog"]["lift"] == pytest.approx(1.25)
    assert got["demo"] == {
        "fired": 0,
        "converted_fired": 0,
        "rate_fired": None,
        "rate_not_fired": 0.4,
        "lift": None,
    }
    assert metrics.top_lift(got) == ["blog", "pricing"]


def test_conversion_by_grade_and_band():
    rows = [
        row("a", 12, True, grade="A1"),
        row("b", 18, False, grade="A1"),
        row("c", 25, True, grade="B2"),
        row("d", 3, False, grade="D4"),
    ]
    assert metrics.conversion_by(rows, lambda r: r.grade) == {
        "A1": {"n": 2, "converted": 1, "rate": 0.5},
        "B2": {"n": 1, "converted": 1, "rate": 1.0},
        "D4": {"n": 1, "converted": 0, "rate": 0.0},
    }
    bands = metrics.conversion_by_band(rows)  # 3..25 → width 5, lowest first
    assert list(bands) == ["0..4", "10..14", "15..19", "25..29"]
    assert bands["10..14"] == {"n": 1, "converted": 1, "rate": 1.0}
    negative = metrics.conversion_by_band([row("x", -7, False), row("y", 30, True)])
    assert list(negative) == ["-10..-6", "30..34"]


def test_mql_to_conversion_by_source():
    rows = [
        row("a", 1, True, mql=True, source="webinar"),
        row("b", 1, False, mql=True, source="webinar"),
        row("c", 1, True, source="webinar"),
        row("d", 1, False, source="seo"),
    ]
    got = metrics.mql_by_source(rows)
    assert got["webinar"] == {
        "n": 3,
        "converted": 2,
        "rate": 2 / 3,
        "mql": 2,
        "mql_converted": 1,
        "mql_rate": 0.5,
    }
    assert got["seo"]["mql_rate"] is None


def test_capacity_threshold_is_the_lowest_that_fits_the_monthly_volume():
    # 6 leads over exactly 2 average months; capacity 1/month → at most 2 MQLs
    span = metrics.AVERAGE_MONTH_DAYS * 2
    rows = [
        row("a", 90, True, day=0),
        row("b", 80, True, day=span),
        row("c", 70, False),
        row("d", 70, True),
        row("e", 40, False),
        row("f", 20, False),
    ]
    rule = Qualifying(threshold=50)
    got = metrics.capacity_threshold(rows, rule, 1.0)
    assert got["threshold"] == 80 and got["mql_per_month"] == pytest.approx(1.0)
    assert got["precision"] == 1.0 and got["recall"] == 2 / 3
    assert got["current_mql_per_month"] == pytest.approx(2.0)
    roomy = metrics.capacity_threshold(rows, rule, 2.5)  # 5 MQLs fit: down to 40
    assert roomy["threshold"] == 40


def test_capacity_keeps_the_fit_minimum_and_gates():
    span = metrics.AVERAGE_MONTH_DAYS
    rows = [
        row("a", 90, True, fit=0),
        row("b", 80, True, gated=True, day=span),
        row("c", 70, False),
        row("d", 60, True),
    ]
    got = metrics.capacity_threshold(rows, Qualifying(50, fit_min=10), 2.0)
    assert got["threshold"] == 60  # a (fit 0) and b (gated) never count


def test_capacity_needs_creation_times():
    rows = [Row("a", 1, 0, 0, None, False, False, frozenset(), "x", None, True)]
    got = metrics.capacity_threshold(rows, Qualifying(1), 5)
    assert got["threshold"] is None and "created_at" in got["note"]
