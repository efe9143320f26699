"""Watermark value object: lookback window and run-start cap (style lessons 2 and 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.state import EPOCH, Watermark

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(minutes=10)


def test_since_subtracts_lookback() -> None:
    assert Watermark("lastmodifieddate", T0, LOOKBACK).since == T0 - LOOKBACK


def test_initial_watermark_backfills_from_epoch() -> None:
    wm = Watermark.initial("lastmodifieddate", LOOKBACK)
    assert wm.value == EPOCH
    assert wm.since == EPOCH


def test_advance_takes_max_seen_when_before_run_start() -> None:
    wm = Watermark("f", T0, LOOKBACK)
    seen = T0 + timedelta(minutes=5)
    assert wm.advance(seen, T0 + timedelta(minutes=9)).value == seen


def test_advance_is_capped_at_run_start() -> None:
    """A record edited mid-run (after start) must be re-read next run."""
    started = T0 + timedelta(minutes=9)
    wm = Watermark("f", T0, LOOKBACK).advance(started + timedelta(seconds=30), started)
    assert wm.value == started


def test_advance_never_moves_backwards() -> None:
    wm = Watermark("f", T0, LOOKBACK)
    assert wm.advance(T0 - timedelta(minutes=3), T0 + timedelta(hours=1)).value == T0


def test_advance_without_records_keeps_cursor() -> None:
    wm = Watermark("f", T0, LOOKBACK)
    assert wm.advance(None, T0 + timedelta(hours=1)) is wm


def test_advance_keeps_field_and_lookback() -> None:
    wm = Watermark("f", T0, LOOKBACK).advance(T0 + timedelta(1), T0 + timedelta(2))
    assert (wm.field, wm.lookback) == ("f", LOOKBACK)


def test_naive_datetimes_rejected() -> None:
    naive = datetime(2026, 11, 1, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        Watermark("f", naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        Watermark("f", T0).advance(naive, T0)


def test_negative_lookback_rejected() -> None:
    with pytest.raises(ValueError, match="lookback"):
        Watermark("f", T0, timedelta(minutes=-1))


def test_watermark_is_frozen() -> None:
    wm = Watermark("f", T0)
    with pytest.raises(AttributeError):
        wm.value = T0  # type: ignore[misc]


aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(aware, aware, aware)
def test_advance_bounds(value: datetime, seen: datetime, started: datetime) -> None:
    """The new cursor is ≥ the old one and never beyond the run start unless it already was."""
    new = Watermark("f", value).advance(seen, started)
    assert new.value >= value
    assert new.value <= max(value, started)
    assert new.value <= max(value, seen)


def test_other_zones_compare_by_instant() -> None:
    paris = timezone(timedelta(hours=1))
    started = datetime(2026, 11, 1, 13, 0, tzinfo=paris)  # == T0
    assert Watermark("f", T0 - timedelta(hours=1)).advance(T0 + timedelta(1), started).value == T0
