"""Column storage for the HubSpot sandbox: memory proportional to data, JSON rendered lazily.

Why columns: a dict of string properties per record costs ~1-2 KB per contact; typed columns
(``array('q')`` for numbers and timestamps, lists of shared/interned strings for text and enums,
dicts for sparse custom properties) cost ~300 bytes, so 1M contacts stay within a few hundred MB.
HubSpot serves every value as a string; columns render on read (datetimes as ISO-8601 UTC with
milliseconds, e.g. ``2026-10-30T12:00:00.000Z``).
"""

from __future__ import annotations

from array import array
from datetime import UTC, datetime
from typing import Final, Protocol

__all__ = [
    "MISSING",
    "Column",
    "IntColumn",
    "SparseColumn",
    "StrColumn",
    "TsColumn",
    "ValueError_",
    "iso_ms",
    "make_column",
    "parse_ts_ms",
]

MISSING: Final = -(2**63)  # sentinel for "no value" in int64 arrays


class ValueError_(Exception):
    """A written value does not fit the property type (becomes a per-input error)."""


def iso_ms(ms: int) -> str:
    """Epoch milliseconds → ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (HubSpot's datetime rendering)."""
    secs, milli = divmod(ms, 1000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{milli:03d}Z"


def parse_ts_ms(text: str) -> int:
    """Epoch millis (digits) or ISO-8601 (``Z`` or offset; date only = midnight UTC) → ms."""
    t = text.strip()
    if t.lstrip("-").isdigit():
        return int(t)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError_(f"{text!r} is not a valid datetime") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


class Column(Protocol):
    def get(self, i: int) -> str | None: ...
    def key(self, i: int) -> object: ...
    def set(self, i: int, value: str | None) -> None: ...
    def append(self, value: str | None) -> None: ...


class StrColumn:
    """Text/enum values; identical strings share one object (interned by the builder)."""

    __slots__ = ("vals",)

    def __init__(self, size: int = 0) -> None:
        self.vals: list[str | None] = [None] * size

    def get(self, i: int) -> str | None:
        return self.vals[i]

    def key(self, i: int) -> object:
        v = self.vals[i]
        return None if v is None else v.casefold()

    def set(self, i: int, value: str | None) -> None:
        self.vals[i] = value

    def append(self, value: str | None) -> None:
        self.vals.append(value)


class IntColumn:
    """Numbers as int64; non-integral numbers (rare, written by clients) kept as text aside."""

    __slots__ = ("odd", "vals")

    def __init__(self, size: int = 0) -> None:
        self.vals = array("q", [MISSING]) * size
        self.odd: dict[int, str] = {}

    def get(self, i: int) -> str | None:
        if self.odd and i in self.odd:
            return self.odd[i]
        v = self.vals[i]
        return None if v == MISSING else str(v)

    def key(self, i: int) -> object:
        if self.odd and i in self.odd:
            return float(self.odd[i])
        v = self.vals[i]
        return None if v == MISSING else v

    def set(self, i: int, value: str | None) -> None:
        self.odd.pop(i, None)
        if value is None:
            self.vals[i] = MISSING
            return
        num = _number(value)
        if num.is_integer() and abs(num) < 2**62:
            self.vals[i] = int(num)
        else:
            self.vals[i] = MISSING
            self.odd[i] = value.strip()

    def set_int(self, i: int, value: int | None) -> None:
        self.vals[i] = MISSING if value is None else value

    def append(self, value: str | None) -> None:
        self.vals.append(MISSING)
        self.set(len(self.vals) - 1, value)


class TsColumn:
    """Datetimes as epoch milliseconds in int64."""

    __slots__ = ("vals",)

    def __init__(self, size: int = 0) -> None:
        self.vals = array("q", [MISSING]) * size

    def get(self, i: int) -> str | None:
        v = self.vals[i]
        return None if v == MISSING else iso_ms(v)

    def key(self, i: int) -> object:
        v = self.vals[i]
        return None if v == MISSING else v

    def set(self, i: int, value: str | None) -> None:
        self.vals[i] = MISSING if value is None else parse_ts_ms(value)

    def set_ms(self, i: int, ms: int | None) -> None:
        self.vals[i] = MISSING if ms is None else ms

    def append(self, value: str | None) -> None:
        self.vals.append(MISSING if value is None else parse_ts_ms(value))


class SparseColumn:
    """Custom properties (e.g. ``mqlsync_*``): only records that have a value cost memory."""

    __slots__ = ("kind", "vals")

    def __init__(self, kind: str) -> None:
        self.kind = kind  # PropertyDef.type
        self.vals: dict[int, str] = {}

    def get(self, i: int) -> str | None:
        return self.vals.get(i)

    def key(self, i: int) -> object:
        v = self.vals.get(i)
        if v is None:
            return None
        if self.kind == "number":
            return _number(v)
        if self.kind in ("datetime", "date"):
            return parse_ts_ms(v)
        return v.casefold()

    def set(self, i: int, value: str | None) -> None:
        if value is None:
            self.vals.pop(i, None)
        elif self.kind == "number":
            _number(value)
            self.vals[i] = value.strip()
        elif self.kind in ("datetime", "date"):
            self.vals[i] = iso_ms(parse_ts_ms(value))
        else:
            self.vals[i] = value

    def append(self, value: str | None) -> None:
        raise NotImplementedError("sparse columns are indexed by row, not appended")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ValueError_(f"{text!r} is not a valid number") from exc


def make_column(prop_type: str, size: int, *, sparse: bool = False) -> Column:
    """A dense column of ``size`` empty rows for a property type, or a sparse one."""
    if sparse:
        return SparseColumn(prop_type)
    if prop_type == "number":
        return IntColumn(size)
    if prop_type in ("datetime", "date"):
        return TsColumn(size)
    return StrColumn(size)
