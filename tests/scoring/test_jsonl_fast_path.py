"""The fast JSONL path of `mqlsync score` reads and writes exactly what the plain one does.

Lines are decoded by msgspec straight into records, with `json` + `parse_record` for the
lines it refuses; results are written by `ScoreResult.to_json_line` instead of
`json.dumps(to_json())`. Both shortcuts must be invisible in the output.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from connector.cli.app import app
from connector.core import records as records_module
from connector.core.records import (
    Activity,
    LeadRecord,
    RecordError,
    parse_record,
    parse_time,
    read_line,
)
from connector.core.scoring import score
from connector.core.wire import WireActivity, WireRecord
from tests.conftest import MAPPINGS as MAPPING_DIR
from tests.conftest import NOW, shipped
from tests.scoring.test_properties import MAPPINGS, records

CANONICAL = {
    "id": "101",
    "crm": "hubspot",
    "object": "contact",
    "properties": {"email": "ana@acme.io", "title": "VP Marketing", "employees": 120},
    "activities": [
        {"type": "page_view", "at": "2026-10-30T12:00:00Z", "detail": {"url": "/pricing"}},
        {"type": "email_open", "at": "2026-10-31T09:00:00.250+02:00", "detail": {}},
    ],
    "account": {"id": "9", "engaged_contacts_30d": 3},
}


def typed(line: str) -> object:
    """What the typed decoder alone makes of a line (None when it refuses it)."""
    try:
        return records_module._DECODE_RECORD(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def plain(line: str) -> object:
    return parse_record(json.loads(line))


def test_canonical_lines_take_the_typed_decoder():
    # the default (pure) install decodes into the record classes, not through the structs
    assert records_module._DECODE_RECORD is not records_module._from_wire
    line = json.dumps(CANONICAL)
    record = typed(line)
    assert record is not None and record == plain(line)
    assert [a.type for a in record.activities] == ["email_open", "page_view"]  # newest first


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_typed_decoder_reads_a_line_as_the_validator_does(record):
    line = json.dumps(record.to_json())
    fast = typed(line)
    slow = plain(line)
    assert read_line(line) == slow
    if fast is not None:
        assert fast == slow and fast.to_json() == slow.to_json()  # same instants and zones
        via_structs = records_module._from_wire(line)  # the compiled build's reader
        assert via_structs == fast and via_structs.to_json() == fast.to_json()


@pytest.mark.parametrize(
    ("record_class", "struct", "required"),
    [(LeadRecord, WireRecord, ("x",)), (Activity, WireActivity, ("call", NOW))],
)
def test_the_compiled_builds_structs_mirror_the_records(record_class, struct, required):
    names = tuple(f.name for f in dataclasses.fields(record_class))
    assert names == struct.__struct_fields__
    ours = typing.get_type_hints(record_class, include_extras=True)
    theirs = typing.get_type_hints(struct, include_extras=True)
    wired = {tuple[WireActivity, ...]: tuple[Activity, ...]}  # the one deliberate difference
    assert {name: wired.get(hint, hint) for name, hint in theirs.items()} == ours
    defaults, mirrored = record_class(*required), struct(*required)
    assert all(getattr(defaults, n) == getattr(mirrored, n) for n in names)


@pytest.mark.parametrize(
    "change",
    [
        {"id": 101},  # numeric ids are CRM ids too
        {"properties": None},
        {"activities": None},
        {"activities": [{"type": "call", "at": "2026-10-30T12:00:00Z", "detail": None}]},
        {"activities": [{"type": "call", "at": "2026-10-30T12:00+02:00"}]},  # no seconds
        {"activities": [{"type": "call", "at": "20261030T120000Z"}]},  # ISO basic format
        {"properties": {"employees": float("nan")}},  # `NaN` is not JSON, `json` reads it
        {"id": 7, "properties": {"title": "\ud800"}},  # a lone surrogate, as `json` reads it
    ],
)
def test_lines_the_typed_decoder_refuses_are_read_by_the_validator(change):
    line = json.dumps({**CANONICAL, **change})
    assert typed(line) is None
    assert read_line(line).to_json() == plain(line).to_json()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-30T12:00:00z", datetime(2026, 10, 30, 12, tzinfo=UTC)),
        ("2026-10-30T12:00:00.1234567Z", datetime(2026, 10, 30, 12, 0, 0, 123457, tzinfo=UTC)),
    ],
)
def test_a_time_reads_the_same_on_both_paths(text, expected):
    line = json.dumps({"id": "1", "activities": [{"type": "call", "at": text}]})
    assert typed(line).activities[0].at == expected
    assert plain(line).activities[0].at == expected
    assert parse_time(text, "at") == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"id": ""}', "missing 'id'"),
        ('{"id": "7", "activities": [{"type": "", "at": "2026-10-30T12:00:00Z"}]}', ".type"),
        ('{"id": "7", "activities": [{"type": "call", "at": "2026-10-30T12:00:00"}]}', "zone"),
        ('{"id": "7", "crm": 3}', "'crm' and 'object' must be strings"),
        (
            '{"id": "7", "activities": [{"type": "call", "at": "2026-10-30T12:00:00Z"},'
            ' {"type": "call", "at": "2026-10-30T12:00:00Z", "detail": 4}]}',
            r"^record 7: activities\[1\]\.detail: expected an object$",
        ),
    ],
)
def test_bad_lines_keep_the_validator_messages(line, message):
    with pytest.raises(RecordError, match=message):
        read_line(line)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=records,
    name=st.sampled_from(MAPPINGS),
    offset=st.integers(-400, 400),
    recycled=st.booleans(),
)
def test_result_line_is_json_dumps_to_the_byte(record, name, offset, recycled):
    now = NOW + timedelta(days=offset)
    since = now - timedelta(days=20) if recycled else None
    result = score(record, shipped(name), now, engagement_since=since, require_hot=recycled)
    assert result.to_json_line() == json.dumps(result.to_json())


def test_result_line_escapes_like_json_dumps():
    record = parse_record(
        {
            "id": 'ç"\\\n☃',
            "properties": {"title": "Directeur général", "email": "zoë@uni.edu"},
            "activities": [
                {"type": "email_bounce", "at": "2026-10-01T00:00:00Z"},
                {"type": "page_view", "at": "2026-10-30T12:00:00Z", "detail": {"url": "/prícing"}},
            ],
        }
    )
    result = score(record, shipped("b2b-saas"), NOW)
    assert result.gates and result.reasons
    assert result.to_json_line() == json.dumps(result.to_json())


LIGHT_PROBE = """
import sys
sys.argv = ["mqlsync", "score", "--help"]
from connector.cli.entry import main
try:
    main()
except SystemExit:
    pass
heavy = {"sqlalchemy", "hubspot", "simple_salesforce", "apscheduler", "connector.state"}
print(sorted(name for name in heavy if name in sys.modules))
"""


def test_score_starts_without_the_crm_and_state_stacks():
    run = subprocess.run(
        [sys.executable, "-c", LIGHT_PROBE], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert "--mapping" in run.stdout


def test_score_is_the_same_command_in_the_full_app():
    full = CliRunner().invoke(app, ["score", "--help"], prog_name="mqlsync")
    light = subprocess.run(
        [sys.executable, "-m", "connector", "score", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "100", "TERM": "dumb", "PATH": ""},
    )
    assert full.exit_code == 0
    assert "--mapping" in light.stdout and "--now" in light.stdout

    def options(text: str) -> list[str]:
        return sorted(w for w in text.split() if w.startswith("--"))

    assert options(light.stdout) == options(full.stdout)


def test_score_through_the_entry_point_matches_the_full_app(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(CANONICAL) + "\n{bad\n" + json.dumps({**CANONICAL, "id": 7}) + "\n")
    args = ["score", "-m", str(MAPPING_DIR / "b2b-saas.toml"), "--now", "2026-11-01T00:00:00Z"]
    full = CliRunner().invoke(app, [*args, str(src)])
    light = subprocess.run(
        [sys.executable, "-m", "connector", *args, str(src)], capture_output=True, text=True
    )
    assert light.returncode == full.exit_code == 1
    assert light.stdout == full.stdout and len(light.stdout.splitlines()) == 2
    assert f"{src}:2: skipped: invalid JSON" in light.stderr
