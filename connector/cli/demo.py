"""`mqlsync demo`: the whole pipeline on synthetic data, offline, in under a minute.

Starts the HubSpot sandbox in-process, provisions the mqlsync properties, runs one sync
under a mapping with a progress bar, and prints what happened and where to look next.
Everything lives in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.cli.progress import progress_bar
from connector.core.scoring import compile_mapping
from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.ratelimit import RateLimiter
from connector.mapping.loader import load_mapping
from connector.pipeline.steps import RunSummary
from connector.pipeline.sync import Sync
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore


def _shipped_mappings() -> Path:
    """`mappings/` of a source checkout, else the copy packaged into the wheel."""
    package = Path(__file__).resolve().parent.parent  # connector/
    checkout = package.parent / "mappings"
    return checkout if checkout.is_dir() else package / "mappings_shipped"


DEFAULT_MAPPING = _shipped_mappings() / "b2b-saas.toml"


def run_demo(
    *, contacts: int = 5000, mapping: Path = DEFAULT_MAPPING, seed: int = 7, console: Console
) -> RunSummary:
    """Run the demo and print its summary; returns the sync's summary (for tests)."""
    spec = load_mapping(mapping)
    compiled = compile_mapping(spec)
    console.print(
        f"[bold]mqlsync demo[/] — {contacts:,} synthetic contacts, mapping {mapping.name}"
    )
    with tempfile.TemporaryDirectory(prefix="mqlsync-demo-") as tmp:
        with console.status("starting the HubSpot sandbox …"):
            sandbox = HubSpotSandbox(contacts=contacts, seed=seed).start()
        try:
            calls = HubSpotCalls(
                sandbox.token, base_url=sandbox.base_url, limiter=RateLimiter(1000, 10.0)
            )
            adapter = HubSpotAdapter(calls, spec)
            report = adapter.provision()
            console.print(
                f"provisioned: {len(report.created)} created, {len(report.existing)} existing"
            )
            with StateStore.open(f"sqlite:///{Path(tmp) / 'state.db'}") as store:
                sync = Sync(adapter, compiled, store, clock=lambda: datetime.now(UTC))
                with progress_bar("syncing", contacts, console) as update:
                    summary = sync.run(progress=update)
        finally:
            sandbox.stop()
    _print_summary(summary, console)
    return summary


def _counts(title: str, counter: dict[str, int], limit: int = 8) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        table.add_row(key, f"{count:,}")
    return table


def _print_summary(summary: RunSummary, console: Console) -> None:
    console.print(
        f"\n[bold]scored {summary.pulled:,} contacts[/] in {summary.seconds:.1f} s with "
        f"{summary.api_calls:,} API calls; wrote {summary.written:,}, failed {summary.failed}"
    )
    console.print(
        f"MQLs: {summary.mqls:,} (promoted {summary.promoted:,}, recycled {summary.recycled:,})"
    )
    console.print(_counts("routes", dict(summary.routes)))
    console.print(_counts("grades", dict(summary.grades)))
    console.print(_counts("top reasons", dict(summary.reasons)))
    console.print(
        "\nnext: `mqlsync explain --mapping mappings/b2b-saas.toml FILE.jsonl` shows why a lead "
        "scored as it did;\n      `mqlsync sandbox --crm hubspot` serves this sandbox so you "
        "can point config.example.toml at it and run `mqlsync plan` / `mqlsync sync --once`."
    )
