"""Reading CRM data defensively: a record's odd value is named and handled per record,
never an exception that stops a run (shared by every adapter).

CRM data can be odd in ways the CRM's own validation does not prevent (imports, old
integrations, API writes): times without a zone or out of range, NUL characters, unpaired
surrogates, values that are not scalars. These helpers say what is wrong (the field and
the value, quoted and cut short) so the adapter can reject the record or drop one value.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from connector.crm.base import Rejected
from connector.errors import FatalSyncError, redact

log = logging.getLogger(__name__)
T = TypeVar("T")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Times from here on are out of range. Later activities still count as recent, but
the scheduler adds windows and cooldowns to activity times, which must stay below year
9999; nothing real is dated this far ahead (typically a "never" placeholder)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN = 60


class BadTime(ValueError):
    """A time that cannot place an activity; the message names the field and the value."""


class NaiveTime(BadTime):
    """A time without a zone: malformed CRM data, the record is rejected."""


@dataclass(slots=True)
class Problems:
    """What could not be read in a block, per contact id."""

    rejected: dict[str, str] = field(default_factory=dict)
    """Why the contact cannot be scored (the first reason found)."""
    dropped: dict[str, list[str]] = field(default_factory=dict)
    """Activities left out of the contact's record, and why."""

    def reject(self, cid: str, reason: str) -> None:
        self.rejected.setdefault(cid, reason)

    def drop(self, cid: str, reason: str) -> None:
        self.dropped.setdefault(cid, []).append(reason)


def shown(value: object) -> str:
    """A CRM value quoted for a message: escaped, and cut short when long."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > _SHOWN:
        return f"{text[:_SHOWN]!r}… ({len(text):,} characters)"
    return repr(text)


def clean_text(text: str) -> str:
    """Text that every store and API can keep: NUL characters removed, unpaired surrogates
    (which no UTF-8 encoder accepts) replaced by U+FFFD. Anything else — emoji,
    right-to-left text, very long values — is kept as it is."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def clean_value(value: object) -> str | int | float | bool | None:
    """A property value as a canonical record keeps it (JSON scalars only).

    Numbers and odd strings pass as they are: scoring reads numeric strings as numbers
    and anything else as missing. Values that are not scalars, and non-finite
    numbers (not JSON), are missing.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    return None


def text_of(value: object) -> str:
    """A value as clean text (empty when missing or not a scalar)."""
    cleaned = clean_value(value)
    return "" if cleaned is None else str(cleaned)


def zoned_time(value: object, what: str, *, epoch_ms: bool = False) -> datetime | None:
    """A CRM datetime in UTC: ISO-8601 with a zone (`+0000` accepted), a date alone
    (midnight UTC), or with `epoch_ms` epoch milliseconds; None when empty.

    Raises `NaiveTime` for a date and time without a zone and `BadTime` for anything that
    is not a usable date (or is at or after `LATEST`); `what` names the field.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        at = value
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            if epoch_ms and text.isascii() and text.lstrip("-").isdigit():
                at = EPOCH + timedelta(milliseconds=int(text))
            else:
                at = datetime.fromisoformat(text.replace("+0000", "+00:00"))
                if at.tzinfo is None and "T" not in text.upper() and ":" not in text:
                    at = at.replace(tzinfo=UTC)  # a date: midnight UTC
        except (ValueError, OverflowError) as exc:
            raise BadTime(f"{what} is not a date: {shown(value)}") from exc
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveTime(f"{what} has no time zone: {shown(value)}")
    try:
        at = at.astimezone(UTC)
    except OverflowError as exc:
        raise BadTime(f"{what} is out of range: {shown(value)}") from exc
    if at >= LATEST:
        raise BadTime(f"{what} is out of range: {shown(value)}")
    return at


class Malformed(FatalSyncError):
    """A record whose CRM data cannot become a canonical record, and why.

    `pull` and `read` put such a record into `Page.rejected` (the sync reports it and keeps
    it as a dead letter) and go on with the rest; `peek`, which has nowhere to reject a
    record to, stops.
    """

    def __init__(self, record_id: str, reason: str) -> None:
        self.record_id = record_id
        self.reason = redact(reason)
        super().__init__(f"record {record_id}: {reason}")


def convert(rid: str, problems: Problems, build: Callable[[], T]) -> T | Rejected:
    """One record's pulled item from `build`, or why it is rejected: a problem found while
    its activities were read, a `Malformed` raised by `build`, or any unexpected error —
    each rejects this record only, never the run. Activities left out are logged."""
    if rid in problems.rejected:
        return Rejected(rid, problems.rejected[rid])
    try:
        item = build()
    except Malformed as exc:
        return Rejected(rid, exc.reason)
    except Exception as exc:  # one odd record must not stop the sync
        log.exception("record %s could not be read", rid)
        return Rejected(rid, redact(f"could not be read: {type(exc).__name__}: {shown(str(exc))}"))
    dropped = problems.dropped.get(rid)
    if dropped:
        log.warning(
            "record %s: %d activit%s left out: %s",
            rid, len(dropped), "y" if len(dropped) == 1 else "ies", "; ".join(dropped),
        )  # fmt: skip
    return item


def first_time(
    row: Mapping[str, object], names: Iterable[str], label: str, *, epoch_ms: bool = False
) -> datetime:
    """The first usable time among the fields `names` of `row` (`label` names the object
    in messages, e.g. "meeting 123"). A time without a zone rejects the record (`NaiveTime`
    propagates); an unreadable one is passed over; with none usable, the first problem
    (or "<label> has no time") is raised as `BadTime`, so the caller leaves it out."""
    problem: BadTime | None = None
    for name in names:
        try:
            at = zoned_time(row.get(name), f"{name} of {label}", epoch_ms=epoch_ms)
        except NaiveTime:
            raise
        except BadTime as exc:
            problem = problem or exc
            continue
        if at is not None:
            return at
    raise problem or BadTime(f"{label} has no time")
