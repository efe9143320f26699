"""`mqlsync score` end to end against a stdlib `json.loads` pass over the same file.

Writes N synthetic records (the generator of bench_engine.py: ~30 activities each) to a
JSONL file, then times, in fresh processes of this interpreter:
- `json`: read the file line by line and `json.loads` every line (nothing else);
- `score`: `python -m connector score --mapping mappings/b2b-saas.toml --now ... FILE`,
  output to a file (read JSONL, validate, score, write JSON lines).
Each is run `--repeat` times, alternating, and the best of each is kept (the machine is
shared; the minimum is the least disturbed run). Prints both and the ratio score / json.
Target: ratio <= 2.0 in the default (pure-Python) install.

    python benchmarks/bench_score_cli.py [--records 50000] [--activities 30] [--repeat 3]
        [--workers 0]

`--workers 1` measures one process; the default is what a user gets (one per core for a
big file; the output is the same bytes).

The children run in a scratch folder, so they import the installed package (pure in an
editable install; the mypyc build after `MQLSYNC_COMPILE=1 pip install .`), and the
first line says which engine that is.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_engine import NOW, make_lines

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "b2b-saas.toml"
JSON_PASS = (
    "import json, sys\n"
    "with open(sys.argv[1], encoding='utf-8') as f:\n"
    "    for line in f:\n"
    "        json.loads(line)\n"
)


ENGINE = (
    "from connector.core.scoring import COMPILED\n"
    "print('compiled (mypyc)' if COMPILED else 'pure Python')"
)


def timed(command: list[str], cwd: Path, stdout: Path | None = None) -> float:
    """Wall time of one child process; a failure stops the benchmark with its stderr."""
    sink = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    try:
        t0 = time.perf_counter()
        run = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, cwd=cwd, check=False)
        elapsed = time.perf_counter() - t0
    finally:
        if stdout:
            sink.close()  # type: ignore[union-attr]
    if run.returncode != 0:
        sys.exit(f"{command[:4]} failed ({run.returncode}): {run.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--activities", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=0,
        help="score --workers (0, the default: one process per core for a file over 32 MB)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mqlsync-bench-score-") as tmp:
        engine = subprocess.run(
            [sys.executable, "-c", ENGINE], cwd=tmp, capture_output=True, text=True, check=True
        )
        print(f"engine: {engine.stdout.strip()}")
        records = Path(tmp) / "records.jsonl"
        out = Path(tmp) / "scores.jsonl"
        print(f"generating {args.records:,} records with ~{args.activities} activities each ...")
        records.write_text("\n".join(make_lines(args.records, args.activities)) + "\n")
        size = records.stat().st_size / 1e6
        now = NOW.isoformat().replace("+00:00", "Z")
        json_cmd = [sys.executable, "-c", JSON_PASS, str(records)]
        score_cmd = [sys.executable, "-m", "connector", "score", "--mapping", str(MAPPING)]
        score_cmd += ["--now", now, "--workers", str(args.workers), str(records)]
        json_s, score_s = [], []
        for _ in range(args.repeat):
            json_s.append(timed(json_cmd, Path(tmp)))
            score_s.append(timed(score_cmd, Path(tmp), stdout=out))
        lines = sum(1 for _ in out.open(encoding="utf-8"))
        assert lines == args.records, f"{lines} results for {args.records} records"
    best_json, best_score = min(json_s), min(score_s)
    n = args.records
    print(f"input           : {size:,.0f} MB, {n:,} records")
    print(f"stdlib json     : {best_json:7.2f} s  {n / best_json:10,.0f} lines/s")
    workers = f"--workers {args.workers}" + (" (auto)" if args.workers == 0 else "")
    print(f"mqlsync score   : {best_score:7.2f} s  {n / best_score:10,.0f} leads/s  {workers}")
    print(f"ratio score / json.loads = {best_score / best_json:.2f}  (target <= 2.0)")


if __name__ == "__main__":
    main()
