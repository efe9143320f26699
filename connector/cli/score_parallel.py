"""Scoring a large JSONL file on several cores, output identical to one process.

Reading and scoring are independent per line, so a file is cut into byte ranges at line
ends and each range is scored by its own process into its own temporary file; the parts
are then written out in input order, so the output is byte for byte what one process
writes. Skipped lines are reported with their line numbers in the whole file (each part
counts its lines; the parent adds what came before). Worth it only for big regular
files: starting the processes costs tens of milliseconds, and stdin cannot be cut.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from connector.core.records import BadLine, read_jsonl
from connector.core.scoring import CompiledMapping, compile_mapping, score
from connector.mapping.loader import load_mapping

__all__ = ["AUTO_MIN_BYTES", "auto_workers", "line_ranges", "score_file"]

AUTO_MIN_BYTES = 32 * 1024 * 1024
"""Below this, one process is as fast (the others' start-up eats the gain)."""
MAX_AUTO = 8


def auto_workers(path: Path) -> int:
    """Processes for `--workers 0`: one per core (at most 8) for a big regular file."""
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    if size < AUTO_MIN_BYTES:
        return 1
    return max(1, min(MAX_AUTO, os.cpu_count() or 1))


def line_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """`parts` byte ranges covering the file, each starting at a line start."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for n in range(1, parts):
            at = max(cuts[-1], size * n // parts)
            f.seek(at)
            if at > 0:
                f.readline()  # to the start of the next line
            cuts.append(min(size, f.tell()))
    cuts.append(size)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


@dataclass(frozen=True, slots=True)
class _Part:
    output: str
    lines: int
    bad: list[tuple[int, str]]
    """(line number within the part, message)."""


_mapping: CompiledMapping | None = None
_clock: datetime | None = None


def _start(mapping_path: str, clock: datetime) -> None:
    """Worker set-up: compile the mapping once per process."""
    global _mapping, _clock
    _mapping = compile_mapping(load_mapping(Path(mapping_path)))
    _clock = clock


def _lines(f: BinaryIO, start: int, end: int, counted: list[int]) -> Iterator[str]:
    """Lines of `f` from `start` (a line start) up to the line that reaches `end`."""
    at = start
    while at < end:
        raw = f.readline()
        if not raw:
            return
        at += len(raw)
        counted[0] += 1
        yield raw.decode("utf-8")


def _score_part(path: str, start: int, end: int, out_dir: str) -> _Part:
    assert _mapping is not None and _clock is not None
    mapping, clock = _mapping, _clock
    counted = [0]
    bad: list[tuple[int, str]] = []
    fd, output = tempfile.mkstemp(prefix="part-", suffix=".jsonl", dir=out_dir)
    with open(path, "rb") as src, os.fdopen(fd, "w", encoding="utf-8") as out:
        src.seek(start)
        for item in read_jsonl(_lines(src, start, end, counted)):
            if isinstance(item, BadLine):
                bad.append((item.line, item.message))
            else:
                out.write(f"{score(item, mapping, clock).to_json_line()}\n")
    return _Part(output, counted[0], bad)


def score_file(
    path: Path,
    mapping_path: Path,
    clock: datetime,
    workers: int,
    out: TextIO,
    skipped: Callable[[BadLine], None],
) -> None:
    """Score `path` with `workers` processes, writing results to `out` in input order and
    calling `skipped` for each bad line (numbered in the whole file), in order."""
    ranges = line_ranges(path, workers)
    _start(str(mapping_path), clock)  # this process scores the first part itself
    with tempfile.TemporaryDirectory(prefix="mqlsync-score-") as tmp:
        fork = "fork" in multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if fork else "spawn")
        # forked workers inherit the compiled mapping; spawned ones compile their own
        with ProcessPoolExecutor(
            max_workers=max(1, len(ranges) - 1),
            mp_context=context,
            initializer=None if fork else functools.partial(_start, str(mapping_path), clock),
        ) as pool:
            futures = [pool.submit(_score_part, str(path), a, b, tmp) for a, b in ranges[1:]]
            a, b = ranges[0]
            parts = [_score_part(str(path), a, b, tmp), *(f.result() for f in futures)]
        before = 0
        out.flush()
        for part in parts:
            for line, message in part.bad:
                skipped(BadLine(before + line, message))
            with open(part.output, encoding="utf-8") as f:
                shutil.copyfileobj(f, out, 1024 * 1024)
            before += part.lines
