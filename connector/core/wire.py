"""The canonical JSONL record as msgspec structs, for the compiled core's reader.

mypyc replaces class annotations with bare runtime classes, so msgspec cannot decode a
line into the compiled `LeadRecord` and `Activity`. The compiled build decodes into
these structs instead (this module stays uncompiled) and copies them into records; the
pure build decodes into the records directly. Field names, types, constraints and
defaults mirror `connector.core.records` (tests/scoring/test_jsonl_fast_path.py holds
the two side by side).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec


class WireActivity(msgspec.Struct, gc=False):
    """An activity as decoded: a non-empty type, an aware time, a detail object."""

    type: Annotated[str, msgspec.Meta(min_length=1)]
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    detail: dict[str, Any] = {}


class WireRecord(msgspec.Struct):
    """A record as decoded, before it becomes a `LeadRecord`."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    crm: str = "unknown"
    object: str = "contact"
    properties: dict[str, Any] = {}
    activities: tuple[WireActivity, ...] = ()
    account: dict[str, Any] | None = None
