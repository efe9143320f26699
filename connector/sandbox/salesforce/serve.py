"""Serve the Salesforce sandbox until SIGTERM/SIGINT (backs ``mqlsync sandbox --crm salesforce``).

Contract: nothing on stdout before the first line, which comes once the server
accepts connections: ``SANDBOX salesforce https://127.0.0.1:<port> token=<session id>
ca=<CA PEM path>``, then ``BUNDLE <system CAs + sandbox CA path>``; logs go to stderr;
SIGTERM exits within 2 s with code 0 and the temp directory holding the certificates removed.
Run directly with ``python -m connector.sandbox.salesforce.serve --contacts N --port P``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TextIO

from connector.sandbox.salesforce.sandbox import SalesforceSandbox

__all__ = ["main", "serve_until_signal"]


def serve_until_signal(
    *,
    contacts: int = 1000,
    port: int = 0,
    token: str | None = None,
    seed: int = 7,
    daily_limit: int = 100_000,
    host: str = "127.0.0.1",
    out: TextIO = sys.stdout,
) -> int:
    """Start, print the two contract lines, block until SIGTERM/SIGINT, stop; return 0."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    sandbox = SalesforceSandbox(
        contacts=contacts, seed=seed, session_id=token, daily_limit=daily_limit, port=port,
        host=host,
    )  # fmt: skip
    try:
        sandbox.start()
        print(f"sandbox: {contacts} persons loaded", file=sys.stderr)
        out.write(
            f"SANDBOX salesforce {sandbox.instance_url} token={sandbox.session_id} "
            f"ca={sandbox.ca_path}\nBUNDLE {sandbox.bundle_path}\n"
        )
        out.flush()
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve the Salesforce sandbox over HTTPS.")
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--daily-limit", type=int, default=100_000)
    args = ap.parse_args(argv)
    return serve_until_signal(
        contacts=args.contacts, port=args.port, token=args.token, seed=args.seed,
        daily_limit=args.daily_limit,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
