"""`mqlsync score --workers N`: a file scored by several processes gives exactly the bytes
one process gives, and skipped lines keep their numbers in the whole file."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from connector.cli.score_parallel import line_ranges
from tests.conftest import MAPPINGS

EXAMPLES = Path(__file__).parent / "examples"
NOW = "2026-11-01T00:00:00Z"


def run(path: Path, workers: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", "score", "-m", str(MAPPINGS / "b2b-saas.toml"),
         "--now", NOW, "--workers", str(workers), str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.fixture
def records(tmp_path: Path) -> Path:
    sample = (EXAMPLES / "b2b-saas.sample.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in sample if x.strip()]
    out = []
    for n in range(400):  # enough lines that every part gets some
        row = dict(rows[n % len(rows)], id=f"r{n}")
        out.append(json.dumps(row))
    out.insert(57, '{"id": "bad-1", "properties": ')  # a cut-off line
    out.insert(301, "")  # a blank line, not a record
    out.insert(333, '{"properties": {}}')  # no id
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_workers_give_the_same_bytes_and_line_numbers_as_one_process(records, workers):
    one, many = run(records, 1), run(records, workers)
    assert one.returncode == many.returncode == 1  # skipped lines make it exit 1
    assert many.stdout == one.stdout and len(one.stdout.splitlines()) == 400
    assert many.stderr == one.stderr
    assert f"{records}:58: skipped" in one.stderr and f"{records}:334: skipped" in one.stderr


def test_ranges_start_at_line_starts_and_cover_the_file(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"a\nbbbbbbbbbb\n\ncc\n" * 50)
    data = path.read_bytes()
    for parts in (1, 2, 5, 40, 500):
        ranges = line_ranges(path, parts)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        assert all(a == b for (_, a), (b, _) in itertools.pairwise(ranges))
        assert all(data[a - 1 : a] == b"\n" for a, _ in ranges[1:])


def test_auto_uses_every_core_only_for_a_big_file(tmp_path, monkeypatch):
    from connector.cli import score_parallel

    monkeypatch.setattr(score_parallel.os, "cpu_count", lambda: 4)
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small.write_text("{}\n")
    with open(big, "wb") as f:
        f.truncate(score_parallel.AUTO_MIN_BYTES)
    assert score_parallel.auto_workers(small) == 1
    assert score_parallel.auto_workers(big) == 4
    assert score_parallel.auto_workers(tmp_path / "missing.jsonl") == 1
