"""Score synthetic people under every shipped mapping and print the results as JSON lines.

Run once against the pure-Python package and once against the mypyc-compiled wheel;
`test_compiled.py` requires the two outputs to be byte-identical. It exercises what the
rest of mqlsync does with engine objects: explain text, pickling (rescore workers) and
`dataclasses.replace` (held records).
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.core.explain import explain
from connector.core.records import Activity, LeadRecord, parse_record, read_line
from connector.core.scoring import COMPILED, compile_mapping, score
from connector.mapping.loader import load_mapping
from connector.sandbox.synthetic import generate_people

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def people(n: int) -> list[LeadRecord]:
    out = []
    for p in generate_people(n, now=NOW):
        properties = {
            "email": p.email,
            "title": p.title,
            "employees": p.company.employees,
            "industry": p.company.industry,
            "annual_revenue": p.company.annual_revenue,
            "tech_stack": p.company.tech_stack,
            "email_opt_out": p.email_opt_out,
        }
        activities = tuple(Activity(a.type, a.at, dict(a.detail)) for a in p.activities)
        account = {"id": str(p.company.id), "engaged_contacts_30d": p.id % 5}
        out.append(LeadRecord(str(p.id), "hubspot", "contact", properties, activities, account))
    return out


def main() -> None:
    mappings_dir, count, expect = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if (expect == "compiled") != COMPILED:
        sys.exit(f"expected the {expect} engine, got COMPILED={COMPILED}")
    records = people(count)
    for path in sorted(mappings_dir.glob("*.toml")):
        mapping = compile_mapping(load_mapping(path))
        for i, record in enumerate(records):
            # round-trip through the wire shape, as `mqlsync score` reads records (the pure
            # build decodes typed with msgspec, the compiled one with json + parse_record)
            record = read_line(json.dumps(record.to_json()))
            assert record == parse_record(record.to_json())
            since = NOW - timedelta(days=40) if i % 7 == 0 else None
            result = score(record, mapping, NOW, engagement_since=since, require_hot=i % 11 == 0)
            # rescore workers send results without reasons, and records, between processes
            sent = dataclasses.replace(result, reasons=(), gates=(), capped_out=())
            again = pickle.loads(pickle.dumps(sent))
            held = dataclasses.replace(record, properties={**record.properties, "x": 1})
            line = {
                "mapping": path.stem,
                "result": result.to_json(),
                "line": result.to_json_line() == json.dumps(result.to_json()),
                "pickled": again.to_json() == sent.to_json()
                and pickle.loads(pickle.dumps(record)) == record,
                "held": score(held, mapping, NOW).to_json()
                == score(record, mapping, NOW).to_json(),
            }
            if i % 50 == 0:
                line["explain"] = explain(record, result, mapping)
            print(json.dumps(line, sort_keys=True))


if __name__ == "__main__":
    main()
