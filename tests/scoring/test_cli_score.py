"""`mqlsync score` / `explain` through the CLI: JSONL contract, bad lines, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from connector.cli.app import app
from tests.conftest import MAPPINGS

B2B = str(MAPPINGS / "b2b-saas.toml")
GOOD = {
    "id": "101",
    "properties": {"title": "VP Marketing", "employees": 120},
    "activities": [{"type": "demo_request", "at": "2026-10-30T12:00:00Z", "detail": {}}],
}


def lines(*objects) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


def test_score_prints_contract_fields_in_order(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(lines(GOOD))
    result = CliRunner().invoke(
        app, ["score", "--mapping", B2B, "--now", "2026-11-01T00:00:00Z", str(src)]
    )
    assert result.exit_code == 0, result.output
    (out,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert list(out)[:9] == [
        "id",
        "fit",
        "engagement",
        "total",
        "grade",
        "is_mql",
        "temperature",
        "route",
        "reasons",
    ]
    assert (out["fit"], out["engagement"], out["grade"], out["temperature"]) == (
        25,
        100,
        "B1",
        "hot",
    )
    assert out["reasons"][0] == {
        "rule": "demo_or_meeting",
        "axis": "engagement",
        "points": 100,
        "evidence": "demo_request at 2026-10-30",
    }


def test_malformed_lines_are_reported_and_good_ones_still_scored(tmp_path):
    src = tmp_path / "mixed.jsonl"
    src.write_text(
        lines(
            GOOD,
            "{not json",
            {"properties": {}},
            [1, 2],
            {**GOOD, "id": "102"},
            {"id": "103", "activities": [{"type": "page_view", "at": "2026-10-01T00:00:00"}]},
            {"id": "104", "properties": "oops"},
        )
    )
    result = CliRunner().invoke(
        app, ["score", "-m", B2B, "--now", "2026-11-01T00:00:00Z", str(src)]
    )
    assert result.exit_code == 1
    assert [json.loads(x)["id"] for x in result.stdout.splitlines()] == ["101", "102"]
    for number, what in [
        (2, "invalid JSON"),
        (3, "missing 'id'"),
        (4, "expected a JSON object"),
        (6, "no time zone"),
        (7, "'properties' must be an object"),
    ]:
        assert f"{src}:{number}: skipped: " in result.stderr and what in result.stderr
    assert "5 record(s)" in result.stderr


def test_output_is_byte_identical_for_same_input_and_now():
    cmd = [
        sys.executable,
        "-m",
        "connector",
        "score",
        "-m",
        B2B,
        "--now",
        "2026-11-01T00:00:00Z",
        "-",
    ]
    runs = [
        subprocess.run(
            cmd, input=lines(GOOD, {**GOOD, "id": "x"}).encode(), capture_output=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and runs[0]


def test_naive_now_is_a_usage_error():
    result = CliRunner().invoke(
        app, ["score", "-m", B2B, "--now", "2026-11-01T00:00:00", "-"], input=""
    )
    assert result.exit_code == 2
    assert "no time zone" in result.stderr


def test_invalid_mapping_stops_before_scoring(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[mapping]\nname = "x"\n[qualification]\nthreshold = 1\nrules = []\ntypo = 1\n')
    result = CliRunner().invoke(app, ["score", "-m", str(bad), "-"], input=lines(GOOD))
    assert result.exit_code == 1
    assert f"{bad}:6: unknown key 'typo'" in result.stderr
    assert result.stdout == ""


def test_explain_shows_rules_caps_and_verdict(tmp_path):
    record = {
        "id": "ex-2",
        "properties": {"email": "sam@gmail.com"},
        "activities": [
            {"type": "page_view", "at": f"2026-10-2{d}T10:00:00Z", "detail": {"url": "/blog/a"}}
            for d in range(5)
        ]
        + [{"type": "email_open", "at": "2026-10-25T10:00:00Z"}],
    }
    result = CliRunner().invoke(
        app, ["explain", "-m", B2B, "--now", "2026-11-01T00:00:00Z", "-"], input=lines(record)
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "capped from +25 by category 'awareness' cap" in text
    assert "email_open" in text and "+0" in text
    assert "[ ] fit -50 >= fit_min 15" in text
    assert "=> not an MQL" in text
    assert "Route: nurture" in text
