"""Outcomes for a backtest: a CSV with header `id,converted` and optionally `converted_at`
and `source`; `converted` is one of 1, 0, true, false.

A bad row is reported with its line and skipped, like a bad record: one typo in a
thousand-row export should not hide the other 999 outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from connector.core.records import BadLine, RecordError, parse_time
from connector.insight.csvfile import CsvRow, read_csv

TRUTH = {"1": True, "true": True, "0": False, "false": False}
"""The accepted `converted` values (case-insensitive)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Whether one record converted, and optionally when and through which source."""

    id: str
    converted: bool
    converted_at: datetime | None = None
    source: str | None = None


def _outcome(row: CsvRow) -> Outcome:
    values = row.values
    rid = values["id"].strip()
    if not rid:
        raise RecordError("empty id")
    flag = values["converted"].strip().lower()
    if flag not in TRUTH:
        raise RecordError(f"converted must be 1, 0, true or false, got {values['converted']!r}")
    when = (values.get("converted_at") or "").strip()
    source = (values.get("source") or "").strip()
    return Outcome(
        rid,
        TRUTH[flag],
        parse_time(when, "converted_at") if when else None,
        source or None,
    )


def read_outcomes(lines: Iterable[str]) -> Iterator[Outcome | BadLine]:
    """Outcomes in file order; bad rows (and repeated ids) become `BadLine`s.

    Raises `CsvInvalid` when the header lacks `id` or `converted`."""
    _, rows = read_csv(lines, required=("id", "converted"))
    seen: dict[str, int] = {}
    for row in rows:
        if isinstance(row, BadLine):
            yield row
            continue
        try:
            outcome = _outcome(row)
        except RecordError as exc:
            yield BadLine(row.line, str(exc))
            continue
        if outcome.id in seen:
            yield BadLine(row.line, f"id {outcome.id} repeats line {seen[outcome.id]}")
            continue
        seen[outcome.id] = row.line
        yield outcome
