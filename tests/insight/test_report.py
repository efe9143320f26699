"""The KPI report's figures from a state store whose contents are known."""

from __future__ import annotations

from typer.testing import CliRunner

from connector.cli.app import app
from connector.config import load_settings
from connector.insight.report import gather
from connector.state import StateStore


def test_report_counts_match_the_stored_records(filled_store):
    with StateStore.open(load_settings(filled_store).state.url) as store:
        data = gather(store, "hubspot")
    assert data.snapshots == 7 and data.model == "b2b-saas@0123456789ab"
    assert dict(data.by_source) == {"webinar": [3, 1], "seo": [2, 2]}
    assert (data.accepted, data.rejected, data.recycled_stale, data.at_mql) == (3, 1, 1, 1)
    assert data.reasons["UNQUALIFIED"] == 1
    assert dict(data.sla) == {"first_touch": 1}
    assert [b[0] for b in data.breached] == ["3"]
    assert sorted(data.days_to_mql) == [2, 2, 4, 4, 10]
    assert data.period == "week"
    # MQL on Sep 3 and 6 (ISO week 36: Aug 31 – Sep 6), Sep 10 and 13 (W37), Sep 21 (W39)
    assert dict(data.mqls_by_period) == {"2026-W36": 2, "2026-W37": 2, "2026-W39": 1}
    assert dict(data.grades) == {"A1": 1, "A2": 2, "B2": 2, "D4": 2}


def test_report_command_writes_a_self_contained_page(filled_store, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--config", str(filled_store), "--html", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<svg") >= 5 and "<script" not in page
    assert "b2b-saas@0123456789ab" in page and "UNQUALIFIED" in page
    assert "src=" not in page and "<link" not in page
