"""Canonical lead records: the one shape every CRM adapter produces, and the JSONL that
`mqlsync score`, `explain` and `backtest` read.

Records are plain slotted dataclasses rather than pydantic models: the scoring hot path
reads millions of them. A JSONL line is decoded by msgspec straight into these classes
(typed decoding with RFC 3339 time parsing in C, faster than `json.loads` alone; the
compiled build goes through the structs of `connector.core.wire`); a line it refuses goes
through the hand validator, which either accepts it (ids given as numbers, `null` for an
empty list, ISO forms RFC 3339 lacks) or says exactly what is wrong and where.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Annotated, Any, TextIO

import msgspec

from connector.core.wire import WireRecord

ACTIVITY_TYPES: frozenset[str] = frozenset(
    {
        "page_view",
        "form_submission",
        "content_download",
        "email_open",
        "email_click",
        "email_reply",
        "email_bounce",
        "unsubscribe",
        "webinar_registration",
        "webinar_attendance",
        "meeting",
        "call",
        "chat",
        "demo_request",
        "trial_signup",
        "product_usage",
        "sales_touch",
    }
)
"""The canonical activity vocabulary; other types are kept but only rules naming them match."""


_CANONICAL_TYPES = {name: name for name in ACTIVITY_TYPES}
"""Parsed type strings are swapped for these shared objects: a record of thirty activities
then points at a handful of strings instead of thirty copies (less memory, warmer caches)."""


class RecordError(ValueError):
    """A record that cannot be used; the caller reports it and moves on to the next one."""


@dataclass(slots=True, eq=True)
class Activity:
    """One thing a person did (or that happened to them), at an aware time.

    Not frozen: frozen dataclass construction costs several times more, and a record holds
    dozens of activities; treat instances as immutable all the same.
    """

    type: Annotated[str, msgspec.Meta(min_length=1)]
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Render in the canonical JSON shape."""
        return {"type": self.type, "at": format_time(self.at), "detail": dict(self.detail)}


_AT = attrgetter("at")


def _newest_first(activities: tuple[Activity, ...]) -> tuple[Activity, ...]:
    for i in range(len(activities) - 1):
        if activities[i].at < activities[i + 1].at:
            return tuple(sorted(activities, key=_AT, reverse=True))
    return activities


@dataclass(slots=True, frozen=True)
class LeadRecord:
    """A contact or lead with its activities and account, independent of the CRM it came from.

    Activities are kept newest first (sorted on construction, stable for equal times):
    window scans then stop at the first activity older than the window, and "the newest
    activity" is simply the first one.
    """

    id: Annotated[str, msgspec.Meta(min_length=1)]
    crm: str = "unknown"
    object: str = "contact"
    properties: dict[str, Any] = field(default_factory=dict)
    activities: tuple[Activity, ...] = ()
    account: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        ordered = _newest_first(tuple(self.activities))
        if ordered is not self.activities:
            object.__setattr__(self, "activities", ordered)

    def __reduce__(self) -> tuple[type[LeadRecord], tuple[Any, ...]]:
        # Rebuild through __init__: the compiled core (mypyc) cannot restore a frozen
        # dataclass attribute by attribute, and rescore workers send records by pickle.
        fields = (self.id, self.crm, self.object, self.properties, self.activities, self.account)
        return (LeadRecord, fields)

    def to_json(self) -> dict[str, Any]:
        """Render in the canonical JSON shape (the inverse of `parse_record`)."""
        out: dict[str, Any] = {
            "id": self.id,
            "crm": self.crm,
            "object": self.object,
            "properties": dict(self.properties),
            "activities": [a.to_json() for a in self.activities],
        }
        if self.account is not None:
            out["account"] = dict(self.account)
        return out


def format_time(at: datetime) -> str:
    """ISO-8601 UTC with a `Z`, the form every output of mqlsync uses."""
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_time(value: object, what: str) -> datetime:
    """Parse an ISO-8601 timestamp that carries a zone; naive times are ambiguous, so rejected."""
    if not isinstance(value, str):
        raise RecordError(f"{what}: expected an ISO-8601 string, got {type(value).__name__}")
    try:
        # RFC 3339 first, by the parser the JSONL decoder uses, so a time reads the same
        # whichever path its line took (it rounds digits past microseconds, accepts `z`)
        at = msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(f"{what}: {value!r} is not an ISO-8601 timestamp") from None
    if at.tzinfo is None:
        raise RecordError(f"{what}: {value!r} has no time zone (add 'Z' or an offset like +00:00)")
    return at


def _parse_activity(raw: object) -> Activity:
    """One activity; a `RecordError` names the field after the activity's place
    (`.at: ...`), which the caller puts in front, so a good activity formats no text."""
    if not isinstance(raw, dict):
        raise RecordError(": expected an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise RecordError(".type: expected a non-empty string")
    kind = _CANONICAL_TYPES.get(kind, kind)
    at = parse_time(raw.get("at"), ".at")
    detail = raw.get("detail")
    if detail is None:
        detail = {}
    elif not isinstance(detail, dict):
        raise RecordError(".detail: expected an object")
    return Activity(kind, at, detail)


def parse_record(raw: object) -> LeadRecord:
    """Validate one decoded JSON value into a `LeadRecord`, or raise `RecordError` saying why."""
    if not isinstance(raw, dict):
        raise RecordError(f"expected a JSON object, got {type(raw).__name__}")
    rid = raw.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str) or not rid:
        raise RecordError("missing 'id' (a non-empty string)")
    props = raw.get("properties")
    if props is None:
        props = {}
    elif not isinstance(props, dict):
        raise RecordError(f"record {rid}: 'properties' must be an object")
    acts = raw.get("activities")
    if acts is None:
        acts = []
    elif not isinstance(acts, list):
        raise RecordError(f"record {rid}: 'activities' must be a list")
    account = raw.get("account")
    if account is not None and not isinstance(account, dict):
        raise RecordError(f"record {rid}: 'account' must be an object")
    crm = raw.get("crm", "unknown")
    obj = raw.get("object", "contact")
    if not isinstance(crm, str) or not isinstance(obj, str):
        raise RecordError(f"record {rid}: 'crm' and 'object' must be strings")
    try:
        activities = tuple([_parse_activity(a) for a in acts])
    except RecordError:
        for index, item in enumerate(acts):  # find which one, only now
            try:
                _parse_activity(item)
            except RecordError as exc:
                raise RecordError(f"record {rid}: activities[{index}]{exc}") from None
        raise
    return LeadRecord(rid, crm, obj, props, activities, account)


@dataclass(slots=True, frozen=True)
class BadLine:
    """A JSONL line that was skipped, with its 1-based line number and the reason."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError)
_PROBE = '{"id": "p", "activities": [{"type": "t", "at": "2026-01-01T00:00:00Z"}]}'


def _typed_decoder() -> Callable[[str], LeadRecord]:
    """msgspec's decoder of one JSONL line to a `LeadRecord` (field types, non-empty id and
    type, aware times).

    The pure build decodes into the record classes directly. The optional mypyc build
    erases their annotations to bare runtime classes (msgspec would leave activities as
    dicts), so it decodes into the structs of `connector.core.wire` and copies them.
    """
    try:
        decode = msgspec.json.Decoder(LeadRecord).decode
        probe = decode(_PROBE)
    except (TypeError, *_DECODE_ERRORS):
        return _from_wire
    decoded: tuple[object, ...] = probe.activities  # as decoded: not trusted to be typed
    return decode if all(type(a) is Activity for a in decoded) else _from_wire


_DECODE_WIRE = msgspec.json.Decoder(WireRecord).decode


def _from_wire(line: str) -> LeadRecord:
    wire = _DECODE_WIRE(line)
    activities = tuple([Activity(a.type, a.at, a.detail) for a in wire.activities])
    return LeadRecord(wire.id, wire.crm, wire.object, wire.properties, activities, wire.account)


_DECODE_RECORD: Callable[[str], LeadRecord] = _typed_decoder()
_DECODE_ANY = msgspec.json.Decoder().decode
"""Plain JSON values, as `json.loads` gives them, in half its time."""


def read_line(line: str) -> LeadRecord:
    """One JSONL line as a record, or `RecordError` saying what is wrong with it.

    The typed decoder takes every line in the canonical shape; whatever it refuses is
    read again as plain JSON by `parse_record`, which accepts the looser forms and words
    the errors, so both paths agree on every line either can read.
    """
    try:
        return _DECODE_RECORD(line)
    except _DECODE_ERRORS:
        pass
    try:
        raw = _DECODE_ANY(line)
    except _DECODE_ERRORS:
        try:  # `json` also takes NaN and lone surrogates, and words what is wrong
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    return parse_record(raw)


def read_jsonl(lines: Iterable[str], first: int = 1) -> Iterator[LeadRecord | BadLine]:
    """Stream records from JSONL; bad lines become `BadLine`s: one typo never stops a run.
    `first` is the number of the first line (a slice of a file read on its own)."""
    for number, line in enumerate(lines, start=first):
        if not line or line.isspace():  # not strip(): that would copy every line
            continue
        try:
            yield read_line(line)
        except RecordError as exc:
            yield BadLine(number, str(exc))


def write_jsonl(out: TextIO, objects: Iterable[Mapping[str, Any]]) -> None:
    """Write compact, key-order-stable JSON lines (byte-identical for identical input)."""
    for obj in objects:
        out.write(json.dumps(obj))
        out.write("\n")
