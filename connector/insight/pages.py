"""The two HTML pages: a backtest (ROC curve, conversion by grade and band, rule lift) and
the KPI report from the state store. Both use the same charts and page elements."""

from __future__ import annotations

from typing import Any

from connector.insight import charts
from connector.insight.backtest import Backtest
from connector.insight.html import Section, cards, grid, page, paragraph, table
from connector.insight.report import ReportData, median_or_none
from connector.insight.text import capacity_lines, num, pct


def _rates(groups: dict[str, dict[str, Any]]) -> list[list[object]]:
    return [[k, v["n"], v["converted"], pct(v["rate"])] for k, v in groups.items()]


def _rate_chart(title: str, groups: dict[str, dict[str, Any]], overall: float | None) -> str:
    """Conversion per group, with the overall rate as the dashed reference line."""
    rates = [g["rate"] or 0.0 for g in groups.values()]
    return charts.bars(title, list(groups), rates, percent=True, reference=overall,
                       ylabel="converted")  # fmt: skip


def backtest_page(result: Backtest) -> str:
    """A backtest as one self-contained page."""
    s = result.summary
    mql = s["mql"]
    overall = s["rate"]
    rules = sorted(
        s["rules"].items(), key=lambda kv: (kv[1]["lift"] is None, -(kv[1]["lift"] or 0), kv[0])
    )
    fired = [(k, v) for k, v in rules if v["lift"] is not None]
    grades = s["by_grade"]
    bands = s["by_band"]
    headline = cards(
        [
            (str(s["n"]), "records with an outcome"),
            (pct(overall), "converted overall"),
            (num(s["auc"]), "ROC AUC of the total score"),
            (pct(mql["precision"]), f"precision of the MQL rule ({mql['flagged']} flagged)"),
            (pct(mql["recall"]), "capture rate (recall) of the MQL rule"),
        ]
    )
    sections = [
        Section(
            "Does the score rank converters first?",
            headline
            + grid(
                charts.roc(result.roc, s["auc"]),
                _rate_chart("Conversion by grade", grades, overall),
            ),
        ),
        Section(
            "Conversion by score band",
            grid(
                _rate_chart("Conversion by band of the total score", bands, overall),
                table(["band", "records", "converted", "rate"], _rates(bands)),
            ),
        ),
        Section(
            "Which rules carry signal",
            paragraph(
                "Lift = conversion when the rule fires ÷ the overall rate; the dashed "
                "line is lift 1 (no better than average)."
            )
            + grid(
                charts.bars(
                    "Lift per rule",
                    [k for k, _ in fired],
                    [v["lift"] for _, v in fired],
                    horizontal=True,
                    reference=1.0,
                    ylabel="lift",
                    annotate=lambda v: f"{v:.2f}",
                ),
                table(
                    ["rule", "fired", "rate fired", "rate not fired", "lift"],
                    [
                        [
                            k,
                            v["fired"],
                            pct(v["rate_fired"]),
                            pct(v["rate_not_fired"]),
                            num(v["lift"], 2),
                        ]
                        for k, v in rules
                    ],
                ),
            ),
        ),
        Section(
            "MQL → conversion by source",
            table(
                ["source", "records", "rate", "MQLs", "MQLs converted", "MQL rate"],
                [
                    [k, v["n"], pct(v["rate"]), v["mql"], v["mql_converted"], pct(v["mql_rate"])]
                    for k, v in s["by_source"].items()
                ],
            ),
        ),
        Section(
            "Conversion by grade", table(["grade", "records", "converted", "rate"], _rates(grades))
        ),
    ]
    if "capacity" in s:
        sections.append(
            Section("Sales capacity", "".join(paragraph(x) for x in capacity_lines(s["capacity"])))
        )
    subtitle = (
        f"{s['mapping']} scored at {s['now']}; {s['records_without_outcome']} records "
        f"without an outcome were left out"
    )
    return page("mqlsync backtest", subtitle, sections)


def report_page(data: ReportData) -> str:
    """The KPI report as one self-contained page."""
    mqls = sum(c[0] for c in data.by_source.values())
    days = median_or_none(data.days_to_mql)
    headline = cards(
        [
            (data.model or "none", "current model (newest run)"),
            (f"{data.snapshots:,}", "records scored"),
            (f"{mqls:,}", "records ever MQL"),
            (f"{data.at_mql:,}", "at MQL now"),
            ("–" if days is None else f"{days:.1f} d", "median time to MQL"),
        ]
    )
    periods = sorted(data.mqls_by_period)
    sources = sorted(data.by_source, key=lambda k: -data.by_source[k][0])
    grades = sorted(data.grades)
    lifecycle = {
        "accepted (SAL or later)": data.accepted,
        "rejected by sales": data.rejected,
        "recycled as stale": data.recycled_stale,
    }
    sections = [
        Section("Overview", headline),
        Section(
            "MQLs over time",
            grid(
                charts.bars(
                    f"New MQLs per {data.period}",
                    periods,
                    [data.mqls_by_period[p] for p in periods],
                    ylabel="MQLs",
                ),
                charts.histogram("Time to MQL (from creation)", data.days_to_mql, xlabel="days"),
            ),
        ),
        Section(
            "MQL → SQL by source",
            grid(
                charts.bars(
                    "MQL → SQL rate by source",
                    sources,
                    [data.by_source[k][1] / data.by_source[k][0] for k in sources],
                    percent=True,
                    ylabel="reached SQL",
                ),
                table(
                    ["source", "MQLs", "SQL or later", "rate"],
                    [
                        [
                            k,
                            data.by_source[k][0],
                            data.by_source[k][1],
                            pct(data.by_source[k][1] / data.by_source[k][0]),
                        ]
                        for k in sources
                    ],
                ),
            ),
        ),
        Section(
            "Accepted, rejected, recycled",
            grid(
                charts.bars(
                    "What happened to MQLs",
                    list(lifecycle),
                    list(lifecycle.values()),
                    ylabel="records",
                    annotate=lambda v: f"{v:,.0f}",
                ),
                table(["recycle reason", "records"], data.reasons.most_common(15)),
            ),
        ),
        Section(
            "SLA breaches (records at MQL now)",
            grid(
                charts.bars(
                    "Breached SLA windows",
                    list(data.sla),
                    list(data.sla.values()),
                    ylabel="records",
                ),
                table(["record", "MQL since", "breached"], data.breached[:20]),
            ),
        ),
        Section(
            "Score distribution by grade",
            grid(
                charts.bars(
                    "Records per grade", grades, [data.grades[g] for g in grades], ylabel="records"
                ),
                table(
                    ["grade", "records", "median total", "min", "max"],
                    [
                        [
                            g,
                            data.grades[g],
                            f"{median_or_none(list(map(float, t))) or 0:g}",
                            min(t),
                            max(t),
                        ]
                        for g in grades
                        for t in [data.totals_by_grade[g]]
                    ],
                ),
            ),
        ),
        Section(
            "Recent runs",
            table(
                ["run", "kind", "status", "started", "model", "written"],
                [
                    [
                        r.id,
                        r.kind,
                        r.status,
                        r.started_at.isoformat(timespec="minutes"),
                        r.mapping_version or "",
                        r.counts.get("written", ""),
                    ]
                    for r in data.runs
                ],
            ),
        ),
    ]
    models = ", ".join(f"{m} ({n:,})" for m, n in data.models.most_common())
    return page("mqlsync report", f"CRM {data.crm}; records by model: {models or 'none'}", sections)
