"""Normalising write-back values so that "no real change" never becomes a write.

CRMs hand back strings ("35", "35.0", "2026-10-30T12:00:00.000Z", "") for what mqlsync
wrote as numbers and datetimes. Both the desired and the current value go through the
same normaliser per field kind before they are compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from connector.crm.base import Value

Kind = Literal["int", "text", "datetime"]


@dataclass(frozen=True, slots=True)
class WriteField:
    """One write-back field every CRM adapter provides, under its logical name."""

    kind: Kind
    description: str
    options: tuple[str, ...] = ()
    """The values of a dropdown field (so lists, filters and reports can use them)."""


WRITE_BACK: dict[str, WriteField] = {
    "fit": WriteField("int", "Fit score: who the lead is (title, size, industry …)"),
    "engagement": WriteField("int", "Engagement score: what the lead did, after caps and decay"),
    "score": WriteField("int", "Total score = fit + engagement"),
    "grade": WriteField(
        "text",
        "Fit letter A–D and engagement digit 1–4 (A1 best)",
        tuple(f"{letter}{digit}" for letter in "ABCD" for digit in "1234"),
    ),
    "route": WriteField(
        "text",
        "sales, nurture, campaign, discard or review",
        ("sales", "nurture", "campaign", "discard", "review"),
    ),
    "temperature": WriteField(
        "text", "hot (hand-raise), warm (accumulated) or cold", ("hot", "warm", "cold")
    ),
    "reasons": WriteField("text", "Top score reasons with evidence"),
    "scored_at": WriteField("datetime", "When mqlsync last changed this lead's score"),
    "mql_at": WriteField("datetime", "When the lead became an MQL"),
    "recycle_reason": WriteField("text", "Why the lead was recycled to nurture"),
    "recycled_at": WriteField("datetime", "When the lead was recycled"),
    "sla": WriteField("text", "SLA state while at MQL: ok or breached:<window>"),
    "model": WriteField(
        "text", "The mapping version that computed the score: <file stem>@<12 hex of its sha256>"
    ),
}
"""The one catalogue of mqlsync's write-back fields: each adapter names them
in its CRM and creates them from this; the pipeline writes exactly these, plus `stage`."""

FIELD_KINDS: dict[str, Kind] = {name: f.kind for name, f in WRITE_BACK.items()} | {"stage": "text"}
"""How each logical field's values compare (the stage is text: canonical stage names)."""


def format_instant(at: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`: the form HubSpot returns and we compare."""
    # isoformat is C and pads the year to four digits (strftime's %Y, 3× slower, does not).
    return at.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_instant(value: object) -> datetime | None:
    """A CRM datetime (ISO string or epoch milliseconds) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.isascii() and text.isdigit():  # not other scripts' digits, which int() accepts
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        at = datetime.fromisoformat(text.replace("+0000", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


_CANONICAL_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
"""The form `format_instant` writes: such a value is its own normal form."""


def normalise(field: str, value: object) -> Value:
    """One comparable form per field kind: int, stripped text, or ms-precision UTC text."""
    if value is None:
        return None
    kind = FIELD_KINDS.get(field, "text")
    # Values already in normal form (every stored one) return as they are: the rescore
    # normalises ~30 values a record, and parsing a time only to print it again is slow.
    if type(value) is int and kind == "int":
        return value
    if type(value) is str and kind == "datetime" and _CANONICAL_INSTANT.fullmatch(value):
        try:
            datetime.fromisoformat(value)  # the shape is right; is it a real time?
        except ValueError:
            return None
        return value
    if kind == "int":
        try:
            return round(float(str(value)))
        except ValueError:
            return None
    if kind == "datetime":
        at = parse_instant(value)
        return None if at is None else format_instant(at)
    text = str(value).strip()
    return text or None


def changed_fields(
    desired: dict[str, Value],
    current: dict[str, Value],
    ignore: frozenset[str],
    normalised: dict[str, Value] | None = None,
) -> dict[str, Value]:
    """Fields whose normalised desired value differs from the current one.

    Returns an empty dict when only `ignore`d fields (timestamps) differ, so a record
    whose score did not change is not written at all. `normalised` holds desired values
    the caller has normalised already (each field's is computed here otherwise).
    """
    done = normalised or {}
    diff = {
        f: v
        for f, v in desired.items()
        if (done[f] if f in done else normalise(f, v)) != normalise(f, current.get(f))
    }
    if diff.keys() <= ignore:
        return {}
    return diff
