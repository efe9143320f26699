"""In-memory record store of the Salesforce emulator: compact rows, a clock, write rules.

Why this shape: 100k persons mean several hundred thousand rows (leads, contacts, tasks,
events, campaign members), so each table keeps one Python list per row in schema column order
(no per-row dicts), datetimes as epoch milliseconds, dates as ISO strings; JSON is rendered per
page.  Lookup-field indexes are built lazily for ``WhoId IN (…)``-style queries.

Write rules follow the REST API error codes (*sObject Collections*, *Status codes and error
responses*): unknown field → ``INVALID_FIELD``; read-only → ``INVALID_FIELD_FOR_INSERT_UPDATE``;
unknown well-formed id → ``INVALID_CROSS_REFERENCE_KEY``; malformed id → ``MALFORMED_ID``;
deleted → ``ENTITY_IS_DELETED``; converted lead → ``CANNOT_UPDATE_CONVERTED_LEAD``; text too
long → ``STRING_TOO_LONG``; bad restricted-picklist value →
``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``; an undeserialisable value fails the whole request
(``JSON_PARSER_ERROR``) as the real JSON deserializer does.  Creates (*Create a Record*) add:
an ``Id`` in the body → ``INVALID_FIELD`` ("cannot specify Id in an insert call"); a required
field absent → ``REQUIRED_FIELD_MISSING`` ("Required fields are missing: [LastName]"); a lookup
to an id of the wrong object → ``FIELD_INTEGRITY_EXCEPTION``, to a missing record →
``INVALID_CROSS_REFERENCE_KEY``; defaults as in a new org (owner = the API user, Lead Status
"Open - Not Contacted", Task Status "Not Started", Priority "Normal", TaskSubtype "Task";
a Task created Completed is closed with ``CompletedDateTime`` now).
"""

from __future__ import annotations

import dataclasses
import operator
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.sandbox.salesforce.schema import (
    KEY_PREFIXES,
    OBJECTS,
    PROVISIONED_FIELDS,
    FieldDef,
    ObjectDef,
    make_id,
    to_18,
)
from connector.sandbox.salesforce.soql import parse_iso_datetime

__all__ = [
    "Checked",
    "Clock",
    "JsonParserError",
    "RecordError",
    "SalesforceStore",
    "Table",
    "ms_to_sf",
]

ASSIGNMENT_QUEUE_ID = make_id("00G", 1)  # owner set when Lead assignment rules re-run
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_REQUIRED = {"Lead": ("LastName", "Company"), "Contact": ("LastName",), "Account": ("Name",),
             "Campaign": ("Name",)}  # fmt: skip
_CREATE_DEFAULTS = {
    "Lead": {"Status": "Open - Not Contacted"},
    "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task"},
}
_OWNER_PREFIXES = ("005", "00G")  # User, Group (queue)

Checked = tuple["Table", int | None, dict[int, Any]]
"""A validated write: table, row number (None for a create) and column → stored value."""


def ms_to_sf(ms: int) -> str:
    """Salesforce's dateTime rendering: ``2026-10-30T12:00:00.000+0000``."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class Clock:
    """Frozen at ``start`` when given (tests move it with :meth:`advance`), else wall time."""

    def __init__(self, start: datetime | None = None) -> None:
        self._fixed_ms: int | None = to_ms(start) if start is not None else None

    def now_ms(self) -> int:
        return self._fixed_ms if self._fixed_ms is not None else int(time.time() * 1000)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC)

    def set(self, when: datetime) -> None:
        self._fixed_ms = to_ms(when)

    def advance(self, seconds: float = 0.0, **kw: float) -> None:
        base = self.now_ms()
        self._fixed_ms = base + int((seconds + timedelta(**kw).total_seconds()) * 1000)


class RecordError(Exception):
    """A per-record save error (``statusCode``, ``message``, ``fields``)."""

    def __init__(self, status_code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


class JsonParserError(Exception):
    """A value the JSON deserializer refuses: the whole request fails with 400."""


class Table:
    """Rows of one sObject type in schema column order."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.columns = [f.name for f in obj.fields]
        self.col = {f.name.lower(): i for i, f in enumerate(obj.fields)}
        self.rows: list[list[Any]] = []
        self.by_id: dict[str, int] = {}
        self._indexes: dict[int, dict[Any, list[int]]] = {}

    def factory(self, names: Sequence[str]) -> Callable[..., list[Any]]:
        """A fast row builder taking values for ``names`` positionally (others None/False).

        The row is one C-level ``itemgetter`` over ``values + defaults``: bulk loads of a few
        hundred thousand rows stay well under a second.
        """
        defaults = tuple(False if f.type == "boolean" else None for f in self.obj.fields)
        where = {self.col[n.lower()]: k for k, n in enumerate(names)}
        pick = operator.itemgetter(*(where.get(c, len(names) + c) for c in range(len(defaults))))
        id_pos = self.col["id"]
        rows, by_id, width = self.rows, self.by_id, len(names)

        def make(*values: Any) -> list[Any]:
            if len(values) != width:
                raise TypeError(f"expected {width} values, got {len(values)}")
            row = list(pick(values + defaults))
            by_id[row[id_pos]] = len(rows)
            rows.append(row)
            return row

        return make

    def index(self, col: int) -> dict[Any, list[int]]:
        """value → row numbers for one column (built on first use, dropped on writes to it)."""
        idx = self._indexes.get(col)
        if idx is None:
            idx = {}
            for i, row in enumerate(self.rows):
                idx.setdefault(row[col], []).append(i)
            self._indexes[col] = idx
        return idx

    def add_field(self, f: FieldDef) -> None:
        """Provision a column (existing rows get null/false), as a metadata deploy does."""
        self.obj = self.obj.with_field(f)
        self.col[f.name.lower()] = len(self.columns)
        self.columns.append(f.name)
        default = False if f.type == "boolean" else None
        for row in self.rows:
            row.append(default)

    def replace_field(self, f: FieldDef) -> None:
        """Change an existing field's definition (same column), as a Setup edit does."""
        self.obj = ObjectDef(
            self.obj.name,
            self.obj.key_prefix,
            tuple(f if g.name.lower() == f.name.lower() else g for g in self.obj.fields),
        )

    def invalidate(self, col: int) -> None:
        self._indexes.pop(col, None)

    def append(self, row: list[Any]) -> None:
        """Add a created record (every lookup index is rebuilt on its next use)."""
        self.by_id[row[self.col["id"]]] = len(self.rows)
        self.rows.append(row)
        self._indexes.clear()


class SalesforceStore:
    """All tables plus the org clock; every public method is thread-safe."""

    def __init__(self, clock: Clock | None = None, *, provisioned: bool = True) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        hidden = frozenset() if provisioned else PROVISIONED_FIELDS
        self.tables: dict[str, Table] = {
            name: Table(o.without(hidden)) for name, o in OBJECTS.items()
        }
        self._serial: dict[str, int] = {}
        self.assignment_runs = 0
        self.custom_field_serial = 0

    def next_id(self, sobject: str) -> str:
        prefix = OBJECTS[sobject].key_prefix
        n = self._serial.get(prefix, 0) + 1
        self._serial[prefix] = n
        return make_id(prefix, n)

    def set_serials(self, serials: dict[str, int]) -> None:
        """Continue id serials after a bulk load (keyed by key prefix)."""
        for prefix, n in serials.items():
            self._serial[prefix] = max(self._serial.get(prefix, 0), n)

    def count(self, sobject: str) -> int:
        return len(self.tables[sobject].rows)

    # -- reads -----------------------------------------------------------------------------
    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """Python values of one record (datetimes aware UTC), or None when absent."""
        table = self.tables[sobject]
        with self.lock:
            i = table.by_id.get(_norm_id(record_id))
            if i is None:
                return None
            row = list(table.rows[i])
        out: dict[str, Any] = {}
        for f, v in zip(table.obj.fields, row, strict=True):
            if f.type == "datetime" and v is not None:
                v = datetime.fromtimestamp(v / 1000, UTC)
            elif f.type == "date" and v is not None:
                v = date.fromisoformat(v)
            out[f.name] = v
        return out

    # -- test helpers ----------------------------------------------------------------------
    def touch(self, sobject: str, record_id: str, **fields: Any) -> None:
        """Simulate an edit made in Salesforce: set fields (read-only too) and bump modstamp."""
        with self.lock:
            table = self.tables[sobject]
            i = table.by_id[_norm_id(record_id)]
            updates = {}
            for name, value in fields.items():
                f = table.obj.field(name)
                if f is None:
                    raise KeyError(f"No such column '{name}' on {sobject}")
                updates[table.col[f.name.lower()]] = _coerce(f, _py_to_json(value))
            self._apply(table, i, updates)

    def set_picklist(self, sobject: str, name: str, values: Sequence[str]) -> None:
        """Simulate an admin editing a picklist's values in Setup (e.g. Lead Status)."""
        with self.lock:
            table = self.tables[sobject]
            f = table.obj.field(name)
            if f is None or f.type != "picklist":
                raise KeyError(f"No picklist '{name}' on {sobject}")
            table.replace_field(dataclasses.replace(f, picklist=tuple(values)))

    def add_task(
        self,
        who_id: str,
        *,
        subtype: str = "Call",
        subject: str = "Call",
        completed_at: datetime | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Log a Task (completed when ``completed_at`` is given, else open) as a rep would."""
        now = self.clock.now_ms()
        created = to_ms(created_at) if created_at else now
        done = to_ms(completed_at) if completed_at else None
        with self.lock:
            tid = self.next_id("Task")
            self.tables["Task"].factory(_TASK_COLS)(
                tid, created, created, max(created, now), who_id, subject, subtype,
                "Completed" if done else "Not Started", done is not None,
                _iso_date(done or created), done, _OWNER,
            )  # fmt: skip
            self.tables["Task"].invalidate(self.tables["Task"].col["whoid"])
        return tid

    def add_event(self, who_id: str, *, start: datetime, subject: str = "Meeting") -> str:
        now = self.clock.now_ms()
        s = to_ms(start)
        with self.lock:
            eid = self.next_id("Event")
            self.tables["Event"].factory(_EVENT_COLS)(
                eid, now, now, now, who_id, subject, s, s + 1_800_000, s, 30, _OWNER
            )
            self.tables["Event"].invalidate(self.tables["Event"].col["whoid"])
        return eid

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft-delete (recycle bin): hidden from ``query``, shown by ``queryAll``."""
        self.touch(sobject, record_id, IsDeleted=True)

    # -- writes ----------------------------------------------------------------------------
    def check_update(
        self, sobject: str | None, record_id: Any, values: dict[str, Any]
    ) -> tuple[Table, int, dict[int, Any]]:
        """Validate one update; return (table, row, column → stored value) or raise."""
        if not isinstance(record_id, str) or not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
        if not _ID_RE.match(record_id):
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", ["Id"])
        rid = _norm_id(record_id)
        owner = KEY_PREFIXES.get(rid[:3])
        if sobject is not None and sobject not in OBJECTS:
            raise RecordError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        sobject = sobject or owner
        table = self.tables.get(sobject or "")
        i = table.by_id.get(rid) if table is not None else None
        if table is None or i is None or owner != sobject:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        row = table.rows[i]
        if row[table.col["isdeleted"]]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
        if sobject == "Lead" and row[table.col["isconverted"]]:
            raise RecordError(
                "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", ["Id"]
            )
        return table, i, self._check_values(table, values, creating=False)

    def check_create(self, sobject: str | None, record_id: Any, values: dict[str, Any]) -> Checked:
        """Validate one create; return (table, None, column → stored value) or raise."""
        if record_id is not None:
            raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        table = self.tables.get(sobject or "")
        if table is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        updates = self._check_values(table, values, creating=True)
        given = {table.columns[c] for c, v in updates.items() if v not in (None, "")}
        missing = [n for n in _REQUIRED.get(table.obj.name, ()) if n not in given]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )  # fmt: skip
        return table, None, updates

    def _check_values(
        self, table: Table, values: dict[str, Any], *, creating: bool
    ) -> dict[int, Any]:
        sobject = table.obj.name
        unknown = [k for k in values if table.obj.field(k) is None]
        if unknown:
            raise RecordError(
                "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {sobject}",
                unknown,
            )  # fmt: skip
        defs = [table.obj.field(k) for k in values]
        readonly = [
            f.name
            for f in defs
            if f is not None and not (f.createable if creating else f.updateable)
        ]
        if readonly:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            )
        updates: dict[int, Any] = {}
        for f, raw in zip(defs, values.values(), strict=True):
            assert f is not None
            v = _coerce(f, raw)
            _validate(sobject, f, v)
            if creating and f.type == "reference" and v is not None:
                self._check_lookup(f, v)
            updates[table.col[f.name.lower()]] = v
        return updates

    def _check_lookup(self, f: FieldDef, value: str) -> None:
        """A lookup must name a record of one of the field's target types."""
        bad_type = RecordError(
            "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}",
            [f.name],
        )  # fmt: skip
        if not _ID_RE.match(value):
            raise RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}",
                              [f.name])  # fmt: skip
        if f.name == "OwnerId":
            if not value.startswith(_OWNER_PREFIXES):
                raise bad_type
            return
        target = KEY_PREFIXES.get(value[:3])
        if target not in f.reference_to:
            raise bad_type
        table = self.tables[target]
        i = table.by_id.get(_norm_id(value))
        if i is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                              [f.name])  # fmt: skip
        if table.rows[i][table.col["isdeleted"]]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [f.name])

    def insert(self, table: Table, values: dict[int, Any], *, auto_assign: bool) -> str:
        """Create a validated record with the org's defaults; return its id.  Leads run
        assignment unless ``Sforce-Auto-Assign: FALSE``."""
        obj, col = table.obj, table.col
        now = self.clock.now_ms()
        row: list[Any] = [False if f.type == "boolean" else None for f in obj.fields]
        for name, value in _CREATE_DEFAULTS.get(obj.name, {}).items():
            row[col[name.lower()]] = value
        if "ownerid" in col:
            row[col["ownerid"]] = _OWNER
        for c, value in values.items():
            row[c] = value
        new_id = self.next_id(obj.name)
        row[col["id"]] = new_id
        for name in ("createddate", "lastmodifieddate", "systemmodstamp"):
            row[col[name]] = now
        if "name" in col and "lastname" in col:
            first, last = row[col["firstname"]], row[col["lastname"]]
            row[col["name"]] = " ".join(p for p in (first, last) if p)
        if obj.name == "Task" and row[col["status"]] == "Completed":
            row[col["isclosed"]] = True
            row[col["completeddatetime"]] = now
        if obj.name == "Lead" and auto_assign:
            row[col["ownerid"]] = ASSIGNMENT_QUEUE_ID
            self.assignment_runs += 1
        table.append(row)
        return new_id

    def apply_update(
        self, table: Table, i: int, updates: dict[int, Any], *, auto_assign: bool
    ) -> None:
        """Write validated values; Leads re-run assignment unless ``Sforce-Auto-Assign: FALSE``."""
        if table.obj.name == "Lead" and auto_assign:
            updates = {**updates, table.col["ownerid"]: ASSIGNMENT_QUEUE_ID}
            self.assignment_runs += 1
        self._apply(table, i, updates)

    def _apply(self, table: Table, i: int, updates: dict[int, Any]) -> None:
        now = self.clock.now_ms()
        row = table.rows[i]
        for col, value in updates.items():
            row[col] = value
            table.invalidate(col)
        row[table.col["lastmodifieddate"]] = now
        row[table.col["systemmodstamp"]] = now


def _norm_id(record_id: str) -> str:
    return to_18(record_id) if len(record_id) == 15 else record_id


def _iso_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _py_to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _coerce(f: FieldDef, raw: Any) -> Any:
    """JSON value → stored value; raise JsonParserError where Salesforce's parser would."""
    if raw is None:
        return False if f.type == "boolean" else None
    t = f.type
    bad = JsonParserError(
        f"Cannot deserialize instance of {t} from {type(raw).__name__} value {raw!r} "
        f"for field {f.name}"
    )
    if f.is_text or t in ("id", "reference"):
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise bad
        return str(raw)
    if t == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise bad
    if t in ("int", "double", "currency"):
        if isinstance(raw, bool):
            raise bad
        if isinstance(raw, str):
            if not _NUMERIC.match(raw):
                raise bad
            raw = float(raw)
        if not isinstance(raw, (int, float)):
            raise bad
        if t == "int":
            if float(raw) != int(raw):
                raise bad
            return int(raw)
        return float(raw)
    if t == "datetime":
        if not isinstance(raw, str):
            raise bad
        try:
            return to_ms(parse_iso_datetime(raw))
        except ValueError:
            raise bad from None
    if t == "date":
        try:
            return date.fromisoformat(str(raw)[:10]).isoformat()
        except ValueError:
            raise bad from None
    raise bad  # pragma: no cover


def _validate(sobject: str, f: FieldDef, v: Any) -> None:
    if isinstance(v, str) and f.length and len(v) > f.length and f.type != "reference":
        raise RecordError(
            "STRING_TOO_LONG",
            f"{f.label}: data value too large: {v[:40]}... (max length={f.length})",
            [f.name],
        )
    if f.restricted and v not in f.picklist and (v is not None or f.name == "Status"):
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{sobject} {f.label}: bad value for restricted picklist field: {v}",
            [f.name],
        )
    if f.name == "LastName" and not v:
        raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]",
                          [f.name])  # fmt: skip


_OWNER = make_id("005", 1)
_TASK_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "WhoId", "Subject",
    "TaskSubtype", "Status", "IsClosed", "ActivityDate", "CompletedDateTime", "OwnerId",
)  # fmt: skip
_EVENT_COLS = (
    "Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "WhoId", "Subject",
    "StartDateTime", "EndDateTime", "ActivityDateTime", "DurationInMinutes", "OwnerId",
)  # fmt: skip
