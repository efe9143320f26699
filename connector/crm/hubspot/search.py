"""Incremental CRM search: a paginator object that never hits the 10,000-result cap.

HubSpot search returns at most 10,000 results per query (`after` past it → 400) and pages
by offset, which skips a record when one before it is deleted or merged mid-pull. Results
are sorted by `hs_object_id` and every page asks for `hs_object_id > last id seen`, so any
number of changed contacts is covered exactly once, whatever is deleted meanwhile.
Because the order is by id, not by time, the sync advances the watermark only after the
whole pull.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.hubspot.fields import MODIFIED

Filter = dict[str, str]


def epoch_ms(at: datetime) -> str:
    """HubSpot filters take datetimes as epoch milliseconds."""
    return str(round(at.timestamp() * 1000))


def changed_since(since: datetime, field: str = MODIFIED) -> list[list[Filter]]:
    """Filter groups (OR of ANDs) for "modified at or after `since`" (`field`: the object's
    last-modified property; contacts' `lastmodifieddate`, other objects' `hs_lastmodifieddate`).

    Our own writes' echoes are not excluded: no filter can tell our write from a human
    edit made in the same seconds, and missing that edit would lose it for good.
    """
    return [[{"propertyName": field, "operator": "GTE", "value": epoch_ms(since)}]]


class PaginationLoop(RuntimeError):
    """The server returned the same cursor twice; continuing would loop forever."""


class ContactSearch:
    """Pages of contacts matching filter groups, in `hs_object_id` order, past the 10k cap.

    `object_type` other than ``contacts`` (e.g. ``meetings``) searches that CRM object
    through the generic objects search (``crm.objects.search_api``), paged the same way.
    """

    def __init__(
        self,
        calls: HubSpotCalls,
        groups: list[list[Filter]],
        properties: Sequence[str],
        page_size: int = 200,
        *,
        object_type: str = "contacts",
    ) -> None:
        self.calls = calls
        self.groups = groups
        self.properties = list(properties)
        self.page_size = page_size
        self.object_type = object_type
        self.total: int | None = None
        """The server's count of matches for the first query (for progress bars)."""

    def _body(self, last_id: int) -> dict[str, Any]:
        id_filter = {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}
        return {
            "filterGroups": [{"filters": [*g, id_filter]} for g in self.groups],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.page_size,
        }

    def pages(self) -> Iterator[list[Any]]:
        """Yield lists of SDK contact objects until the last page.

        Every page is a fresh query for ids above the last one seen (keyset paging), never
        an offset: a contact deleted or merged away mid-pull would shift every later
        offset by one and silently skip a record; the 10,000-result cap never applies.
        """
        kind = self.object_type
        crm = self.calls.client.crm
        if kind == "contacts":
            search, pinned = crm.contacts.search_api.do_search, {}
        else:
            search, pinned = crm.objects.search_api.do_search, {"object_type": kind}
        last_id = 0
        while True:
            page = self.calls.call(
                f"search changed {kind}",
                search,
                **pinned,
                public_object_search_request=self._body(last_id),
            )
            if self.total is None:
                self.total = int(page.total or 0)
            results = list(page.results or ())
            if results:
                yield results
            more = page.paging is not None and page.paging.next is not None
            if not more or not results:
                return
            next_id = int(results[-1].id)
            if next_id <= last_id:
                raise PaginationLoop(f"search ids did not advance ({last_id} → {next_id})")
            last_id = next_id
