"""The words of an SLA follow-up task, the same in every CRM.

A breached SLA only helps if the lead's owner sees it where they work, and reads what to
do without opening mqlsync: which windows were missed, since when the lead has been an MQL,
and why it scored. Each task also carries its breach's key (``Ref: mqlsync-sla-<16 hex>``),
so a task whose creation was cut short (a crash between the CRM's answer and mqlsync's
bookkeeping) is found by the next run instead of created twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

__all__ = ["REF", "keys_in", "task_lines", "task_subject"]

REF = "Ref: mqlsync-sla-"
"""Prefix of the breach key in a task body."""
_REF = re.compile(re.escape(REF) + r"([0-9a-f]{16})")


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def task_subject(breached: Sequence[str]) -> str:
    """E.g. "MQL SLA breached: first_touch — follow up now"."""
    return f"MQL SLA breached: {', '.join(breached) or 'sla'} — follow up now"


def task_lines(breached: Sequence[str], mql_at: datetime, reasons: str, key: str) -> list[str]:
    """The body, line by line (each CRM renders lines its own way)."""
    lines = [
        f"SLA windows exceeded: {', '.join(breached) or 'unknown'}.",
        f"Became an MQL: {_utc(mql_at)}.",
    ]
    if reasons:
        lines.append(f"Top score reasons: {reasons}")
    lines.append("Created by mqlsync." + (f" {REF}{key}" if key else ""))
    return lines


def keys_in(bodies: Iterable[object]) -> set[str]:
    """Breach keys written in task bodies."""
    return {m for body in bodies for m in _REF.findall(str(body))}
