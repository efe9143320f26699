"""`backtest`, `import-csv` and `report`: the commands that read outcomes and history
rather than write to a CRM. Registered on the main app by `register`."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, TextIO

import typer

from connector.cli.app import (
    ConfigOption,
    MappingOption,
    NowOption,
    fail,
    handled,
    open_input,
    scored_input,
)
from connector.config import load_settings
from connector.core.records import BadLine, write_jsonl
from connector.insight.backtest import run_backtest, scored_rows
from connector.insight.csvfile import CsvInvalid
from connector.insight.importcsv import Converted, Won, convert_rows, load_spec, read_lookup
from connector.insight.outcomes import Outcome, read_outcomes
from connector.insight.text import render_backtest
from connector.mapping.loader import mapping_version
from connector.state import StateStore

_CAPACITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(?:month|mo|m))?\s*$")
OUTCOME_COLUMNS = ["id", "converted", "converted_at", "source"]


def parse_capacity(text: str | None) -> float | None:
    """`200/month` or `200` → 200.0; anything else is a usage error."""
    if text is None:
        return None
    match = _CAPACITY.match(text)
    if not match:
        raise fail(f"--capacity must look like 200/month, got {text!r}", 2)
    return float(match.group(1))


def _report(source: str, bad: BadLine) -> None:
    typer.echo(f"{source}:{bad.line}: skipped: {bad.message}", err=True)


def load_outcomes(path: Path) -> tuple[dict[str, Outcome], int]:
    """Outcomes by id and how many rows were skipped (each reported with its line)."""
    found: dict[str, Outcome] = {}
    skipped = 0
    with open_input(str(path)) as lines:
        try:
            for item in read_outcomes(lines):
                if isinstance(item, BadLine):
                    skipped += 1
                    _report(str(path), item)
                else:
                    found[item.id] = item
        except CsvInvalid as exc:
            raise fail(f"{path}: {exc}") from None
    return found, skipped


def backtest_command(
    mapping: MappingOption,
    records: Annotated[
        str, typer.Option("--records", "-r", help="Canonical records (JSONL); '-' = stdin.")
    ],
    outcomes: Annotated[
        Path,
        typer.Option("--outcomes", help="CSV: id,converted[,converted_at,source]."),
    ],
    now: NowOption = None,
    capacity: Annotated[
        str | None,
        typer.Option("--capacity", help="Sales capacity, e.g. 200/month: its threshold."),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page.")
    ] = None,
) -> None:
    """Score records and compare with real outcomes: ROC AUC, conversion by grade and score
    band, precision/recall of the MQL rule, each rule's lift, MQL→conversion by source.

    Records without an outcome are ignored and counted; bad lines and rows are reported
    with their line numbers and exit 1 after the results are printed.
    """
    if output not in ("table", "json"):
        raise fail("--output must be table or json", 2)
    per_month = parse_capacity(capacity)
    known, skipped = load_outcomes(outcomes)
    with scored_input(mapping, records, now) as (compiled, clock, good):
        rows, unmatched = scored_rows(good, known, compiled, clock)
        joined = {r.id for r in rows}
        result = run_backtest(
            rows, compiled, now=clock, version=mapping_version(mapping),
            unmatched_records=unmatched,
            unmatched_outcomes=sum(1 for i in known if i not in joined),
            capacity=per_month,
        )  # fmt: skip
        if output == "json":
            typer.echo(json.dumps(result.summary))
        else:
            typer.echo(render_backtest(result.summary))
        if html is not None:
            from connector.insight.pages import backtest_page  # matplotlib: only when drawing

            html.write_text(backtest_page(result), encoding="utf-8")
    if skipped:
        typer.echo(f"{skipped} outcome row(s) in {outcomes} were skipped (see above)", err=True)
        raise typer.Exit(1)


def _outcome_writer(stack: ExitStack, path: Path | None) -> csv.DictWriter[str] | None:
    if path is None:
        return None
    handle: TextIO = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
    writer = csv.DictWriter(handle, OUTCOME_COLUMNS, lineterminator="\n")
    writer.writeheader()
    return writer


def _converted(items: Iterator[Converted | BadLine], source: str, bad: list[BadLine]
               ) -> Iterator[Converted]:  # fmt: skip
    for item in items:
        if isinstance(item, BadLine):
            bad.append(item)
            _report(source, item)
        else:
            yield item


def import_csv_command(
    spec_path: Annotated[Path, typer.Option("--spec", help="Import spec TOML.")],
    input_file: Annotated[str, typer.Argument(help="The CSV export; '-' reads stdin.")],
    outcomes: Annotated[
        Path | None,
        typer.Option("--outcomes", help="Also write a backtest outcomes CSV (spec [outcome])."),
    ] = None,
    train: Annotated[
        Path | None, typer.Option("--train", help="Outcomes of the training rows (spec [split]).")
    ] = None,
    held_out: Annotated[
        Path | None,
        typer.Option("--held-out", help="Outcomes of the held-out rows (spec [split])."),
    ] = None,
) -> None:
    """Convert a lead export (CSV) into canonical records (JSONL on stdout).

    Bad rows are reported on stderr as `file:line: skipped: why`, the rest converted,
    exit 1 if any were skipped. With the spec's [outcome] and [split], also write the
    outcome files a backtest reads (rows outside the split's slice get no outcome).
    """
    with handled():
        spec = load_spec(spec_path)
    wants_outcome = outcomes or train or held_out
    if wants_outcome and spec.outcome is None:
        raise fail(f"{spec_path}: --outcomes/--train/--held-out need an [outcome] table", 2)
    if (train or held_out) and spec.split is None:
        raise fail(f"{spec_path}: --train/--held-out need a [split] table", 2)
    source = "<stdin>" if input_file == "-" else input_file
    won: Won | None = None
    if spec.outcome is not None and spec.outcome.lookup is not None and wants_outcome:
        base = Path(".") if input_file == "-" else Path(input_file).parent
        lookup = base / spec.outcome.lookup
        try:
            with open_input(str(lookup)) as lines:
                won = read_lookup(spec.outcome, lines)
        except CsvInvalid as exc:
            raise fail(f"{lookup}: {exc}") from None
    bad: list[BadLine] = []
    with ExitStack() as stack:
        all_out = _outcome_writer(stack, outcomes)
        parts = {"train": _outcome_writer(stack, train),
                 "held_out": _outcome_writer(stack, held_out)}  # fmt: skip
        lines = stack.enter_context(open_input(input_file))
        try:
            for item in _converted(convert_rows(spec, lines, won), source, bad):
                write_jsonl(sys.stdout, [item.record.to_json()])
                if item.outcome is None or (spec.split is not None and item.part is None):
                    continue
                if all_out is not None:
                    all_out.writerow(item.outcome)
                part = parts.get(item.part or "")
                if part is not None:
                    part.writerow(item.outcome)
        except CsvInvalid as exc:
            raise fail(f"{source}: {exc}") from None
    if bad:
        typer.echo(f"{len(bad)} row(s) in {source} were skipped (see above)", err=True)
        raise typer.Exit(1)


def report_command(
    html: Annotated[Path, typer.Option("--html", help="Write the report to this file.")],
    config: ConfigOption = None,
) -> None:
    """Write a self-contained HTML report from the state store: MQLs over time, MQL→SQL by
    source, time to MQL, accepted / rejected / recycled, SLA breaches, score distribution
    by grade, the model version. Charts are inline SVG: no server, no network."""
    from connector.insight.pages import report_page  # matplotlib: only when drawing
    from connector.insight.report import gather

    with handled():
        settings = load_settings(config)
        with StateStore.open(settings.state.url) as store:
            data = gather(store, settings.crm.kind)
    html.write_text(report_page(data), encoding="utf-8")
    typer.echo(f"report: {html} ({data.snapshots} records, {len(data.runs)} runs)")


def register(app: typer.Typer) -> None:
    """Add the insight commands to the main CLI."""
    app.command("backtest")(backtest_command)
    app.command("import-csv")(import_csv_command)
    app.command("report")(report_command)
