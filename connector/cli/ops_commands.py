"""Operator commands and options: `config check`, `--version`, and the schedule part of
`status`. Registered on the main app by `register`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

from connector.cli.app import ConfigOption, fail, handled
from connector.config import Settings, load_settings
from connector.mapping.loader import load_mapping, mapping_version
from connector.ops.daemon import rescore_trigger, sync_interval
from connector.ops.effective import config_file, effective_config
from connector.ops.runner import mapping_path
from connector.state import StateStore

__all__ = ["print_schedule", "register", "schedule_status"]

config_app = typer.Typer(
    no_args_is_help=True, help="Inspect the configuration the daemon would run with."
)


def package_version() -> str:
    """The installed mqlsync version."""
    try:
        return version("mqlsync")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mqlsync {package_version()}")
        raise typer.Exit


def main_options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """mqlsync: transparent lead scoring synced to HubSpot and Salesforce."""


@config_app.command("check")
def config_check(
    config: ConfigOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Print every setting with its value and where it came from (default, file,
    environment), secrets only as set/unset; then validate the configured mapping.

    Exit 1 when the configuration or the mapping is invalid.
    """
    if output not in ("table", "json"):
        raise fail("--output must be table or json", 2)
    path = config_file(config)
    with handled():
        settings = load_settings(config)
        entries = effective_config(settings, path)
        mapping = mapping_path(settings)
        spec = load_mapping(mapping)
    checked = {
        "path": str(mapping.resolve()),
        "version": mapping_version(mapping),
        "rules": len(spec.rules),
        "gates": len(spec.gates),
    }
    if output == "json":
        settings_json = [{"key": e.key, "value": e.value, "source": e.source} for e in entries]
        typer.echo(json.dumps({"settings": settings_json, "mapping": checked}, indent=2))
        return
    typer.echo(f"config file: {path if path is not None else 'none (defaults and environment)'}")
    width = max(len(e.key) for e in entries)
    for e in entries:
        typer.echo(f"{e.key:<{width}}  {e.value}  ({e.source})")
    typer.echo(
        f"mapping {checked['path']}: ok ({checked['rules']} rules, {checked['gates']} gates), "
        f"version {checked['version']}"
    )


def schedule_status(store: StateStore, settings: Settings, now: datetime) -> dict[str, Any]:
    """When the daemon syncs and rescores next, and today's API use.

    The next sync is one interval after the last sync started (the daemon's schedule);
    today's API calls are those of the runs started since midnight in the schedule's
    time zone, when the CRM's daily quota resets.
    """
    tz = settings.schedule.tz
    last = store.recent_runs(1, kind="sync")
    next_sync = last[0].started_at + sync_interval(settings) if last else None
    next_rescore = rescore_trigger(settings).get_next_fire_time(None, now.astimezone(tz))
    midnight = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    return {
        "next_sync": next_sync.isoformat() if next_sync else None,
        "next_rescore": next_rescore.isoformat() if next_rescore else None,
        "api_calls_today": store.api_calls_since(midnight.astimezone(UTC), settings.crm.kind),
        "daily_budget_share": settings.limits.daily_budget_share,
    }


def print_schedule(report: dict[str, Any], now: datetime) -> None:
    """The schedule part of `status` as text."""
    next_sync = report["next_sync"]
    if next_sync is None:
        typer.echo("next sync: when the daemon starts (no sync has run yet)")
    elif datetime.fromisoformat(next_sync) < now:
        typer.echo(f"next sync: overdue since {next_sync} (is `mqlsync run` running?)")
    else:
        typer.echo(f"next sync: {next_sync}")
    typer.echo(f"next rescore: {report['next_rescore']}")
    typer.echo(
        f"API calls today: {report['api_calls_today']} (mqlsync may use "
        f"{report['daily_budget_share']:.0%} of the CRM's daily quota)"
    )


def register(app: typer.Typer) -> None:
    """Add `config check` and `--version` to the main app."""
    app.callback()(main_options)
    app.add_typer(config_app, name="config")
