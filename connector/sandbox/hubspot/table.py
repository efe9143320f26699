"""One CRM object type stored column-wise, with a sorted last-modified index.

Record ids are ``base + row + 1`` (dense), so id → row is arithmetic, not a dict.  The
last-modified index is a sorted list of ``ms << 24 | row`` keys maintained on every bump (writes
usually move a record to the end, a cheap insert), so incremental searches on the modified date
slice a range by bisection instead of scanning.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable

from connector.sandbox.hubspot.columns import (
    MISSING,
    Column,
    SparseColumn,
    TsColumn,
    iso_ms,
    make_column,
)
from connector.sandbox.hubspot.schema import PropertyDef, default_properties

__all__ = ["ROW_BITS", "ObjectTable"]

ROW_BITS = 24  # rows per table < 16.7M
_ROW_MASK = (1 << ROW_BITS) - 1


class ObjectTable:
    """Columns for one object type; ``created``/``modified`` are the record timestamps."""

    def __init__(self, object_type: str, size: int = 0, *, base: int = 0) -> None:
        self.object_type = object_type
        self.base = base
        self.size = size
        self.props: dict[str, PropertyDef] = default_properties(object_type)
        is_contact = object_type == "contacts"
        self.created_name = (
            "createdate" if object_type in ("contacts", "companies") else ("hs_createdate")
        )
        self.modified_name = "lastmodifieddate" if is_contact else "hs_lastmodifieddate"
        self.columns: dict[str, Column] = {}
        for name, p in self.props.items():
            if name != "hs_object_id":
                self.columns[name] = make_column(p.type, size)
        created = self.columns[self.created_name]
        modified = self.columns[self.modified_name]
        assert isinstance(created, TsColumn) and isinstance(modified, TsColumn)
        self.created: TsColumn = created
        self.modified: TsColumn = modified
        self._mod_index: list[int] | None = None

    # ids ---------------------------------------------------------------------------------
    def row_of(self, record_id: object) -> int | None:
        """Row for an id (string or int), or None when it does not exist."""
        try:
            rid = int(str(record_id))
        except (TypeError, ValueError):
            return None
        row = rid - self.base - 1
        return row if 0 <= row < self.size else None

    def id_of(self, row: int) -> str:
        return str(self.base + row + 1)

    # values ------------------------------------------------------------------------------
    def value(self, row: int, name: str) -> str | None:
        if name == "hs_object_id":
            return self.id_of(row)
        col = self.columns.get(name)
        return None if col is None else col.get(row)

    def sort_key(self, row: int, name: str) -> object:
        if name == "hs_object_id":
            return self.base + row + 1
        col = self.columns.get(name)
        return None if col is None else col.key(row)

    def add_property(self, prop: PropertyDef) -> None:
        """A property created through the properties API: sparse, typed by its definition."""
        self.props[prop.name] = prop
        self.columns[prop.name] = make_column(prop.type, self.size, sparse=True)

    def add_row(self) -> int:
        """Append an empty row (dense columns grow; sparse ones need nothing). The modified
        index is rebuilt on its next use: the caller sets the row's times after this."""
        self._mod_index = None
        for col in self.columns.values():
            if not isinstance(col, SparseColumn):
                col.append(None)
        self.size += 1
        return self.size - 1

    def render(self, row: int, names: Iterable[str]) -> dict[str, object]:
        """SimplePublicObject JSON: ``id``, string ``properties``, ``createdAt``/``updatedAt``."""
        props: dict[str, str | None] = {
            "hs_object_id": self.id_of(row),
            self.created_name: self.created.get(row),
            self.modified_name: self.modified.get(row),
        }
        for n in names:
            if n not in props:
                props[n] = self.value(row, n)
        created = self.created.vals[row]
        modified = self.modified.vals[row]
        return {
            "id": self.id_of(row),
            "properties": props,
            "createdAt": iso_ms(created if created != MISSING else 0),
            "updatedAt": iso_ms(modified if modified != MISSING else 0),
            "archived": False,
        }

    # last-modified index -------------------------------------------------------------------
    def _index(self) -> list[int]:
        if self._mod_index is None:
            vals = self.modified.vals
            self._mod_index = sorted((vals[r] << ROW_BITS) | r for r in range(self.size))
        return self._mod_index

    def bump_modified(self, row: int, ms: int) -> None:
        """Set the row's modified time, keeping the sorted index in step."""
        old = self.modified.vals[row]
        index = self._mod_index
        if index is not None:
            key = (old << ROW_BITS) | row
            pos = bisect_left(index, key)
            if pos < len(index) and index[pos] == key:
                del index[pos]
            insort(index, (ms << ROW_BITS) | row)
        self.modified.vals[row] = ms

    def rows_modified_between(
        self, lo: int | None, hi: int | None, *, lo_incl: bool = True, hi_incl: bool = True
    ) -> list[int]:
        """Rows with lo ≤ modified ≤ hi (bounds optional/exclusive), in (modified, id) order."""
        index = self._index()
        start = 0
        if lo is not None:
            start = (
                bisect_left(index, lo << ROW_BITS)
                if lo_incl
                else bisect_left(index, (lo + 1) << ROW_BITS)
            )
        end = len(index)
        if hi is not None:
            end = (
                bisect_right(index, (hi << ROW_BITS) | _ROW_MASK)
                if hi_incl
                else bisect_left(index, hi << ROW_BITS)
            )
        return [k & _ROW_MASK for k in index[start:end]]

    def modified_keys_after(self, key: int, limit: int) -> list[int]:
        """Up to ``limit`` index keys (``ms << ROW_BITS | row``) greater than ``key``, in
        order: a cursor over the modified index that costs O(limit) per page, not O(rows)."""
        index = self._index()
        start = bisect_right(index, key)
        return index[start : start + limit]

    def max_modified(self) -> int:
        index = self._index()
        return (index[-1] >> ROW_BITS) if index else 0
