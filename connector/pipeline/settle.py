"""Settle writes an earlier run journaled but never confirmed (a crash, a failed request).

The writer journals each batch ``pending`` before the CRM write and settles it with the
snapshot after, so a ``pending`` row at the start of a run means its run died in between,
or its request failed in a way that may still have changed the record. Before it pulls,
each run looks at the CRM once for those records (a cheap read of mqlsync's own fields,
no activities) and decides:

- the CRM shows the write (a changed field holds its new value): ``applied``. The
  snapshot takes the values and the lifecycle memory the write carried, so the next run
  neither writes them again nor stamps ``mql_at`` / ``recycled_at`` with a new time;
- the stage is empty where the write moved it back: the clear of a clear-then-set landed
  and the set did not. The set is issued again now (a record must never stay without a
  stage), then the row is ``applied``;
- nothing of it is in the CRM: ``failed``; the record's snapshot is left as it was and the
  next sync writes it normally.

Rows whose repair fails stay ``pending`` for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from connector.core.lifecycle import Memory
from connector.crm.base import RIDE_ALONG, STAGE_FIELD, CrmAdapter, Current, Patch, Value
from connector.crm.values import normalise, parse_instant
from connector.state import NEVER, PendingWrite, Snapshot, StateStore

log = logging.getLogger(__name__)


def landed(changes: Mapping[str, tuple[Any, Any]], current: Mapping[str, Value]) -> bool:
    """True when the CRM holds the new value of at least one field the write changed."""
    for f, (before, after) in changes.items():
        if f in RIDE_ALONG or normalise(f, before) == normalise(f, after):
            continue
        if normalise(f, current.get(f)) == normalise(f, after):
            return True
    return False


def stage_cleared(changes: Mapping[str, tuple[Any, Any]], current: Mapping[str, Value]) -> bool:
    """True when the write set a stage and the CRM now has none (a clear without its set)."""
    if STAGE_FIELD not in changes:
        return False
    after = normalise(STAGE_FIELD, changes[STAGE_FIELD][1])
    return after is not None and current.get(STAGE_FIELD) is None


def settle_pending(adapter: CrmAdapter, store: StateStore, obj: str) -> int:
    """Settle every pending journal row of `obj`; returns how many rows were settled."""
    settled = 0
    for page in store.pending_writes(adapter.kind, obj):
        ids = list(dict.fromkeys(row.record_id for row in page))
        current = adapter.peek(obj, ids)
        repairs = {
            row.record_id: row
            for row in page
            if row.record_id in current
            and stage_cleared(row.changes, current[row.record_id].values)
        }
        repaired = _repair(adapter, obj, repairs)
        applied: list[PendingWrite] = []
        failed: list[int] = []
        for row in page:
            now = current.get(row.record_id)
            if row.record_id in repairs:
                if row.record_id in repaired:
                    applied.append(row)
                continue  # the set failed again: still pending, tried next run
            if now is not None and landed(row.changes, now.values):
                applied.append(row)
            else:
                failed.append(row.id)
        with store.transaction() as conn:
            store.upsert_snapshots(_adopted(store, adapter.kind, obj, applied, current), conn=conn)
            store.settle_rows([row.id for row in applied], "applied", conn=conn)
            store.settle_rows(failed, "failed", conn=conn)
        settled += len(applied) + len(failed)
        if repairs:
            log.warning(
                "%d %s record(s) had lost their stage in a half-done move back: "
                "%d set again", len(repairs), obj, len(repaired),
            )  # fmt: skip
    if settled:
        log.info("settled %d unconfirmed write(s) of an earlier run on %s", settled, obj)
    return settled


def _repair(adapter: CrmAdapter, obj: str, rows: Mapping[str, PendingWrite]) -> set[str]:
    """Set the stage again where only the clear of a move back landed; the ids set."""
    patches = [
        Patch(obj, rid, {STAGE_FIELD: normalise(STAGE_FIELD, row.changes[STAGE_FIELD][1])})
        for rid, row in rows.items()
    ]
    done: set[str] = set()
    size = adapter.write_batch_size
    for start in range(0, len(patches), size):
        for outcome in adapter.write(obj, patches[start : start + size]):
            if outcome.error is None:
                done.add(outcome.record_id)
            else:
                log.warning("could not set the stage of %s %s again: %s", obj,
                            outcome.record_id, outcome.error)  # fmt: skip
    return done


def _adopted(
    store: StateStore,
    kind: str,
    obj: str,
    rows: list[PendingWrite],
    current: Mapping[str, Current],
) -> list[Snapshot]:
    """Snapshots updated with what the applied rows wrote (one per record, last row wins).

    A record with no snapshot yet gets one without its canonical record (the next sync
    re-reads it; the rescore skips it until then) so its lifecycle memory is kept.
    """
    existing = store.get_snapshots(kind, obj, [row.record_id for row in rows])
    out: dict[str, Snapshot] = {}
    for row in rows:
        base = out.get(row.record_id) or existing.get(row.record_id)
        after = {f: normalise(f, a) for f, (_, a) in row.changes.items()}
        out[row.record_id] = _snapshot(kind, obj, row, after, base, current[row.record_id])
    return list(out.values())


def _snapshot(
    kind: str,
    obj: str,
    row: PendingWrite,
    after: Mapping[str, Value],
    base: Snapshot | None,
    current: Current,
) -> Snapshot:
    memory = Memory.from_json(row.memory) if row.memory else None
    written = {
        **(base.written if base else {"modified_at": None}),
        **{f: v for f, v in after.items() if f != STAGE_FIELD},
    }
    scored_at = parse_instant(after.get("scored_at")) or datetime.now(UTC)

    def number(name: str, old: int) -> int:
        value = after.get(name)
        return value if isinstance(value, int) else old

    if base is None:
        stage = current.values.get(STAGE_FIELD)
        base = Snapshot(
            kind, obj, row.record_id, 0, 0, 0, scored_at, record={}, due_at=NEVER,
            stage=None if stage is None else str(stage),
        )  # fmt: skip
    fields: dict[str, Any] = {
        "fit": number("fit", base.fit),
        "engagement": number("engagement", base.engagement),
        "total": number("score", base.total),
        "scored_at": scored_at,
        "written": written,
    }
    for name in ("grade", "route", "temperature"):
        if name in after:
            fields[name] = after[name]
    if memory is not None:
        fields.update(
            stage=memory.stage,
            mql_at=memory.mql_at,
            recycled_at=memory.recycled_at,
            recycle_reason=memory.recycle_reason,
            lead_status_at_promotion=memory.status_at_promotion,
        )
    return replace(base, **fields)
