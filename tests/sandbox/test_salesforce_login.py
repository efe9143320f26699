"""Sign-in against the Salesforce sandbox through simple-salesforce's own SalesforceLogin."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.login import (
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    ConnectedApp,
)

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
PUBLIC_PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
APP = ConnectedApp("3MVG9test.consumer", "test-secret", PUBLIC_PEM)
USERS = {DEFAULT_USERNAME: (DEFAULT_PASSWORD, DEFAULT_TOKEN), "ops@sandbox.mqlsync": ("pw", "TOK")}


@pytest.fixture(scope="module")
def sb():
    with SalesforceSandbox(contacts=20, users=USERS, connected_app=APP) as sandbox:
        yield sandbox


def test_soap_login_issues_a_session_the_rest_api_accepts(sb):
    session = sb.session()
    session_id, instance = SalesforceLogin(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_TOKEN,
        session=session,
    )
    assert instance == f"127.0.0.1:{sb.port}"
    assert session_id != sb.session_id and session_id.startswith("00D")
    sf = Salesforce(instance_url=sb.instance_url, session_id=session_id, session=session)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    assert sb.client().query("SELECT COUNT() FROM Lead")["totalSize"] > 0  # fixed id still valid


def test_soap_login_by_test_domain_and_scratch_url(sb):
    _, instance = SalesforceLogin(
        username="ops@sandbox.mqlsync",
        password="pw",
        security_token="TOK",
        session=sb.session(),
        domain="test",
    )
    assert instance == f"127.0.0.1:{sb.port}"
    session_id, _ = SalesforceLogin(
        username="ops@sandbox.mqlsync",
        password="pw",
        security_token="TOK",
        session=sb.session(),
        scratch_url=sb.instance_url,
    )
    assert sb.auth.accepts(session_id)


@pytest.mark.parametrize(("password", "token"), [("wrong", DEFAULT_TOKEN), (DEFAULT_PASSWORD, "")])
def test_soap_bad_credentials_answer_invalid_login(sb, password, token):
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        SalesforceLogin(
            username=DEFAULT_USERNAME,
            password=password,
            security_token=token,
            session=sb.session(),
        )
    assert info.value.code == "INVALID_LOGIN"
    assert (
        "Invalid username, password, security token; or user locked out." in info.value.auth_message
    )


def test_soap_fault_is_http_500_xml(sb):
    resp = sb.session().post(
        sb.instance_url + "/services/Soap/u/59.0",
        data="<x:Envelope xmlns:x='http://schemas.xmlsoap.org/soap/envelope/'><x:Body>"
        "<login xmlns='urn:partner.soap.sforce.com'><username>nobody</username>"
        "<password>x</password></login></x:Body></x:Envelope>",
        headers={"Content-Type": "text/xml", "SOAPAction": "login"},
    )
    assert resp.status_code == 500
    assert resp.headers["Content-Type"].startswith("text/xml")
    assert "<faultcode>sf:INVALID_LOGIN</faultcode>" in resp.text


def test_oauth_password_flow(sb):
    session_id, instance = SalesforceLogin(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD + DEFAULT_TOKEN,
        consumer_key=APP.consumer_key,
        consumer_secret=APP.consumer_secret,
        session=sb.session(),
    )
    assert instance == f"127.0.0.1:{sb.port}" and sb.auth.accepts(session_id)
    body = (
        sb.session()
        .post(
            "https://login.salesforce.com/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": APP.consumer_key,
                "client_secret": APP.consumer_secret,
                "username": DEFAULT_USERNAME,
                "password": DEFAULT_PASSWORD + DEFAULT_TOKEN,
            },
        )
        .json()
    )
    assert body["token_type"] == "Bearer" and body["instance_url"] == sb.instance_url
    assert {"access_token", "id", "issued_at", "signature"} <= body.keys()


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({"client_id": "nope"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "nope"}, "invalid_client", "invalid client credentials"),
        ({"password": DEFAULT_PASSWORD}, "invalid_grant", "authentication failure"),
        ({"grant_type": "magic"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
def test_oauth_password_flow_errors(sb, change, error, description):
    form = {"grant_type": "password", "client_id": APP.consumer_key,
            "client_secret": APP.consumer_secret, "username": DEFAULT_USERNAME,
            "password": DEFAULT_PASSWORD + DEFAULT_TOKEN, **change}  # fmt: skip
    resp = sb.session().post("https://login.salesforce.com/services/oauth2/token", data=form)
    assert resp.status_code == 400
    assert resp.json() == {"error": error, "error_description": description}


def test_jwt_bearer_flow(sb):
    session_id, instance = SalesforceLogin(
        username="ops@sandbox.mqlsync",
        consumer_key=APP.consumer_key,
        privatekey=PRIVATE_PEM,
        session=sb.session(),
    )
    assert instance == f"127.0.0.1:{sb.port}" and sb.auth.accepts(session_id)


def _assertion(key=KEY, **claims) -> str:
    payload = {
        "iss": APP.consumer_key,
        "sub": DEFAULT_USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("assertion", "error", "description"),
    [
        (lambda: _assertion(iss="other"), "invalid_client_id", "client identifier invalid"),
        (lambda: _assertion(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
         "invalid_grant", "invalid assertion"),
        (lambda: "not.a.jwt", "invalid_grant", "invalid assertion"),
        (lambda: _assertion(aud="https://evil.example"), "invalid_grant", "audience is invalid"),
        (lambda: _assertion(exp=int(time.time()) - 5), "invalid_grant",
         "expired authorization code"),
        (lambda: _assertion(sub="ghost@example.com"), "invalid_grant",
         "user hasn't approved this consumer"),
    ],
)  # fmt: skip
def test_jwt_errors(sb, assertion, error, description):
    resp = sb.session().post(
        "https://login.salesforce.com/services/oauth2/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion(),
        },
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": error, "error_description": description}


def test_jwt_needs_a_registered_certificate():
    # the default connected app has no certificate
    with (
        SalesforceSandbox(contacts=1) as plain,
        pytest.raises(SalesforceAuthenticationFailed) as info,
    ):
        SalesforceLogin(
            username=DEFAULT_USERNAME,
            consumer_key=plain.auth.app.consumer_key,
            privatekey=PRIVATE_PEM,
            session=plain.session(),
        )
    assert info.value.code == "invalid_grant"


def test_expired_session_makes_the_client_sign_in_again(sb):
    sf = Salesforce(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_TOKEN,
        session=sb.session(),
    )
    first = sf.session_id
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    assert sb.expire_sessions() >= 1
    assert not sb.auth.accepts(first) and sb.auth.accepts(sb.session_id)
    before = sb.request_log.count("POST", "/services/Soap/u/")
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0  # 401 → login → retry
    assert sf.session_id != first
    assert sb.request_log.count("POST", "/services/Soap/u/") == before + 1


def test_expired_session_without_credentials_raises(sb):
    session_id, _ = SalesforceLogin(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_TOKEN,
        session=sb.session(),
    )
    sb.expire_sessions()
    sf = Salesforce(instance_url=sb.instance_url, session_id=session_id, session=sb.session())
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Lead")


def test_sign_in_does_not_use_the_daily_pool(sb):
    used = sb.api_used
    SalesforceLogin(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_TOKEN,
        session=sb.session(),
    )
    assert sb.api_used == used


def test_the_fixed_session_can_be_expired_too():
    with SalesforceSandbox(contacts=1) as plain:
        sf = plain.client()
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] >= 0
        assert plain.expire_sessions(fixed=True) == 1
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT COUNT() FROM Lead")
