"""The layout shows the pipeline, and arrows point down only: the pure core imports no
I/O library and no CRM, the adapters know nothing of the store or the pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib, sys
for name in sys.argv[2].split(","):
    importlib.import_module(name)
banned = tuple(sys.argv[1].split(","))
print("\\n".join(sorted(m for m in sys.modules if m.startswith(banned))))
"""

CORE = (
    "connector.core.records,connector.core.scoring,connector.core.lifecycle,"
    "connector.core.timers,connector.core.explain,connector.core.reasons"
)


def loaded(modules: str, banned: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, banned, modules],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return out.stdout.split()


def test_the_core_is_pure():
    banned = (
        "sqlalchemy,hubspot,simple_salesforce,requests,urllib3,connector.state,"
        "connector.crm,connector.pipeline,connector.ops,connector.cli,connector.sandbox"
    )
    assert loaded(CORE, banned) == []


@pytest.mark.parametrize(
    ("layer", "banned"),
    [
        ("connector.crm.hubspot.adapter,connector.crm.factory",
         "connector.state,connector.pipeline,connector.ops,connector.cli"),
        ("connector.state", "connector.crm,connector.pipeline,connector.ops,connector.cli"),
        ("connector.pipeline.sync,connector.pipeline.rescore,connector.pipeline.undo",
         "connector.ops,connector.cli"),
        ("connector.insight.backtest,connector.insight.importcsv,connector.insight.pages",
         "connector.crm,connector.pipeline,connector.ops,connector.cli,connector.sandbox"),
    ],
)  # fmt: skip
def test_arrows_point_down(layer: str, banned: str):
    assert loaded(layer, banned) == []
