"""The SDK reads datetimes with the stdlib parser once a call goes through HubSpotCalls,
to the same instants dateutil gives, and still hands what the stdlib refuses to dateutil."""

from __future__ import annotations

from datetime import datetime

import pytest
from dateutil.parser import parse
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.api_client import ApiClient

from connector.crm.hubspot import HubSpotCalls
from connector.crm.hubspot.client import _fast_datetimes
from connector.sandbox.hubspot import HubSpotSandbox

READ = "_ApiClient__deserialize_datetime"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T12:00:00Z",
        "2026-11-01T12:00:00.123Z",
        "2019-10-30T03:30:17.883000Z",
        "2026-11-01T12:00:00+02:00",
        "2026-11-01",
    ],
)
def test_hubspot_forms_read_to_the_same_instant_as_dateutil(text: str) -> None:
    client = ApiClient()
    _fast_datetimes(client)
    got = getattr(client, READ)(text)
    assert got == parse(text) and got.utcoffset() == parse(text).utcoffset()


def test_forms_the_stdlib_refuses_still_go_to_the_sdk_parser() -> None:
    client = ApiClient()
    _fast_datetimes(client)
    assert getattr(client, READ)("Nov 1 2026 12:00 UTC") == parse("Nov 1 2026 12:00 UTC")


def test_search_results_carry_parsed_datetimes() -> None:
    with HubSpotSandbox(contacts=5) as sandbox:
        calls = HubSpotCalls(sandbox.token, base_url=sandbox.base_url)
        api = calls.client.crm.contacts.search_api
        page = calls.call("search", api.do_search, public_object_search_request=(
            PublicObjectSearchRequest(limit=5)
        ))  # fmt: skip
    assert page.results
    for contact in page.results:
        assert isinstance(contact.updated_at, datetime)
        assert contact.updated_at.utcoffset() is not None
    assert getattr(type(api.api_client), READ).__name__ == "read_datetime"  # patched by call()
