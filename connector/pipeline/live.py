"""Explain one live CRM record: pulled now, scored and decided as the next sync would.

A rep asks "why is this lead 25 when it requested a demo?": the answer needs the record as
the CRM holds it now, mqlsync's lifecycle memory of it (a recycle resets engagement), and
what the next sync would write. Reads one record; writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from connector.core.explain import change_lines, explain, lifecycle_lines
from connector.core.lifecycle import evaluate
from connector.core.reasons import descriptions
from connector.core.scoring import CompiledMapping
from connector.crm.base import RIDE_ALONG, CrmAdapter
from connector.crm.values import changed_fields
from connector.errors import MqlsyncError
from connector.pipeline.steps import desired_values, memory_with_crm
from connector.state import StateStore


class RecordNotFound(MqlsyncError):
    """No CRM record matches the id or email given."""


def explain_live(
    adapter: CrmAdapter,
    store: StateStore,
    mapping: CompiledMapping,
    key: str,
    now: datetime,
    version: str | None = None,
) -> str:
    """The full explanation of the record `key` (an id or an email) names."""
    for obj in adapter.objects:
        rid = adapter.find(obj, key)
        if rid is None:
            continue
        for page in adapter.read(obj, [rid], now):
            for bad in page.rejected:
                raise RecordNotFound(f"{obj} {bad.record_id} cannot be read: {bad.reason}")
            for item in page.items:
                snap = store.get_snapshots(adapter.kind, obj, [rid]).get(rid)
                memory = memory_with_crm(snap, item.current, now)
                result, decision = evaluate(item.record, mapping, memory, now)
                desired = desired_values(result, decision, now, version, descriptions(mapping))
                changes = changed_fields(desired, dict(item.current), RIDE_ALONG)
                lines = [
                    explain(item.record, result, mapping),
                    *lifecycle_lines(item.record, decision, memory, mapping, now),
                    *change_lines(item.current, changes),
                ]
                return "\n".join(lines)
    raise RecordNotFound(f"no {' or '.join(adapter.objects)} matches {key!r} in the CRM")
