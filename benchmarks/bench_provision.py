"""API calls of `provision` on HubSpot: a fresh portal, then a provisioned one.

Counts the requests the sandbox received (not mqlsync's own counter) and prints them
against the targets: <= 3 on a fresh portal, 1 when everything exists. A call per
property (list groups, create group, list properties, one create each) would take
3 + the number of write-back properties.

    python benchmarks/bench_provision.py
"""

from __future__ import annotations

from pathlib import Path

from connector.crm.hubspot import HubSpotAdapter, HubSpotCalls
from connector.crm.hubspot.fields import property_specs
from connector.crm.ratelimit import RateLimiter
from connector.mapping.loader import load_mapping
from connector.sandbox.hubspot import HubSpotSandbox

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    spec = load_mapping(ROOT / "mappings" / "b2b-saas.toml")
    per_property = 3 + len(property_specs())
    with HubSpotSandbox(contacts=10) as sandbox:
        calls = HubSpotCalls(
            sandbox.token, base_url=sandbox.base_url, limiter=RateLimiter(100_000, 10)
        )
        adapter = HubSpotAdapter(calls, spec)
        for portal, target in (("fresh", 3), ("provisioned", 1)):
            sandbox.request_log.clear()
            report = adapter.provision()
            used = len(sandbox.request_log.entries())
            paths = sorted({f"{e.method} {e.path}" for e in sandbox.request_log.entries()})
            print(
                f"{portal:12s}: {used} calls (target <= {target}; a call per property: "
                f"{per_property}), created {len(report.created)}, existing "
                f"{len(report.existing)}, problems {len(report.problems)}"
            )
            for path in paths:
                print(f"    {path}")


if __name__ == "__main__":
    main()
