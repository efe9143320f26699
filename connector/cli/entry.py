"""The `mqlsync` entry point (console script and `python -m connector`).

`mqlsync score` needs the engine and the mapping loader only. The full command set
imports the CRM SDKs, SQLAlchemy and the daemon first, about 0.6 s before the first line
is read: two thirds of what `json` needs to parse a 150 MB input. So `score` goes to its
own small app; every other command, and `--help`, to the full one.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Dispatch on the subcommand before importing anything heavy."""
    if sys.argv[1:2] == ["score"]:
        from connector.cli.score import standalone

        standalone()
        return
    from connector.cli.app import main as full

    full()
