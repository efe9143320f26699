"""A benchmark's SQLite state store of N snapshots, built once and reused across runs."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.state import StateStore


def ensure_snapshots(
    db: Path, n: int, reuse: bool, populate: Callable[..., None], *args: Any
) -> str:
    """The store's URL: `db` as is when `reuse` and it holds `n` snapshots, else rebuilt by
    `populate(url, *args)` in a fresh process (its memory is not counted in the timed run)."""
    url = f"sqlite:///{db}"
    existing = 0
    if reuse and db.exists():
        with StateStore.open(url) as store:
            existing = store.count_snapshots()
    if existing != n:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        child = multiprocessing.get_context("spawn").Process(target=populate, args=(url, *args))
        child.start()
        child.join()
        if child.exitcode:
            sys.exit(child.exitcode)
    return url
