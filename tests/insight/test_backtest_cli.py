"""`mqlsync backtest` end to end on a handful of records whose figures are worked out by
hand under the shipped b2b-saas mapping."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from connector.cli.app import app
from tests.conftest import MAPPINGS

B2B = str(MAPPINGS / "b2b-saas.toml")
NOW = "2026-11-01T00:00:00Z"
DEMO = {"type": "demo_request", "at": "2026-10-31T00:00:00Z"}
PRICING = {"type": "page_view", "at": "2026-10-31T00:00:00Z", "detail": {"url": "/pricing"}}
VP = {"title": "VP Sales", "source": "webinar", "created_at": "2026-09-01T00:00:00Z"}

# r1 demo + VP title: 115, MQL (C1) · r2, r3 pricing + VP: 35 each, not MQL (C3)
# r4 nothing: 0 (D4) · r5 has no outcome
RECORDS = [
    {"id": "r1", "properties": VP, "activities": [DEMO]},
    {"id": "r2", "properties": VP, "activities": [PRICING]},
    {"id": "r3", "properties": {**VP, "source": "seo"}, "activities": [PRICING]},
    {"id": "r4", "properties": {"source": "seo", "created_at": "2026-10-01T00:00:00Z"}},
    {"id": "r5", "properties": VP, "activities": [DEMO]},
]
OUTCOMES = "id,converted\nr1,1\nr2,false\nr3,TRUE\nr4,0\nr9,1\n"


def run(tmp_path, *extra, outcomes=OUTCOMES, records=RECORDS):
    src = tmp_path / "r.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "o.csv"
    out.write_text(outcomes)
    args = ["backtest", "-m", B2B, "--records", str(src), "--outcomes", str(out), "--now", NOW]
    return CliRunner().invoke(app, [*args, *extra])


def test_backtest_json_figures_match_the_hand_computation(tmp_path):
    result = run(tmp_path, "-o", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert (got["n"], got["positives"]) == (4, 2)
    assert got["records_without_outcome"] == 1 and got["outcomes_without_record"] == 1
    # converters 115, 35 vs non-converters 35, 0: 1 + 1 + 0.5 (tie) + 1 of 4 pairs
    assert got["auc"] == 0.875
    assert got["mql"] == {"flagged": 1, "converted_flagged": 1, "precision": 1.0, "recall": 0.5}
    assert got["by_grade"] == {
        "C1": {"n": 1, "converted": 1, "rate": 1.0},
        "C3": {"n": 2, "converted": 1, "rate": 0.5},
        "D4": {"n": 1, "converted": 0, "rate": 0.0},
    }
    rules = got["rules"]
    assert rules["demo_or_meeting"]["lift"] == 2.0
    assert rules["pricing_page"] == {
        "fired": 2,
        "converted_fired": 1,
        "rate_fired": 0.5,
        "rate_not_fired": 0.5,
        "lift": 1.0,
    }
    assert rules["senior_title"]["rate_fired"] == 2 / 3
    assert rules["senior_title"]["rate_not_fired"] == 0.0
    assert rules["webinar_registration"]["lift"] is None
    assert got["top_lift"] == ["demo_or_meeting", "senior_title", "pricing_page"]
    assert got["by_source"]["seo"]["n"] == 2 and got["by_source"]["webinar"]["mql_rate"] == 1.0


def test_outcome_source_column_overrides_the_record_source(tmp_path):
    result = run(tmp_path, "-o", "json", outcomes="id,converted,source\nr1,1,ads\nr4,0,\n")
    got = json.loads(result.stdout)
    assert set(got["by_source"]) == {"ads", "seo"}


def test_capacity_gives_a_threshold(tmp_path):
    result = run(tmp_path, "-o", "json", "--capacity", "2/month")
    cap = json.loads(result.stdout)["capacity"]
    # 4 joined leads created over 30 days: threshold 35 would flag r1, r2, r3 (3 a
    # month, over capacity), so the lowest threshold that fits is r1's 115
    assert cap["threshold"] == 115 and cap["per_month"] == 2.0


def test_text_tables_by_default(tmp_path):
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    assert "ROC AUC of total: 0.875" in result.stdout
    assert "precision 100.0%, recall (capture rate) 50.0%" in result.stdout
    assert "demo_or_meeting" in result.stdout


def test_bad_outcome_rows_are_reported_with_their_line_and_exit_1(tmp_path):
    result = run(tmp_path, "-o", "json", outcomes="id,converted\nr1,1\nr2,maybe\n\nr3,1\nr3,0\n")
    assert result.exit_code == 1
    assert "o.csv:3: skipped: converted must be 1, 0, true or false, got 'maybe'" in result.stderr
    assert "o.csv:6: skipped: id r3 repeats line 5" in result.stderr
    assert json.loads(result.stdout)["n"] == 2  # the good rows still count


def test_outcomes_without_the_required_header_fail_clearly(tmp_path):
    result = run(tmp_path, outcomes="lead,won\nr1,1\n")
    assert result.exit_code == 1
    assert "header lacks column(s) id, converted" in result.stderr


def test_bad_capacity_is_a_usage_error(tmp_path):
    assert run(tmp_path, "--capacity", "lots").exit_code == 2
