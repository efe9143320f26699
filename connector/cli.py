"""Command-line interface (design §8): a thin typer layer over the library functions.

Exit codes: 0 success, 1 handled failure (bad records, invalid mapping, sync errors),
2 usage error (typer/click's own code for bad options).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from connector.explain import explain as render_explanation
from connector.mapping.loader import MappingInvalid, load_mapping
from connector.records import BadLine, LeadRecord, RecordError, parse_time, read_jsonl, write_jsonl
from connector.scoring import CompiledMapping, compile_mapping, score

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="mqlsync: transparent lead scoring synced to HubSpot and Salesforce.",
)

MappingOption = Annotated[
    Path, typer.Option("--mapping", "-m", help="Mapping TOML file (see mappings/).")
]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Fix the clock (ISO-8601 with zone); default: current UTC time."),
]
InputArgument = Annotated[
    str, typer.Argument(help="Canonical records as JSONL (design §2); '-' reads stdin.")
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_compiled(path: Path) -> CompiledMapping:
    """Load, validate and compile a mapping, exiting 1 with `file:line:` errors if invalid."""
    try:
        return compile_mapping(load_mapping(path))
    except MappingInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None


def parse_now(now: str | None) -> datetime:
    """The `--now` option, or the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    try:
        return parse_time(now, "--now")
    except RecordError as exc:
        raise fail(str(exc), 2) from None


@contextmanager
def open_input(name: str) -> Iterator[TextIO]:
    """Open a JSONL input by name, `-` meaning stdin; a missing file is a handled failure."""
    if name == "-":
        yield sys.stdin
        return
    try:
        handle = open(name, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise fail(f"cannot read {name}: {exc.strerror}") from None
    with handle:
        yield handle


def good_records(lines: TextIO, source: str, bad: list[BadLine]) -> Iterator[LeadRecord]:
    """Yield valid records; report each bad one on stderr as `source:line: message`."""
    for item in read_jsonl(lines):
        if isinstance(item, BadLine):
            bad.append(item)
            typer.echo(f"{source}:{item.line}: skipped: {item.message}", err=True)
        else:
            yield item


def _finish(bad: list[BadLine], source: str) -> None:
    if bad:
        typer.echo(f"{len(bad)} record(s) in {source} were skipped (see above)", err=True)
        raise typer.Exit(1)


@app.command("score")
def score_command(
    mapping: MappingOption, input_file: InputArgument = "-", now: NowOption = None
) -> None:
    """Score canonical records and print one JSON result per record (design §3)."""
    compiled = load_compiled(mapping)
    clock = parse_now(now)
    bad: list[BadLine] = []
    source = "<stdin>" if input_file == "-" else input_file
    with open_input(input_file) as lines:
        results = (score(r, compiled, clock).to_json() for r in good_records(lines, source, bad))
        write_jsonl(sys.stdout, results)
    _finish(bad, source)


@app.command("explain")
def explain_command(
    mapping: MappingOption, input_file: InputArgument = "-", now: NowOption = None
) -> None:
    """Print a human-readable breakdown of each record's score: rules, evidence, caps, verdict."""
    compiled = load_compiled(mapping)
    clock = parse_now(now)
    bad: list[BadLine] = []
    source = "<stdin>" if input_file == "-" else input_file
    with open_input(input_file) as lines:
        for number, record in enumerate(good_records(lines, source, bad)):
            if number:
                typer.echo("")
            typer.echo(render_explanation(record, score(record, compiled, clock), compiled))
    _finish(bad, source)


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Mapping TOML files to check.")],
) -> None:
    """Check mapping files; print every error as `file:line: message` and exit 1 if any."""
    failed = 0
    for path in files:
        try:
            spec = load_mapping(path)
        except MappingInvalid as exc:
            failed += 1
            for problem in exc.problems:
                typer.echo(str(problem))
            continue
        typer.echo(f"{path}: ok ({len(spec.rules)} rules, {len(spec.gates)} gates)")
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
