"""Find the source line of a key path in a TOML file.

`tomllib` keeps no positions, yet `validate` must say `file:line:` for every error. TOML's
line structure is simple enough to index directly: table headers, array-of-table headers,
`key = value` lines (dotted keys too) and the elements of multi-line arrays.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_PART = re.compile(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(text))


def _bracket_depth(text: str) -> int:
    """Net `[`/`{` nesting opened by a line, ignoring brackets inside strings and comments."""
    depth, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def index_lines(source: str) -> dict[Path, int]:
    """Map every key path found in `source` to its 1-based line number."""
    lines: dict[Path, int] = {}
    table: Path = ()
    counters: dict[Path, int] = {}
    open_array: Path | None = None
    element = 0
    depth = 0
    for number, line in enumerate(source.splitlines(), start=1):
        if open_array is not None:
            stripped = line.lstrip()
            if depth == 1 and stripped[:1] not in ("", "#", "]"):
                lines.setdefault((*open_array, element), number)
                element += 1
            depth += _bracket_depth(line)
            if depth <= 0:
                open_array = None
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            path: Path = _split_key(header.group(2))
            if header.group(1) == "[[":
                index = counters.get(path, 0)
                counters[path] = index + 1
                lines.setdefault(path, number)
                path = (*path, index)
            table = path
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*table, *_split_key(key.group(1)))
            lines.setdefault(path, number)
            rest = line[key.end() :]
            opened = _bracket_depth(rest)
            if opened > 0:
                open_array, element, depth = path, 0, opened
    return lines


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of the longest known prefix of `path` (1 when nothing matches)."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return 1
