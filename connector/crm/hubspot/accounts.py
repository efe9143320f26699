"""Company context for account rules, including the buying-group signal.

`engaged_contacts_30d` counts the company's contacts with any dated activity rollup
(page visit, conversion, email open/click/reply — the mapping's rollup date properties)
in the last 30 days. Contacts of the company outside the current block are read in
batches of 100; nothing is read when the mapping has no account rule. A rollup date that is
not a usable zoned time does not count as engagement (it is no reason to reject a contact
of the same company), and company fields are cleaned like contact properties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.crm.hubspot.activities import (
    associated,
    hubspot_time,
    read_objects,
)
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.reading import (
    BadTime,
    clean_value,
)

COMPANY_PROPERTIES = ("domain", "name", "numberofemployees", "industry", "annualrevenue")
BUYING_GROUP_DAYS = 30


def _time(value: object, name: str) -> datetime | None:
    try:
        return hubspot_time(value, name)
    except BadTime:
        return None


def _engaged(props: Mapping[str, Any], dates: Sequence[str], since: datetime) -> bool:
    return any((at := _time(props.get(name), name)) is not None and at >= since for name in dates)


def accounts_for(
    calls: HubSpotCalls,
    contact_ids: Sequence[str],
    known: Mapping[str, Mapping[str, Any]],
    dates: Sequence[str],
    now: datetime,
    *,
    association_batch: int = 1000,
    read_batch: int = 100,
) -> dict[str, dict[str, Any]]:
    """contact id → its primary company's fields plus `engaged_contacts_30d`.

    `known` holds properties already read for contacts of this block, so only the
    other contacts of the same companies cost reads.
    """
    links = associated(calls, "companies", contact_ids, association_batch)
    company_ids = list(dict.fromkeys(ids[0] for ids in links.values() if ids))
    if not company_ids:
        return {}
    companies = read_objects(calls, "companies", company_ids, COMPANY_PROPERTIES, read_batch)
    members = associated(calls, "contacts", company_ids, association_batch, from_type="companies")
    others = [c for ids in members.values() for c in ids if c not in known]
    props = dict(known)
    props.update(read_objects(calls, "contacts", others, dates, read_batch))
    since = now - timedelta(days=BUYING_GROUP_DAYS)
    engaged = {
        company: sum(_engaged(props.get(c, {}), dates, since) for c in ids)
        for company, ids in members.items()
    }
    out = {}
    for cid, ids in links.items():
        if ids and ids[0] in companies:
            fields = companies[ids[0]]
            out[cid] = {
                "id": ids[0],
                **{k: clean_value(fields.get(k)) for k in COMPANY_PROPERTIES},
                "engaged_contacts_30d": engaged.get(ids[0], 0),
            }
    return out
