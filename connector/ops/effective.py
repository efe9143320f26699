"""The effective configuration, key by key, with where each value came from.

Rules, and why:

- A value's source is the highest layer that sets it: environment
  (``MQLSYNC_<SECTION>__<KEY>``), then the config file, else the default; the same
  precedence :func:`~connector.config.load_settings` applies, so what is shown is what runs.
- Secrets are shown as ``set`` / ``unset`` only: this output is meant to be pasted into
  tickets. Other values are redacted (a database URL's password) and a webhook URL keeps
  only its host, since its path often is the key.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from connector.config import CONFIG_ENV, ENV_PREFIX, SECRET_ENV_VARS, Settings, env_var
from connector.errors import redact

__all__ = ["Entry", "config_file", "effective_config"]

_HOST_ONLY = {("alerts", "webhook_url")}


@dataclass(frozen=True, slots=True)
class Entry:
    """One configuration key: ``[section] key``, its value as shown, and its source."""

    key: str
    value: str
    source: str


def config_file(path: Path | None) -> Path | None:
    """The file ``load_settings`` reads: ``path``, else ``$MQLSYNC_CONFIG``."""
    if path is None and os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return path


def _shown(section: str, key: str, value: Any) -> str:
    if value is None:
        return "(none)"
    if (section, key) in _HOST_ONLY:
        parts = urlsplit(str(value))
        return f"{parts.scheme}://{parts.netloc}/…"
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes")
    return redact(str(value))


def effective_config(settings: Settings, path: Path | None) -> list[Entry]:
    """Every key of ``settings`` loaded from ``path`` (None: no file), with its source."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    entries: list[Entry] = []
    for section, field in Settings.model_fields.items():
        if not isinstance(field.default, BaseModel):
            continue
        values = getattr(settings, section)
        whole = f"{ENV_PREFIX}{section}".upper()  # a JSON object for the whole section
        for key in type(values).model_fields:
            variable = env_var(section, key)
            if variable in os.environ:
                source = f"env {variable}"
            elif whole in os.environ:
                source = f"env {whole}"
            elif key in raw.get(section, {}):
                source = f"file {path}"
            else:
                source = "default"
            shown = _shown(section, key, getattr(values, key))
            entries.append(Entry(f"[{section}] {key}", shown, source))
    for name, variable in SECRET_ENV_VARS.items():
        is_set = getattr(settings, name) is not None
        entries.append(Entry(variable, "set" if is_set else "unset", "env" if is_set else "-"))
    return entries
