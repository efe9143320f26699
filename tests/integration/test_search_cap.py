"""More than 10,000 changed contacts: the pull splits past HubSpot's search cap, misses none."""

from __future__ import annotations

from connector.crm.hubspot.search import ContactSearch, changed_since
from connector.state import Watermark
from tests.integration.conftest import make_rig


def test_full_sync_of_10050_contacts_crosses_the_search_cap(tmp_path):
    for rig in make_rig(tmp_path, 10_050):
        rig.adapter.provision()
        summary = rig.sync.run()
        assert summary.pulled == 10_050
        assert summary.written == 10_050 and summary.failed == 0
        snaps = rig.store.count_snapshots("hubspot")
        assert snaps == 10_050
        searches = rig.sandbox.request_log.count(
            method="POST", path_prefix="/crm/v3/objects/contacts/search"
        )
        assert searches == 51  # ceil(10050 / 200): the restart costs no extra page
        assert rig.sandbox.request_log.count(status=400) == 0


def test_paginator_restarts_by_id_and_yields_each_contact_once(tmp_path):
    for rig in make_rig(tmp_path, 10_050):
        groups = changed_since(Watermark.initial("lastmodifieddate").since)
        search = ContactSearch(rig.adapter.calls, groups, ["email"], page_size=200)
        ids = [c.id for page in search.pages() for c in page]
        assert len(ids) == len(set(ids)) == 10_050
        assert search.total == 10_050
