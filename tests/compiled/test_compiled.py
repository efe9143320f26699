"""The mypyc-compiled scoring core must score exactly like the pure-Python one.

Builds a wheel with MQLSYNC_COMPILE=1 (hatch_build.py), unpacks it beside the installed
dependencies, and compares the parity probe's output with the pure package's, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("parity_probe.py")
PEOPLE = "1000"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the compiled core cannot be built on this machine")
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "MQLSYNC_COMPILE": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = out.glob("mqlsync-*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _probe(pythonpath: Path, expect: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    run = subprocess.run(
        [sys.executable, str(PROBE), str(ROOT / "mappings"), PEOPLE, expect],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=pythonpath,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def test_wheel_carries_compiled_hot_path(compiled_site: Path) -> None:
    built = {
        p.relative_to(compiled_site).as_posix().split(".")[0] for p in compiled_site.rglob("*.so")
    }
    assert {"connector/core/records", "connector/mapping/conditions", "connector/core/scoring"} <= built


def test_compiled_scores_are_byte_identical_to_pure(compiled_site: Path) -> None:
    pure = _probe(ROOT, "pure")
    compiled = _probe(compiled_site, "compiled")
    lines = pure.splitlines()
    assert len(lines) == 4 * int(PEOPLE)  # every shipped mapping scored every person
    assert '"pickled": false' not in pure and '"held": false' not in pure
    assert '"line": false' not in pure  # to_json_line is json.dumps(to_json()) in both
    assert compiled == pure


def test_editable_install_stays_pure() -> None:
    """Developers edit the .py files: a compiled module would silently shadow them."""
    from connector.core import scoring

    assert scoring.__file__.endswith(".py")
    assert not list((ROOT / "connector").rglob("*.so"))
