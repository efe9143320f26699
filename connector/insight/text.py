"""The backtest as plain-text tables, for a terminal or a pasted review: rates shown as
percentages rounded to one decimal (the JSON keeps them unrounded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pct(value: float | None) -> str:
    """`24.5%`, or `–` when undefined."""
    return "–" if value is None else f"{value * 100:.1f}%"


def num(value: float | None, digits: int = 3) -> str:
    """A figure with `digits` decimals, or `–` when undefined."""
    return "–" if value is None else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns aligned by width: the first left, the others right (they hold figures)."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _rate_rows(groups: dict[str, dict[str, Any]]) -> list[list[str]]:
    return [[k, str(v["n"]), str(v["converted"]), pct(v["rate"])] for k, v in groups.items()]


def render_backtest(s: dict[str, Any]) -> str:
    """Every section of a backtest summary as text."""
    mql = s["mql"]
    out = [
        f"backtest of {s['mapping']} at {s['now']}",
        f"records joined {s['n']}, converted {s['positives']} ({pct(s['rate'])}); "
        f"records without outcome {s['records_without_outcome']}, "
        f"outcomes without record {s['outcomes_without_record']}",
        f"ROC AUC of total: {num(s['auc'])}",
        f"MQL rule: {mql['flagged']} flagged, {mql['converted_flagged']} converted; "
        f"precision {pct(mql['precision'])}, recall (capture rate) {pct(mql['recall'])}",
        "",
        "conversion by grade",
        *table(["grade", "n", "converted", "rate"], _rate_rows(s["by_grade"])),
        "",
        "conversion by score band (total)",
        *table(["band", "n", "converted", "rate"], _rate_rows(s["by_band"])),
        "",
        "rules: conversion when fired vs not, lift over the overall rate",
        *table(
            ["rule", "fired", "rate fired", "rate not fired", "lift"],
            [
                [
                    k,
                    str(v["fired"]),
                    pct(v["rate_fired"]),
                    pct(v["rate_not_fired"]),
                    num(v["lift"], 2),
                ]
                for k, v in sorted(s["rules"].items(), key=_by_lift)
            ],
        ),
        "",
        "MQL → conversion by source",
        *table(
            ["source", "n", "rate", "MQLs", "MQL converted", "MQL rate"],
            [
                [
                    k,
                    str(v["n"]),
                    pct(v["rate"]),
                    str(v["mql"]),
                    str(v["mql_converted"]),
                    pct(v["mql_rate"]),
                ]
                for k, v in s["by_source"].items()
            ],
        ),
    ]
    capacity = s.get("capacity")
    if capacity is not None:
        out += ["", *capacity_lines(capacity)]
    return "\n".join(out)


def capacity_lines(c: dict[str, Any]) -> list[str]:
    """What threshold sales capacity implies, and what it would catch."""
    head = f"capacity {c['per_month']:g} MQLs/month"
    if c["threshold"] is None or "months" not in c or not c["mql_per_month"]:
        return [f"{head}: {c.get('note', 'no threshold')}"]
    lines = [
        f"{head}: threshold {c['threshold']} gives {c['mql_per_month']:.1f} MQLs/month "
        f"over {c['months']:.1f} months observed; precision {pct(c['precision'])}, "
        f"recall {pct(c['recall'])}"
    ]
    if "current_threshold" in c:
        lines.append(
            f"  (the mapping's threshold {c['current_threshold']} gives "
            f"{c['current_mql_per_month']:.1f} MQLs/month)"
        )
    if "note" in c:
        lines.append(f"  {c['note']}")
    return lines


def _by_lift(item: tuple[str, dict[str, Any]]) -> tuple[float, str]:
    lift = item[1]["lift"]
    return (-lift if lift is not None else float("inf"), item[0])
