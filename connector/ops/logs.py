"""The daemon's log lines: structlog over the standard ``logging`` module, set up once.

Rules, and why:

- Every module keeps logging through ``logging.getLogger(__name__)``; structlog only
  formats. So libraries (APScheduler, urllib3) and our code end up in one stream, and
  tests keep using ``caplog``.
- ``json`` writes one JSON object per line with ``event``, ``level``, ``timestamp`` (ISO,
  UTC) and whatever the call site passed as ``extra`` (a run's counts are fields, never a
  repr to parse); ``run_id`` comes from the context a recorded run binds.
  ``auto`` is JSON when stderr is not a terminal: containers and systemd collect lines,
  people read terminals.
- Every string that reaches a line goes through :func:`~connector.errors.redact` and has
  email addresses masked: logs are shipped to places a token or a lead's address must
  never reach, and a message can quote a CRM response.
- :func:`configure_logging` replaces only the handler it installed, so calling it again
  (tests, a reload) never doubles lines.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from connector.errors import redact

__all__ = ["EMAIL_MASK", "configure_logging", "scrub", "wants_json"]

EMAIL_MASK = "<email>"
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_LEFTOVERS = ("message", "asctime", "color_message")
_QUIET = ("apscheduler", "urllib3", "hubspot", "simple_salesforce")


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed (to replace, not stack, it)."""


def scrub(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact secrets and mask email addresses in every string value."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = _EMAIL.sub(EMAIL_MASK, redact(value))
    return event


def _drop_leftovers(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Attributes another handler's formatter left on the record are not extras."""
    for key in _LEFTOVERS:
        event.pop(key, None)
    return event


def wants_json(fmt: str, stream: TextIO) -> bool:
    """``json`` / ``text`` as asked; ``auto`` is JSON unless ``stream`` is a terminal."""
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (callable(isatty) and isatty())
    return fmt == "json"


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Route every log record to ``stream`` (default stderr) as JSON lines or text."""
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.stdlib.ExtraAdder(),
        _drop_leftovers,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if wants_json(fmt, out)
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub,
            renderer,
        ],
    )
    handler = _OurHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET:  # their per-request chatter would drown the run lines
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
