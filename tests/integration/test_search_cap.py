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


class _Paging:
    def __init__(self, after: int | None) -> None:
        self.next = None if after is None else type("Next", (), {"after": str(after)})()


class DeletingSearch:
    """HubSpot's search semantics over a list of ids (id filter, sort by id, offset `after`),
    where a contact of the first page is deleted right after that page is served."""

    def __init__(self, ids: list[int], delete_after_first_page: int) -> None:
        self.ids = ids
        self.victim = delete_after_first_page
        self.served = 0

    def do_search(self, public_object_search_request, _request_timeout=None):
        body = public_object_search_request
        floor = max(
            int(f["value"])
            for g in body["filterGroups"]
            for f in g["filters"]
            if f["propertyName"] == "hs_object_id"
        )
        matching = [i for i in self.ids if i > floor]
        offset = int(body.get("after") or 0)
        page = matching[offset : offset + body["limit"]]
        more = offset + body["limit"] < len(matching)
        self.served += 1
        if self.served == 1:
            self.ids.remove(self.victim)
        results = [type("Contact", (), {"id": str(i)})() for i in page]
        return type(
            "Page",
            (),
            {
                "results": results,
                "total": len(matching),
                "paging": _Paging(offset + body["limit"] if more else None),
            },
        )()


def test_a_contact_deleted_mid_pull_does_not_make_the_paginator_skip_another():
    api = DeletingSearch(list(range(1, 501)), delete_after_first_page=50)
    calls = type("Calls", (), {})()
    calls.client = type("C", (), {})()
    calls.client.crm = type("Crm", (), {})()
    calls.client.crm.contacts = type("Contacts", (), {"search_api": api})()
    calls.call = lambda what, fn, **kwargs: fn(**kwargs)
    search = ContactSearch(calls, changed_since(Watermark.initial("x").since), [], page_size=200)
    seen = [int(c.id) for page in search.pages() for c in page]
    # offset paging skipped contact 201: every later offset shifted by one
    assert seen == list(range(1, 501))
