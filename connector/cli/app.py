"""Command-line interface: a thin typer layer over the library functions.

Exit codes: 0 success, 1 handled failure (bad records, invalid mapping, sync errors),
2 usage error (typer/click's own code for bad options).
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from connector.cli.demo import DEFAULT_MAPPING, run_demo
from connector.cli.progress import progress_bar
from connector.cli.score import InputArgument, load_compiled, parse_now, score_command
from connector.cli.score import MappingOption as MappingOption  # the insight commands use
from connector.cli.score import NowOption as NowOption  # these from here
from connector.cli.score import fail as fail
from connector.cli.score import open_input as open_input
from connector.cli.score import scored_input as scored_input
from connector.config import load_settings
from connector.core.explain import explain as render_explanation
from connector.core.scoring import score
from connector.crm.factory import build_adapter
from connector.errors import MqlsyncError
from connector.mapping.loader import (
    MappingInvalid,
    load_mapping,
    mapping_version,
    status_problems,
)
from connector.ops.runner import Context, open_context
from connector.ops.service import run_service
from connector.pipeline.live import explain_live
from connector.pipeline.steps import PlannedChange, RunSummary
from connector.pipeline.undo import Undo
from connector.pipeline.whatif import what_if
from connector.sandbox.serve import serve
from connector.state import StateStore

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="mqlsync: transparent lead scoring synced to HubSpot and Salesforce.",
)

app.command("score")(score_command)


@app.command("explain")
def explain_command(
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", "-m", help="Mapping TOML file (with an input file)."),
    ] = None,
    input_file: InputArgument = "-",
    now: NowOption = None,
    config: ConfigOption = None,
    contact: Annotated[
        str | None,
        typer.Option(
            "--contact",
            help="Explain this live CRM record (id or email), pulled now with --config.",
        ),
    ] = None,
) -> None:
    """Print a human-readable breakdown of each record's score: rules, evidence, caps, verdict.

    With --contact, one live record: pulled from the CRM now, with its lifecycle (why
    engagement is low after a recycle, the cooldown) and what the next sync would write.
    """
    if contact is not None:
        with handled(), open_context(config) as ctx:
            text = explain_live(
                ctx.adapter, ctx.store, ctx.mapping, contact, parse_now(now), ctx.version
            )
        typer.echo(text)
        return
    if mapping is None:
        raise fail("give --mapping and records to explain, or --contact with --config", 2)
    with scored_input(mapping, input_file, now) as (compiled, clock, records):
        for number, record in enumerate(records):
            if number:
                typer.echo("")
            typer.echo(render_explanation(record, score(record, compiled, clock), compiled))


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Mapping TOML files to check.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Also check the lifecycle statuses against the configured CRM's lead statuses.",
        ),
    ] = None,
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
        if config is not None:
            with handled():
                settings = load_settings(config)
                options = build_adapter(settings, spec).lead_statuses()
            problems = status_problems(path, spec, settings.crm.kind, options)
            if problems:
                failed += 1
                for problem in problems:
                    typer.echo(str(problem))
                continue
        typer.echo(f"{path}: ok ({len(spec.rules)} rules, {len(spec.gates)} gates)")
    if failed:
        raise typer.Exit(1)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config TOML (default: $MQLSYNC_CONFIG, else defaults)."),
]


@contextmanager
def handled() -> Iterator[None]:
    """Turn expected failures into one clear line on stderr and exit code 1."""
    try:
        yield
    except MappingInvalid as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    except MqlsyncError as exc:
        raise fail(str(exc)) from None


def _summary_line(summary: RunSummary, what: str) -> str:
    return (
        f"{what}: pulled {summary.pulled}, changed {summary.changed}, written {summary.written}, "
        f"failed {summary.failed}, dead-lettered {summary.dead_lettered}, "
        f"promoted {summary.promoted}, recycled {summary.recycled}, "
        f"{summary.api_calls} API calls in {summary.seconds:.1f} s"
        + (f" (run {summary.run_id})" if summary.run_id is not None else "")
    )


def _print_summary(summary: RunSummary, what: str) -> None:
    typer.echo(_summary_line(summary, what))


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """Yield a `should_stop` for a run: SIGTERM/SIGINT end it at the next page boundary,
    with what it wrote committed, instead of killing it mid-write."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        typer.echo(f"{signal.Signals(signum).name}: stopping after this page", err=True)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("sync")
def sync_command(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one sync and exit.")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute, write nothing.")] = False,
) -> None:
    """Run one incremental sync: pull changes, score, write only what changed.

    Refuses to start while another mqlsync process writes to the same CRM account.
    """
    if not once:
        raise fail("`sync` runs once; use `mqlsync run` for the scheduled daemon", 2)
    with (
        handled(),
        open_context(config) as ctx,
        writer_lock(ctx, dry_run),
        stop_on_signals() as should_stop,
        progress_bar("syncing") as update,
    ):
        summary = ctx.sync().run(dry_run=dry_run, progress=update, should_stop=should_stop)
    _print_summary(summary, "dry run" if dry_run else "sync")
    if summary.failed:
        raise typer.Exit(1)


@contextmanager
def writer_lock(ctx: Context, dry_run: bool = False) -> Iterator[None]:
    """Hold the CRM account's lock for a writing command (a dry run writes nothing)."""
    if dry_run:
        yield
        return
    with ctx.lock:
        yield


@app.command("rescore")
def rescore_command(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute, write nothing.")] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Scoring processes (default: cores, ≤ 4).")
    ] = None,
) -> None:
    """Recompute decay, window expiry and lifecycle timers from stored state: no CRM reads
    except the check of each recycle against the CRM's current stage."""
    with (
        handled(),
        open_context(config) as ctx,
        writer_lock(ctx, dry_run),
        stop_on_signals() as should_stop,
        progress_bar("rescoring") as update,
    ):
        summary = ctx.rescore(workers).run(
            dry_run=dry_run, progress=update, should_stop=should_stop
        )
    _print_summary(summary, "rescore dry run" if dry_run else "rescore")
    if summary.failed:
        raise typer.Exit(1)


@app.command("run")
def run_command(config: ConfigOption = None) -> None:
    """Run the daemon: incremental sync every N minutes and the daily rescore.

    Several daemons may share one state store: the one holding the CRM account's lock
    writes, the others stand by and take over within one interval if it dies.
    """
    with handled(), open_context(config) as ctx:
        code = run_service(ctx)
    raise typer.Exit(code)


@app.command("undo")
def undo_command(
    run_id: Annotated[int, typer.Argument(help="The run to undo (see `mqlsync status`).")],
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, write nothing.")] = False,
) -> None:
    """Write back the value every field had before run RUN_ID, where the CRM still holds
    what that run wrote; fields changed since are skipped and listed.

    Undo does not change the mapping: the next sync or rescore under the same mapping
    computes the same values again, so fix the mapping (or stop the daemon) first.
    """
    with handled(), open_context(config) as ctx, writer_lock(ctx, dry_run):
        report = Undo(ctx.adapter, ctx.store, version=ctx.version).run(run_id, dry_run=dry_run)
    for skip in report.skipped:
        typer.echo(f"skipped {skip.record_id} {skip.field}: {skip.reason}")
    verb = "would restore" if dry_run else "restored"
    typer.echo(
        f"undo of run {run_id}: {verb} {report.restored} field(s) on {report.records} "
        f"record(s), skipped {len(report.skipped)}, failed {report.failed}"
        + (f" (run {report.run_id})" if report.run_id is not None else "")
    )
    if report.failed:
        raise typer.Exit(1)


@app.command("plan")
def plan_command(
    config: ConfigOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    other: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            "-m",
            help="What-if: the changes a switch to this mapping would write, computed from "
            "the stored records alone (no CRM call).",
        ),
    ] = None,
    contact: Annotated[
        str | None, typer.Option("--contact", help="Only this record (id or email).")
    ] = None,
    fields: Annotated[
        list[str] | None, typer.Option("--field", help="Only this field (repeatable).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Print at most N changes (totals count all).")
    ] = None,
) -> None:
    """Preview a sync: every record and field it would change (before → after); writes nothing.

    Changes are printed as they are computed, so a plan over a million contacts needs no
    more memory than a page of them. With --mapping, the what-if of switching to another
    mapping: its changes and MQLs gained and lost, by grade and route. --contact, --field
    and --limit narrow what is printed; the totals always cover every record.
    """
    if output not in ("table", "json"):
        raise fail("--output must be table or json", 2)
    wanted = set(fields or ())
    kept = 0
    # Spooled to a temporary file, so the totals can come first while memory stays at a
    # page: a plan over a million contacts prints its headline before its changes.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:

        def keep(change: PlannedChange) -> None:
            nonlocal kept
            if contact is not None and contact not in (change.record_id, change.email):
                return
            if wanted and change.field not in wanted:
                return
            if limit is not None and kept >= limit:
                return
            spool.write(json.dumps(asdict(change)) + "\n")
            kept += 1

        if other is not None:
            with handled():
                settings = load_settings(config)
                compiled = load_compiled(other)
                with StateStore.open(settings.state.url) as store:
                    what = what_if(
                        store, settings.crm.kind, compiled, mapping_version(other),
                        datetime.now(UTC), keep,
                    )  # fmt: skip
            totals = what.to_json()
            headline = [f"what-if {other.name}: {what.headline()}"] + [
                f"  {name.replace('_', ' ')}: "
                + (", ".join(f"{k} {v}" for k, v in totals[name].items()) or "none")
                for name in ("gained_by_grade", "lost_by_grade", "routes_before", "routes_after")
            ]
        else:
            with handled(), open_context(config) as ctx:
                summary = ctx.sync().run(dry_run=True, plan=keep)
            totals = summary.counts()
            headline = [_summary_line(summary, "plan")]
        spool.seek(0)
        if output == "json":
            sys.stdout.write(f'{{"totals": {json.dumps(totals)}, "changes": [')
            for number, line in enumerate(spool):
                sys.stdout.write(("\n  " if not number else ",\n  ") + line.rstrip("\n"))
            sys.stdout.write("\n]}\n")
            return
        for line in headline:
            typer.echo(line)
        typer.echo("record\tfield\tbefore → after")
        for line in spool:
            change = json.loads(line)
            who = (
                f"{change['record_id']} {change['email']}"
                if change["email"]
                else change["record_id"]
            )
            typer.echo(f"{who}\t{change['field']}\t{change['before']} → {change['after']}")


@app.command("provision")
def provision_command(
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
) -> None:
    """Create mqlsync's CRM fields if missing (idempotent) and report what was done."""
    with handled(), open_context(config) as ctx:
        report = ctx.adapter.provision(dry_run=dry_run)
    verb = "would create" if dry_run else "created"
    typer.echo(f"{verb}: {', '.join(report.created) or 'nothing'}")
    typer.echo(f"already there: {', '.join(report.existing) or 'nothing'}")
    for problem in report.problems:
        typer.echo(f"problem: {problem}", err=True)
    if report.problems:
        raise typer.Exit(1)


@app.command("status")
def status_command(
    config: ConfigOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    limit: Annotated[int, typer.Option("--limit", help="Runs to show, newest first.")] = 20,
) -> None:
    """Show recent runs, open dead letters (parked ones marked), the sync watermark, the
    next scheduled sync and rescore, and the API calls used today."""
    if output not in ("table", "json"):
        raise fail("--output must be table or json", 2)
    with handled():
        settings = load_settings(config)
        with StateStore.open(settings.state.url) as store:
            report = status_report(store, settings.crm.kind, limit)
            now = datetime.now(UTC)
            report.update(ops_commands.schedule_status(store, settings, now))
    if output == "json":
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("run", "kind", "started", "status", "model", "counts", "API calls")
    for run in report["runs"]:
        counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items() if v)
        table.add_row(
            str(run["id"]), run["kind"], run["started_at"], run["status"],
            run["mapping_version"] or "", counts, str(run["api_calls"]),
        )  # fmt: skip
    Console().print(table)
    typer.echo(f"watermark: {report['watermark'] or 'none (the next sync backfills)'}")
    letters = report["dead_letters"]
    typer.echo(f"open dead letters: {len(letters)}")
    for letter in letters:
        parked = " (parked: no longer retried)" if letter["parked"] else ""
        typer.echo(
            f"  {letter['object']}/{letter['record_id']}: {letter['attempts']} attempt(s)"
            f"{parked}: {letter['error']}"
        )
    ops_commands.print_schedule(report, now)


def status_report(store: StateStore, crm: str, limit: int = 20) -> dict[str, Any]:
    """The `status -o json` object: runs newest first, open dead letters, the watermark."""
    runs = [
        {
            "id": run.id,
            "kind": run.kind,
            "status": run.status,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "mapping_version": run.mapping_version,
            "counts": run.counts,
            "api_calls": run.api_calls,
            "error": run.error,
        }
        for run in store.recent_runs(limit)
    ]
    letters = [
        {
            "record_id": d.record_id,
            "object": d.obj,
            "attempts": d.attempts,
            "error": d.error,
            "parked": d.parked_at is not None,
        }
        for d in store.open_dead_letters(crm)
    ]
    marks = [w.value for w in store.sync_watermarks(crm)]
    watermark = min(marks).isoformat() if marks else None
    return {"runs": runs, "dead_letters": letters, "watermark": watermark}


@app.command("sandbox")
def sandbox_command(
    crm: Annotated[str, typer.Option("--crm", help="hubspot or salesforce")] = "hubspot",
    contacts: Annotated[int, typer.Option("--contacts", help="Synthetic contacts.")] = 1000,
    port: Annotated[int, typer.Option("--port", help="0 = a free port.")] = 0,
    token: Annotated[str | None, typer.Option("--token", help="Bearer/session to accept.")] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="Rate limit N/SECONDS.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Synthetic data seed.")] = 7,
) -> None:
    """Serve a HubSpot or Salesforce emulator on loopback until Ctrl-C."""
    if crm not in ("hubspot", "salesforce"):
        raise fail("--crm must be hubspot or salesforce", 2)
    try:
        code = serve(crm, contacts=contacts, port=port, token=token, rate=rate, seed=seed)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    except OSError as exc:
        raise fail(f"cannot serve: {exc}") from None
    raise typer.Exit(code)


@app.command("demo")
def demo_command(
    contacts: Annotated[int, typer.Option("--contacts", help="Synthetic contacts.")] = 5000,
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="Mapping TOML.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Synthetic data seed.")] = 7,
    crm: Annotated[str, typer.Option("--crm", help="hubspot or salesforce")] = "hubspot",
) -> None:
    """Try everything offline: sandbox + synthetic contacts + provision + one sync + summary."""
    if crm not in ("hubspot", "salesforce"):
        raise fail("--crm must be hubspot or salesforce", 2)
    with handled():
        summary = run_demo(
            contacts=contacts,
            mapping=mapping or DEFAULT_MAPPING,
            seed=seed,
            console=Console(),
            crm=crm,
        )
    if summary.failed:
        raise typer.Exit(1)


from connector.cli import insight_commands  # noqa: E402 - it imports this module's helpers

insight_commands.register(app)

from connector.cli import ops_commands  # noqa: E402 - it imports this module's helpers

ops_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
