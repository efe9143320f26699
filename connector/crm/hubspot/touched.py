"""Contacts whose engagements changed since a time, found from the engagements' side.

Logging a meeting, call or email on a contact does not necessarily move the contact's
`lastmodifieddate`, so a pull by the contact's modified date alone can miss it; and when
mqlsync writes the contact after the engagement was logged, the contact's modified time is
the echo of that write, which the sync trusts (`CrmAdapter.tracks_activity_changes`). So
every incremental pull first asks each engagement type what changed:

- CRM search on the type (``POST /crm/v3/objects/{type}/search``, the SDK's
  ``crm.objects.search_api``) for ``hs_lastmodifieddate >= since``, 200 a page, keyset
  paged by ``hs_object_id`` like the contact search (`ContactSearch`), so HubSpot's
  10,000-result cap per query never applies;
- associations v4 batch reads from those engagements to their contacts (≤ 1,000 ids a
  call, `activities.associated`, from the engagement's side).

Cost: one search call per type when nothing changed (three), plus ceil(E/200) pages and
ceil(E/1000) association reads per type for E changed engagements.

Not seen this way: an association made or removed later between an existing engagement
and a contact (it need not move the engagement's `hs_lastmodifieddate`), and a deleted
engagement (search returns no archived objects). When HubSpot's activity rollups on the
contact move its `lastmodifieddate` for them, the contact is read again in full; when they
do not, such a change is read with the contact's next change of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from connector.crm.hubspot.activities import associated
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.hubspot.search import ContactSearch, changed_since

ENGAGEMENT_MODIFIED = "hs_lastmodifieddate"
"""The last-modified property of engagement objects (contacts have `lastmodifieddate`)."""


def touched_since(
    calls: HubSpotCalls,
    kinds: Iterable[str],
    since: datetime,
    *,
    page_size: int = 200,
    association_batch: int = 1000,
) -> set[str]:
    """Ids of contacts associated with an engagement of `kinds` modified at or after `since`."""
    groups = changed_since(since, ENGAGEMENT_MODIFIED)
    found: set[str] = set()
    for kind in kinds:
        search = ContactSearch(calls, groups, ["hs_object_id"], page_size, object_type=kind)
        ids = [str(e.id) for page in search.pages() for e in page]
        if not ids:
            continue
        links = associated(calls, "contacts", ids, association_batch, from_type=kind)
        for contacts in links.values():
            found.update(contacts)
    return found
