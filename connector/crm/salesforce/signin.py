"""Getting a Salesforce session: a ready session id, a username/password/security token, or
the OAuth 2.0 JWT bearer flow — all through simple-salesforce's own ``SalesforceLogin``.

Which one is used follows from what the environment holds, first match wins:

1. ``MQLSYNC_SF_SESSION_ID``: used as is; it cannot be renewed, so an expired one stops
   the run with an authentication error (the sandbox and quick tests use this);
2. ``MQLSYNC_SF_USERNAME`` + ``MQLSYNC_SF_CONSUMER_KEY`` + ``MQLSYNC_SF_JWT_KEY_FILE``: the
   JWT bearer flow of a connected app, the way Salesforce recommends for an unattended
   integration (no password to rotate);
3. ``MQLSYNC_SF_USERNAME`` + ``MQLSYNC_SF_PASSWORD`` (+ ``MQLSYNC_SF_TOKEN``, the security
   token, unless the org trusts the daemon's IP range): a SOAP ``login()``.

With 2 and 3 a session that expires mid-run (``INVALID_SESSION_ID``) is renewed once by
signing in again. Sign-in goes to ``https://<[salesforce] domain>.salesforce.com``
(``login``, ``test`` for a sandbox org, or a My Domain such as ``acme.my``); ``[salesforce]
login_url`` sends it elsewhere — the sandbox, or a test server — by forwarding that address
on the requests session, so simple-salesforce's code runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin

from connector.crm.salesforce.client import TimeoutAdapter, classify
from connector.errors import AuthenticationError, ConfigError

__all__ = ["Credentials", "SignIn", "forward_sign_in"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """The secrets of one way to sign in (values from the environment, never a file)."""

    session_id: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = None
    jwt_key_file: Path | None = None

    @property
    def method(self) -> str:
        """"session", "jwt" or "password": the first way these credentials allow."""
        if self.session_id:
            return "session"
        if self.username and self.consumer_key and self.jwt_key_file:
            return "jwt"
        if self.username and self.password:
            return "password"
        raise ConfigError(
            "no Salesforce credentials: export MQLSYNC_SF_SESSION_ID=<session id>, or "
            "MQLSYNC_SF_USERNAME with MQLSYNC_SF_CONSUMER_KEY and MQLSYNC_SF_JWT_KEY_FILE "
            "(JWT bearer flow), or MQLSYNC_SF_USERNAME, MQLSYNC_SF_PASSWORD and "
            "MQLSYNC_SF_TOKEN (security token)",
            key="MQLSYNC_SF_SESSION_ID",
        )


class _Forward(TimeoutAdapter):
    """Sends requests for one address prefix to another (the sign-in server's stand-in)."""

    def __init__(self, prefix: str, target: str, timeout: float) -> None:
        super().__init__(timeout)
        self.prefix, self.target = prefix, target.rstrip("/") + "/"

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        if url.startswith(self.prefix):
            request.url = self.target + url[len(self.prefix) :]
        return super().send(request, *args, **kwargs)


def forward_sign_in(
    session: requests.Session, domain: str, login_url: str, timeout: float
) -> None:
    """Route ``https://<domain>.salesforce.com/`` (where simple-salesforce signs in) to
    `login_url` on `session`."""
    prefix = f"https://{domain}.salesforce.com/"
    session.mount(prefix, _Forward(prefix, login_url, timeout))


class SignIn:
    """Signs in once at start and again whenever the session is refused."""

    def __init__(
        self,
        credentials: Credentials,
        session: requests.Session,
        *,
        domain: str = "login",
        version: str = "59.0",
    ) -> None:
        self.credentials = credentials
        self.method = credentials.method
        self.session = session
        self.domain = domain
        self.version = version
        self.instance: str | None = None
        """The org's host as the sign-in answered it (``acme.my.salesforce.com``)."""

    @property
    def renewable(self) -> bool:
        """False for a ready session id: nothing to sign in with again."""
        return self.method != "session"

    def session_id(self) -> str:
        """A session id: the given one, or a fresh sign-in."""
        creds = self.credentials
        if self.method == "session":
            assert creds.session_id is not None
            return creds.session_id
        kwargs: Mapping[str, Any]
        if self.method == "jwt":
            kwargs = {
                "username": creds.username,
                "consumer_key": creds.consumer_key,
                "privatekey_file": str(creds.jwt_key_file),
            }
            hint = "MQLSYNC_SF_USERNAME, MQLSYNC_SF_CONSUMER_KEY and the key file"
        else:
            kwargs = {
                "username": creds.username,
                "password": creds.password,
                "security_token": creds.security_token or "",
            }
            hint = "MQLSYNC_SF_USERNAME, MQLSYNC_SF_PASSWORD and MQLSYNC_SF_TOKEN"
        try:
            session_id, instance = SalesforceLogin(
                session=self.session, domain=self.domain, sf_version=self.version, **kwargs
            )
        except SalesforceAuthenticationFailed as exc:
            said = exc.auth_message.rstrip(".")
            raise AuthenticationError(
                f"Salesforce sign-in ({self.method}) failed: {exc.code}: {said}; check {hint}"
            ) from None
        except OSError as exc:
            raise AuthenticationError(
                f"Salesforce sign-in ({self.method}) failed: {classify(exc, 'sign in')}"
            ) from None
        self.instance = str(instance)
        return str(session_id)

    def refresh(self) -> Callable[[], str] | None:
        """What `SalesforceCalls` calls on ``INVALID_SESSION_ID`` (None: cannot renew)."""
        return self.session_id if self.renewable else None
