"""Assemble a configured sync from settings: mapping, state store, CRM adapter.

The CLI and the daemon both start here, so `mqlsync sync --once`, `plan` and the scheduled
job run the very same pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from connector.config import Settings, load_settings
from connector.crm.base import CrmAdapter
from connector.crm.factory import build_adapter
from connector.errors import ConfigError
from connector.mapping.loader import load_mapping, mapping_version
from connector.mapping.schema import MappingSpec
from connector.rescore import Rescore
from connector.scoring import CompiledMapping, compile_mapping
from connector.state import StateStore
from connector.state.lock import AccountLock
from connector.sync import Sync


@dataclass
class Context:
    """Everything a run needs, opened once."""

    settings: Settings
    spec: MappingSpec
    mapping: CompiledMapping
    store: StateStore
    adapter: CrmAdapter
    version: str
    """The mapping's `<stem>@<hex12>`."""
    lock: AccountLock
    """One writer per CRM account: every writing command holds it for its run."""

    def sync(self) -> Sync:
        """The sync pipeline for this configuration."""
        lookback = timedelta(minutes=self.settings.sync.lookback_minutes)
        return Sync(
            self.adapter,
            self.mapping,
            self.store,
            lookback=lookback,
            max_attempts=self.settings.sync.dead_letter_max_attempts,
            version=self.version,
        )

    def rescore(self, workers: int | None = None) -> Rescore:
        """The daily rescore; CPU-bound, so by default one worker process per core (≤ 4)."""
        count = workers if workers is not None else min(4, os.cpu_count() or 1)
        return Rescore(
            self.adapter,
            self.mapping,
            self.store,
            workers=count,
            max_attempts=self.settings.sync.dead_letter_max_attempts,
            version=self.version,
        )


def account_of(settings: Settings) -> str:
    """The CRM account a configuration writes to (what the writer lock is named after)."""
    if settings.crm.kind == "salesforce":
        return f"salesforce:{settings.salesforce.instance_url or ''}"
    return f"hubspot:{settings.hubspot.base_url.rstrip('/')}"


def mapping_path(settings: Settings) -> Path:
    """The configured mapping file, or a clear error naming the key to set."""
    path = settings.mapping.path
    if path is None:
        raise ConfigError(
            "no mapping configured: set [mapping] path (e.g. mappings/b2b-saas.toml)",
            key="[mapping] path",
        )
    return path


@contextmanager
def open_context(config: Path | None) -> Iterator[Context]:
    """Load settings (file, env), the mapping, the state store and the adapter."""
    settings = load_settings(config)
    path = mapping_path(settings)
    spec = load_mapping(path)
    store = StateStore.open(settings.state.url)
    lock = AccountLock(store.engine, account_of(settings))
    try:
        adapter = build_adapter(settings, spec)
        yield Context(
            settings, spec, compile_mapping(spec), store, adapter, mapping_version(path), lock
        )
    finally:
        lock.release()
        store.close()
