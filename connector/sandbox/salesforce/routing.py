"""Route Salesforce's login hosts to the sandbox inside one ``requests`` session.

Why: simple-salesforce builds its sign-in URL as ``https://{domain}.salesforce.com/services/
Soap/u/…`` or ``…/services/oauth2/token`` and offers no base-URL option except ``scratch_url``
(SOAP only).  A transport adapter mounted on the session for those hosts sends the same
request to the sandbox instead, so the client's login code runs unchanged; every other URL
(the instance URL the login answers with) goes out as usual.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

__all__ = ["LOGIN_HOSTS", "LoginRoute", "route_login"]

LOGIN_HOSTS = ("https://login.salesforce.com/", "https://test.salesforce.com/")


class LoginRoute(HTTPAdapter):
    """Rewrites the scheme and host of each request to ``base_url`` (path and query kept)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


def route_login(session: requests.Session, base_url: str) -> requests.Session:
    """Mount :class:`LoginRoute` to ``base_url`` for ``login``/``test.salesforce.com`` on
    ``session``; return it."""
    for prefix in LOGIN_HOSTS:
        session.mount(prefix, LoginRoute(base_url))
    return session
