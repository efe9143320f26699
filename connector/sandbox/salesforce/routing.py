"""Route Salesforce's sign-in hosts to the sandbox inside one ``requests`` session.

Why: simple-salesforce builds its sign-in URL as ``https://{domain}.salesforce.com/services/
Soap/u/…`` or ``…/services/oauth2/token`` and offers no base-URL option except ``scratch_url``
(SOAP only). The adapter's own forwarding (``[salesforce] login_url``) is reused here for the
``login`` and ``test`` domains, so a client of `SalesforceSandbox.session` signs in with the
client's login code unchanged, exactly as mqlsync does.
"""

from __future__ import annotations

import requests

from connector.crm.salesforce.signin import forward_sign_in

__all__ = ["LOGIN_DOMAINS", "route_login"]

LOGIN_DOMAINS = ("login", "test")


def route_login(
    session: requests.Session, base_url: str, timeout: float = 30.0
) -> requests.Session:
    """Send ``https://login.salesforce.com/`` and ``https://test.salesforce.com/`` requests
    on `session` to `base_url`; return the session."""
    for domain in LOGIN_DOMAINS:
        forward_sign_in(session, domain, base_url, timeout)
    return session
