"""Salesforce behind the `CrmAdapter` protocol: Leads and Contacts in, scores and stages out.

The reader (`pull.py`) streams unconverted Leads and Contacts with their activities; the
writer (`write.py`) sends sObject Collections updates (≤ 200, never re-running Lead
assignment rules, never overwriting a status sales set); `provision.py` creates the
custom fields. This class only puts them behind the one interface the pipeline knows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from connector.crm.base import Current, Outcome, Page, Patch, Previous, ProvisionReport, SlaBreach
from connector.crm.salesforce.client import SalesforceCalls
from connector.crm.salesforce.provision import provision
from connector.crm.salesforce.pull import MODIFIED, SalesforceReader
from connector.crm.salesforce.tasks import create_sla_tasks, tasks_present
from connector.crm.salesforce.write import (
    COLLECTIONS,
    MAX_RECORDS,
    PAST_MQL_ORDER,
    lead_stage_values,
    write,
)
from connector.mapping.schema import MappingSpec


class SalesforceAdapter:
    """Leads (unconverted) and Contacts of one org."""

    kind = "salesforce"
    objects: tuple[str, ...] = ("lead", "contact")
    watermark_field = MODIFIED
    tracks_activity_changes = True
    """Tasks, Events and campaign members changed since the watermark are queried."""

    def __init__(
        self,
        calls: SalesforceCalls,
        mapping: MappingSpec,
        *,
        page_size: int = 2000,
        bulk_threshold: int = 0,
        collection_size: int = MAX_RECORDS,
    ) -> None:
        """`bulk_threshold`: a pull holding more records than this reads them through a
        Bulk API 2.0 query job (0: never). `collection_size`: records per sObject
        Collections update (≤ 200); three such updates make one API call."""
        self.calls = calls
        self.mapping = mapping
        self.collection_size = max(1, min(MAX_RECORDS, collection_size))
        self.write_batch_size = self.collection_size * COLLECTIONS
        self.reader = SalesforceReader(
            calls, mapping, page_size=page_size, bulk_threshold=bulk_threshold
        )
        lifecycle = mapping.lifecycle
        statuses = lifecycle.lead_statuses
        assert statuses.mql and statuses.lead  # the mapping refuses a map without them
        self.statuses = (statuses.mql, statuses.lead)
        self.stage_values = lead_stage_values(statuses.mql, statuses.lead)
        self.protected = tuple(v for st in PAST_MQL_ORDER if (v := getattr(statuses, st)))
        """Lead statuses sales sets (`sal` and later): read as those stages, never written."""
        self.rejected = tuple(lifecycle.rejected_statuses.salesforce)

    @property
    def api_calls(self) -> int:
        """HTTP requests made so far."""
        return self.calls.calls

    def provision(self, *, dry_run: bool = False) -> ProvisionReport:
        """Create the custom fields on Lead and Contact (or write a package to deploy) and
        check the Lead Status picklist has the statuses mqlsync sets."""
        return provision(self.calls, dry_run=dry_run, lead_statuses=self.statuses)

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
        """≤ 600 records in one composite call (three sObject Collections updates and the
        read of their modified times); a move back is written like any other value."""
        return write(
            self.calls,
            obj,
            patches,
            self.stage_values,
            protected_statuses=self.protected,
            rejected_statuses=self.rejected,
            collection=self.collection_size,
        )

    def notify_sla_breaches(
        self, obj: str, breaches: Sequence[SlaBreach], *, now: datetime | None = None
    ) -> int:
        """One High-priority Task per breach, on the record, for its owner (opt-in)."""
        return create_sla_tasks(self.calls, breaches, now=now or datetime.now(UTC))

    def sla_tasks_present(self, obj: str, breaches: Sequence[SlaBreach]) -> set[str]:
        """Keys of the breaches whose Task is already on the record."""
        return tasks_present(self.calls, breaches)
