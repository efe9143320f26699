"""Adoption on the first sync: MQLs the CRM already had keep the CRM's own MQL date (or
none), never the time of mqlsync's first sync; low scorers are reported, not demoted."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.crm.hubspot.fields import MQL_DATE
from connector.crm.values import parse_instant


def test_existing_mqls_keep_the_crms_date_and_low_scorers_are_reported(rig, caplog):
    rig.adapter.provision()
    contacts = rig.sandbox.store.tables["contacts"]
    before = {
        contacts.id_of(r): (contacts.value(r, "lifecyclestage"), contacts.value(r, MQL_DATE))
        for r in range(contacts.size)
    }
    at_mql = {rid for rid, (stage, _) in before.items() if stage == "marketingqualifiedlead"}
    assert (
        at_mql
        and any(d for _, d in before.values())
        and any(before[rid][1] is None for rid in at_mql)
    ), "the sandbox should have MQLs with and without a CRM MQL date"
    first = datetime.now(UTC).replace(microsecond=0)  # written times have milliseconds
    summary = rig.sync.run()
    assert summary.adopted >= len(at_mql) and summary.mqls_in_crm >= len(at_mql)
    for rid, (stage, crm_date) in before.items():
        written = contacts.value(contacts.row_of(rid), "mqlsync_mql_at")
        if stage in ("marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"):
            # the CRM's own date, or empty: never the time of this first sync
            assert written == crm_date  # both ISO with milliseconds and Z
        elif written is not None:
            assert parse_instant(written) >= first  # promoted by this sync
    run = rig.store.get_run(summary.run_id)
    assert run.counts["adopted"] == summary.adopted
    assert run.counts["adopted_review"] == summary.adopted_review > 0
    assert (
        f"{summary.adopted_review} MQL(s) the CRM already had score below half the threshold"
        in (caplog.text)
    )
    assert summary.review_sample[0] in caplog.text
    # a second sync adopts nothing again and moves no date
    dates = {contacts.id_of(r): contacts.value(r, "mqlsync_mql_at") for r in range(contacts.size)}
    again = rig.sync.run()
    assert again.adopted == 0
    assert {
        contacts.id_of(r): contacts.value(r, "mqlsync_mql_at") for r in range(contacts.size)
    } == dates
