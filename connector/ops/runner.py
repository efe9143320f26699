"""Assemble a configured sync from settings: mapping, state store, CRM adapter.

The CLI and the daemon both start here, so `mqlsync sync --once`, `plan` and the scheduled
job run the very same pipeline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from connector.config import Settings, load_settings
from connector.core.scoring import CompiledMapping, compile_mapping
from connector.crm.base import CrmAdapter
from connector.crm.factory import build_adapter, limiter_for
from connector.crm.ratelimit import RateLimiter
from connector.errors import ConfigError
from connector.mapping.loader import MappingInvalid, load_mapping, mapping_version
from connector.mapping.schema import MappingSpec
from connector.pipeline.rescore import Rescore
from connector.pipeline.sync import Sync
from connector.state import StateStore
from connector.state.lock import AccountLock

log = logging.getLogger(__name__)


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
    limiter: RateLimiter | None = None
    """The account's rate limiter (API calls, 429s, the day's quota), kept across mapping
    reloads."""

    def sync(self, workers: int | None = None) -> Sync:
        """The sync pipeline for this configuration; after a mapping edit it first rescores
        the stored snapshots of the older version (with the rescore's worker processes)."""
        lookback = timedelta(minutes=self.settings.sync.lookback_minutes)
        return Sync(
            self.adapter,
            self.mapping,
            self.store,
            lookback=lookback,
            max_attempts=self.settings.sync.dead_letter_max_attempts,
            version=self.version,
            remodel=self.rescore(workers).remodel,
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
    if not path.is_file():
        raise ConfigError(f"mapping file not found: {path.resolve()}", key="[mapping] path")
    return path


class LiveContext:
    """The daemon's context, with the mapping re-read when its file changes.

    An admin edits the mapping while the daemon runs: the next cycle checks the file's
    version (`<stem>@<hex12>` of its bytes) and, when it changed, loads it. A valid edit
    takes effect at once (that sync rescores the stored records under it); an invalid one
    is logged with every `file:line: problem` and the last good mapping stays in force
    until the file is fixed.
    """

    def __init__(self, context: Context, path: Path) -> None:
        self.context = context
        self.path = path
        self._seen = context.version

    def current(self) -> Context:
        """The context to run this cycle with."""
        try:
            version = mapping_version(self.path)
        except OSError as exc:
            log.error("cannot read mapping %s (%s): keeping %s", self.path, exc.strerror,
                      self.context.version)  # fmt: skip
            return self.context
        if version == self._seen:
            return self.context
        self._seen = version
        try:
            spec = load_mapping(self.path)
        except MappingInvalid as exc:
            for problem in exc.problems:
                log.error("%s", problem)
            log.error("mapping %s is invalid: keeping %s until it is fixed", self.path,
                      self.context.version)  # fmt: skip
            return self.context
        old = self.context
        self.context = replace(
            old,
            spec=spec,
            mapping=compile_mapping(spec),
            adapter=build_adapter(old.settings, spec, old.limiter),
            version=version,
        )
        log.info("mapping changed: %s → %s", old.version, version)
        return self.context


@contextmanager
def open_context(config: Path | None) -> Iterator[Context]:
    """Load settings (file, env), the mapping, the state store and the adapter."""
    settings = load_settings(config)
    path = mapping_path(settings)
    spec = load_mapping(path)
    store = StateStore.open(settings.state.url)
    lock = AccountLock(store.engine, account_of(settings))
    try:
        limiter = limiter_for(settings)
        adapter = build_adapter(settings, spec, limiter)
        version = mapping_version(path)
        yield Context(settings, spec, compile_mapping(spec), store, adapter, version, lock, limiter)
    finally:
        lock.release()
        store.close()
