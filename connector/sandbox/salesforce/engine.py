"""SOQL execution against the store, query locators and page rendering.

Why here and not in the parser: name resolution and literal type checks need the schema, and
paging needs server-side cursors.  Semantics follow the *SOQL and SOSL Reference*: text
comparisons and ``LIKE`` are case-insensitive; ``!=``/``NOT IN`` keep null rows (null is a
value in SOQL); ``ORDER BY`` puts nulls first ascending, last descending; long text areas can
be neither filtered nor sorted; a dateTime field needs an unquoted dateTime literal.  Pages
follow the REST *Query* / *Query More Results* resources: ``totalSize``, ``done``,
``nextRecordsUrl`` (``/services/data/vXX.X/query/<locator>-<offset>``), ``records`` each with
``attributes {type, url}``; at most 2,000 rows per page, ``Sforce-Query-Options: batchSize``
honoured between 200 and 2,000; a locator unknown or evicted → ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.salesforce.schema import OBJECTS_LOWER, FieldDef, ObjectDef, make_id, to_18
from connector.sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    Count,
    Expr,
    FieldRef,
    Literal,
    Not,
    Query,
    SoqlError,
    parse,
)
from connector.sandbox.salesforce.store import SalesforceStore, Table, ms_to_sf, to_ms

__all__ = ["MAX_BATCH", "Extract", "QueryService"]

MAX_BATCH = 2000
MIN_BATCH = 200
_MAX_CURSORS = 50

Row = list[Any]
Getter = Callable[[Row], Any]


def _no_column(ref: FieldRef, obj: str) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"No such column '{ref.path[-1]}' on entity '{obj}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
        ref.pos,
    )


@dataclass(frozen=True, slots=True)
class _Bound:
    getter: Getter
    field: FieldDef
    rel: str | None  # relationship name (canonical) when the path has two parts
    rel_fk: int = -1
    col: int = -1


def _bind(store: SalesforceStore, table: Table, ref: FieldRef) -> _Bound:
    obj = table.obj
    path = ref.path
    if len(path) == 2 and path[0].lower() == obj.name.lower():
        path = path[1:]  # SELECT Lead.Email FROM Lead
    if len(path) == 1:
        f = obj.field(path[0])
        if f is None:
            raise _no_column(ref, obj.name)
        col = table.col[f.name.lower()]
        return _Bound(lambda row: row[col], f, None, col=col)
    if len(path) > 2:
        raise SoqlError("INVALID_FIELD", f"Didn't understand relationship '{ref.dotted}'",
                        ref.pos)  # fmt: skip
    lookup = obj.relationship(path[0])
    if lookup is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"Didn't understand relationship '{path[0]}' in field path. If you are attempting "
            "to use a custom relationship, be sure to append the '__r' after the custom "
            "relationship name.",
            ref.pos,
        )
    target = store.tables[lookup.reference_to[0]]
    f = target.obj.field(path[1])
    if f is None:
        raise _no_column(ref, target.obj.name)
    fk, col = table.col[lookup.name.lower()], target.col[f.name.lower()]
    by_id, rows = target.by_id, target.rows

    def get(row: Row) -> Any:
        i = by_id.get(row[fk]) if row[fk] is not None else None
        return None if i is None else rows[i][col]

    return _Bound(get, f, lookup.relationship_name, rel_fk=fk, col=col)


_KIND_FOR = {
    "boolean": "boolean", "int": "number", "double": "number", "currency": "number",
    "datetime": "datetime", "date": "date",
}  # fmt: skip


def _literal(b: _Bound, lit: Literal) -> Any:
    """Check a literal fits the field's type (as Salesforce does) and convert it."""
    if lit.kind == "null":
        return None
    want = _KIND_FOR.get(b.field.type, "string")
    if lit.kind != want:
        hint = (
            "should be enclosed in quotes"
            if want == "string"
            else "should not be enclosed in quotes"
        )
        soap = {"string": "string", "number": "number", "boolean": "boolean",
                "datetime": "dateTime", "date": "date"}[want]  # fmt: skip
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{b.field.name}' must be of type {soap} "
            f"and {hint}",
            lit.pos,
        )
    if want == "datetime":
        return to_ms(lit.value)
    if want == "date":
        return lit.value.isoformat()
    if want == "string":
        s = str(lit.value)
        if b.field.type in ("id", "reference"):
            return make_id_norm(s)
        return s.replace("\\%", "%").replace("\\_", "_").lower()
    return lit.value


def make_id_norm(s: str) -> str:
    """Compare ids in their 18-char form (a 15-char literal matches its 18-char record)."""
    return to_18(s) if len(s) == 15 and s.isalnum() else s


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _compile(store: SalesforceStore, table: Table, e: Expr) -> Callable[[Row], bool]:
    if isinstance(e, BoolOp):
        parts = [_compile(store, table, x) for x in e.items]
        if e.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(e, Not):
        inner = _compile(store, table, e.item)
        return lambda r: not inner(r)
    b = _bind(store, table, e.field)
    if b.field.type == "textarea":
        raise SoqlError("INVALID_FIELD",
                        f"field '{b.field.name}' can not be filtered in a query call",
                        e.field.pos)  # fmt: skip
    g = b.getter
    fold = b.field.is_text
    if e.op in ("IN", "NOT IN"):
        assert isinstance(e.value, tuple)
        values = {_literal(b, lit) for lit in e.value}
        if fold:
            if e.op == "IN":
                return lambda r: (v := g(r)) is not None and v.lower() in values
            return lambda r: (v := g(r)) is None or v.lower() not in values
        if e.op == "IN":
            return lambda r: g(r) in values
        return lambda r: g(r) not in values
    assert isinstance(e.value, Literal)
    lit = e.value
    if e.op == "LIKE":
        if not fold and b.field.type not in ("id", "reference"):
            raise SoqlError(
                "INVALID_FIELD", f"invalid operator on field '{b.field.name}' for LIKE", lit.pos
            )
        rx = _like(str(lit.value))
        return lambda r: (v := g(r)) is not None and rx.fullmatch(v) is not None
    value = _literal(b, lit)
    if value is None:
        if e.op == "=":
            return lambda r: g(r) is None
        if e.op == "!=":
            return lambda r: g(r) is not None
        raise SoqlError("MALFORMED_QUERY", f"invalid operator {e.op} for null", lit.pos)
    if b.field.type == "boolean" and e.op not in ("=", "!="):
        raise SoqlError("INVALID_FIELD", f"invalid operator on boolean field '{b.field.name}'",
                        lit.pos)  # fmt: skip
    key: Callable[[Any], Any] = (lambda v: v.lower()) if fold else (lambda v: v)
    op = e.op
    if op == "=":
        return lambda r: (v := g(r)) is not None and key(v) == value
    if op == "!=":
        return lambda r: (v := g(r)) is None or key(v) != value
    cmp: Callable[[Any, Any], bool] = {
        "<": lambda a, c: a < c, "<=": lambda a, c: a <= c,
        ">": lambda a, c: a > c, ">=": lambda a, c: a >= c,
    }[op]  # fmt: skip
    return lambda r: (v := g(r)) is not None and cmp(key(v), value)


def _candidates(table: Table, where: Expr | None) -> list[int] | None:
    """Row numbers from a lookup index when WHERE pins an id/reference column (= or IN)."""
    terms = [where] if isinstance(where, Comparison) else []
    if isinstance(where, BoolOp) and where.op == "AND":
        terms = [t for t in where.items if isinstance(t, Comparison)]
    for t in terms:
        if t.op not in ("=", "IN") or len(t.field.path) != 1:
            continue
        f = table.obj.field(t.field.path[0])
        if f is None or f.type not in ("id", "reference"):
            continue
        lits = t.value if isinstance(t.value, tuple) else (t.value,)
        if any(lit.kind != "string" for lit in lits):
            continue
        if f.type == "id":
            ids = (table.by_id.get(make_id_norm(str(lit.value))) for lit in lits)
            return sorted({i for i in ids if i is not None})
        idx = table.index(table.col[f.name.lower()])
        out: set[int] = set()
        for lit in lits:
            out.update(idx.get(make_id_norm(str(lit.value)), ()))
        return sorted(out)
    return None


def _render_value(f: FieldDef, v: Any) -> Any:
    if v is None:
        return None
    if f.type == "datetime":
        return ms_to_sf(v)
    if f.type in ("double", "currency"):
        return float(v)
    return v


@dataclass(frozen=True, slots=True)
class Extract:
    """Every row a query selects, with flat columns (``Who.Name`` style headers): what Bulk
    API 2.0 writes as CSV.  Read ``table.rows`` under the store lock."""

    table: Table
    rows: list[int]
    columns: list[tuple[str, Getter, FieldDef]]


@dataclass(slots=True)
class _Cursor:
    table: Table
    rows: list[int]
    render: Callable[[Row], dict[str, Any]]
    batch: int


class QueryService:
    """Runs queries and keeps the last few cursors (Salesforce evicts old locators too)."""

    def __init__(self, store: SalesforceStore) -> None:
        self.store = store
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._serial = 0
        self._lock = threading.Lock()

    def query(
        self, soql: str, *, version: str, include_deleted: bool = False, batch: int = MAX_BATCH
    ) -> dict[str, Any]:
        q = parse(soql)
        with self.store.lock:
            table = self._table(q)
            rows = self._select(q, table, include_deleted)
            if isinstance(q.select[0], Count):
                return self._count(q.select[0], table, rows)
            render = self._renderer(q, table, table.obj, version)
        batch = max(MIN_BATCH, min(MAX_BATCH, batch))
        return self._page(_Cursor(table, rows, render, batch), 0, version)

    def extract(self, q: Query, *, include_deleted: bool = False) -> Extract:
        """All rows of a parsed (non-aggregate) query, unpaged."""
        with self.store.lock:
            table = self._table(q)
            rows = self._select(q, table, include_deleted)
            columns = [(key, b.getter, b.field) for key, b in self._columns(q, table)]
        return Extract(table, rows, columns)

    def more(self, locator: str, *, version: str) -> dict[str, Any]:
        key, _, offset = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(key)
        if cursor is None or not offset.isdigit():
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, int(offset), version, key)

    # -- internals -------------------------------------------------------------------------
    def _table(self, q: Query) -> Table:
        obj = OBJECTS_LOWER.get(q.sobject.lower())
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{q.sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                q.sobject_pos,
            )
        return self.store.tables[obj.name]

    def _columns(self, q: Query, table: Table) -> list[tuple[str, _Bound]]:
        """Bind the SELECT list: (``Field`` or ``Relationship.Field``, binding) in order."""
        out: list[tuple[str, _Bound]] = []
        seen: set[str] = set()
        for ref in q.select:
            assert isinstance(ref, FieldRef)
            b = _bind(self.store, table, ref)
            key = f"{b.rel}.{b.field.name}" if b.rel else b.field.name
            if key.lower() in seen:
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {key}", ref.pos)
            seen.add(key.lower())
            out.append((key, b))
        return out

    def _select(self, q: Query, table: Table, include_deleted: bool) -> list[int]:
        pred = _compile(self.store, table, q.where) if q.where is not None else None
        cand = _candidates(table, q.where)
        rows = table.rows
        deleted = table.col["isdeleted"]
        numbers = range(len(rows)) if cand is None else cand
        out = [
            i for i in numbers
            if (include_deleted or not rows[i][deleted]) and (pred is None or pred(rows[i]))
        ]  # fmt: skip
        for item in reversed(q.order_by):
            b = _bind(self.store, table, item.field)
            if b.field.type == "textarea":
                raise SoqlError("INVALID_FIELD",
                                f"field '{b.field.name}' can not be sorted in a query call",
                                item.field.pos)  # fmt: skip
            g, fold, first = b.getter, b.field.is_text, item.nulls_last == item.descending

            def sort_key(i: int, g: Getter = g, fold: bool = fold, first: bool = first) -> Any:
                v = g(rows[i])
                if v is None:
                    return (0 if first else 2, 0)
                return (1, v.lower() if fold else v)

            out.sort(key=sort_key, reverse=item.descending)
        start = q.offset or 0
        end = start + q.limit if q.limit is not None else None
        return out[start:end]

    def _count(self, c: Count, table: Table, rows: list[int]) -> dict[str, Any]:
        if c.field is None:
            return {"totalSize": len(rows), "done": True, "records": []}
        g = _bind(self.store, table, c.field).getter
        n = sum(1 for i in rows if g(table.rows[i]) is not None)
        rec = {"attributes": {"type": "AggregateResult"}, c.alias or "expr0": n}
        return {"totalSize": 1, "done": True, "records": [rec]}

    def _renderer(
        self, q: Query, table: Table, obj: ObjectDef, version: str
    ) -> Callable[[Row], dict[str, Any]]:
        plan: list[
            tuple[str, Any]
        ] = []  # ("f", (name, col, def)) | ("r", (rel, fk, target, [...]))
        rels: dict[str, list[tuple[str, int, FieldDef]]] = {}
        for _, b in self._columns(q, table):
            if b.rel is None:
                plan.append(("f", (b.field.name, b.col, b.field)))
            else:
                if b.rel not in rels:
                    rels[b.rel] = []
                    lookup = obj.relationship(b.rel)
                    assert lookup is not None
                    target = self.store.tables[lookup.reference_to[0]]
                    plan.append(("r", (b.rel, b.rel_fk, target, rels[b.rel])))
                rels[b.rel].append((b.field.name, b.col, b.field))
        base = f"/services/data/v{version}/sobjects/"
        id_col = table.col["id"]
        name = obj.name

        def render(row: Row) -> dict[str, Any]:
            rec: dict[str, Any] = {
                "attributes": {"type": name, "url": base + name + "/" + row[id_col]}
            }
            for kind, spec in plan:
                if kind == "f":
                    fname, col, fdef = spec
                    rec[fname] = _render_value(fdef, row[col])
                    continue
                rel, fk, target, fields = spec
                j = target.by_id.get(row[fk]) if row[fk] is not None else None
                if j is None:
                    rec[rel] = None
                    continue
                trow = target.rows[j]
                sub: dict[str, Any] = {
                    "attributes": {
                        "type": target.obj.name,
                        "url": base + target.obj.name + "/" + trow[target.col["id"]],
                    }
                }
                for fname, col, fdef in fields:
                    sub[fname] = _render_value(fdef, trow[col])
                rec[rel] = sub
            return rec

        return render

    def _page(
        self, cursor: _Cursor, offset: int, version: str, key: str | None = None
    ) -> dict[str, Any]:
        end = offset + cursor.batch
        with self.store.lock:
            rows = cursor.table.rows
            records = [cursor.render(rows[i]) for i in cursor.rows[offset:end]]
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not body["done"]:
            with self._lock:
                if key is None:
                    self._serial += 1
                    key = make_id("01g", self._serial)
                self._cursors[key] = cursor
                self._cursors.move_to_end(key)
                while len(self._cursors) > _MAX_CURSORS:
                    self._cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{key}-{end}"
        elif key is not None:
            with self._lock:
                self._cursors.pop(key, None)
        body["records"] = records
        return body
