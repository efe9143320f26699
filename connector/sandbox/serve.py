"""Serve a CRM emulator until SIGTERM/SIGINT: the body of ``mqlsync sandbox``.

Why one entry point for both CRMs: the CLI and other tools script against the same contract,
whatever the CRM — nothing on stdout before the first line, which comes only once the server
accepts connections and is flushed; logs and the human hint go to stderr; SIGTERM exits
within 2 s with code 0; nothing is written to the working folder.

- HubSpot: ``SANDBOX hubspot <base_url> token=<token>`` (exactly four words).
- Salesforce: ``SANDBOX salesforce https://127.0.0.1:<port> token=<session id> ca=<CA PEM>``
  then ``BUNDLE <system CAs + sandbox CA>``; served by
  :func:`connector.sandbox.salesforce.serve.serve_until_signal`, reused as is.

``python -m connector.sandbox.serve --crm hubspot --contacts 50`` runs it without the CLI.
"""

from __future__ import annotations

import argparse
import io
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TextIO

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce.serve import serve_until_signal

__all__ = ["main", "parse_rate", "serve"]

Crm = Literal["hubspot", "salesforce"]
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d*)?|\.\d+)\s*")


def parse_rate(text: str) -> tuple[int, float]:
    """``"100/10"`` → ``(100, 10.0)``: N requests per rolling window of S seconds.

    Raises:
        ValueError: not ``N/S`` with N ≥ 1 and S > 0; the message shows the expected form.
    """
    m = _RATE.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid rate {text!r}: expected N/SECONDS, e.g. 100/10")
    n, secs = int(m[1]), float(m[2])
    if n < 1 or secs <= 0:
        raise ValueError(f"invalid rate {text!r}: N must be ≥ 1 and SECONDS > 0")
    return n, secs


def serve(
    crm: Crm,
    *,
    contacts: int = 1000,
    port: int = 0,
    token: str | None = None,
    rate: str | None = None,
    seed: int = 7,
    out: TextIO = sys.stdout,
) -> int:
    """Serve ``crm``'s emulator until SIGTERM/SIGINT, then stop it and return 0.

    Must run in the main thread (signal handlers). Arguments are checked before anything is
    loaded or printed, so a usage error leaves stdout empty.

    Raises:
        ValueError: unknown CRM, bad ``rate``/``port``/``contacts``/``token``, or ``rate``
            with Salesforce (its limits are the daily API pool, not a rolling window).
    """
    if crm not in ("hubspot", "salesforce"):
        raise ValueError(f"unknown CRM {crm!r}: expected hubspot or salesforce")
    if contacts < 0:
        raise ValueError(f"--contacts must be ≥ 0, got {contacts}")
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {port}")
    if token is not None and (not token or any(c.isspace() for c in token)):
        raise ValueError("--token must be one non-empty word (no whitespace)")
    window = parse_rate(rate) if rate is not None else None
    if crm == "salesforce":
        if window is not None:
            raise ValueError("--rate applies to --crm hubspot only")
        return serve_until_signal(
            contacts=contacts, port=port, token=token, seed=seed, out=_HintingOut(out)
        )
    return _serve_hubspot(contacts=contacts, port=port, token=token, rate=window, seed=seed,
                          out=out)  # fmt: skip


def _serve_hubspot(
    *, contacts: int, port: int, token: str | None, rate: tuple[int, float] | None, seed: int,
    out: TextIO,
) -> int:  # fmt: skip
    with _until_signal() as stop:
        sandbox = HubSpotSandbox(contacts=contacts, seed=seed, token=token, rate=rate, port=port)
        try:
            sandbox.start()
            out.write(f"SANDBOX hubspot {sandbox.base_url} token={sandbox.token}\n")
            out.flush()
            limit = f", rate limit {rate[0]}/{rate[1]:g}s" if rate else ", no rate limit"
            print(
                f"sandbox: HubSpot emulator, {contacts} contacts (seed {seed}){limit}\n"
                f"  point mqlsync at it with:  [hubspot] base_url = \"{sandbox.base_url}\"\n"
                f"  export MQLSYNC_HUBSPOT_TOKEN={sandbox.token}\n"
                "  stop with Ctrl-C or SIGTERM",
                file=sys.stderr, flush=True,
            )  # fmt: skip
            while not stop.wait(0.2):
                pass
        finally:
            sandbox.stop()
    return 0


@contextmanager
def _until_signal() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT; the previous handlers come back on exit.

    Installed before the data is built so a signal during loading still ends cleanly.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _HintingOut(io.StringIO):
    """Passes writes to ``out`` unchanged; once the Salesforce lines are out, hints on stderr.

    Why a wrapper: ``serve_until_signal`` prints the lines and then blocks, so this is the
    only point where the port, session id and CA path are known.
    """

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self._out = out
        self._seen = ""
        self._hinted = False

    def write(self, s: str) -> int:
        n = self._out.write(s)
        if not self._hinted:
            self._seen += s
        return n

    def flush(self) -> None:
        self._out.flush()
        if self._hinted:
            return
        lines = self._seen.splitlines()
        if len(lines) < 2 or not self._seen.endswith("\n"):
            return
        self._hinted = True
        first, bundle = lines[0].split(), lines[1].split(maxsplit=1)
        if len(first) != 5 or len(bundle) != 2:
            return
        url, session, ca = first[2], first[3].removeprefix("token="), first[4].removeprefix("ca=")
        print(
            f"  point mqlsync at it with:  [salesforce] instance_url = \"{url}\"\n"
            f"                             [salesforce] ca_bundle = \"{ca}\"\n"
            f"  export MQLSYNC_SF_SESSION_ID='{session}'\n"
            f"  other tools: export REQUESTS_CA_BUNDLE={bundle[1]}\n"
            "  stop with Ctrl-C or SIGTERM",
            file=sys.stderr, flush=True,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m connector.sandbox.serve``: the same options as ``mqlsync sandbox``."""
    ap = argparse.ArgumentParser(description="Serve a CRM emulator until SIGTERM/SIGINT.")
    ap.add_argument("--crm", choices=("hubspot", "salesforce"), required=True)
    ap.add_argument("--contacts", type=int, default=1000)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=None)
    ap.add_argument("--rate", default=None, help="rolling window N/SECONDS, e.g. 100/10")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    try:
        return serve(
            args.crm, contacts=args.contacts, port=args.port, token=args.token, rate=args.rate,
            seed=args.seed,
        )  # fmt: skip
    except ValueError as exc:
        ap.error(str(exc))  # exits 2, the usage-error code
    except OSError as exc:  # e.g. the port is taken: a handled failure, not a traceback
        print(f"error: cannot serve: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
