"""`mqlsync import-csv`: rows become canonical records, bad rows are reported with their
line numbers and skipped, and outcome files come out split as the spec says."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from connector.cli.app import app
from connector.core.records import parse_record

SPEC = """
[csv]
id = "Lead Id"
missing = ["", "Select"]

[properties]
source = "Channel"
employees = { column = "Staff", type = "number" }
email_opt_out = { column = "No Mail", type = "bool" }
created_at = { column = "Created", type = "time" }
notes = "Notes"

[[activities]]
type = "demo_request"
at = "Created"
when = { column = "Asked Demo", in = ["yes"] }
detail = { channel = "Channel" }

[outcome]
column = "Won"
converted = ["1"]

[split]
column = "Created"
from = "2026-01-01"
held_out_from = "2026-03-01"
"""

HEADER = "Lead Id,Channel,Staff,No Mail,Created,Notes,Asked Demo,Won\n"
ROWS = (
    "a1,seo,120,No,2026-01-05,plain,Yes,1\n"  # line 2
    'a2,ads,Select,yes,2026-03-02,"two\nlines, quoted",no,0\n'  # lines 3-4
    "a3,ads,many,No,2026-02-01,x,no,0\n"  # line 5: bad number
    "a4,seo,10,No,2025-12-31,x,no,1\n"  # line 6: before the slice
    ",seo,10,No,2026-02-01,x,no,1\n"  # line 7: no id
    "a1,seo,10,No,2026-02-01,x,no,1\n"  # line 8: repeated id
    "a5,seo,10\n"  # line 9: short row
    "a6,email,5,maybe,2026-02-03,x,no,0\n"  # line 10: bad bool
    "a7,email,5,No,03/02/2026,x,no,0\n"  # line 11: bad date
    "a8,web,7,No,2026-02-10 14:30:00,x,yes,1\n"  # line 12
)


def run(tmp_path, *extra, spec=SPEC, body=HEADER + ROWS):
    (tmp_path / "spec.toml").write_text(spec)
    (tmp_path / "leads.csv").write_text(body)
    args = ["import-csv", "--spec", str(tmp_path / "spec.toml"), str(tmp_path / "leads.csv")]
    return CliRunner().invoke(app, [*args, *extra])


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_converted(tmp_path):
    result = run(tmp_path)
    assert result.exit_code == 1
    errors = [
        line.split(": skipped: ") for line in result.stderr.splitlines() if "skipped:" in line
    ]
    where = {int(place.rsplit(":", 1)[1]): why for place, why in errors}
    assert set(where) == {5, 7, 8, 9, 10, 11}
    assert where[5] == "Staff: 'many' is not a number"
    assert where[7] == "Lead Id: empty id"
    assert where[8] == "id a1 repeats line 2"
    assert where[9] == "expected 8 fields, found 3"
    assert "'maybe' is not yes/no" in where[10]
    assert "'03/02/2026' is not a date" in where[11]
    assert "6 row(s) in" in result.stderr
    records = [parse_record(json.loads(line)) for line in result.stdout.splitlines()]
    assert [r.id for r in records] == ["a1", "a2", "a4", "a8"]


def test_values_are_typed_missing_markers_dropped_and_activities_built(tmp_path):
    out = run(tmp_path).stdout.splitlines()
    a1, a2, _, a8 = (json.loads(line) for line in out)
    assert a1["properties"] == {
        "source": "seo",
        "employees": 120,
        "email_opt_out": False,
        "created_at": "2026-01-05T00:00:00Z",
        "notes": "plain",
    }
    assert a1["activities"] == [
        {"type": "demo_request", "at": "2026-01-05T00:00:00Z", "detail": {"channel": "seo"}}
    ]
    assert "employees" not in a2["properties"]  # `Select` = missing
    assert a2["properties"]["notes"] == "two\nlines, quoted"
    assert a2["activities"] == []  # Asked Demo = no
    assert a8["activities"][0]["at"] == "2026-02-10T14:30:00Z"  # zone-less time read as UTC


def test_outcomes_are_split_and_the_slice_respected(tmp_path):
    result = run(
        tmp_path,
        "--outcomes",
        str(tmp_path / "all.csv"),
        "--train",
        str(tmp_path / "train.csv"),
        "--held-out",
        str(tmp_path / "held.csv"),
    )
    assert result.exit_code == 1  # the bad rows above

    def ids(name):
        with (tmp_path / name).open() as handle:
            return [(r["id"], r["converted"], r["source"]) for r in csv.DictReader(handle)]

    assert ids("train.csv") == [("a1", "1", "seo"), ("a8", "1", "web")]
    assert ids("held.csv") == [("a2", "0", "ads")]
    assert ids("all.csv") == [("a1", "1", "seo"), ("a2", "0", "ads"), ("a8", "1", "web")]
    # a4 (2025-12-31) is before the slice: its record is written, its outcome is not


def test_outcome_by_lookup_in_a_second_export(tmp_path):
    (tmp_path / "won.csv").write_text("deal,lead,closed\nd1,b2,2026-02-20 10:00:00\n")
    spec = """
[csv]
id = "id"
[properties]
source = "origin"
[outcome]
lookup = "won.csv"
lookup_key = "lead"
converted_at = "closed"
"""
    result = run(
        tmp_path,
        "--outcomes",
        str(tmp_path / "o.csv"),
        spec=spec,
        body="id,origin\nb1,seo\nb2,ads\n",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.csv").read_text() == (
        "id,converted,converted_at,source\nb1,0,,seo\nb2,1,2026-02-20T10:00:00Z,ads\n"
    )


def test_spec_errors_name_file_and_line(tmp_path):
    spec = '[csv]\nid = "x"\n\n[properties]\nsize = { column = "S", type = "integer" }\n'
    result = run(tmp_path, spec=spec)
    assert result.exit_code == 1
    assert "spec.toml:5:" in result.stderr and "type" in result.stderr


def test_a_missing_column_stops_before_any_row(tmp_path):
    result = run(tmp_path, body="Lead Id,Channel\na1,seo\n")
    assert result.exit_code == 1
    assert "header lacks column(s) Staff" in result.stderr
    assert result.stdout == ""


def test_split_outputs_need_a_split_table(tmp_path):
    spec = SPEC.split("[split]")[0]
    result = run(tmp_path, "--train", str(tmp_path / "t.csv"), spec=spec)
    assert result.exit_code == 2
