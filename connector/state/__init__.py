"""State store: watermarks, score snapshots, run history, undo journal, dead letters.

SQLite file by default, PostgreSQL by URL, one code path (SQLAlchemy Core)::

    with StateStore.open("sqlite:///mqlsync.db") as store:
        wm = store.get_watermark("hubspot", "contact", "lastmodifieddate", lookback=lb)
"""

from .store import IN_CHUNK, StateStore
from .values import (
    EPOCH,
    NEVER,
    BreachState,
    DeadLetter,
    JournalEntry,
    JournalRecord,
    JournalState,
    PendingBreach,
    PendingWrite,
    PreparedUpdates,
    Run,
    RunKind,
    Snapshot,
    Watermark,
)

__all__ = [
    "EPOCH",
    "IN_CHUNK",
    "NEVER",
    "BreachState",
    "DeadLetter",
    "JournalEntry",
    "JournalRecord",
    "JournalState",
    "PendingBreach",
    "PendingWrite",
    "PreparedUpdates",
    "Run",
    "RunKind",
    "Snapshot",
    "StateStore",
    "Watermark",
]
