"""HubSpot sandbox start-up time and peak RSS, plus synthetic generator throughput.

Usage: python benchmarks/bench_sandbox_startup.py [CONTACTS]   (default 100000)
Run the generator and sandbox parts in separate processes so peak RSS is not shared.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generator(n: int) -> None:
    from connector.sandbox.synthetic import generate_people

    t0 = time.perf_counter()
    acts = sum(len(p.activities) for p in generate_people(n))
    dt = time.perf_counter() - t0
    print(
        f"generator: {n} people, {acts} activities in {dt:.2f} s "
        f"({n / dt:,.0f} people/s), peak RSS {_rss_mb():.0f} MB"
    )


def sandbox(n: int) -> None:
    import hubspot

    from connector.sandbox.hubspot import HubSpotSandbox

    base = _rss_mb()
    t0 = time.perf_counter()
    sb = HubSpotSandbox(contacts=n).start()
    startup = time.perf_counter() - t0
    print(
        f"sandbox: {n} contacts started in {startup:.2f} s, peak RSS {_rss_mb():.0f} MB "
        f"(interpreter+imports {base:.0f} MB)"
    )
    hs = hubspot.Client.create(access_token=sb.token, host=sb.base_url)
    t0 = time.perf_counter()
    body = {
        "limit": 200,
        "properties": ["email", "lifecyclestage", "lastmodifieddate"],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}
        ],
    }
    after, rows = "0", 0
    while rows < min(n, 10_000):
        page = hs.crm.contacts.search_api.do_search(
            public_object_search_request={**body, "after": after}
        )
        rows += len(page.results)
        if page.paging is None or int(page.paging.next.after) >= 10_000:
            break
        after = page.paging.next.after
    print(f"search: {rows} rows by 200-row pages in {time.perf_counter() - t0:.2f} s")
    sb.stop()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100_000
    if len(sys.argv) > 2:
        (generator if sys.argv[2] == "gen" else sandbox)(n)
    else:
        for part in ("gen", "sandbox"):
            subprocess.run([sys.executable, __file__, str(n), part], check=True)
