"""`mqlsync score` and the input handling every record-reading command shares.

This module imports only the scoring engine, the mapping loader and typer, never the CRM
SDKs, SQLAlchemy or the daemon: `python -m connector score` and the `mqlsync` console
script run it through `standalone` without importing the full command set, whose
imports alone take two thirds of what `json` needs to parse a 150 MB input (see
`connector.cli.entry`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from connector.core.records import BadLine, LeadRecord, RecordError, parse_time, read_jsonl
from connector.core.scoring import CompiledMapping, compile_mapping, score
from connector.mapping.loader import MappingInvalid, load_mapping

MappingOption = Annotated[
    Path, typer.Option("--mapping", "-m", help="Mapping TOML file (see mappings/).")
]
NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Fix the clock (ISO-8601 with zone); default: current UTC time."),
]
InputArgument = Annotated[
    str, typer.Argument(help="Canonical records as JSONL, one object a line; '-' reads stdin.")
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
            note_skipped(bad, item, source)
        else:
            yield item


def note_skipped(bad: list[BadLine], item: BadLine, source: str) -> None:
    """Keep a skipped line and say so on stderr as `source:line: skipped: message`."""
    bad.append(item)
    typer.echo(f"{source}:{item.line}: skipped: {item.message}", err=True)


@contextmanager
def scored_input(
    mapping: Path, input_file: str, now: str | None
) -> Iterator[tuple[CompiledMapping, datetime, Iterator[LeadRecord]]]:
    """The compiled mapping, the clock and the good records of an input; after the body,
    exit 1 if any line was skipped (each was already reported with its line number)."""
    compiled = load_compiled(mapping)
    clock = parse_now(now)
    bad: list[BadLine] = []
    source = "<stdin>" if input_file == "-" else input_file
    with open_input(input_file) as lines:
        yield compiled, clock, good_records(lines, source, bad)
    end_of_input(bad, source)


def end_of_input(bad: list[BadLine], source: str) -> None:
    """Exit 1 when lines were skipped (each was reported already, with its number)."""
    if bad:
        typer.echo(f"{len(bad)} record(s) in {source} were skipped (see above)", err=True)
        raise typer.Exit(1)


WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        "-w",
        min=0,
        help="Processes to score a file with; 0 = one per core for files over 32 MB "
        "(stdin is always one). The output is the same either way.",
    ),
]


def score_command(
    mapping: MappingOption,
    input_file: InputArgument = "-",
    now: NowOption = None,
    workers: WorkersOption = 0,
) -> None:
    """Score canonical records and print one JSON result per record, in input order."""
    if input_file != "-":
        from connector.cli.score_parallel import auto_workers, score_file

        path = Path(input_file)
        count = workers or auto_workers(path)
        if count > 1 and path.is_file():
            load_compiled(mapping)  # a bad mapping is reported once, before any process
            clock = parse_now(now)
            bad: list[BadLine] = []
            score_file(
                path, mapping, clock, count, sys.stdout, lambda b: note_skipped(bad, b, input_file)
            )
            end_of_input(bad, input_file)
            return
    with scored_input(mapping, input_file, now) as (compiled, clock, records):
        sys.stdout.writelines(f"{score(r, compiled, clock).to_json_line()}\n" for r in records)


def standalone() -> None:
    """Run `score` from a one-command app (same usage line, options and exit codes)."""
    app = typer.Typer(add_completion=False)
    app.callback()(_group)  # a callback keeps `score` a subcommand, as in the full app
    app.command("score")(score_command)
    app()


def _group() -> None:
    """mqlsync: transparent lead scoring synced to HubSpot and Salesforce."""
