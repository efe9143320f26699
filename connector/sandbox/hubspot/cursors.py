"""Opaque paging cursors the sandbox issues (HubSpot's are base64 text too).

Why one module: every paged endpoint must tell its own cursors from anything else a client
sends back (a 400, not a wrong page), so each kind of cursor carries a prefix naming it.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["cursor", "cursor_text"]


def cursor(prefix: str, text: str) -> str:
    """An opaque cursor for ``text`` (what the endpoint needs to resume)."""
    return base64.urlsafe_b64encode(f"{prefix}{text}".encode()).decode()


def cursor_text(prefix: str, raw: object) -> str | None:
    """The text a cursor of ours with ``prefix`` carries; None when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(str(raw).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    rest = text.removeprefix(prefix)
    return None if rest == text else rest
