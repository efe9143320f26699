"""Request dispatch for the HubSpot sandbox: CRM v3 objects, v4 associations, properties.

Paths, verbs and bodies are those hubspot-api-client 12 sends (``crm/*/api/*.py``): list/get use
repeated ``properties``/``associations`` query params (``collection_formats = "multi"``; comma
lists are accepted too, as Singer taps and Airbyte send them), batch endpoints take
``{"inputs": [...]}``.  Batch limits and 207 bodies follow the CRM v3 docs: ≤ 100 inputs per batch
read/update/create, ≤ 1,000 per associations v4 batch read; per-input errors name the inputs in
``context.ids`` (v4: ``context.fromObjectId``, subCategory
``crm.associations.NO_ASSOCIATIONS_FOUND``).  The v4 batch read pages each input on its own (the
"Retrieve associations" reference: "The 'after' field in a returned paging object can be added
alongside the 'id' to retrieve the next page of associations from that objectId … The 'paging'
field will only be present if there are more pages"): a result carries at most
``ASSOC_PAGE_LIMIT`` ``to`` rows and then ``paging.next.after``, an opaque cursor the client sends
back as ``{"id": …, "after": …}``; a cursor the sandbox did not issue is a 400.

Batch create (engagements only, for mqlsync's SLA tasks) follows the tasks API guide and
reference ("Create a batch of tasks", ``POST /crm/v3/objects/tasks/batch/create``): each input
is ``{"properties": {...}, "associations": [{"to": {"id"}, "types": [{"associationCategory":
"HUBSPOT_DEFINED", "associationTypeId": 204}]}]}``, ``hs_timestamp`` is required, the answer is
201 with the created objects.  A batch is validated whole before anything is created, so an
unknown property, a bad association or a missing contact is a 400 and creates nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from connector.sandbox.faults import Faults
from connector.sandbox.hubspot.columns import iso_ms
from connector.sandbox.hubspot.cursors import cursor, cursor_text
from connector.sandbox.hubspot.legacy import modified_after
from connector.sandbox.hubspot.limits import batch_error, error_body
from connector.sandbox.hubspot.schema import ASSOCIATION_TYPES, ENGAGEMENT_KINDS, OBJECT_ALIASES
from connector.sandbox.hubspot.search import SearchEngine, SearchError, default_properties_for
from connector.sandbox.hubspot.store import Conflict, HubSpotStore, InputError
from connector.sandbox.hubspot.table import ObjectTable

__all__ = ["Response", "Router"]

Response = tuple[int, dict[str, object]]
BATCH_LIMIT = 100
ASSOC_BATCH_LIMIT = 1000
ASSOC_PAGE_LIMIT = 500
"""`to` rows per input per associations v4 batch read page (as the v3 association reads)."""
_CURSOR_PREFIX = "assoc-"
LIST_LIMIT = 100
_ENGAGEMENTS_V1 = ["engagements", "v1", "engagements", "modified", "after"]
"""The legacy engagements read Singer's tap-hubspot uses (see ``legacy``)."""
_SINGULAR = {"companies": "company", "contacts": "contact"}


def _singular(t: str) -> str:
    return _SINGULAR.get(t, t[:-1])


def _multi(query: Mapping[str, list[str]], name: str) -> list[str]:
    return [p for v in query.get(name, []) for p in v.split(",") if p]


def _not_found(message: str = "resource not found") -> Response:
    return 404, error_body("OBJECT_NOT_FOUND", message)


def _bad(message: str, **extra: object) -> Response:
    return 400, error_body("VALIDATION_ERROR", message, **extra)


class Router:
    """Maps (method, path parts) to store operations; the caller holds ``store.lock``."""

    def __init__(self, store: HubSpotStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.search_engine = SearchEngine()

    def dispatch(
        self, method: str, parts: list[str], query: Mapping[str, list[str]], body: Any
    ) -> Response:
        # parts of /crm/v3/objects/contacts/batch/read → ["crm","v3","objects","contacts",...]
        if len(parts) >= 4 and parts[:3] == ["crm", "v3", "objects"]:
            return self._objects(method, parts[3:], query, body)
        if len(parts) >= 4 and parts[:3] == ["crm", "v3", "properties"]:
            return self._properties(method, parts[3:], body)
        if parts == ["crm", "v3", "schemas"] and method == "GET":
            return 200, {"results": []}  # custom object schemas: the sandbox portal has none
        if parts == _ENGAGEMENTS_V1 and method == "GET":
            return modified_after(self.store, query)
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self._assoc_batch(parts[3], parts[4], body) if method == "POST" else _nf()
        return _not_found(f"No route for {method} /{'/'.join(parts)}")

    def _table(self, name: str) -> ObjectTable | None:
        t = OBJECT_ALIASES.get(name)
        return None if t is None else self.store.tables.get(t)

    # objects ------------------------------------------------------------------------------
    def _objects(
        self, method: str, rest: list[str], query: Mapping[str, list[str]], body: Any
    ) -> Response:
        table = self._table(rest[0])
        if table is None:
            return _bad(f"Unable to infer object type from: {rest[0]}")
        tail = rest[1:]
        if not tail and method == "GET":
            return self._list(table, query)
        if tail == ["search"] and method == "POST":
            try:
                return 200, self.search_engine.search(table, body or {}, self.store.version)
            except SearchError as exc:
                return _bad(str(exc))
        if len(tail) == 2 and tail[0] == "batch" and method == "POST":
            if tail[1] == "read":
                return self._batch_read(table, body)
            if tail[1] == "update":
                return self._batch_update(table, body)
            if tail[1] == "create":
                return self._batch_create(table, body)
        if len(tail) == 1 and method == "GET":
            return self._get(table, tail[0], query)
        if len(tail) == 1 and method == "PATCH":
            return self._patch(table, tail[0], body)
        return _nf()

    def _names(self, table: ObjectTable, requested: Sequence[str]) -> list[str]:
        names = requested or default_properties_for(table.object_type)
        return [n for n in names if n in table.props]  # unknown ones are ignored, as HubSpot

    def _with_assoc(self, table: ObjectTable, row: int, rec: dict[str, object], kinds: list[str]
                    ) -> dict[str, object]:  # fmt: skip
        assoc: dict[str, object] = {}
        for k in kinds:
            to = OBJECT_ALIASES.get(k)
            if to is None or (table.object_type, to) not in ASSOCIATION_TYPES:
                continue  # types the sandbox doesn't model are ignored, as HubSpot does
            label = f"{_singular(table.object_type)}_to_{_singular(to)}"
            ids = self.store.associated(table.object_type, to, row)
            if ids:
                assoc[k] = {"results": [{"id": i, "type": label} for i in ids]}
        if assoc:
            rec["associations"] = assoc
        return rec

    def _list(self, table: ObjectTable, query: Mapping[str, list[str]]) -> Response:
        try:
            limit = int(query.get("limit", ["10"])[0])
            after = int(query.get("after", ["0"])[0] or 0)
        except ValueError:
            return _bad("limit and after must be integers")
        if limit < 1 or limit > LIST_LIMIT:
            return _bad(f"limit must be between 1 and {LIST_LIMIT}")
        if query.get("archived", ["false"])[0].lower() == "true":
            return 200, {"results": []}
        names = self._names(table, _multi(query, "properties"))
        kinds = _multi(query, "associations")
        start = max(0, after - table.base - 1) if after else 0
        rows = range(start, min(table.size, start + limit))
        out: dict[str, object] = {
            "results": [self._with_assoc(table, r, table.render(r, names), kinds) for r in rows]
        }
        if rows.stop < table.size:
            nxt = table.id_of(rows.stop)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, out

    def _get(self, table: ObjectTable, rid: str, query: Mapping[str, list[str]]) -> Response:
        row = table.row_of(rid)
        if row is None:
            return _not_found()
        rec = table.render(row, self._names(table, _multi(query, "properties")))
        return 200, self._with_assoc(table, row, rec, _multi(query, "associations"))

    def _inputs(self, body: Any, cap: int) -> list[Mapping[str, Any]] | Response:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return _bad("Invalid input JSON: inputs must be a list")
        if len(inputs) > cap:
            return _bad(f"Batch size {len(inputs)} exceeds the limit of {cap} inputs")
        return [i if isinstance(i, dict) else {} for i in inputs]

    def _batch_read(self, table: ObjectTable, body: Any) -> Response:
        inputs = self._inputs(body, BATCH_LIMIT)
        if isinstance(inputs, tuple):
            return inputs
        started = iso_ms(int(time.time() * 1000))
        names = self._names(table, body.get("properties") or [])
        results, missing = [], []
        for inp in inputs:
            row = table.row_of(inp.get("id"))
            if row is None:
                missing.append(str(inp.get("id")))
            else:
                results.append(table.render(row, names))
        errors = []
        if missing:
            kind = table.object_type.upper()[:-1]
            msg = f"Could not get some {kind} objects, they may be deleted or not exist."
            errors.append(batch_error("OBJECT_NOT_FOUND", msg, {"ids": missing}))
        return _batch_response(results, errors, started)

    def _batch_update(self, table: ObjectTable, body: Any) -> Response:
        inputs = self._inputs(body, BATCH_LIMIT)
        if isinstance(inputs, tuple):
            return inputs
        ids = [str(i.get("id")) for i in inputs]
        if len(set(ids)) != len(ids):
            return _bad("Duplicate IDs found in batch input", errors=[{"message": "duplicate"}])
        started = iso_ms(int(time.time() * 1000))
        results, errors, missing = [], [], []
        for rid, inp in zip(ids, inputs, strict=True):
            row = table.row_of(rid)
            if row is None:
                missing.append(rid)
                continue
            props = inp.get("properties")
            if not isinstance(props, dict):
                errors.append(batch_error("VALIDATION_ERROR", "properties missing", {"ids": [rid]}))
                continue
            try:
                values = self.store.validate(table, props)
            except InputError as exc:
                detail: dict[str, object] = {"message": exc.message, "code": exc.code,
                          "context": {"propertyName": [exc.property_name or ""]}}  # fmt: skip
                errors.append(
                    batch_error(
                        "VALIDATION_ERROR",
                        exc.message,
                        {"ids": [rid], "propertyName": [exc.property_name or ""]},
                        details=[detail],
                    )
                )
                continue
            if self.faults.fail_input():
                errors.append(
                    batch_error(
                        "INTERNAL_ERROR", "Internal error while updating the record", {"ids": [rid]}
                    )
                )
                continue
            self.store.apply(table, row, values)
            results.append(table.render(row, list(values)))
        if missing:
            kind = table.object_type.upper()[:-1]
            msg = f"Could not update some {kind} objects, they may be deleted or not exist."
            errors.insert(0, batch_error("OBJECT_NOT_FOUND", msg, {"ids": missing}))
        return _batch_response(results, errors, started)

    def _batch_create(self, table: ObjectTable, body: Any) -> Response:
        kind = table.object_type
        if kind not in ENGAGEMENT_KINDS:
            return _bad(f"The sandbox creates engagements only, not {kind}")
        inputs = self._inputs(body, BATCH_LIMIT)
        if isinstance(inputs, tuple):
            return inputs
        started = iso_ms(int(time.time() * 1000))
        planned: list[tuple[int | None, dict[str, str | None]]] = []
        for inp in inputs:  # validate everything first: a rejected batch creates nothing
            props = inp.get("properties")
            if not isinstance(props, dict):
                return _bad("Invalid input JSON: properties must be an object")
            try:
                values = self.store.validate(table, props)
            except InputError as exc:
                return _invalid(exc.message, exc.code, exc.property_name or "")
            if values.get("hs_timestamp") is None:
                return _invalid('"hs_timestamp" is required', "REQUIRED_PROPERTY", "hs_timestamp")
            contact = self._create_association(kind, inp.get("associations"))
            if isinstance(contact, tuple):
                return contact
            planned.append((contact, values))
        results = []
        for contact, values in planned:
            row = self.store.create_engagement(kind, contact, values)
            names = [n for n in table.props if table.value(row, n) is not None]
            results.append(table.render(row, names))
        return 201, _batch_response(results, [], started)[1]

    def _create_association(self, kind: str, raw: Any) -> int | Response | None:
        """The contact row a new engagement is associated with (the sandbox models ≤ 1)."""
        if raw is None or raw == []:
            return None
        if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
            return _bad("The sandbox associates a new engagement with at most one contact")
        assoc = raw[0]
        to = assoc.get("to")
        row = self.store.tables["contacts"].row_of(to.get("id") if isinstance(to, dict) else None)
        if row is None:
            return _bad(
                f"Association target {to!r} is not an existing contact",
                subCategory="crm.associations.INVALID_OBJECT_IDS",
            )
        valid = {t for t, _ in ASSOCIATION_TYPES.get((kind, "contacts"), ())}
        types = assoc.get("types")
        if not isinstance(types, list) or not types:
            return _bad("Association types must be a non-empty list")
        for spec in types:
            category = spec.get("associationCategory") if isinstance(spec, dict) else None
            type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
            if category != "HUBSPOT_DEFINED" or type_id not in valid:
                return _bad(
                    f"{category} association type {type_id} is not valid from "
                    f"{_singular(kind)} to contact (expected {sorted(valid)})",
                    subCategory="crm.associations.INVALID_ASSOCIATION_TYPE",
                )
        return row

    def _patch(self, table: ObjectTable, rid: str, body: Any) -> Response:
        row = table.row_of(rid)
        if row is None:
            return _not_found()
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            return _bad("properties missing")
        try:
            values = self.store.validate(table, props)
        except InputError as exc:
            return _bad(f"Property values were not valid: {exc.message}",
                        errors=[{"message": exc.message, "code": exc.code}])  # fmt: skip
        self.store.apply(table, row, values)
        return 200, table.render(row, list(values))

    # associations v4 ------------------------------------------------------------------------
    def _assoc_batch(self, from_name: str, to_name: str, body: Any) -> Response:
        src, dst = OBJECT_ALIASES.get(from_name), OBJECT_ALIASES.get(to_name)
        if src is None or dst is None:
            return _bad(f"Unknown object type in {from_name}/{to_name}")
        inputs = self._inputs(body, ASSOC_BATCH_LIMIT)
        if isinstance(inputs, tuple):
            return inputs
        started = iso_ms(int(time.time() * 1000))
        table = self.store.tables[src]
        types = ASSOCIATION_TYPES.get((src, dst), ())
        spec = [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": lbl} for t, lbl in types]
        results: list[dict[str, object]] = []
        none: list[str] = []
        for inp in inputs:
            rid = str(inp.get("id"))
            start = _assoc_offset(inp.get("after"))
            if start is None:
                return _bad(f"Invalid paging cursor {inp.get('after')!r} for input {rid}",
                            context={"fromObjectId": [rid]})  # fmt: skip
            row = table.row_of(rid)
            ids = [] if row is None else self.store.associated(src, dst, row)
            page = ids[start : start + ASSOC_PAGE_LIMIT]
            if not page:
                none.append(rid)
                continue
            to = [{"toObjectId": int(i), "associationTypes": spec} for i in page]
            result: dict[str, object] = {"from": {"id": rid}, "to": to}
            if start + len(page) < len(ids):
                result["paging"] = {"next": {"after": _assoc_cursor(start + len(page))}}
            results.append(result)
        errors = [
            batch_error(
                "OBJECT_NOT_FOUND",
                f"No {dst} is associated with {_singular(src)} {rid}.",
                {"fromObjectId": [rid]},
                sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
            )
            for rid in none
        ]
        return _batch_response(results, errors, started)

    # properties API -------------------------------------------------------------------------
    def _properties(self, method: str, rest: list[str], body: Any) -> Response:
        t = OBJECT_ALIASES.get(rest[0])
        if t is None:
            return _bad(f"Unable to infer object type from: {rest[0]}")
        store = self.store
        if len(rest) >= 2 and rest[1] == "groups":
            groups = store.groups[t]
            if len(rest) == 2 and method == "GET":
                return 200, {"results": [g.to_json() for g in groups.values()]}
            if len(rest) == 2 and method == "POST":
                try:
                    return 201, store.create_group(t, body or {}).to_json()
                except Conflict as exc:
                    return 409, error_body("CONFLICT", str(exc))
            if len(rest) == 3 and method == "GET":
                g = groups.get(rest[2])
                return (200, g.to_json()) if g else _not_found(f"group {rest[2]} not found")
            return _nf()
        props = store.tables[t].props
        if len(rest) == 3 and rest[1] == "batch" and method == "POST":
            if rest[2] == "read":
                return self._read_properties(t, body)
            if rest[2] == "create":
                return self._create_properties(t, body)
            return _nf()
        if len(rest) == 1 and method == "GET":
            return 200, {"results": [p.to_json() for p in props.values()]}
        if len(rest) == 1 and method == "POST":
            try:
                return 201, store.create_property(t, body or {}).to_json()
            except Conflict as exc:
                return 409, error_body("CONFLICT", str(exc), subCategory="Property.ALREADY_EXISTS")
            except InputError as exc:
                return _bad(exc.message)
        if len(rest) == 2 and method == "GET":
            p = props.get(rest[1])
            return (200, p.to_json()) if p else _not_found(f"property {rest[1]} not found")
        return _nf()

    def _read_properties(self, object_type: str, body: Any) -> Response:
        """``POST /crm/v3/properties/{objectType}/batch/read``: the named properties, in input
        order; a name the portal lacks is one OBJECT_NOT_FOUND error (207), as the batch
        object reads answer missing ids. The sandbox keeps no archived properties, so
        ``"archived": true`` finds none."""
        inputs = self._inputs(body, BATCH_LIMIT)
        if isinstance(inputs, tuple):
            return inputs
        started = iso_ms(int(time.time() * 1000))
        props = {} if body.get("archived") is True else self.store.tables[object_type].props
        results, errors = [], []
        for inp in inputs:
            name = str(inp.get("name") or "")
            found = props.get(name)
            if found is not None:
                results.append(found.to_json())
            else:
                message = f"Unable to find property {name!r} on {object_type}"
                errors.append(batch_error("OBJECT_NOT_FOUND", message, {"name": [name]}))
        return _batch_response(results, errors, started)

    def _create_properties(self, object_type: str, body: Any) -> Response:
        """``POST /crm/v3/properties/{objectType}/batch/create``: each input is created by the
        single-create rules; 201 when all were, else 207 with one error per input that was
        not (an existing name, a group that does not exist), naming it in ``context.name``."""
        inputs = self._inputs(body, BATCH_LIMIT)
        if isinstance(inputs, tuple):
            return inputs
        started = iso_ms(int(time.time() * 1000))
        results, errors = [], []
        for inp in inputs:
            name = str(inp.get("name") or "")
            try:
                if not name:
                    raise InputError("VALIDATION_ERROR", "each input needs a name")
                results.append(self.store.create_property(object_type, inp).to_json())
            except Conflict as exc:
                errors.append(
                    batch_error("CONFLICT", str(exc), {"name": [name]},
                                sub_category="Property.ALREADY_EXISTS")
                )  # fmt: skip
            except InputError as exc:
                errors.append(batch_error("VALIDATION_ERROR", exc.message, {"name": [name]}))
        status, out = _batch_response(results, errors, started)
        return (201 if status == 200 else status), out


def _assoc_cursor(offset: int) -> str:
    """An opaque associations paging cursor."""
    return cursor(_CURSOR_PREFIX, str(offset))


def _assoc_offset(after: object) -> int | None:
    """The offset an associations cursor stands for: 0 when absent, None when not ours."""
    if after is None or after == "":
        return 0
    digits = cursor_text(_CURSOR_PREFIX, after)
    return int(digits) if digits is not None and digits.isdigit() else None


def _invalid(message: str, code: str, name: str) -> Response:
    detail = {"message": message, "code": code, "context": {"propertyName": [name]}}
    return _bad(f"Property values were not valid: {message}", errors=[detail])


def _nf() -> Response:
    return _not_found("No route for this method")


def _batch_response(
    results: list[dict[str, object]], errors: list[dict[str, object]], started: str
) -> Response:
    body: dict[str, object] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso_ms(int(time.time() * 1000)),
    }
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
        return 207, body
    return 200, body
