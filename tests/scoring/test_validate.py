"""`mqlsync validate`: every error kind reported as file:line: message (design §4)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from connector.mapping.loader import MappingInvalid, parse_mapping
from tests.conftest import MAPPINGS

HEADER = """\
[mapping]
name = "t"

[qualification]
threshold = 10
"""

RULE = """
[[rules]]
id = "r1"
axis = "fit"
points = 5
property = { field = "title", exists = true }
"""


def problems(text: str) -> list[str]:
    with pytest.raises(MappingInvalid) as info:
        parse_mapping(text, "m.toml")
    return [str(p) for p in info.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("snippet", "needle", "message"),
    [
        (RULE.replace("axis =", "axsi ="), "axsi", "unknown key 'axsi'"),
        (RULE.replace("exists = true", "exits = true"), "exits", "unknown key 'exits'"),
        (
            RULE.replace(
                '{ field = "title", exists = true }', '{ field = "title", regex = "(unclosed" }'
            ),
            "regex",
            "invalid regular expression",
        ),
        (
            RULE.replace(
                'property = { field = "title", exists = true }', 'activity = { type = "page_veiw" }'
            ),
            "page_veiw",
            "unknown activity type 'page_veiw'",
        ),
        (RULE + "max_points = -5\n", "max_points", "max_points"),
        (RULE.replace('axis = "fit"', 'axis = "intent"'), "axis", "axis"),
        (RULE.replace("points = 5", 'points = "five"'), "points", "points"),
        (RULE + 'category = "awareness"\n', "category", "category 'awareness' is not defined"),
        (
            RULE.replace('field = "title"', 'field = "titel"'),
            "titel",
            "unknown property 'titel': the rule would never fire. did you mean 'title'?",
        ),
        (RULE + RULE, 'id = "r1"', "duplicate rule id 'r1'"),
        (
            RULE.replace("exists = true", 'exists = true, regex = "x"'),
            "property =",
            "exactly one of",
        ),
        (
            RULE.replace(
                'property = { field = "title", exists = true }',
                'count = "each"\nproperty = { field = "title", exists = true }',
            ),
            'count = "each"',
            "count = 'each'",
        ),
        (
            RULE.replace(
                '{ field = "title", exists = true }', '{ field = "employees", between = [500, 50] }'
            ),
            "between",
            "low <= high",
        ),
        (
            RULE.replace(
                'property = { field = "title", exists = true }',
                'activity = { type = "page_view", min_count = 0 }',
            ),
            "min_count",
            "min_count",
        ),
    ],
)
def test_rule_errors_point_at_the_offending_line(snippet, needle, message):
    text = HEADER + snippet
    found = problems(text)
    assert any(message in p for p in found), found
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    expected_line = lines[-1]  # for duplicates, the second definition is the offending one
    assert any(p.startswith(f"m.toml:{expected_line}:") for p in found if message in p), found


def test_category_cap_below_zero_is_an_error_on_its_line():
    text = HEADER + "\n[categories]\nawareness = { max_points = -1 }\n" + RULE
    found = problems(text)
    assert any(p.startswith(f"m.toml:{line_of(text, 'awareness =')}:") for p in found), found


def test_multiline_any_elements_are_located():
    text = (
        HEADER
        + """
[[rules]]
id = "neg"
axis = "engagement"
points = -25
any = [
  { activity = { type = "unsubscribe" } },
  { activity = { type = "unsubscirbe" } },
]
"""
    )
    found = problems(text)
    assert found == [
        f"m.toml:{line_of(text, 'unsubscirbe')}: unknown activity type 'unsubscirbe' "
        + found[0].split("unknown activity type 'unsubscirbe' ", 1)[1]
    ]


def test_toml_syntax_error_reports_its_line():
    text = HEADER + '\n[[rules]]\nid = "x\n'
    (found,) = problems(text)
    assert found.startswith(f"m.toml:{line_of(text, 'id = ')}: TOML syntax error")


def test_missing_required_sections_are_reported():
    found = problems('[mapping]\nname = "x"\n')
    assert any("missing required key 'qualification'" in p for p in found)
    assert any("missing required key 'rules'" in p for p in found)


def test_grade_bands_must_descend():
    text = (
        HEADER
        + '\n[grades]\nfit = { A = 10, B = 20, C = 5 }\nengagement = { "1" = 3, "2" = 2, "3" = 1 }\n'
        + RULE
    )
    found = problems(text)
    assert any(
        "decrease" in p and p.startswith(f"m.toml:{line_of(text, 'fit = {')}:") for p in found
    )


def test_custom_activity_types_can_be_declared():
    text = HEADER.replace(
        'name = "t"', 'name = "t"\ncustom_activity_types = ["podcast"]'
    ) + RULE.replace(
        'property = { field = "title", exists = true }', 'activity = { type = "podcast" }'
    )
    assert parse_mapping(text, "m.toml").rules[0].id == "r1"


def test_every_error_is_reported_not_just_the_first():
    text = (
        HEADER
        + RULE.replace("axis =", "axsi =")
        + RULE.replace('"r1"', '"r2"').replace("points = 5", "points = []")
    )
    assert len(problems(text)) >= 2


def test_cli_validate_ok_and_failure(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(HEADER + RULE.replace("axis =", "axsi ="))
    runner = CliRunner()
    ok = runner.invoke(
        app, ["validate", str(MAPPINGS / "b2b-saas.toml"), str(MAPPINGS / "smb-scorecard.toml")]
    )
    assert ok.exit_code == 0, ok.output
    assert "b2b-saas.toml: ok (18 rules, 1 gates)" in ok.output
    failed = runner.invoke(app, ["validate", str(MAPPINGS / "threshold-100.toml"), str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:{line_of(bad.read_text(), 'axsi')}: unknown key 'axsi'" in failed.output


def test_cli_validate_missing_file(tmp_path):
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1
    assert f"{(tmp_path / 'nope.toml').resolve()}: cannot read mapping" in result.output
    assert ":1:" not in result.output


def test_custom_and_mapped_properties_are_known():
    custom = RULE.replace('field = "title"', 'field = "lead_origin"')
    assert any("unknown property 'lead_origin'" in p for p in problems(HEADER + custom))
    declared = HEADER.replace('name = "t"', 'name = "t"\ncustom_properties = ["lead_origin"]')
    parse_mapping(declared + custom, "m.toml")
    mapped = HEADER + custom + '\n[source_fields.hubspot]\nhs_lead_origin = "lead_origin"\n'
    parse_mapping(mapped, "m.toml")


@pytest.mark.parametrize("name", ["b2b-saas", "b2b-saas-abm", "threshold-100", "smb-scorecard"])
def test_the_commented_lifecycle_section_of_each_shipped_mapping_shows_the_defaults(name):
    """Uncommenting it must change nothing: the comments say what mqlsync really does."""
    text = (MAPPINGS / f"{name}.toml").read_text()
    block = text[text.index("# [lifecycle]") :]
    uncommented = "\n".join(
        line[2:].split("  #")[0] if line.startswith("# ") else ""
        for line in block.splitlines()
        if '"..."' not in line
    )
    shown = parse_mapping(text[: text.index("# [lifecycle]")] + uncommented, "m.toml")
    assert shown.lifecycle == parse_mapping(text, "m.toml").lifecycle
