"""Fault knobs and request log shared by the HubSpot and Salesforce emulators.

Why: reliability tests must reproduce the failures that bite in production (latency, throttling,
5xx, partial batch failures, dropped sockets, Salesforce row locks) deterministically, and must
count the calls a sync makes.  Both servers call :func:`apply_pre_request` at the start of every
request and record each answered request in a :class:`RequestLog`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Faults",
    "PreRequestFault",
    "RequestLog",
    "RequestLogEntry",
    "apply_pre_request",
]


@dataclass
class Faults:
    """Probabilities (0..1) and delays the emulators inject; all off by default.

    Draws come from a private ``random.Random(seed)`` guarded by a lock, so a single-threaded
    client sees the same fault sequence for the same seed.  Knobs may be changed while the
    server runs (tests flip them between calls).
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    partial_batch_failure: float = 0.0
    drop_connection: float = 0.0
    unable_to_lock_row: float = 0.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def chance(self, p: float) -> bool:
        """True with probability ``p`` (no draw is consumed when ``p`` is 0 or 1)."""
        if p <= 0.0:
            return False
        if p >= 1.0:
            return True
        with self._lock:
            return self._rng.random() < p

    def delay_seconds(self) -> float:
        """Latency to sleep before answering: fixed part plus uniform jitter."""
        if self.latency_ms <= 0.0 and self.latency_jitter_ms <= 0.0:
            return 0.0
        jitter = 0.0
        if self.latency_jitter_ms > 0.0:
            with self._lock:
                jitter = self._rng.uniform(0.0, self.latency_jitter_ms)
        return max(0.0, self.latency_ms + jitter) / 1000.0

    def fail_input(self) -> bool:
        """Whether one input of a batch write should fail with a per-input error."""
        return self.chance(self.partial_batch_failure)

    def lock_row(self) -> bool:
        """Whether a Salesforce record write should fail with UNABLE_TO_LOCK_ROW."""
        return self.chance(self.unable_to_lock_row)


class PreRequestFault(Enum):
    """What the server must do instead of handling the request normally."""

    DROP = "drop"  # close the socket without answering
    SERVER_ERROR = "5xx"  # answer 500/502/503 with the CRM's error body
    THROTTLE = "429"  # answer 429 as if the rate limit was hit


def apply_pre_request(
    faults: Faults, *, sleep: Callable[[float], None] = time.sleep
) -> PreRequestFault | None:
    """Sleep the configured latency, then decide drop / 5xx / 429 (in that order) or None."""
    delay = faults.delay_seconds()
    if delay > 0.0:
        sleep(delay)
    if faults.chance(faults.drop_connection):
        return PreRequestFault.DROP
    if faults.chance(faults.rate_5xx):
        return PreRequestFault.SERVER_ERROR
    if faults.chance(faults.rate_429):
        return PreRequestFault.THROTTLE
    return None


@dataclass(slots=True, frozen=True)
class RequestLogEntry:
    """One answered (or dropped: status 0) request."""

    method: str
    path: str
    query: str
    inputs: int
    status: int
    at: float  # time.time() when the request finished


class RequestLog:
    """Thread-safe append-only log of requests, to count the calls a client makes."""

    def __init__(self) -> None:
        self._entries: list[RequestLogEntry] = []
        self._lock = threading.Lock()

    def add(
        self, method: str, path: str, query: str = "", inputs: int = 0, status: int = 200
    ) -> RequestLogEntry:
        entry = RequestLogEntry(method.upper(), path, query, inputs, status, time.time())
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[RequestLogEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def count(
        self,
        method: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        """Requests matching all given filters (method case-insensitive)."""
        m = method.upper() if method else None
        with self._lock:
            return sum(
                1
                for e in self._entries
                if (m is None or e.method == m)
                and (path_prefix is None or e.path.startswith(path_prefix))
                and (status is None or e.status == status)
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
