"""Scoring-engine throughput: parse-only vs parse+score on synthetic JSONL (issue 3).

Prints leads/s for a stdlib `json.loads` pass, mqlsync's parse, score-only and
parse+score over N records with ~30 activities each under mappings/b2b-saas.toml, and the
ratio (parse+score) / (json.loads): mqlsync's own parser is no yardstick, it was the slow
part. Targets: ratio <= 2.0, >= 50k leads/s scoring on one core. The whole command,
start-up and output included, is measured by bench_score_cli.py.

    python benchmarks/bench_engine.py [--records 100000] [--activities 30]

It measures whichever engine is installed and says which: an editable install is pure
Python; `MQLSYNC_COMPILE=1 pip install --no-deps --force-reinstall .` puts in the compiled
core (run from the repository root, `benchmarks/` comes first on sys.path, so the installed
package is the one imported); `pip install -e .` switches back.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.core.records import LeadRecord, read_jsonl
from connector.core.scoring import COMPILED, compile_mapping, score
from connector.mapping.loader import load_mapping

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 1, tzinfo=UTC)
TYPES = [
    ("page_view", {"url": "https://acme.io/blog/post"}),
    ("page_view", {"url": "https://acme.io/pricing"}),
    ("page_view", {"url": "https://acme.io/careers"}),
    ("page_view", {"url": "https://acme.io/product"}),
    ("email_open", {}),
    ("email_click", {}),
    ("content_download", {"asset_type": "ebook", "name": "Guide"}),
    ("content_download", {"asset_type": "case_study", "name": "Acme case"}),
    ("form_submission", {"form": "newsletter"}),
    ("webinar_registration", {"name": "Q4 webinar"}),
    ("demo_request", {}),
    ("meeting", {}),
]
WEIGHTS = [30, 6, 1, 15, 25, 8, 4, 2, 3, 2, 1, 1]


def make_lines(n: int, per_record: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    titles = ["VP Marketing", "Engineer", "Head of Sales", "Student", "Director", "Analyst"]
    industries = ["Software", "Retail", "Fintech", "Education", "SaaS"]
    domains = ["acme.io", "gmail.com", "corp.com", "rival.io", "uni.edu"]
    lines = []
    for i in range(n):
        acts = []
        count = rng.randint(per_record - 10, per_record + 10)
        for kind, detail in rng.choices(TYPES, WEIGHTS, k=count):
            at = NOW - timedelta(seconds=rng.randint(0, 200 * 86_400))
            acts.append({"type": kind, "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail": detail})
        record = {
            "id": str(i),
            "crm": "hubspot",
            "object": "contact",
            "properties": {
                "email": f"p{i}@{rng.choice(domains)}",
                "title": rng.choice(titles),
                "employees": rng.randint(1, 5000),
                "industry": rng.choice(industries),
                "annual_revenue": rng.randint(100_000, 90_000_000),
                "tech_stack": rng.choice(["HubSpot;Outreach", "Salesforce", ""]),
                "email_opt_out": rng.random() < 0.05,
            },
            "activities": acts,
            "account": {"id": str(i // 5), "engaged_contacts_30d": rng.randint(0, 5)},
        }
        lines.append(json.dumps(record))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=30)
    args = parser.parse_args()
    mapping = compile_mapping(load_mapping(ROOT / "mappings" / "b2b-saas.toml"))
    built = (
        "compiled (mypyc)"
        if COMPILED
        else "pure Python; MQLSYNC_COMPILE=1 pip install . compiles it"
    )
    print(f"engine: {built}")
    print(f"generating {args.records:,} records with ~{args.activities} activities each ...")
    lines = make_lines(args.records, args.activities)

    records = [r for r in read_jsonl(lines) if isinstance(r, LeadRecord)]
    assert len(records) == args.records
    gc.collect()
    gc.freeze()  # the records above are long-lived; keep the collector off them while timing

    t0 = time.perf_counter()
    for line in lines:
        json.loads(line)
    json_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    parsed = sum(1 for _ in read_jsonl(lines))
    parse_s = time.perf_counter() - t0
    assert parsed == args.records

    t0 = time.perf_counter()
    mqls = sum(score(r, mapping, NOW).is_mql for r in records)
    score_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for item in read_jsonl(lines):
        assert isinstance(item, LeadRecord)
        score(item, mapping, NOW)
    both_s = time.perf_counter() - t0

    n = args.records
    print(f"json.loads only : {json_s:7.2f} s  {n / json_s:10,.0f} lines/s")
    print(f"parse only      : {parse_s:7.2f} s  {n / parse_s:10,.0f} leads/s")
    print(f"score only      : {score_s:7.2f} s  {n / score_s:10,.0f} leads/s  ({mqls:,} MQLs)")
    print(f"parse + score   : {both_s:7.2f} s  {n / both_s:10,.0f} leads/s")
    print(f"ratio (parse+score)/(json.loads) = {both_s / json_s:.2f}  (target <= 2.0)")
    print(f"scoring throughput {n / score_s:,.0f} leads/s (target >= 50,000)")


if __name__ == "__main__":
    main()
