"""A Contact's Account for account rules, with the buying-group signal.

Account rules (``account = { field = "engaged_contacts_30d", gte = 3 }``) score a person
by what happens around them: several people of one company engaging at once is a buying
group. A Contact's account is its ``AccountId``, with the Account's ``Name`` and website
domain, and ``engaged_contacts_30d``: how many Contacts of that Account have an activity
in the last 30 days — a Task (created), an Event (started) or a campaign response — the
same activities the reader scores. Unconverted Leads belong to no Account and get none.

Reads happen only when the mapping has an account rule (`MappingSpec.reads_account`), in
bulk per page of Contacts: the Accounts, their Contacts, and the three activity sources
filtered to the window, five queries to an API call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from connector.crm.reading import clean_value
from connector.crm.salesforce.activities import in_chunks, soql_datetime
from connector.crm.salesforce.composite import query_rows
from connector.crm.salesforce.write import SalesforceCallsLike

__all__ = ["BUYING_GROUP_DAYS", "accounts_for", "domain_of"]

BUYING_GROUP_DAYS = 30


def domain_of(website: object) -> str | None:
    """``https://www.Acme.io/pricing`` → ``acme.io``; None when there is no host."""
    text = str(clean_value(website) or "").strip()
    if not text:
        return None
    host = urlsplit(text if "//" in text else "//" + text).hostname or ""
    host = host.lower().removeprefix("www.")
    return host or None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def accounts_for(
    calls: SalesforceCallsLike,
    account_of: Mapping[str, str],
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """contact id → its account (`id`, `name`, `domain`, `engaged_contacts_30d`), for the
    Contacts in `account_of` (contact id → AccountId) that have one."""
    accounts = list(dict.fromkeys(a for a in account_of.values() if a))
    if not accounts:
        return {}
    rows = query_rows(
        calls,
        "read accounts",
        list(in_chunks(accounts, "SELECT Id, Name, Website FROM Account WHERE Id IN ({ids})")),
    )
    found = {_text(r.get("Id"))[:15]: r for r in rows}
    members: dict[str, str] = {}  # contact → account
    base = "SELECT Id, AccountId FROM Contact WHERE AccountId IN ({ids})"
    for row in query_rows(calls, "read account contacts", list(in_chunks(accounts, base))):
        members[_text(row.get("Id"))] = _text(row.get("AccountId"))[:15]
    engaged = _engaged(calls, list(members), now - timedelta(days=BUYING_GROUP_DAYS))
    counts: dict[str, int] = {}
    for contact in engaged:
        account = members.get(contact)
        if account:
            counts[account] = counts.get(account, 0) + 1
    out: dict[str, dict[str, Any]] = {}
    for contact, account_id in account_of.items():
        account_row = found.get(account_id[:15]) if account_id else None
        if account_row is None:
            continue
        out[contact] = {
            "id": _text(account_row.get("Id")),
            "name": clean_value(account_row.get("Name")),
            "domain": domain_of(account_row.get("Website")),
            "engaged_contacts_30d": counts.get(account_id[:15], 0),
        }
    return out


def _engaged(calls: SalesforceCallsLike, contacts: Sequence[str], since: datetime) -> set[str]:
    """Contacts (ids as the queries answer them) with an activity at or after `since`."""
    if not contacts:
        return set()
    # only a formatted datetime and checked ids (in_chunks) reach the query text
    at = soql_datetime(since)
    task = f"SELECT WhoId FROM Task WHERE WhoId IN ({{ids}}) AND CreatedDate >= {at}"  # noqa: S608
    event = f"SELECT WhoId FROM Event WHERE WhoId IN ({{ids}}) AND StartDateTime >= {at}"  # noqa: S608
    member = (
        "SELECT ContactId FROM CampaignMember WHERE ContactId IN ({ids}) "  # noqa: S608
        f"AND HasResponded = true AND CreatedDate >= {at}"
    )
    sources = (("WhoId", task), ("WhoId", event), ("ContactId", member))
    short = {c[:15]: c for c in contacts}
    out: set[str] = set()
    for key, base in sources:
        soqls = list(in_chunks(contacts, base))
        out |= _ids(query_rows(calls, "read recent account activity", soqls), key, short)
    return out


def _ids(rows: Iterable[Mapping[str, Any]], key: str, short: Mapping[str, str]) -> set[str]:
    return {short.get(_text(r.get(key))[:15], _text(r.get(key))) for r in rows if r.get(key)}
