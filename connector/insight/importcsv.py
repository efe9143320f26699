"""Turn a lead export (CSV) into canonical records with a small TOML spec: which column is
the id, which columns become properties (typed), which become activities, and, for a
backtest, where the outcome is and how to split it into training and held-out rows.

The spec is data like a mapping: unknown keys are errors with their line. A bad row is
reported with its line and skipped; the other rows are still converted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.core.records import Activity, BadLine, LeadRecord, RecordError
from connector.insight.csvfile import CsvRow, read_csv
from connector.mapping.loader import MappingInvalid, Problem, parse_toml_model

ColumnType = Literal["text", "number", "bool", "time"]
TRUE_WORDS = frozenset({"yes", "true", "1", "y"})
FALSE_WORDS = frozenset({"no", "false", "0", "n"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Column(_Spec):
    """A column and how to read its text."""

    column: str
    type: ColumnType = "text"


class Source(_Spec):
    """Where the record id comes from and what the records say they are."""

    id: str
    crm: str = "csv"
    object: str = "lead"
    missing: list[str] = Field(default_factory=lambda: [""])
    """Cell values that mean "no value" (e.g. a drop-down left at `Select`)."""


class When(_Spec):
    """Only rows whose column holds one of these values (case-insensitive)."""

    column: str
    in_: list[str] = Field(alias="in")


class ActivitySpec(_Spec):
    """One activity per row, at the time in column `at`."""

    type: str
    at: str
    detail: dict[str, str] = Field(default_factory=dict)
    """Activity detail key → column."""
    when: When | None = None


class OutcomeSpec(_Spec):
    """The outcome: a column of this file, or presence of the id in a second export
    (e.g. won deals), found relative to the input file."""

    column: str | None = None
    converted: list[str] = Field(default_factory=lambda: ["1", "true", "yes"])
    lookup: str | None = None
    lookup_key: str | None = None
    converted_at: str | None = None
    """With `lookup`: the column of the second file that gives the conversion time."""

    @model_validator(mode="after")
    def _one_source(self) -> OutcomeSpec:
        if (self.column is None) == (self.lookup is None):
            raise ValueError("give exactly one of column or lookup")
        if self.lookup is not None and self.lookup_key is None:
            raise ValueError("lookup needs lookup_key (the id column of that file)")
        return self


class SplitSpec(_Spec):
    """Which rows count for a backtest and which are held out: `column` compared as a
    number when both sides are numbers, else as text (ISO dates sort as text)."""

    column: str
    from_: str | None = Field(default=None, alias="from")
    """Rows before this value get no outcome (e.g. a cohort whose outcomes are incomplete)."""
    held_out_from: str
    """Rows at or after this value are held out; tune on the rows before it."""


class CsvSpec(_Spec):
    """A whole import spec."""

    csv: Source
    properties: dict[str, str | Column] = Field(default_factory=dict)
    activities: list[ActivitySpec] = Field(default_factory=list)
    outcome: OutcomeSpec | None = None
    split: SplitSpec | None = None

    def columns(self) -> dict[str, Column]:
        """Property name → column, plain strings meaning text columns."""
        return {
            name: Column(column=c) if isinstance(c, str) else c
            for name, c in self.properties.items()
        }

    def needed(self) -> list[str]:
        """Every column of the input file the spec reads."""
        names = [self.csv.id, *(c.column for c in self.columns().values())]
        for act in self.activities:
            names += [act.at, *act.detail.values()]
            if act.when is not None:
                names.append(act.when.column)
        if self.outcome is not None and self.outcome.column is not None:
            names.append(self.outcome.column)
        if self.split is not None:
            names.append(self.split.column)
        return list(dict.fromkeys(names))


def load_spec(path: Path) -> CsvSpec:
    """Read and validate a spec; raise `MappingInvalid` with `file:line:` problems."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingInvalid([Problem(str(path), 1, f"cannot read spec: {exc.strerror}")]) from None
    spec, _ = parse_toml_model(source, str(path), CsvSpec)
    return spec


def parse_cell_time(text: str, what: str) -> datetime:
    """A date (midnight UTC) or a date-time; a time without a zone is taken as UTC, since
    exports write local wall times with no zone and the day is what matters here."""
    value = text.strip()
    if _DATE.match(value):
        value += "T00:00:00"
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{what}: {text!r} is not a date or ISO-8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _number(text: str, what: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{what}: {text!r} is not a number") from None
    return int(value) if value.is_integer() else value


def _bool(text: str, what: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise RecordError(f"{what}: {text!r} is not yes/no or true/false")


def cell(text: str, kind: ColumnType, what: str) -> Any:
    """A cell's value as its declared type (times as ISO-8601 text with a zone)."""
    if kind == "number":
        return _number(text, what)
    if kind == "bool":
        return _bool(text, what)
    if kind == "time":
        return parse_cell_time(text, what).isoformat().replace("+00:00", "Z")
    return text.strip()


@dataclass(frozen=True, slots=True)
class Converted:
    """One good row: its record and, when the spec has an outcome, the outcome row."""

    record: LeadRecord
    outcome: dict[str, str] | None = None
    part: Literal["train", "held_out"] | None = None
    """With a split: which part the row belongs to (None = outside the slice)."""


@dataclass(frozen=True, slots=True)
class Won:
    """The ids found in an outcome lookup file, with their conversion times."""

    times: dict[str, str]


def read_lookup(spec: OutcomeSpec, lines: Iterable[str]) -> Won:
    """The ids (and conversion times) listed in the outcome lookup file."""
    assert spec.lookup_key is not None
    required = [spec.lookup_key] + ([spec.converted_at] if spec.converted_at else [])
    _, rows = read_csv(lines, required=required)
    times: dict[str, str] = {}
    for row in rows:
        if isinstance(row, CsvRow):
            when = row.values[spec.converted_at] if spec.converted_at else ""
            times[row.values[spec.lookup_key].strip()] = when
    return Won(times)


class Converter:
    """Converts rows of one input under one spec (and an optional lookup of won ids)."""

    def __init__(self, spec: CsvSpec, won: Won | None = None) -> None:
        self.spec = spec
        self.won = won
        self.missing = frozenset(spec.csv.missing)
        self.columns = spec.columns()
        self.seen: dict[str, int] = {}

    def _value(self, row: CsvRow, column: str) -> str | None:
        text = row.values[column]
        return None if text.strip() in self.missing or text in self.missing else text

    def _activities(self, row: CsvRow) -> tuple[Activity, ...]:
        out = []
        for act in self.spec.activities:
            if act.when is not None:
                got = (self._value(row, act.when.column) or "").strip().lower()
                if got not in {v.lower() for v in act.when.in_}:
                    continue
            at_text = self._value(row, act.at)
            if at_text is None:
                continue
            at = parse_cell_time(at_text, act.at)
            detail = {}
            for key, column in act.detail.items():
                value = self._value(row, column)
                if value is not None:
                    detail[key] = value.strip()
            out.append(Activity(act.type, at, detail))
        return tuple(out)

    def _outcome(self, rid: str, row: CsvRow, props: dict[str, Any]) -> dict[str, str] | None:
        outcome = self.spec.outcome
        if outcome is None:
            return None
        when = ""
        if outcome.column is not None:
            raw = self._value(row, outcome.column)
            if raw is None:
                raise RecordError(f"{outcome.column}: no outcome")
            won = raw.strip().lower() in {v.lower() for v in outcome.converted}
        else:
            assert self.won is not None
            won = rid in self.won.times
            if won and self.won.times[rid].strip():
                when = cell(self.won.times[rid], "time", outcome.converted_at or "converted_at")
        source = props.get("source")
        return {"id": rid, "converted": "1" if won else "0", "converted_at": when,
                "source": "" if source is None else str(source)}  # fmt: skip

    def _part(self, row: CsvRow) -> Literal["train", "held_out"] | None:
        split = self.spec.split
        if split is None:
            return None
        value = self._value(row, split.column)
        if value is None:
            raise RecordError(f"{split.column}: empty, so the row cannot be split")
        if split.from_ is not None and _before(value, split.from_):
            return None
        return "train" if _before(value, split.held_out_from) else "held_out"

    def convert(self, row: CsvRow) -> Converted:
        """One row as a record (and outcome); raises `RecordError` saying what is wrong."""
        rid = (self._value(row, self.spec.csv.id) or "").strip()
        if not rid:
            raise RecordError(f"{self.spec.csv.id}: empty id")
        if rid in self.seen:
            raise RecordError(f"id {rid} repeats line {self.seen[rid]}")
        props: dict[str, Any] = {}
        for name, column in self.columns.items():
            text = self._value(row, column.column)
            if text is not None:
                props[name] = cell(text, column.type, column.column)
        record = LeadRecord(rid, self.spec.csv.crm, self.spec.csv.object, props,
                            self._activities(row))  # fmt: skip
        outcome = self._outcome(rid, row, props)
        part = self._part(row)
        self.seen[rid] = row.line
        return Converted(record, outcome, part)


def _before(value: str, bound: str) -> bool:
    try:
        return float(value) < float(bound)
    except ValueError:
        return value.strip() < bound


def convert_rows(
    spec: CsvSpec, lines: Iterable[str], won: Won | None = None
) -> Iterator[Converted | BadLine]:
    """Every row converted or reported; raises `CsvInvalid` when a column is missing."""
    _, rows = read_csv(lines, required=spec.needed())
    converter = Converter(spec, won)
    for row in rows:
        if isinstance(row, BadLine):
            yield row
            continue
        try:
            yield converter.convert(row)
        except RecordError as exc:
            yield BadLine(row.line, str(exc))
