"""Load a mapping file and report every problem as `file:line: message`.

Validation runs in two passes: pydantic checks shapes and values, then `_cross_checks`
checks what spans tables (known activity types, defined categories, unique rule ids).
Both produce `Problem`s carrying a key path, which `lines.index_lines` turns into a line.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from connector.mapping.lines import Path, index_lines, line_of
from connector.mapping.schema import KEY_MARKER, Condition, Gate, MappingSpec, Rule


@dataclass(frozen=True, slots=True)
class Problem:
    """One error in a mapping file, located by line (0: the file as a whole, e.g. missing)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line == 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class MappingInvalid(ValueError):
    """A mapping file failed validation; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _describe(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _pydantic_problems(exc: ValidationError) -> Iterator[tuple[Path, str]]:
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}' (check the spelling; unknown keys are not ignored)"
        elif kind == "missing":
            msg = f"missing required key '{loc[-1]}'"
        else:
            text = err["msg"].removeprefix("Value error, ")
            if text.startswith(KEY_MARKER) and ": " in text:
                key, text = text[len(KEY_MARKER) :].split(": ", 1)
                loc = (*loc, key)
            where = _describe(loc)
            msg = f"{where}: {text}" if where else text
        yield loc, msg


def _conditions(cond: Condition, path: Path) -> Iterator[tuple[Condition, Path]]:
    yield cond, path
    for kind in ("any", "all"):
        group = getattr(cond, kind)
        for i, sub in enumerate(group or ()):
            yield from _conditions(sub, (*path, kind, i))


def _unknown_property(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"unknown property '{name}': the rule would never fire. {hint}Known: "
        f"{', '.join(sorted(known))}; map a CRM field onto it in [source_fields.hubspot] / "
        "[source_fields.salesforce] or declare it in [mapping] custom_properties"
    )


def _cross_checks(spec: MappingSpec) -> Iterator[tuple[Path, str]]:
    known = spec.known_activity_types()
    properties = spec.known_properties()
    seen: dict[str, Path] = {}
    named: list[tuple[str, int, Rule | Gate]] = [("rules", i, r) for i, r in enumerate(spec.rules)]
    named += [("gates", i, g) for i, g in enumerate(spec.gates)]
    for table, i, item in named:
        path: Path = (table, i)
        if item.id in seen:
            yield (
                (*path, "id"),
                f"duplicate rule id '{item.id}' (also at {_describe(seen[item.id])})",
            )
        seen.setdefault(item.id, path)
        for cond, cpath in _conditions(item, path):
            if cond.property is not None and cond.property.field not in properties:
                yield ((*cpath, "property", "field"), _unknown_property(cond.property.field,
                                                                      properties))  # fmt: skip
            if cond.activity is None:
                continue
            for kind in cond.activity.types:
                if kind not in known:
                    yield (
                        (*cpath, "activity", "type"),
                        (
                            f"unknown activity type '{kind}' (known: {', '.join(sorted(known))}; "
                            "declare custom ones in [mapping] custom_activity_types)"
                        ),
                    )
    for i, rule in enumerate(spec.rules):
        if rule.category is not None and rule.category not in spec.categories:
            yield (
                ("rules", i, "category"),
                (f"category '{rule.category}' is not defined: add [categories.{rule.category}]"),
            )
    for i, rollup in enumerate(spec.source_activities.hubspot):
        if rollup.type not in known:
            yield (
                ("source_activities", "hubspot", i, "type"),
                f"unknown activity type '{rollup.type}'",
            )


M = TypeVar("M", bound=BaseModel)

_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def parse_toml_model(source: str, file: str, model: type[M]) -> tuple[M, dict[Path, int]]:
    """Parse TOML text into `model` and index its key lines; raise `MappingInvalid` with
    every problem as `file:line: message` (any TOML file mqlsync reads, not only mappings)."""
    try:
        data: dict[str, Any] = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        pos = _TOML_POS.search(str(exc))
        line = int(pos.group(1)) if pos else 1
        message = _TOML_POS.sub("", str(exc)).strip()
        raise MappingInvalid([Problem(file, line, f"TOML syntax error: {message}")]) from None
    lines = index_lines(source)
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        found = [Problem(file, line_of(lines, p), m) for p, m in _pydantic_problems(exc)]
        raise MappingInvalid(found) from None


def parse_mapping(source: str, file: str = "<mapping>") -> MappingSpec:
    """Parse and validate mapping text; raise `MappingInvalid` with every problem found."""
    spec, lines = parse_toml_model(source, file, MappingSpec)
    problems = [Problem(file, line_of(lines, p), m) for p, m in _cross_checks(spec)]
    if problems:
        raise MappingInvalid(problems)
    return spec


def mapping_version(path: str | FilePath) -> str:
    """``<file stem>@<first 12 hex digits of the sha256 of the file's bytes>``: names the
    exact model a run scored with, in the run history and on every written record."""
    file = FilePath(path)
    return f"{file.stem}@{hashlib.sha256(file.read_bytes()).hexdigest()[:12]}"


def load_mapping(path: str | FilePath) -> MappingSpec:
    """Read and validate a mapping file."""
    file = FilePath(path)
    try:
        source = file.read_text(encoding="utf-8")
    except OSError as exc:
        # The resolved path: a relative one may resolve from an unexpected directory.
        raise MappingInvalid(
            [Problem(str(file.resolve()), 0, f"cannot read mapping: {exc.strerror}")]
        ) from None
    return parse_mapping(source, str(path))


def status_problems(
    path: str | FilePath, spec: MappingSpec, crm: str, options: list[str]
) -> list[Problem]:
    """Lifecycle statuses of `spec` that the CRM's lead-status field cannot hold: a
    rejection status sales can never set means rejections are never seen. Located on the
    mapping's line, or line 1 when the value is a default the file does not set."""
    lines = index_lines(FilePath(path).read_text(encoding="utf-8"))
    known = {o.casefold() for o in options}
    lifecycle = spec.lifecycle
    checks: list[tuple[Path, str, str]] = [
        (("lifecycle", "rejected_statuses", crm, i), value, "rejected status")
        for i, value in enumerate(getattr(lifecycle.rejected_statuses, crm, []))
    ]
    if crm == "hubspot":
        checks += [
            (("lifecycle", "hubspot_accepted_statuses", i), value, "accepted status")
            for i, value in enumerate(lifecycle.hubspot_accepted_statuses)
        ]
    return [
        Problem(
            str(path),
            line_of(lines, where),
            f"{what} '{value}' is not one of the CRM's lead statuses "
            f"({', '.join(options)}): sales can never set it",
        )
        for where, value, what in checks
        if value.casefold() not in known
    ]
