"""CSV rows with the line each starts on, so every bad row can be reported as `file:line`.

Lead exports quote fields that hold commas and sometimes newlines, so a row's line is not
its index: it is one past the line where the previous row ended.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from connector.core.records import BadLine


class CsvInvalid(ValueError):
    """The file cannot be read as the expected CSV at all (no header, missing columns)."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its 1-based starting line and its values by header name."""

    line: int
    values: dict[str, str]


def read_csv(
    lines: Iterable[str], required: Iterable[str] = ()
) -> tuple[list[str], Iterator[CsvRow | BadLine]]:
    """The header and the rows of a CSV; a row with the wrong number of fields becomes a
    `BadLine` rather than stopping the file. Raises `CsvInvalid` when the header is
    missing or lacks a `required` column."""
    reader = csv.reader(iter(lines))
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    except StopIteration:
        raise CsvInvalid("empty file: expected a header line") from None
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvInvalid(
            f"line 1: header lacks column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    return header, _rows(reader, header)


def _rows(reader: Iterator[list[str]], header: list[str]) -> Iterator[CsvRow | BadLine]:
    ended = 1  # the header's last line
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadLine(ended + 1, f"unreadable CSV: {exc}")
            return
        line = ended + 1
        ended = reader.line_num  # type: ignore[attr-defined]
        if not fields or fields == [""]:
            continue
        if len(fields) != len(header):
            yield BadLine(line, f"expected {len(header)} fields, found {len(fields)}")
            continue
        yield CsvRow(line, dict(zip(header, fields, strict=True)))
