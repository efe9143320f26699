"""Sign-in of the Salesforce emulator: SOAP ``login()`` and the OAuth 2.0 token endpoint.

Why: an adapter that signs in with a username, password and security token, or with a JWT
signed by its connected app's key, must run simple-salesforce's real ``SalesforceLogin`` code
path, and must see the answers Salesforce gives when credentials are wrong or a session has
expired (``401 INVALID_SESSION_ID`` → sign in again).

Followed:

- SOAP API Developer Guide, *login()* and *LoginResult*: ``POST /services/Soap/u/<version>``
  with the partner ``login`` (password and security token concatenated) answers
  ``loginResponse/result`` with ``sessionId``, ``serverUrl``
  (``<instance>/services/Soap/u/<version>/<org id>``), ``metadataServerUrl``, ``userId``;
  bad credentials answer HTTP 500 with the fault ``sf:INVALID_LOGIN`` ("Invalid username,
  password, security token; or user locked out.") in a ``sf:LoginFault`` detail.
- Salesforce Help, *OAuth 2.0 Username-Password Flow* and *OAuth 2.0 JWT Bearer Flow for
  Server-to-Server Integration*, with *OAuth 2.0 Authorization Errors*: ``POST
  /services/oauth2/token`` (form-encoded) answers ``access_token``, ``instance_url``, ``id``,
  ``token_type: Bearer``, ``issued_at`` (and ``signature``, the Base64 HMAC-SHA256 of ``id`` and
  ``issued_at`` keyed by the consumer secret, for the password flow); errors are 400
  ``{"error", "error_description"}``: unknown consumer key → ``invalid_client_id`` "client
  identifier invalid", wrong secret → ``invalid_client`` "invalid client credentials", wrong
  user or password → ``invalid_grant`` "authentication failure"; for a JWT (RS256, verified
  against the certificate registered on the connected app) a bad signature → ``invalid_grant``
  "invalid assertion", ``aud`` other than ``https://login.salesforce.com`` /
  ``https://test.salesforce.com`` → "audience is invalid", ``exp`` passed → "expired
  authorization code", an unknown ``sub`` → "user hasn't approved this consumer".

Sign-in requests do not use the daily API pool.  Every successful sign-in issues a new session
id; :meth:`SignIn.expire` ends them all (the fixed session id given to the sandbox stays
valid unless asked), so a client's re-login path can be exercised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from connector.sandbox.salesforce.schema import make_id

__all__ = [
    "DEFAULT_APP",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "ORG_ID",
    "ConnectedApp",
    "SignIn",
]

ORG_ID = make_id("00D", 1)
DEFAULT_USERNAME = "integration@sandbox.mqlsync"
DEFAULT_PASSWORD = "sandbox-password"  # noqa: S105 - a documented test credential
DEFAULT_TOKEN = "sandboxSecurityToken"  # noqa: S105 - a documented test credential
_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_PARTNER = "{urn:partner.soap.sforce.com}"
_INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


class ConnectedApp(NamedTuple):
    """A connected app: consumer key and secret, and the PEM certificate (or bare public
    key) registered for the JWT bearer flow, None when the app has none."""

    consumer_key: str
    consumer_secret: str
    certificate: str | None = None


DEFAULT_APP = ConnectedApp("3MVG9sandbox.mqlsync.consumer", "sandbox-consumer-secret")


@dataclass(frozen=True, slots=True)
class _User:
    user_id: str
    password: str
    token: str


class _OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def _public_key(pem: str) -> RSAPublicKey:
    data = pem.encode()
    key = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"BEGIN CERTIFICATE" in data
        else load_pem_public_key(data)
    )
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the connected app's certificate must hold an RSA key (RS256)")
    return key


class SignIn:
    """Users, the connected app and the sessions they were issued; thread-safe."""

    def __init__(
        self,
        fixed_session: str,
        users: Mapping[str, tuple[str, str]],
        app: ConnectedApp,
    ) -> None:
        self.fixed_session = fixed_session
        self.fixed_valid = True
        self.users = {
            name: _User(make_id("005", n), password, token)
            for n, (name, (password, token)) in enumerate(users.items(), start=1)
        }
        self.app = app
        self._key = _public_key(app.certificate) if app.certificate else None
        self.base_url = ""  # the instance URL, known once the server listens
        self._sessions: dict[str, str] = {}  # session id → username
        self._lock = threading.Lock()

    # -- sessions --------------------------------------------------------------------------
    def accepts(self, session_id: str) -> bool:
        with self._lock:
            if session_id == self.fixed_session:
                return self.fixed_valid
            return session_id in self._sessions

    def expire(self, *, fixed: bool = False) -> int:
        """End every session a sign-in issued (as a timeout or a logout would), and the fixed
        one too when ``fixed``; return how many ended."""
        with self._lock:
            n = len(self._sessions) + int(fixed and self.fixed_valid)
            self._sessions.clear()
            self.fixed_valid = self.fixed_valid and not fixed
        return n

    def _issue(self, username: str) -> str:
        session_id = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions[session_id] = username
        return session_id

    # -- SOAP ------------------------------------------------------------------------------
    def soap_login(self, version: str, body: bytes) -> tuple[int, str]:
        """Answer a partner ``login`` envelope: (HTTP status, SOAP XML)."""
        try:
            root = ET.fromstring(body)  # noqa: S314 - loopback emulator; expat expands no external entities
        except ET.ParseError as err:
            return 500, _fault("soapenv:Client", f"Unable to parse the request: {err}", None)
        login = root.find(f".//{_PARTNER}login")
        if login is None:
            return 500, _fault("soapenv:Client", "No operation available for request", None)
        username = (login.findtext(f"{_PARTNER}username") or "").strip()
        secret = login.findtext(f"{_PARTNER}password") or ""
        user = self.users.get(username)
        if user is None or secret != user.password + user.token:
            return 500, _fault("sf:INVALID_LOGIN", _INVALID_LOGIN, "INVALID_LOGIN")
        session_id = self._issue(username)
        base, org15 = self.base_url, ORG_ID[:15]
        result = (
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl>"
            f"<sessionId>{session_id}</sessionId><userId>{user.user_id}</userId>"
            f"<userInfo><organizationId>{ORG_ID}</organizationId>"
            f"<userName>{escape(username)}</userName><userId>{user.user_id}</userId>"
            "<sessionSecondsValid>7200</sessionSecondsValid></userInfo>"
        )
        return 200, _envelope(
            'xmlns="urn:partner.soap.sforce.com"',
            f"<loginResponse><result>{result}</result></loginResponse>",
        )

    # -- OAuth 2.0 -------------------------------------------------------------------------
    def oauth_token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer ``POST /services/oauth2/token``: (HTTP status, JSON body)."""
        grant = form.get("grant_type", "")
        try:
            if grant == "password":
                username = self._password_grant(form)
            elif grant == _JWT_GRANT:
                username = self._jwt_grant(form.get("assertion", ""))
            else:
                raise _OAuthError("unsupported_grant_type", "grant type not supported")
        except _OAuthError as err:
            return 400, {"error": err.error, "error_description": err.description}
        user = self.users[username]
        issued_at = str(int(time.time() * 1000))
        identity = f"https://login.salesforce.com/id/{ORG_ID}/{user.user_id}"
        body: dict[str, Any] = {
            "access_token": self._issue(username),
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "scope": "api",
        }
        if grant == "password":
            mac = hmac.new(
                self.app.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
            )
            body["signature"] = base64.b64encode(mac.digest()).decode()
        return 200, body

    def _password_grant(self, form: Mapping[str, str]) -> str:
        if form.get("client_id") != self.app.consumer_key:
            raise _OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", ""), self.app.consumer_secret):
            raise _OAuthError("invalid_client", "invalid client credentials")
        username = form.get("username", "")
        user = self.users.get(username)
        if user is None or form.get("password") != user.password + user.token:
            raise _OAuthError("invalid_grant", "authentication failure")
        return username

    def _jwt_grant(self, assertion: str) -> str:
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.app.consumer_key:
            raise _OAuthError("invalid_client_id", "client identifier invalid")
        if self._key is None:
            raise _OAuthError("invalid_grant", "invalid assertion")
        try:
            jwt.decode(
                assertion,
                self._key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False,
                         "verify_nbf": False},
            )  # fmt: skip
        except jwt.PyJWTError:
            raise _OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("aud") not in _AUDIENCES:
            raise _OAuthError("invalid_grant", "audience is invalid")
        try:
            expires = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise _OAuthError("invalid_grant", "invalid assertion") from None
        if expires <= time.time():
            raise _OAuthError("invalid_grant", "expired authorization code")
        username = str(claims.get("sub") or "")
        if username not in self.users:
            raise _OAuthError("invalid_grant", "user hasn't approved this consumer")
        return username


def _envelope(namespaces: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'{namespaces} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )


def _fault(code: str, message: str, exception_code: str | None) -> str:
    detail = ""
    if exception_code is not None:
        detail = (
            '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
            f"<sf:exceptionCode>{exception_code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
            "</sf:LoginFault></detail>"
        )
        message = f"{exception_code}: {message}"
    return _envelope(
        'xmlns:sf="urn:fault.partner.soap.sforce.com"',
        f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}"
        f"</faultstring>{detail}</soapenv:Fault>",
    )
