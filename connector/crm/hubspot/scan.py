"""A first sync's engagements read by type, not by contact: fewer calls, kept on disk.

A pull by contact blocks pays, per 1,000 contacts, one associations v4 batch read per
engagement type (the documented ceiling: 1,000 inputs) and then batch-reads the engagements
(≤ 100 ids a call). A first sync pulls every contact, so it needs every engagement linked to
a contact anyway; the CRM v3 objects list (``GET /crm/v3/objects/{type}?associations=contacts``,
≤ 100 objects a page, the SDK's ``crm.objects.basic_api.get_page``) returns each engagement
with its contact ids in the same call, so the association reads are not needed at all:
ceil(E/100) calls per type instead of ceil(N/1000) + ceil(E/100) (at 20,000 contacts and
15,397 meetings, calls and emails: 156 calls instead of 219).

The list is ordered by engagement id, the contact pull by contact id, so the two cannot be
joined as they stream. The engagements go into a private temporary SQLite database on disk
(SQLite deletes it when the connection closes) with only the properties activities read,
and each block of contacts looks its own up: mqlsync's memory stays flat however large the
portal (on disk: about 220 bytes per engagement in the sandbox's data, titles and
subjects included, so about 170 MB for 770,000 engagements).

A contact list inlined in an engagement is paged like any association (``paging.next``):
an engagement with more contacts than one inline page gets its whole list from the
associations v4 batch read, from the engagement's side.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connector.crm.hubspot.activities import associated
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.hubspot.search import PaginationLoop

LIST_LIMIT = 100
"""Objects per page of the CRM v3 objects list (its documented maximum)."""

Found = dict[str, tuple[dict[str, list[str]], dict[str, Mapping[str, Any]]]]
"""kind → (contact id → engagement ids, engagement id → properties), as the block route reads."""


def _inline_contacts(obj: Any) -> tuple[list[str], bool]:
    """Contact ids an engagement lists inline, and whether the list has more pages."""
    associations = getattr(obj, "associations", None) or {}
    inline = associations.get("contacts") if isinstance(associations, Mapping) else None
    if inline is None:
        return [], False
    ids = [str(a.id) for a in getattr(inline, "results", None) or ()]
    paging = getattr(inline, "paging", None)
    return ids, paging is not None and getattr(paging, "next", None) is not None


class EngagementScan:
    """Every engagement of the given types with its contact links, read once, kept on disk."""

    def __init__(
        self,
        calls: HubSpotCalls,
        kinds: Mapping[str, Sequence[str]],
        *,
        page_size: int = LIST_LIMIT,
        association_batch: int = 1000,
    ) -> None:
        self.calls = calls
        self.kinds = {k: list(v) for k, v in kinds.items()}
        self.page_size = page_size
        self.association_batch = association_batch
        self.engagements = 0
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> EngagementScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the temporary database (SQLite removes its file)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def loaded(self) -> bool:
        return self._db is not None

    def load(self) -> None:
        """Read every engagement of every kind, page by page, into the temporary database."""
        if self._db is not None:
            return
        # "" = a private temporary database on disk; one consumer at a time, maybe another thread
        db = sqlite3.connect("", check_same_thread=False)
        db.executescript(
            "CREATE TABLE objects (kind TEXT, eid TEXT, props TEXT, PRIMARY KEY (kind, eid));"
            "CREATE TABLE links (contact TEXT, kind TEXT, eid TEXT);"
            "CREATE TABLE wanted (contact TEXT PRIMARY KEY);"
        )
        self._db = db
        try:
            for kind, properties in self.kinds.items():
                self._load_kind(db, kind, properties)
            db.execute("CREATE INDEX links_by_contact ON links (contact)")
            db.commit()
        except BaseException:
            self.close()
            raise

    def _pages(self, kind: str, properties: list[str]) -> Iterator[list[Any]]:
        api = self.calls.client.crm.objects.basic_api
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = self.calls.call(
                f"list {kind}",
                api.get_page,
                object_type=kind,
                limit=self.page_size,
                after=after,
                properties=properties,
                associations=["contacts"],
                archived=False,
            )
            results = list(page.results or ())
            yield results
            nxt = page.paging.next if page.paging is not None else None
            cursor = None if nxt is None else nxt.after
            if cursor is None or not results:
                return
            if cursor in seen:
                raise PaginationLoop(f"{kind} list: cursor {cursor!r} came twice")
            seen.add(cursor)
            after = str(cursor)

    def _load_kind(self, db: sqlite3.Connection, kind: str, properties: list[str]) -> None:
        paged: list[str] = []
        for results in self._pages(kind, properties):
            objects: list[tuple[str, str, str]] = []
            links: list[tuple[str, str, str]] = []
            for obj in results:
                eid = str(obj.id)
                props = obj.properties if isinstance(obj.properties, Mapping) else {}
                objects.append((kind, eid, json.dumps({p: props.get(p) for p in properties})))
                contacts, more = _inline_contacts(obj)
                if more:
                    paged.append(eid)
                else:
                    links.extend((cid, kind, eid) for cid in dict.fromkeys(contacts))
            db.executemany("INSERT OR IGNORE INTO objects VALUES (?, ?, ?)", objects)
            db.executemany("INSERT INTO links VALUES (?, ?, ?)", links)
            self.engagements += len(objects)
        if paged:
            found = associated(
                self.calls, "contacts", paged, self.association_batch, from_type=kind
            )
            rows = [(cid, kind, eid) for eid in paged for cid in dict.fromkeys(found.get(eid, ()))]
            db.executemany("INSERT INTO links VALUES (?, ?, ?)", rows)

    def lookup(self, contact_ids: Sequence[str]) -> Found:
        """The engagements of `contact_ids`, per kind, in the shape the block route reads."""
        if self._db is None:
            self.load()
        assert self._db is not None
        found: Found = {kind: ({}, {}) for kind in self.kinds}
        db = self._db
        db.execute("DELETE FROM wanted")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((c,) for c in contact_ids))
        rows = db.execute(
            "SELECT l.contact, l.kind, l.eid, o.props FROM wanted w "
            "JOIN links l ON l.contact = w.contact "
            "JOIN objects o ON o.kind = l.kind AND o.eid = l.eid ORDER BY l.rowid"
        )
        for cid, kind, eid, props in rows:
            links, objects = found[kind]
            links.setdefault(cid, []).append(eid)
            if eid not in objects:
                objects[eid] = json.loads(props)
        return found
