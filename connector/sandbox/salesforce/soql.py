"""Parser for the SOQL subset the Salesforce emulator answers.

Why a hand-written parser: the emulator must reject what Salesforce rejects, with the same
error codes (``MALFORMED_QUERY`` for syntax, ``INVALID_FIELD``/``INVALID_TYPE`` for names, raised
by the engine), so an adapter bug shows up in tests and not in production.  Grammar followed
from the *SOQL and SOSL Reference* (SELECT / FROM / WHERE / ORDER BY / LIMIT / OFFSET,
comparison operators, ``IN``/``NOT IN``/``LIKE``, date and dateTime literals, ``COUNT()``).

Faithful details: keywords and names are case-insensitive; ``AND`` and ``OR`` cannot be mixed
at one level without parentheses ("unexpected token: OR"); string literals use backslash
escapes (``\\'``, ``\\\\``, ``\\n`` …, ``\\%``/``\\_`` inside LIKE); dateTime literals are
``YYYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm)`` and are not quoted; a statement may be at most 100,000
characters.  Parsing never raises anything but :class:`SoqlError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "MAX_SOQL_LENGTH",
    "BoolOp",
    "Comparison",
    "Count",
    "Expr",
    "FieldRef",
    "Literal",
    "Not",
    "OrderItem",
    "Query",
    "SoqlError",
    "parse",
]

MAX_SOQL_LENGTH = 100_000
_MAX_DEPTH = 40


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is the REST ``errorCode``."""

    def __init__(self, code: str, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos

    def render(self, source: str) -> str:
        """Salesforce's message layout: the query, a caret, ``ERROR at Row:…:Column:…``."""
        if self.pos is None:
            return self.message
        line_start = source.rfind("\n", 0, self.pos) + 1
        line_end = source.find("\n", self.pos)
        line = source[line_start : line_end if line_end >= 0 else len(source)]
        row = source.count("\n", 0, self.pos) + 1
        col = self.pos - line_start + 1
        caret = " " * min(col - 1, 200) + "^"
        return f"\n{line[:200]}\n{caret}\nERROR at Row:{row}:Column:{col}\n{self.message}"


@dataclass(frozen=True, slots=True)
class Literal:
    """kind: string | number | boolean | null | datetime | date."""

    kind: str
    value: Any
    pos: int = 0


@dataclass(frozen=True, slots=True)
class FieldRef:
    path: tuple[str, ...]  # as written, e.g. ("Campaign", "Type")
    pos: int = 0

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr = Comparison | BoolOp | Not


@dataclass(frozen=True, slots=True)
class Count:
    """``COUNT()`` (field None: only totalSize) or ``COUNT(field)`` (an AggregateResult)."""

    field: FieldRef | None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldRef
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    select: tuple[FieldRef | Count, ...]
    sobject: str
    sobject_pos: int
    where: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None


_KEYWORDS = frozenset((
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "INCLUDES",
    "EXCLUDES", "GROUP", "HAVING",
))  # fmt: skip
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
  | (?P<string>')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(slots=True)
class _Tok:
    kind: str  # name | kw | string | number | datetime | date | op | punct | end
    text: str
    value: Any
    pos: int


def _read_string(src: str, start: int) -> tuple[str, int]:
    """Read a quoted literal starting after the opening quote; keep ``\\%``/``\\_`` escaped."""
    out: list[str] = []
    i = start
    while i < len(src):
        ch = src[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(src):
                break
            nxt = src[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)  # meaningful only to LIKE; engine unescapes otherwise
            else:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal: escape \\{nxt}", i)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SoqlError("MALFORMED_QUERY", "unterminated string literal", start - 1)


def _parse_datetime(text: str, pos: int) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SoqlError("MALFORMED_QUERY", f"invalid dateTime literal: {text}", pos) from None
    if value.tzinfo is None:  # pragma: no cover - regex requires a zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(src):
        m = _TOKEN.match(src, i)
        if m is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{src[i]}'", i)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ws":
            i = m.end()
            continue
        if kind == "string":
            text_value, end = _read_string(src, i + 1)
            toks.append(_Tok("string", src[i:end], text_value, i))
            i = end
            continue
        value: Any = text
        if kind == "datetime":
            value = _parse_datetime(text, i)
        elif kind == "date":
            try:
                value = date.fromisoformat(text)
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid date literal: {text}", i) from None
        elif kind == "number":
            value = float(text) if "." in text else int(text)
        elif kind == "name" and text.upper() in _KEYWORDS:
            kind, value = "kw", text.upper()
        toks.append(_Tok(kind, text, value, i))
        i = m.end()
    toks.append(_Tok("end", "", None, len(src)))
    return toks


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def error(self, tok: _Tok | None = None) -> SoqlError:
        t = tok or self.tok
        if t.kind == "end":
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>", t.pos)
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{t.text[:80]}'", t.pos)

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value in words

    def expect_kw(self, word: str) -> _Tok:
        if not self.is_kw(word):
            raise self.error()
        return self.advance()

    def expect_punct(self, ch: str) -> _Tok:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise self.error()
        return self.advance()

    def name(self) -> FieldRef:
        t = self.tok
        if t.kind != "name":
            raise self.error()
        self.advance()
        return FieldRef(tuple(t.text.split(".")), t.pos)

    # -- statement -------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_kw("SELECT")
        select: list[FieldRef | Count] = [self.select_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            select.append(self.select_item())
        self.expect_kw("FROM")
        obj_tok = self.tok
        if obj_tok.kind != "name" or "." in obj_tok.text:
            raise self.error()
        self.advance()
        if any(isinstance(s, Count) for s in select) and len(select) > 1:
            raise SoqlError(
                "MALFORMED_QUERY",
                "Field must be grouped or aggregated",
                next(s.pos for s in select if isinstance(s, FieldRef)),
            )
        where = None
        if self.is_kw("WHERE"):
            self.advance()
            where = self.expr(0)
        order: list[OrderItem] = []
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            order.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                order.append(self.order_item())
        limit = offset = None
        if self.is_kw("LIMIT"):
            self.advance()
            limit = self.int_literal()
        if self.is_kw("OFFSET"):
            self.advance()
            offset = self.int_literal()
        if self.tok.kind != "end":
            raise self.error()
        return Query(tuple(select), obj_tok.text, obj_tok.pos, where, tuple(order), limit, offset)

    def select_item(self) -> FieldRef | Count:
        t = self.tok
        if t.kind == "name" and t.text.upper() == "COUNT" and self.toks[self.i + 1].text == "(":
            self.advance()
            self.advance()
            field = None if self.tok.text == ")" else self.name()
            self.expect_punct(")")
            alias = None
            if self.tok.kind == "name" and field is not None:
                alias = self.advance().text
            return Count(field, alias)
        return self.name()

    def int_literal(self) -> int:
        t = self.tok
        if t.kind != "number" or not isinstance(t.value, int) or t.value < 0:
            raise self.error()
        self.advance()
        return int(t.value)

    def order_item(self) -> OrderItem:
        field = self.name()
        desc = False
        if self.is_kw("ASC", "DESC"):
            desc = self.advance().value == "DESC"
        nulls_last = desc
        if self.is_kw("NULLS"):
            self.advance()
            if not self.is_kw("FIRST", "LAST"):
                raise self.error()
            nulls_last = self.advance().value == "LAST"
        return OrderItem(field, desc, nulls_last)

    # -- conditions ------------------------------------------------------------------------
    def expr(self, depth: int) -> Expr:
        if depth > _MAX_DEPTH:
            raise SoqlError("MALFORMED_QUERY", "query is nested too deeply", self.tok.pos)
        first = self.unary(depth)
        if not self.is_kw("AND", "OR"):
            return first
        op = self.tok.value
        items = [first]
        while self.is_kw("AND", "OR"):
            if self.tok.value != op:  # SOQL refuses a AND b OR c without parentheses
                raise self.error()
            self.advance()
            items.append(self.unary(depth))
        return BoolOp(op, tuple(items))

    def unary(self, depth: int) -> Expr:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.unary(depth + 1))
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.expr(depth + 1)
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.name()
        t = self.tok
        if t.kind == "op":
            self.advance()
            op = "!=" if t.text == "<>" else t.text
            return Comparison(field, op, self.literal())
        if self.is_kw("LIKE"):
            self.advance()
            lit = self.literal()
            if lit.kind != "string":
                raise self.error(self.toks[self.i - 1])
            return Comparison(field, "LIKE", lit)
        op = "IN"
        if self.is_kw("NOT"):
            self.advance()
            op = "NOT IN"
            if not self.is_kw("IN"):
                raise self.error()
        if self.is_kw("IN"):
            self.advance()
            self.expect_punct("(")
            values = [self.literal()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(field, op, tuple(values))
        raise self.error()

    def literal(self) -> Literal:
        t = self.tok
        if t.kind in ("string", "number", "datetime", "date"):
            self.advance()
            return Literal(t.kind, t.value, t.pos)
        if t.kind == "kw" and t.value in ("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", t.value == "TRUE", t.pos)
        if t.kind == "kw" and t.value == "NULL":
            self.advance()
            return Literal("null", None, t.pos)
        raise self.error()


def parse(source: str) -> Query:
    """Parse one SOQL statement; raise :class:`SoqlError` (``MALFORMED_QUERY``) if invalid."""
    if len(source) > MAX_SOQL_LENGTH:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_SOQL_LENGTH} characters",
        )
    return _Parser(source).query()


_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})$")


def parse_iso_datetime(text: str) -> datetime:
    """Parse the dateTime strings clients write (``…Z``, ``…+0000``, ``…+00:00``); aware UTC."""
    s = text.strip().replace("Z", "+00:00")
    m = _OFFSET_RE.search(s)
    if m and ":" not in s[m.start() :]:
        s = s[: m.start()] + f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    value = datetime.fromisoformat(s)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
