"""Salesforce behind the `CrmAdapter` protocol: Leads and Contacts in, scores and stages out.

The reader (`pull.py`) streams unconverted Leads and Contacts with their activities; the
writer (`write.py`) sends sObject Collections updates (≤ 200, never re-running Lead
assignment rules, never overwriting a status sales set); `provision.py` creates the
custom fields. This class only puts them behind the one interface the pipeline knows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from connector.crm.base import Current, Outcome, Page, Patch, Previous, ProvisionReport, SlaBreach
from connector.crm.salesforce.client import SalesforceCalls
from connector.crm.salesforce.provision import provision
from connector.crm.salesforce.pull import MODIFIED, SalesforceReader
from connector.crm.salesforce.write import lead_stage_values, write
from connector.errors import MqlsyncError
from connector.mapping.schema import MappingSpec


class SalesforceAdapter:
    """Leads (unconverted) and Contacts of one org."""

    kind = "salesforce"
    objects: tuple[str, ...] = ("lead", "contact")
    watermark_field = MODIFIED
    write_batch_size = 200

    def __init__(
        self, calls: SalesforceCalls, mapping: MappingSpec, *, page_size: int = 2000
    ) -> None:
        self.calls = calls
        self.mapping = mapping
        self.reader = SalesforceReader(calls, mapping, page_size=page_size)
        lifecycle = mapping.lifecycle
        self.stage_values = lead_stage_values(
            lifecycle.salesforce_mql_status, lifecycle.salesforce_recycle_status
        )
        self.rejected = tuple(lifecycle.rejected_statuses.salesforce)

    @property
    def api_calls(self) -> int:
        """HTTP requests made so far."""
        return self.calls.calls

    def provision(self, *, dry_run: bool = False) -> ProvisionReport:
        """Create the custom fields on Lead and Contact (or write a package to deploy) and
        check the Lead Status picklist has the statuses mqlsync sets."""
        lifecycle = self.mapping.lifecycle
        statuses = (lifecycle.salesforce_mql_status, lifecycle.salesforce_recycle_status)
        return provision(self.calls, dry_run=dry_run, lead_statuses=statuses)

    def pull(
        self, obj: str, since: datetime, now: datetime, previous: Previous | None = None
    ) -> Iterator[Page]:
        """Records of `obj` modified (or with activities changed) at or after `since`."""
        return self.reader.pull(obj, since, now, previous)

    def read(self, obj: str, ids: Sequence[str], now: datetime) -> Iterator[Page]:
        """Specific records, in the shape of `pull`."""
        return self.reader.read(obj, ids, now)

    def peek(self, obj: str, ids: Sequence[str]) -> dict[str, Current]:
        """mqlsync's fields, the stage and SystemModstamp of `ids` (no activities)."""
        return self.reader.peek(obj, ids)

    def find(self, obj: str, key: str) -> str | None:
        """A record id as is, else the record with that email."""
        return self.reader.find(obj, key)

    def lead_statuses(self) -> list[str]:
        """The Lead Status picklist's values."""
        return self.reader.lead_statuses()

    def write(self, obj: str, patches: list[Patch]) -> list[Outcome]:
        """One sObject Collections update of ≤ 200 records; a move back is one request."""
        return write(self.calls, obj, patches, self.stage_values, rejected_statuses=self.rejected)

    def notify_sla_breaches(
        self, obj: str, breaches: Sequence[SlaBreach], *, now: datetime | None = None
    ) -> int:
        """Salesforce follow-up tasks are not built yet (the factory refuses a mapping that
        asks for them): the breaches stay owed, and shown in the SLA field, until they are."""
        raise MqlsyncError(f"{len(breaches)} SLA task(s): Salesforce tasks are not available yet")

    def sla_tasks_present(self, obj: str, breaches: Sequence[SlaBreach]) -> set[str]:
        """No Salesforce task is ever created, so none is present."""
        return set()
