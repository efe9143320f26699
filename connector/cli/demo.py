"""`mqlsync demo`: the whole pipeline on synthetic data, offline, in under a minute.

Starts the HubSpot sandbox in-process, provisions the mqlsync properties, runs one sync
under a mapping with a progress bar, and prints what happened and where to look next.
Everything lives in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from connector.cli.progress import progress_bar
from connector.config import (
    CrmSection,
    HubSpotSection,
    LimitsSection,
    SalesforceSection,
    Settings,
    StateSection,
)
from connector.core.scoring import compile_mapping
from connector.crm.factory import build_adapter
from connector.mapping.loader import load_mapping, mapping_version
from connector.ops.runner import Context, account_of
from connector.pipeline.steps import RunSummary
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore
from connector.state.lock import AccountLock


def _shipped_mappings() -> Path:
    """`mappings/` of a source checkout, else the copy packaged into the wheel."""
    package = Path(__file__).resolve().parent.parent  # connector/
    checkout = package.parent / "mappings"
    return checkout if checkout.is_dir() else package / "mappings_shipped"


DEFAULT_MAPPING = _shipped_mappings() / "b2b-saas.toml"


@contextmanager
def _sandbox(crm: str, contacts: int, seed: int, state_url: str) -> Iterator[Settings]:
    """A running sandbox of `crm` and the settings that point mqlsync at it."""
    limits = LimitsSection(requests_per_10s=1000)
    state = StateSection(url=state_url)
    if crm == "salesforce":
        with SalesforceSandbox(contacts=contacts, seed=seed, provisioned=False) as sf:
            yield Settings(
                crm=CrmSection(kind="salesforce"),
                salesforce=SalesforceSection(
                    instance_url=sf.instance_url, ca_bundle=Path(sf.ca_path)
                ),
                state=state,
                limits=limits,
                sf_session_id=SecretStr(sf.session_id),
            )
        return
    with HubSpotSandbox(contacts=contacts, seed=seed) as hs:
        yield Settings(
            hubspot=HubSpotSection(base_url=hs.base_url),
            state=state,
            limits=limits,
            hubspot_token=SecretStr(hs.token),
        )


def run_demo(
    *,
    contacts: int = 5000,
    mapping: Path = DEFAULT_MAPPING,
    seed: int = 7,
    console: Console,
    crm: str = "hubspot",
) -> RunSummary:
    """Run the demo and print its summary; returns the sync's summary (for tests)."""
    spec = load_mapping(mapping)
    compiled = compile_mapping(spec)
    console.print(
        f"[bold]mqlsync demo[/] — {contacts:,} synthetic people in a {crm} sandbox, "
        f"mapping {mapping.name}"
    )
    with tempfile.TemporaryDirectory(prefix="mqlsync-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'state.db'}"
        with (
            console.status(f"starting the {crm} sandbox …"),
            _sandbox(crm, contacts, seed, url) as settings,
        ):
            # The same settings, factory and pipeline as `mqlsync sync --once`.
            adapter = build_adapter(settings, spec)
            report = adapter.provision()
            console.print(
                f"provisioned: {len(report.created)} created, {len(report.existing)} existing"
            )
            with StateStore.open(settings.state.url) as store:
                lock = AccountLock(store.engine, account_of(settings))
                context = Context(
                    settings, spec, compiled, store, adapter, mapping_version(mapping), lock
                )
                with lock, progress_bar("syncing", contacts, console) as update:
                    summary = context.sync(workers=1).run(progress=update)
    _print_summary(summary, console)
    return summary


def _counts(title: str, counter: dict[str, int], limit: int = 8) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        table.add_row(key, f"{count:,}")
    return table


def _print_summary(summary: RunSummary, console: Console) -> None:
    console.print(
        f"\n[bold]scored {summary.pulled:,} records[/] in {summary.seconds:.1f} s with "
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
