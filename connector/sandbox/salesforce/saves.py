"""Record saves (create and update) of the Salesforce emulator, one or a collection at a time.

Why one routine for both: sObject Rows (``POST sobjects/<Type>``, ``PATCH sobjects/<Type>/<id>``)
and sObject Collections (``POST``/``PATCH composite/sobjects``) share Salesforce's save rules:
every record is validated first, then all are applied, or, with ``allOrNone``, none when one
failed; results are SaveResults in request order (``{"id", "success", "errors"}``; a failed one
carries ``[{"statusCode", "message", "fields"}]``, a rolled-back one
``ALL_OR_NONE_OPERATION_ROLLED_BACK``, and no ``id`` when it was a create).  Follows the REST API
Developer Guide, *Create a Record*, *Update a Record*, *sObject Collections*.  The fault knobs
``unable_to_lock_row`` (``UNABLE_TO_LOCK_ROW``) and ``partial_batch_failure``
(``FIELD_CUSTOM_VALIDATION_EXCEPTION``) fail single records here.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.faults import Faults
from connector.sandbox.salesforce.errors import HttpError
from connector.sandbox.salesforce.store import (
    Checked,
    JsonParserError,
    RecordError,
    SalesforceStore,
)

__all__ = ["Work", "save_records"]

Work = tuple[str | None, Any, dict[str, Any]]
"""One record to save: sObject type (None when the request gave none), id, field values."""


def save_records(
    store: SalesforceStore,
    faults: Faults,
    work: list[Work],
    *,
    create: bool,
    all_or_none: bool,
    auto_assign: bool,
) -> list[dict[str, Any]]:
    """Validate every record, then apply all (or only the valid ones); SaveResults in order."""
    results: list[dict[str, Any]] = []
    ready: list[tuple[int, Checked]] = []
    with store.lock:
        for n, (sobject, record_id, values) in enumerate(work):
            try:
                checked = _check(store, faults, sobject, record_id, values, create=create)
            except JsonParserError as err:
                raise HttpError(400, "JSON_PARSER_ERROR", str(err)) from None
            except RecordError as err:
                results.append({"success": False, "errors": [err.as_json()]})
                continue
            table, row, _ = checked
            results.append({"id": None if row is None else table.rows[row][table.col["id"]]})
            ready.append((n, checked))
        if all_or_none and len(ready) < len(work):
            rolled = RecordError(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request "
                "was using AllOrNone header",
            ).as_json()
            for n, _ in ready:
                kept = {"id": results[n]["id"]} if not create else {}
                results[n] = {**kept, "success": False, "errors": [rolled]}
            return results
        for n, (table, row, updates) in ready:
            if row is None:
                new_id = store.insert(table, updates, auto_assign=auto_assign)
                results[n] = {"id": new_id, "success": True, "errors": []}
            else:
                store.apply_update(table, row, updates, auto_assign=auto_assign)
                results[n] = {**results[n], "success": True, "errors": []}
    return results


def _check(
    store: SalesforceStore,
    faults: Faults,
    sobject: str | None,
    record_id: Any,
    values: dict[str, Any],
    *,
    create: bool,
) -> Checked:
    if sobject is None:
        raise RecordError("INVALID_TYPE", "Must send a concrete entity type.")
    checked: Checked = (
        store.check_create(sobject, record_id, values)
        if create
        else store.check_update(sobject, record_id, values)
    )
    if faults.lock_row():
        raise RecordError(
            "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"
        )
    if faults.fail_input():
        raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Validation failed (sandbox fault)")
    return checked
