"""CRM v3 search: filterGroups (OR of ANDs), sorts, offset paging with HubSpot's limits.

Followed HubSpot's search guide ("Limitations": ≤ 200 results per page, at most 10,000 results per
query, paging past them is a 400; ≤ 5 filterGroups, ≤ 10 filters per group, ≤ 25 in total, per the
August 2024 changelog) and the SDK model ``PublicObjectSearchRequest`` (``after`` is a string
offset, ``sorts`` items are strings or ``{propertyName, direction}``).  ``total`` is the full match
count even past 10,000.  Results for one query are cached per store version, so paging through a
20k-row result does not re-filter each page; a range filter on the last-modified date slices the
table's sorted index.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from connector.sandbox.hubspot.columns import MISSING, ValueError_, parse_ts_ms
from connector.sandbox.hubspot.schema import PropertyDef
from connector.sandbox.hubspot.table import ObjectTable

__all__ = ["MAX_LIMIT", "MAX_RESULTS", "SearchEngine", "SearchError", "default_properties_for"]

MAX_LIMIT: Final = 200
MAX_RESULTS: Final = 10_000
MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS = 5, 10, 25
_RANGE_OPS: Final = frozenset({"GT", "GTE", "LT", "LTE", "BETWEEN", "EQ"})
_DEFAULTS: Final = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
}
_TOKEN_SPLIT = re.compile(r"[\s,;:/|()\[\]]+")

Pred = Callable[[int], bool]


class SearchError(Exception):
    """A request HubSpot would answer with 400 VALIDATION_ERROR."""


def default_properties_for(object_type: str) -> tuple[str, ...]:
    return _DEFAULTS.get(object_type, ("hs_timestamp",))


class SearchEngine:
    """Evaluates search bodies against a table; small LRU of full result row lists."""

    def __init__(self, cache_size: int = 16) -> None:
        self._cache: OrderedDict[tuple[object, ...], list[int]] = OrderedDict()
        self._cache_size = cache_size

    def search(
        self, table: ObjectTable, body: Mapping[str, Any], version: int
    ) -> dict[str, object]:
        limit = _int(body.get("limit", 10), "limit")
        after = _int(body.get("after") or 0, "after")
        if limit < 0 or limit > MAX_LIMIT:
            raise SearchError(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
        if after + limit > MAX_RESULTS:
            raise SearchError(
                f"Cannot page beyond {MAX_RESULTS} results: after={after} + limit={limit}"
            )
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        query = body.get("query")
        _check_shape(groups)
        key = (
            table.object_type,
            version,
            json.dumps([groups, sorts, query], sort_keys=True, default=str),
        )
        rows = self._cache.get(key)
        if rows is None:
            rows = _evaluate(table, groups, sorts, query)
            self._cache[key] = rows
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        names = body.get("properties") or default_properties_for(table.object_type)
        page = rows[after : after + limit]
        out: dict[str, object] = {
            "total": len(rows),
            "results": [table.render(r, names) for r in page],
        }
        if after + limit < len(rows) and limit > 0:
            out["paging"] = {"next": {"after": str(after + limit)}}
        return out


def _int(raw: object, name: str) -> int:
    try:
        return int(str(raw))
    except ValueError as exc:
        raise SearchError(f"{name} must be an integer, got {raw!r}") from exc


def _check_shape(groups: object) -> None:
    if not isinstance(groups, list):
        raise SearchError("filterGroups must be a list")
    total = 0
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups ({len(groups)} > {MAX_GROUPS})")
    for g in groups:
        filters = g.get("filters") if isinstance(g, dict) else None
        if not isinstance(filters, list):
            raise SearchError("each filterGroup needs a filters list")
        if len(filters) > MAX_PER_GROUP:
            raise SearchError(f"Too many filters in a group ({len(filters)} > {MAX_PER_GROUP})")
        total += len(filters)
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters ({total} > {MAX_FILTERS})")


def _evaluate(
    table: ObjectTable, groups: Sequence[Mapping[str, Any]], sorts: object, query: object
) -> list[int]:
    rows = _keyset_rows(table, groups, sorts, query)
    return _evaluate_all(table, groups, sorts, query) if rows is None else rows


def _keyset_rows(
    table: ObjectTable, groups: Sequence[Mapping[str, Any]], sorts: object, query: object
) -> list[int] | None:
    """The rows of the query a keyset pull sends for every page — one filter group of
    last-modified bounds and an ``hs_object_id`` lower bound, in id order — found with
    plain comparisons over the rows past the bound; None for any other query.

    The general evaluation calls a predicate per row and sorts the whole table by a key
    function, and the writes between pages empty the result cache: a 1M-contact pull
    took hours in the emulator for that alone.
    """
    if len(groups) != 1 or (isinstance(query, str) and query.strip()):
        return None
    if _sort_specs(table, sorts) not in ([], [("hs_object_id", False)]):
        return None
    start = 0
    modified: list[Mapping[str, Any]] = []
    for f in groups[0]["filters"]:
        name, op = f.get("propertyName"), str(f.get("operator", "EQ")).upper()
        if name == table.modified_name and op in _RANGE_OPS:
            modified.append(f)
            continue
        if name != "hs_object_id" or op not in ("GT", "GTE"):
            return None
        try:
            bound = float(str(f.get("value")))
        except ValueError:
            return None  # the general evaluation words the error
        if not math.isfinite(bound):
            return None
        first = math.floor(bound) + 1 if op == "GT" else math.ceil(bound)
        start = max(start, first - table.base - 1)
    lo, hi = _modified_bounds(table, modified)
    vals = table.modified.vals
    return [r for r in range(start, table.size) if lo <= vals[r] <= hi]


def _modified_bounds(table: ObjectTable, filters: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """Inclusive last-modified bounds of range filters on it (open ends: the int64 range,
    so rows with no modified time pass an open lower end, as the index slice has them)."""
    lo, hi, lo_incl, hi_incl, _ = _range_of(table, filters)
    low = MISSING if lo is None else (lo if lo_incl else lo + 1)
    high = 2**63 - 1 if hi is None else (hi if hi_incl else hi - 1)
    return low, high


def _evaluate_all(
    table: ObjectTable, groups: Sequence[Mapping[str, Any]], sorts: object, query: object
) -> list[int]:
    sort_specs = _sort_specs(table, sorts)
    ordered = False
    if not groups:
        rows: list[int] = list(range(table.size))
    else:
        found: set[int] = set()
        rows = []
        for g in groups:
            candidates, rest = _candidates(table, g["filters"])
            preds = [_predicate(table, f) for f in rest]
            hits = [r for r in candidates if all(p(r) for p in preds)]
            if len(groups) == 1:
                rows = hits
                ordered = candidates is not None and not isinstance(candidates, range)
            else:
                found.update(hits)
        if len(groups) > 1:
            rows = sorted(found)
    if isinstance(query, str) and query.strip():
        rows = [r for r in rows if _query_match(table, r, query.strip().casefold())]
    if sort_specs:
        if not (ordered and sort_specs == [(table.modified_name, False)]):
            for name, desc in reversed(sort_specs):
                rows.sort(key=_sort_key(table, name, desc), reverse=desc)
    elif ordered:
        rows.sort()
    return rows


def _sort_specs(table: ObjectTable, sorts: object) -> list[tuple[str, bool]]:
    specs: list[tuple[str, bool]] = []
    for s in sorts if isinstance(sorts, list) else []:
        if isinstance(s, str):
            desc = s.startswith("-")
            name = s.lstrip("-")
        elif isinstance(s, dict):
            name = str(s.get("propertyName", ""))
            desc = str(s.get("direction", "ASCENDING")).upper().startswith("DESC")
        else:
            continue
        if name not in table.props:
            raise SearchError(f"Cannot sort by unknown property {name!r}")
        specs.append((name, desc))
    return specs


def _sort_key(table: ObjectTable, name: str, desc: bool) -> Callable[[int], tuple[bool, Any]]:
    key = table.sort_key

    def k(row: int) -> tuple[bool, Any]:
        v = key(row, name)
        return ((v is None) != desc, v if v is not None else 0)  # missing values sort last

    return k


def _candidates(
    table: ObjectTable, filters: Sequence[Mapping[str, Any]]
) -> tuple[Sequence[int], list[Mapping[str, Any]]]:
    """Rows to test: a slice of the modified index when the group bounds the modified date."""
    lo, hi, lo_incl, hi_incl, rest = _range_of(table, filters)
    if lo is None and hi is None:
        return range(table.size), rest
    return table.rows_modified_between(lo, hi, lo_incl=lo_incl, hi_incl=hi_incl), rest


def _range_of(
    table: ObjectTable, filters: Sequence[Mapping[str, Any]]
) -> tuple[int | None, int | None, bool, bool, list[Mapping[str, Any]]]:
    """The last-modified range the filters bound (low, high, each inclusive or not), and
    the other filters."""
    lo: int | None = None
    hi: int | None = None
    lo_incl = hi_incl = True
    rest: list[Mapping[str, Any]] = []
    for f in filters:
        op = str(f.get("operator", "EQ")).upper()
        if f.get("propertyName") != table.modified_name or op not in _RANGE_OPS:
            rest.append(f)
            continue
        try:
            v = parse_ts_ms(str(f.get("value")))
            high = parse_ts_ms(str(f.get("highValue"))) if op == "BETWEEN" else v
        except ValueError_ as exc:
            raise SearchError(str(exc)) from exc
        if op in ("GT", "GTE", "BETWEEN", "EQ") and (lo is None or v >= lo):
            lo, lo_incl = v, op != "GT"
        if op in ("LT", "LTE", "BETWEEN", "EQ") and (hi is None or high <= hi):
            hi, hi_incl = high, op != "LT"
    return lo, hi, lo_incl, hi_incl, rest


def _coerce(prop: PropertyDef | None, raw: object) -> object:
    if raw is None:
        return None
    text = str(raw)
    try:
        if prop is not None and prop.type == "number":
            return float(text)
        if prop is not None and prop.type in ("datetime", "date"):
            return parse_ts_ms(text)
    except (ValueError, ValueError_) as exc:
        raise SearchError(f"Invalid value {text!r} for this property") from exc
    return text.casefold()


def _predicate(table: ObjectTable, f: Mapping[str, Any]) -> Pred:
    name = str(f.get("propertyName", ""))
    op = str(f.get("operator", "EQ")).upper()
    prop = table.props.get(name)
    if prop is None and name != "hs_object_id":
        raise SearchError(f"Unknown property {name!r} in filter")
    key = table.sort_key

    def val(row: int) -> Any:
        v = key(row, name)
        return float(v) if isinstance(v, int) and prop is not None and prop.type == "number" else v

    if op == "HAS_PROPERTY":
        return lambda r: key(r, name) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda r: key(r, name) in (None, "")
    if op in ("IN", "NOT_IN"):
        wanted = {_coerce(prop, v) for v in f.get("values") or []}
        if op == "IN":
            return lambda r: val(r) in wanted
        return lambda r: val(r) not in wanted
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        match = _token_matcher(str(f.get("value", "")))
        if op == "CONTAINS_TOKEN":
            return lambda r: match(table.value(r, name))
        return lambda r: not match(table.value(r, name))
    target = _coerce(prop, f.get("value"))
    if op == "EQ":
        return lambda r: val(r) == target
    if op == "NEQ":
        return lambda r: val(r) != target
    if op == "BETWEEN":
        high = _coerce(prop, f.get("highValue"))
        return lambda r: (v := val(r)) is not None and target <= v <= high
    cmp: dict[str, Callable[[Any, Any], bool]] = {
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
    }
    if op not in cmp:
        raise SearchError(f"Unsupported operator {op!r}")
    fn = cmp[op]
    return lambda r: (v := val(r)) is not None and type(v) is type(target) and fn(v, target)


def _token_matcher(token: str) -> Callable[[str | None], bool]:
    """HubSpot CONTAINS_TOKEN: whole-token match, ``*`` as a wildcard (e.g. ``*@acme.io``)."""
    t = token.casefold()
    if "*" in t:
        rx = re.compile("^" + ".*".join(re.escape(p) for p in t.split("*")) + "$")
        return lambda v: (
            v is not None
            and (
                bool(rx.match(v.casefold()))
                or any(rx.match(x) for x in _TOKEN_SPLIT.split(v.casefold()))
            )
        )
    return lambda v: v is not None and (v.casefold() == t or t in _TOKEN_SPLIT.split(v.casefold()))


def _query_match(table: ObjectTable, row: int, q: str) -> bool:
    for name in default_properties_for(table.object_type):
        v = table.value(row, name)
        if v is not None and q in v.casefold():
            return True
    return False
