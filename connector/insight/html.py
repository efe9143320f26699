"""Self-contained HTML pages: inline CSS, inline SVG charts, no script, no external URL.

A report must open from a file, an email attachment or an air-gapped laptop exactly as it
was written, so nothing on the page may fetch anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1320px; padding: 16px 24px; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.lead { color: #555; margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 140px; }
.card b { display: block; font-size: 20px; }
.card span { color: #666; font-size: 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.grid > div { flex: 1 1 560px; max-width: 100%; overflow-x: auto; }
svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f5f5; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
"""


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of a page; `body` is HTML already escaped where needed."""

    title: str
    body: str


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Headline figures as (value, label) cards."""
    inner = "".join(f"<div class=card><b>{escape(v)}</b><span>{escape(k)}</span></div>"
                    for v, k in items)  # fmt: skip
    return f"<div class=cards>{inner}</div>"


def grid(*parts: str) -> str:
    """Charts and tables side by side where the screen is wide enough."""
    return "<div class=grid>" + "".join(f"<div>{p}</div>" for p in parts) + "</div>"


def paragraph(text: str) -> str:
    """A plain paragraph (escaped)."""
    return f"<p>{escape(text)}</p>"


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole document. The content security policy forbids every fetch, so even a
    chart that slipped in an external reference could not load it."""
    body = "".join(f"<section><h2>{escape(s.title)}</h2>{s.body}</section>" for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=lead>{escape(subtitle)}</p>{body}</body></html>\n"
    )
