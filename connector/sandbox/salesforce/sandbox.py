"""``SalesforceSandbox``: a loopback HTTPS Salesforce org filled with synthetic persons.

Why HTTPS with a throwaway CA: simple-salesforce always connects to ``https://host:port`` and
must run its real code path (no monkeypatching).  Trust it with::

    session = requests.Session()
    session.verify = sb.ca_path
    session.trust_env = False   # else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override verify
    sf = Salesforce(instance_url=sb.instance_url, session_id=sb.session_id, session=session)

or, for tools that build their own session, ``REQUESTS_CA_BUNDLE=sb.bundle_path`` (system CAs
plus the sandbox CA).  :meth:`SalesforceSandbox.client` does the former.

Signing in instead of using the fixed session id: :meth:`SalesforceSandbox.session` also routes
``https://login.salesforce.com/`` and ``https://test.salesforce.com/`` to the sandbox, so::

    session_id, instance = SalesforceLogin(
        username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, security_token=DEFAULT_TOKEN,
        session=sb.session(),
    )
"""

from __future__ import annotations

import gc
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import requests
from simple_salesforce.api import Salesforce

from connector.sandbox.faults import Faults, RequestLog
from connector.sandbox.salesforce.bulk import QueryJobs
from connector.sandbox.salesforce.login import (
    DEFAULT_APP,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    ORG_ID,
    ConnectedApp,
    SignIn,
)
from connector.sandbox.salesforce.populate import populate
from connector.sandbox.salesforce.routing import route_login
from connector.sandbox.salesforce.server import OrgState, WriteCall, make_server
from connector.sandbox.salesforce.store import Clock, SalesforceStore
from connector.sandbox.salesforce.tls import TlsMaterial, make_tls
from connector.sandbox.synthetic import generate_people

__all__ = ["SalesforceSandbox"]


class SalesforceSandbox:
    """Context manager serving the emulated org on ``instance_url`` until :meth:`stop`."""

    def __init__(
        self,
        *,
        contacts: int = 1000,
        seed: int = 7,
        session_id: str | None = None,
        daily_limit: int = 100_000,
        faults: Faults | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        now: datetime | None = None,
        provisioned: bool = True,
        tooling_allowed: bool = True,
        users: Mapping[str, tuple[str, str]] | None = None,
        connected_app: ConnectedApp = DEFAULT_APP,
    ) -> None:
        """``provisioned=False``: the MQLSync_* custom fields do not exist until created
        through the Tooling API (``POST tooling/sobjects/CustomField``), to test provisioning.
        ``tooling_allowed=False``: that API refuses the user (no Customize Application);
        toggle later with :attr:`tooling_allowed`.  ``users``: username → (password, security
        token) accepted by sign-in (default: ``DEFAULT_USERNAME`` with ``DEFAULT_PASSWORD`` and
        ``DEFAULT_TOKEN``); ``connected_app``: consumer key, secret and the PEM certificate or
        public key the JWT bearer flow verifies against (the default app has none).
        """
        self.contacts, self.seed, self.now = contacts, seed, now
        self.host, self.port = host, port
        self.session_id = session_id or f"{ORG_ID[:15]}!" + secrets.token_urlsafe(24)
        self.faults = faults or Faults()
        self.request_log = RequestLog()
        self.store = SalesforceStore(Clock(now), provisioned=provisioned)
        self.auth = SignIn(
            self.session_id,
            users or {DEFAULT_USERNAME: (DEFAULT_PASSWORD, DEFAULT_TOKEN)},
            connected_app,
        )
        self.org = OrgState(self.store, daily_limit, self.faults, self.request_log, self.auth)
        self.org.tooling_allowed = tooling_allowed
        self._tls: TlsMaterial | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.instance_url = ""
        self.ca_path = ""
        self.bundle_path = ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SalesforceSandbox:
        """Load the data, create the certificates and serve in a daemon thread."""
        if self._server is not None:
            return self
        gc_was_enabled = gc.isenabled()
        gc.disable()  # bulk load: only acyclic rows are made; the cyclic GC would rescan them
        try:
            populate(self.store, generate_people(self.contacts, seed=self.seed, now=self.now))
        finally:
            if gc_was_enabled:
                gc.enable()
        self._tls = make_tls()
        self.ca_path, self.bundle_path = self._tls.ca_path, self._tls.bundle_path
        self._server = make_server(self.org, self._tls.context, self.host, self.port)
        self.port = self._server.server_address[1]
        self.instance_url = f"https://{self.host}:{self.port}"
        self.auth.base_url = self.instance_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sf-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the temp directory holding the certificates."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tls is not None:
            self._tls.remove()
            self._tls = None

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- conveniences ----------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.store.clock

    @property
    def writes(self) -> list[WriteCall]:
        """Write requests with their ``Sforce-Auto-Assign`` header (copy)."""
        with self.org.lock:
            return list(self.org.writes)

    @property
    def tooling_allowed(self) -> bool:
        return self.org.tooling_allowed

    @tooling_allowed.setter
    def tooling_allowed(self, allowed: bool) -> None:
        self.org.tooling_allowed = allowed

    @property
    def bulk(self) -> QueryJobs:
        """Bulk API 2.0 query jobs; ``sb.bulk.in_progress_polls = n`` makes each new job
        answer ``InProgress`` to its first n status polls."""
        return self.org.bulk

    @property
    def api_used(self) -> int:
        with self.org.lock:
            return self.org.used

    def set_api_used(self, used: int) -> None:
        """Move the daily pool counter (tests exhaust it without thousands of calls)."""
        with self.org.lock:
            self.org.used = used

    def expire_sessions(self, *, fixed: bool = False) -> int:
        """End every session issued by a sign-in, and the fixed :attr:`session_id` too when
        ``fixed`` (for good): their next REST call gets ``401 INVALID_SESSION_ID``.  Returns
        how many ended."""
        return self.auth.expire(fixed=fixed)

    def session(self) -> requests.Session:
        """A requests session trusting only the sandbox CA, immune to CA env variables, with
        Salesforce's login hosts routed to the sandbox."""
        s = requests.Session()
        s.verify = self.ca_path
        s.trust_env = False
        return route_login(s, self.instance_url)

    def client(self, *, session_id: str | None = None, version: str = "59.0") -> Salesforce:
        """The official client pointed at this sandbox."""
        return Salesforce(
            instance_url=self.instance_url,
            session_id=session_id or self.session_id,
            session=self.session(),
            version=version,
        )
