"""The emulator's fast path for keyset search pages gives the general evaluation's rows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sandbox.hubspot.columns import MISSING
from connector.sandbox.hubspot.search import SearchError, _evaluate_all, _keyset_rows
from connector.sandbox.hubspot.table import ObjectTable

BASE = 100
SIZE = 60
T = 1_700_000_000_000

modified = st.one_of(st.just(MISSING), st.integers(T - 50, T + 50))
id_bound = st.tuples(
    st.sampled_from(["GT", "GTE"]),
    st.one_of(st.integers(BASE - 5, BASE + SIZE + 5).map(str), st.just("130.5")),
)
time_bound = st.tuples(
    st.sampled_from(["GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"]),
    st.integers(T - 60, T + 60),
    st.integers(0, 40),
)


def table_with(times: list[int]) -> ObjectTable:
    table = ObjectTable("contacts", SIZE, base=BASE)
    for row, ms in enumerate(times):
        table.modified.vals[row] = ms
    return table


@settings(max_examples=300, deadline=None)
@given(
    st.lists(modified, min_size=SIZE, max_size=SIZE),
    st.lists(id_bound, max_size=2),
    st.lists(time_bound, max_size=2),
    st.booleans(),
)
def test_keyset_pages_match_the_general_evaluation(times, ids, bounds, sorted_by_id) -> None:  # type: ignore[no-untyped-def]
    table = table_with(times)
    filters: list[dict[str, str]] = [
        {"propertyName": "hs_object_id", "operator": op, "value": v} for op, v in ids
    ]
    for op, at, width in bounds:
        f = {"propertyName": "lastmodifieddate", "operator": op, "value": str(at)}
        if op == "BETWEEN":
            f["highValue"] = str(at + width)
        filters.append(f)
    groups = [{"filters": filters}]
    sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}] if sorted_by_id else []
    fast = _keyset_rows(table, groups, sorts, None)
    assert fast is not None
    assert fast == _evaluate_all(table, groups, sorts, None)


def test_other_queries_take_the_general_path() -> None:
    table = table_with([T] * SIZE)
    by_email = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@b.c"}]}]
    two_groups = [{"filters": []}, {"filters": []}]
    by_time = [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]
    assert _keyset_rows(table, by_email, [], None) is None
    assert _keyset_rows(table, two_groups, [], None) is None
    assert _keyset_rows(table, [{"filters": []}], by_time, None) is None
    assert _keyset_rows(table, [{"filters": []}], [], "acme") is None
    bad = [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "x"}]}]
    assert _keyset_rows(table, bad, [], None) is None  # the general path words the error
    try:
        _evaluate_all(table, bad, [], None)
    except SearchError:
        pass
    else:  # pragma: no cover - the general path must refuse it
        raise AssertionError("a non-numeric id bound was accepted")
