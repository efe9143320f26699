"""Shared test helpers: build canonical records tersely, load shipped mappings once."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connector.core.records import Activity, LeadRecord
from connector.core.scoring import CompiledMapping, compile_mapping
from connector.mapping.loader import load_mapping

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
NOW = datetime.fromisoformat("2026-11-01T00:00:00+00:00")


@cache
def shipped(name: str) -> CompiledMapping:
    """A compiled mapping from mappings/NAME.toml."""
    return compile_mapping(load_mapping(MAPPINGS / f"{name}.toml"))


def act(kind: str, days_ago: float = 1, **detail: Any) -> Activity:
    """An activity `days_ago` days before NOW."""
    return Activity(kind, NOW - timedelta(days=days_ago), detail)


def lead(*activities: Activity, account: dict[str, Any] | None = None, **props: Any) -> LeadRecord:
    """A canonical record with the given properties and activities."""
    return LeadRecord("L1", "hubspot", "contact", props, tuple(activities), account)


@pytest.fixture
def b2b() -> CompiledMapping:
    return shipped("b2b-saas")


@pytest.fixture
def t100() -> CompiledMapping:
    return shipped("threshold-100")


@pytest.fixture
def smb() -> CompiledMapping:
    return shipped("smb-scorecard")
