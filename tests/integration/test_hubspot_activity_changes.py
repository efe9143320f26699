"""HubSpot tracks engagement changes by itself, so our own writes' echoes cost no activity reads.

The sync trusts a written contact's echo (its modified time equals the one after mqlsync's
write) only because the adapter searches meetings, calls and emails modified since the
watermark and reads the engagements of their contacts again. These tests log engagements
that leave the contact's `lastmodifieddate` alone (HubSpot does not always move it), while
mqlsync is writing and after, and check each reaches the score; and that a sync after a sync
with nothing changed is only its search pages.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from connector.core.records import Activity
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.hubspot.activities import ENGAGEMENT_SHAPES, ENGAGEMENTS, engagement_activity
from connector.crm.hubspot.search import ContactSearch, changed_since
from connector.crm.hubspot.touched import ENGAGEMENT_MODIFIED, touched_since
from connector.crm.values import parse_instant
from connector.mapping.loader import load_mapping
from connector.mapping.schema import RollupActivity
from tests.conftest import MAPPINGS
from tests.integration.conftest import sync_with_edit_before_first_write

ENGAGEMENT_SEARCHES = len(ENGAGEMENTS)
"""One search per engagement type (meetings, calls, emails) on every incremental pull."""


def _snapshot(rig, cid):
    return rig.store.get_snapshots("hubspot", "contact", [cid])[cid]


def _engagement(rig, cid):
    props = rig.adapter.calls.client.crm.contacts.basic_api.get_by_id(
        cid, properties=["mqlsync_engagement"]
    ).properties
    return int(props["mqlsync_engagement"])


def _contact_reads(rig, kind):
    """Inputs of every contacts→`kind` associations read logged since the last clear."""
    path = f"/crm/v4/associations/contacts/{kind}/batch/read"
    return [e.inputs for e in rig.sandbox.request_log.entries() if e.path == path]


def _without_meetings(rig):
    return next(
        s.record_id
        for s in rig.store.iter_snapshots("hubspot")
        if not any(a["type"] in ("meeting", "demo_request") for a in s.record["activities"])
    )


def test_the_adapter_declares_it_tracks_activity_changes(rig):
    assert rig.adapter.tracks_activity_changes is True


def test_a_second_sync_with_nothing_changed_is_only_search_pages(rig):
    rig.adapter.provision()
    first = rig.sync.run()
    assert first.written > 0
    rig.sandbox.request_log.clear()
    second = rig.sync.run()
    assert second.written == 0 and second.pulled == first.written  # every echo, once
    # ceil(P/200) contact search pages + one engagement search per type (none changed);
    # no association read, no engagement read: every echo keeps its stored activities
    assert second.api_calls == math.ceil(second.pulled / 200) + ENGAGEMENT_SEARCHES
    log = rig.sandbox.request_log
    assert log.count(path_prefix="/crm/v4/associations") == 0
    assert sum(log.count(path_prefix=f"/crm/v3/objects/{k}/batch/read") for k in ENGAGEMENTS) == 0
    for kind in ENGAGEMENTS:
        assert log.count(method="POST", path_prefix=f"/crm/v3/objects/{kind}/search") == 1
    # and the scores are the ones a full re-read gives: the stored activities are current
    snaps = {s.record_id: s.engagement for s in rig.store.iter_snapshots("hubspot")}
    assert all(snaps[cid] == _engagement(rig, cid) for cid in list(snaps)[:20])


def test_meeting_logged_between_our_read_and_write_without_moving_the_contact_is_read(rig):
    """The contact's modified time after our write is our own echo, yet the meeting logged
    before that write (dated yesterday, logged now) reaches the next sync's score."""
    rig.adapter.provision()
    yesterday = datetime.now(UTC) - timedelta(days=1)

    def log_meeting(target: str) -> None:
        rig.sandbox.store.add_engagement(
            int(target), "meetings", yesterday, touch_contact=False, hs_meeting_title="Intro"
        )

    target = sync_with_edit_before_first_write(rig, log_meeting)
    snap = _snapshot(rig, target)
    before = snap.engagement
    assert not any(a["detail"].get("title") == "Intro" for a in snap.record["activities"])
    assert parse_instant(snap.written["echo_at"]) is not None

    rig.sandbox.request_log.clear()
    second = rig.sync.run()
    snap = _snapshot(rig, target)
    assert any(a["detail"].get("title") == "Intro" for a in snap.record["activities"])
    assert snap.engagement > before
    assert _engagement(rig, target) == snap.engagement
    assert second.written == 1
    # only that contact's engagements were read again, not every echo's
    for kind in ENGAGEMENTS:
        assert _contact_reads(rig, kind) == [1]


def test_meeting_added_later_to_an_echo_contact_is_picked_up(rig):
    rig.adapter.provision()
    rig.sync.run()
    target = _without_meetings(rig)
    before = _snapshot(rig, target).engagement
    assert _snapshot(rig, target).written.get("echo_at")  # written by the first sync
    rig.sandbox.store.add_engagement(
        int(target), "meetings", datetime.now(UTC) - timedelta(hours=1), touch_contact=False
    )
    changed = rig.sync.run()  # the contact's modified time is still our first write's echo
    assert changed.written == 1
    after = _snapshot(rig, target).engagement
    assert after >= before + 100 and after == _engagement(rig, target)  # +100, decay gone


def test_meeting_on_a_contact_outside_the_lookback_is_read_by_id(rig):
    """A contact last modified before the pull's window is not in the contact search at
    all: the engagement search finds it, and it is read by id."""
    rig.adapter.provision()
    start = datetime.now(UTC)
    rig.sync.run()
    rig.sync.clock = lambda: start + timedelta(hours=1)
    rig.sync.run()  # the watermark moves an hour on: every echo is out of the next window
    target = _without_meetings(rig)
    before = _snapshot(rig, target).engagement
    store = rig.sandbox.store
    store.clock = lambda: time.time() + 55 * 60  # the portal's clock, past the window's start
    store.add_engagement(int(target), "calls", start, touch_contact=False)
    store.add_engagement(int(target), "meetings", start, touch_contact=False)
    rig.sync.clock = lambda: start + timedelta(hours=2)
    rig.sandbox.request_log.clear()
    later = rig.sync.run()
    assert later.pulled == 1 and later.written == 1
    after = _snapshot(rig, target).engagement
    assert after >= before + 100 and after == _engagement(rig, target)  # +100, decay gone
    reads = rig.sandbox.request_log.entries()
    assert [e.inputs for e in reads if e.path == "/crm/v3/objects/contacts/batch/read"] == [1]


def test_rollup_changed_between_our_read_and_write_is_not_hidden_by_the_echo(rig):
    """Rollups are contact properties: the contact is read in full on every pull, so its
    echo reuses the stored engagements only and takes rollups from what it reads now."""
    rig.adapter.provision()
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

    def open_email(target: str) -> None:
        rig.sandbox.store.touch(int(target), hs_email_last_open_date=opened.isoformat())

    target = sync_with_edit_before_first_write(rig, open_email)
    rig.sandbox.request_log.clear()
    rig.sync.run()
    assert rig.sandbox.request_log.count(path_prefix="/crm/v4/associations") == 0  # an echo
    opens = [
        parse_instant(a["at"])
        for a in _snapshot(rig, target).record["activities"]
        if a["type"] == "email_open"
    ]
    assert opens == [opened]


def test_engagement_shapes_are_those_engagement_activity_makes():
    made = [
        engagement_activity(kind, {"hs_timestamp": "2026-11-01T00:00:00Z", **extra})
        for kind, extra in (
            ("meetings", {}),
            ("calls", {}),
            ("emails", {"hs_email_direction": "INCOMING_EMAIL"}),
            ("emails", {"hs_email_direction": "EMAIL"}),
        )
    ]
    assert {(a.type, tuple(sorted(a.detail))) for a in made} == ENGAGEMENT_SHAPES
    assert all(isinstance(a, Activity) for a in made)


def test_a_rollup_shaped_like_an_engagement_turns_tracking_off(rig):
    spec = load_mapping(MAPPINGS / "b2b-saas.toml")
    clash = RollupActivity(date_property="hs_last_meeting", type="meeting", detail={"title": "x"})
    spec.source_activities.hubspot.append(clash)
    adapter = HubSpotAdapter(rig.adapter.calls, spec)
    assert adapter.tracks_activity_changes is False
    assert HubSpotAdapter.tracks_activity_changes is True  # others keep it


def test_engagement_search_pages_by_id_and_finds_every_changed_engagement(rig):
    """Keyset paging (``hs_object_id >`` the last id, sorted by id) like the contact
    search: no offset is ever sent, so the 10,000-result cap cannot apply."""
    since = datetime(2000, 1, 1, tzinfo=UTC)
    groups = changed_since(since, ENGAGEMENT_MODIFIED)
    search = ContactSearch(rig.adapter.calls, groups, ["hs_object_id"], 7, object_type="emails")
    ids = [e.id for page in search.pages() for e in page]
    emails = rig.sandbox.store.tables["emails"].size
    assert len(ids) == len(set(ids)) == emails > 14
    pages = rig.sandbox.request_log.count(path_prefix="/crm/v3/objects/emails/search")
    assert pages == math.ceil(emails / 7)
    contacts = touched_since(rig.adapter.calls, ["emails"], since, association_batch=50)
    store = rig.sandbox.store
    linked = {cid for row in range(emails) for cid in store.associated("emails", "contacts", row)}
    assert contacts == linked
