"""HubSpot sandbox data: tables, associations, property definitions, writes and a clock.

Write semantics follow HubSpot's CRM v3 docs: values are strings (numbers/booleans coerced),
``""`` clears a property, an unknown property is a per-input ``PROPERTY_DOESNT_EXIST`` error,
``lifecyclestage`` only moves forward (a backward value is silently ignored; clearing it first
with ``""`` lets a later request set any stage), and ``lastmodifieddate`` is bumped whenever a
write changes something.  Write times come from ``clock`` but never go backwards and never fall
behind the newest synthetic timestamp, so incremental pulls always see writes.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from connector.sandbox.hubspot.build import (
    ENGAGEMENT_BASE,
    MQL_DATE,
    add_engagement_row,
    load_synthetic,
)
from connector.sandbox.hubspot.columns import TsColumn, ValueError_, iso_ms, parse_ts_ms
from connector.sandbox.hubspot.schema import (
    ASSOCIATION_TYPES,
    LIFECYCLE_ORDER,
    PropertyDef,
    PropertyGroupDef,
    default_groups,
)
from connector.sandbox.hubspot.table import ObjectTable

__all__ = ["Conflict", "HubSpotStore", "InputError", "ManualClock"]


class ManualClock:
    """A controllable time source for tests and benchmarks (seconds since the epoch)."""

    def __init__(self, start: datetime) -> None:
        self._t = start.timestamp()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def set(self, when: datetime) -> None:
        with self._lock:
            self._t = when.timestamp()


@dataclass(slots=True)
class InputError(Exception):
    """Why one batch input (or one property of it) was rejected."""

    code: str  # PROPERTY_DOESNT_EXIST, INVALID_OPTION, INVALID_INTEGER, READ_ONLY_VALUE ...
    message: str
    property_name: str | None = None


class Conflict(Exception):
    """A property or group with that name already exists (HTTP 409)."""


class HubSpotStore:
    """All sandbox data behind one re-entrant lock (the server holds it per request)."""

    def __init__(
        self,
        contacts: int = 1000,
        *,
        seed: int = 7,
        now: datetime | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        loaded = load_synthetic(contacts, seed=seed, now=now)
        self._loaded = loaded
        self.tables: dict[str, ObjectTable] = {
            "contacts": loaded.contacts,
            "companies": loaded.companies,
            **loaded.engagements,
        }
        self.contact_company: array[int] = loaded.contact_company
        self.groups: dict[str, dict[str, PropertyGroupDef]] = {
            t: default_groups(t) for t in self.tables
        }
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = clock or time.time
        self.version = 0  # bumped on every change; keys the search cache
        self._last_ms = loaded.max_ms
        self._company_contacts: dict[int, list[int]] | None = None

    # time --------------------------------------------------------------------------------
    def write_ms(self) -> int:
        """Timestamp for a write: the clock, but strictly after every earlier write/data."""
        ms = max(int(self.clock() * 1000), self._last_ms + 1)
        self._last_ms = ms
        return ms

    # writes ------------------------------------------------------------------------------
    def validate(self, table: ObjectTable, props: Mapping[str, object]) -> dict[str, str | None]:
        """Normalise a property map to strings (None = clear) or raise the first InputError."""
        out: dict[str, str | None] = {}
        for name, raw in props.items():
            prop = table.props.get(name)
            if prop is None:
                raise InputError("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist', name)
            if prop.read_only:
                raise InputError("READ_ONLY_VALUE", f'"{name}" is a read only property', name)
            value = _as_text(raw)
            if value is not None:
                value = _check_value(prop, value)
            out[name] = value
        return out

    def apply(self, table: ObjectTable, row: int, values: Mapping[str, str | None]) -> bool:
        """Write validated values; returns whether anything changed (then bumps modified)."""
        changed = False
        for name, value in values.items():
            col = table.columns[name]
            before = col.get(row)
            if (
                name == "lifecyclestage"
                and value is not None
                and before is not None
                and LIFECYCLE_ORDER.get(value, 99) < LIFECYCLE_ORDER.get(before, -1)
            ):
                continue  # HubSpot silently ignores a backward lifecycle move
            col.set(row, value)
            if col.get(row) != before:
                changed = True
                if name == "lifecyclestage" and value == "marketingqualifiedlead":
                    became = table.columns.get(MQL_DATE)
                    if isinstance(became, TsColumn) and became.get(row) is None:
                        became.set_ms(row, self.write_ms())  # HubSpot stamps the first time
        if changed:
            table.bump_modified(row, self.write_ms())
            self.version += 1
        return changed

    def touch(self, contact_id: int | str, **props: object) -> None:
        """Simulate a CRM-side edit (bypasses read-only and lifecycle rules); bumps modified."""
        with self.lock:
            table = self.tables["contacts"]
            row = table.row_of(contact_id)
            if row is None:
                raise KeyError(contact_id)
            for name, raw in props.items():
                if name not in table.columns:
                    raise KeyError(name)
                table.columns[name].set(row, _as_text(raw))
            table.bump_modified(row, self.write_ms())
            self.version += 1

    def add_engagement(
        self,
        contact_id: int | str,
        kind: str,
        at: datetime,
        *,
        touch_contact: bool = True,
        **props: object,
    ) -> str:
        """Add a meeting/call/email/note/task for a contact; returns the new engagement id.

        ``at`` is its ``hs_timestamp`` (when it happened); its ``hs_lastmodifieddate`` is the
        write time (when it was logged), as HubSpot sets it.  ``touch_contact=False`` leaves
        the contact's ``lastmodifieddate`` alone: logging an engagement does not always move
        it in HubSpot, which is why a sync also searches engagements by their own date."""
        if kind not in ENGAGEMENT_BASE:
            raise ValueError(f"unknown engagement kind {kind!r}")
        with self.lock:
            contacts = self.tables["contacts"]
            row = contacts.row_of(contact_id)
            if row is None:
                raise KeyError(contact_id)
            ms = int(at.timestamp() * 1000)
            values: dict[str, str | int] = {
                k: v if isinstance(v, int) and not isinstance(v, bool) else str(v)
                for k, v in props.items()
            }
            if kind == "meetings":
                values.setdefault("hs_meeting_start_time", ms)
            eng_row = add_engagement_row(self._loaded, kind, row, ms, values)
            self._last_ms = max(self._last_ms, ms)
            logged = self.write_ms()
            self.tables[kind].bump_modified(eng_row, logged)
            if touch_contact:
                # HubSpot updates the contact's activity rollups (last activity date) when
                # an engagement is associated, which bumps the contact's lastmodifieddate.
                contacts.bump_modified(row, logged)
            self.version += 1
            return self.tables[kind].id_of(eng_row)

    def create_engagement(
        self, kind: str, contact_row: int | None, values: Mapping[str, str | None]
    ) -> int:
        """Create one engagement from validated values (batch create); returns its row.

        Created and modified are the write time; ``hs_timestamp`` (a task's due date) is what
        the client sent.  Like :meth:`add_engagement`, associating it bumps the contact's
        ``lastmodifieddate`` (HubSpot updates the contact's activity rollups).
        """
        with self.lock:
            table = self.tables[kind]
            ms = self.write_ms()
            crow = -1 if contact_row is None else contact_row
            row = add_engagement_row(self._loaded, kind, crow, ms, {})
            for name, value in values.items():
                table.columns[name].set(row, value)
            if kind == "tasks" and values.get("hs_task_status") is None:
                table.columns["hs_task_status"].set(row, "NOT_STARTED")  # HubSpot's default
            table.bump_modified(row, ms)  # keeps the modified index (if built) in step
            if contact_row is not None:
                self.tables["contacts"].bump_modified(contact_row, ms)
            self.version += 1
            return row

    # associations -------------------------------------------------------------------------
    def associated(self, from_type: str, to_type: str, row: int) -> list[str]:
        """Ids of ``to_type`` records associated with a ``from_type`` row (empty if unmodelled)."""
        if (from_type, to_type) not in ASSOCIATION_TYPES:
            return []
        to = self.tables[to_type]
        if from_type == "contacts" and to_type == "companies":
            crow = self.contact_company[row]
            return [] if crow < 0 else [to.id_of(crow)]
        if from_type == "companies":
            return [to.id_of(r) for r in self.company_contacts().get(row, ())]
        if from_type == "contacts":
            rows = self._loaded.contact_engagements[to_type].get(row, ())
            return [to.id_of(r) for r in rows]
        crow = self._loaded.engagement_contact[from_type][row]
        return [] if crow < 0 else [to.id_of(crow)]

    def company_contacts(self) -> dict[int, list[int]]:
        if self._company_contacts is None:
            index: dict[int, list[int]] = {}
            for row, crow in enumerate(self.contact_company):
                if crow >= 0:
                    index.setdefault(crow, []).append(row)
            self._company_contacts = index
        return self._company_contacts

    # properties API ----------------------------------------------------------------------
    def create_property(self, object_type: str, body: Mapping[str, object]) -> PropertyDef:
        table = self.tables[object_type]
        name = str(body.get("name") or "")
        if name in table.props:
            raise Conflict(f"A property named '{name}' already exists.")
        group = str(body.get("groupName") or "")
        if group not in self.groups[object_type]:
            raise InputError("INVALID_GROUP", f"Property group '{group}' does not exist", name)
        raw_opts = body.get("options") or []
        options = tuple(
            str(o.get("value")) for o in raw_opts if isinstance(o, dict)
        ) if isinstance(raw_opts, list) else ()  # fmt: skip
        prop = PropertyDef(
            name=name,
            label=str(body.get("label") or name),
            type=str(body.get("type") or "string"),
            field_type=str(body.get("fieldType") or "text"),
            group_name=group,
            options=options,
            hubspot_defined=False,
            description=str(body.get("description") or ""),
            created_at=iso_ms(self.write_ms()),
        )
        table.add_property(prop)
        self.version += 1
        return prop

    def create_group(self, object_type: str, body: Mapping[str, object]) -> PropertyGroupDef:
        groups = self.groups[object_type]
        name = str(body.get("name") or "")
        if name in groups:
            raise Conflict(f"A property group named '{name}' already exists.")
        order = body.get("displayOrder")
        group = PropertyGroupDef(
            name, str(body.get("label") or name), order if isinstance(order, int) else -1
        )
        groups[name] = group
        return group


def _as_text(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = str(raw)
    return None if text == "" else text


def _check_value(prop: PropertyDef, value: str) -> str:
    try:
        if prop.type == "number":
            float(value)
        elif prop.type in ("datetime", "date"):
            return iso_ms(parse_ts_ms(value))
    except (ValueError, ValueError_) as exc:
        code = "INVALID_INTEGER" if prop.type == "number" else "INVALID_DATE"
        raise InputError(
            code, f'{value!r} is not a valid value for "{prop.name}"', prop.name
        ) from exc
    if prop.type in ("enumeration", "bool") and prop.options and value not in prop.options:
        raise InputError(
            "INVALID_OPTION",
            f"{value} was not one of the allowed options: {', '.join(prop.options)}",
            prop.name,
        )
    return value
