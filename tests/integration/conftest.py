"""Fixtures that run mqlsync against the HubSpot sandbox through the official SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.core.scoring import CompiledMapping, compile_mapping
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.mapping.loader import load_mapping
from connector.pipeline.sync import Sync
from connector.sandbox.faults import Faults
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore
from tests.conftest import MAPPINGS


@dataclass
class Rig:
    sandbox: HubSpotSandbox
    adapter: HubSpotAdapter
    store: StateStore
    mapping: CompiledMapping
    sync: Sync

    def calls(self) -> int:
        return self.adapter.api_calls


def make_rig(tmp_path: Path, contacts: int, faults: Faults | None = None) -> Iterator[Rig]:
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    mapping = compile_mapping(spec)
    with HubSpotSandbox(contacts=contacts, faults=faults) as sandbox:
        calls = HubSpotCalls(
            sandbox.token,
            base_url=sandbox.base_url,
            timeout=10,
            limiter=RateLimiter(100_000, 10.0),
            attempts=3,
            max_wait=0.05,
        )
        adapter = HubSpotAdapter(calls, spec)
        store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        try:
            yield Rig(
                sandbox,
                adapter,
                store,
                mapping,
                Sync(adapter, mapping, store, clock=lambda: datetime.now(UTC)),
            )
        finally:
            store.close()


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    yield from make_rig(tmp_path, 300)


def sync_with_edit_before_first_write(rig: Rig, edit: Callable[[str], None]) -> str:
    """Run one sync whose first CRM write is preceded by `edit(record_id)` on that write's
    first record (a change made between mqlsync's read and its write); that record's id."""
    write = rig.adapter.write
    edited: list[str] = []

    def edit_then_write(obj, patches):  # type: ignore[no-untyped-def]
        if not edited:
            edited.append(patches[0].record_id)
            edit(edited[0])
        return write(obj, patches)

    rig.adapter.write = edit_then_write  # type: ignore[method-assign]
    try:
        rig.sync.run()
    finally:
        rig.adapter.write = write  # type: ignore[method-assign]
    return edited[0]
