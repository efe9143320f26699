"""HTTPS request handling of the Salesforce emulator (REST API subset).

Why a stdlib threading server: no extra dependency, one thread per connection (requests'
keep-alive sessions), and full control over status codes and bodies.  Behaviour follows the
REST API Developer Guide: error bodies ``[{"message", "errorCode", "fields"?}]``; ``401
INVALID_SESSION_ID`` ("Session expired or invalid"); the daily pool reported on every response as
``Sforce-Limit-Info: api-usage=N/M`` and exhausted → ``403 REQUEST_LIMIT_EXCEEDED``
("TotalRequests Limit exceeded."); ``limits`` resource; ``sobjects`` describe; sObject Rows
GET/PATCH (204) and create ``POST sobjects/<Type>`` (201 SaveResult); sObject Collections
PATCH/POST ``composite/sobjects`` (≤ 200 records, else 400 ``EXCEEDED_ID_LIMIT``; per-record
SaveResults in request order, see :mod:`.saves`).  URIs longer than 16,384 bytes get 414 like
the real front end.  Sign-in (SOAP ``login()``, OAuth 2.0 token endpoint) answers on
Salesforce's own paths, see :mod:`.login`; Bulk API 2.0 query jobs (``jobs/query``) are in
:mod:`.bulk`.  Fault knobs (connection drops, 5xx,
throttling, per-record ``UNABLE_TO_LOCK_ROW``) come from :mod:`connector.sandbox.faults`;
throttling is answered as Salesforce does, ``403 REQUEST_LIMIT_EXCEEDED``
("ConcurrentPerOrgLongTxn Limit exceeded."), not 429.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import sys
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.sandbox.faults import Faults, PreRequestFault, RequestLog, apply_pre_request
from connector.sandbox.salesforce.bulk import DAILY_QUERY_JOBS, QueryJobs
from connector.sandbox.salesforce.composite import CompositeError, run_composite
from connector.sandbox.salesforce.engine import MAX_BATCH, QueryService
from connector.sandbox.salesforce.errors import HttpError, Raw, not_found
from connector.sandbox.salesforce.login import SignIn
from connector.sandbox.salesforce.saves import Work, save_records
from connector.sandbox.salesforce.schema import (
    OBJECTS_LOWER,
    custom_field,
    describe_global,
    describe_object,
    make_id,
)
from connector.sandbox.salesforce.soql import SoqlError
from connector.sandbox.salesforce.store import SalesforceStore

__all__ = ["API_VERSIONS", "MAX_COLLECTION", "MAX_URI", "OrgState", "WriteCall", "make_server"]

API_VERSIONS = ("59.0", "60.0", "61.0", "62.0")
MAX_COLLECTION = 200
MAX_URI = 16_384
_RELEASES = {"59.0": "Winter '24", "60.0": "Spring '24", "61.0": "Summer '24", "62.0": "Winter '25"}
_VERSIONED = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")
_SOAP_LOGIN = re.compile(r"^/services/Soap/u/(\d+\.\d)/?$")
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class WriteCall:
    """One write request and whether it carried ``Sforce-Auto-Assign: FALSE``."""

    method: str
    path: str
    auto_assign_header: str | None
    records: int

    @property
    def auto_assign(self) -> bool:
        return (self.auto_assign_header or "").strip().upper() not in ("FALSE", "0")


@dataclass
class OrgState:
    """Everything the handler shares: data, auth, the daily pool, faults and logs."""

    store: SalesforceStore
    daily_limit: int
    faults: Faults
    request_log: RequestLog
    auth: SignIn
    queries: QueryService = field(init=False)
    bulk: QueryJobs = field(init=False)
    used: int = 0
    tooling_allowed: bool = True
    """False: the session's user lacks Customize Application, so Tooling API metadata
    writes are refused (``403 INSUFFICIENT_ACCESS_OR_READONLY``) as in an org whose
    integration user has a minimal profile."""
    writes: list[WriteCall] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.queries = QueryService(self.store)
        self.bulk = QueryJobs(self.queries, self.store.clock, make_id("005", 1))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mqlsync-sf-sandbox"
    # TCP_NODELAY: the headers and the body go out as two writes, and with Nagle's
    # algorithm the body waited for the client's delayed ACK of the headers, ~40 ms on
    # every answer on loopback (a latency no real CRM adds; `Faults.latency_ms` is the
    # way to model one).
    disable_nagle_algorithm = True
    org: OrgState  # set on the subclass made by make_server
    _sub: tuple[Any, dict[str, str]] | None = None
    """Body and headers of the composite subrequest being run (None: a plain request)."""
    _counted = False
    """This request already used one call of the daily pool (a composite counts once)."""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record of calls."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing --------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        org = self.org
        url = urlsplit(self.path)
        inputs = 0
        self._sub, self._counted = None, False
        try:
            fault = apply_pre_request(org.faults)
            if fault is PreRequestFault.DROP:
                self._drop(method, url.path, url.query)
                return
            if len(self.path) > MAX_URI:
                raise HttpError(414, "URI_TOO_LONG", "Request-URI Too Long")
            status, body, inputs = self._route(method, url.path, url.query, fault)
        except HttpError as err:
            status, body = err.status, err.body()
        except SoqlError as err:
            status = 400
            body = [{"message": err.render(_query_text(url.query)), "errorCode": err.code}]
        except Exception:  # noqa: BLE001 - an emulator bug must still answer, as Salesforce does
            traceback.print_exc(file=sys.stderr)
            status = 500
            body = [{"errorCode": "UNKNOWN_EXCEPTION",
                     "message": "An unexpected error occurred. Please include this ErrorId if "
                                "you contact support: sandbox"}]  # fmt: skip
        # Logged before the reply: a client that has its answer must find the call counted.
        org.request_log.add(method, url.path, url.query, inputs, status)
        self._send(status, body)

    def _drop(self, method: str, path: str, query: str) -> None:
        self.close_connection = True
        self.org.request_log.add(method, path, query, 0, 0)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, Raw):
            data, content_type, extra = body.data, body.content_type, body.headers
        else:
            data = b"" if body is None else json.dumps(body).encode()
            content_type, extra = "application/json;charset=UTF-8", {}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        with self.org.lock:
            used = self.org.used
        self.send_header("Sforce-Limit-Info", f"api-usage={used}/{self.org.daily_limit}")
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _raw_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _header(self, name: str) -> str | None:
        """A request header, the composite subrequest's own ``httpHeaders`` first."""
        if self._sub is not None:
            for key, value in self._sub[1].items():
                if key.lower() == name.lower():
                    return value
        return self.headers.get(name)

    def _json_body(self) -> Any:
        if self._sub is not None:
            return self._sub[0]
        raw = self._raw_body()
        try:
            return json.loads(raw or b"null")
        except ValueError as err:
            raise HttpError(400, "JSON_PARSER_ERROR", f"Unexpected character: {err}") from None

    def _authorize(self, fault: PreRequestFault | None) -> None:
        """Session check, injected faults, then the daily pool (which this request uses)."""
        org = self.org
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not org.auth.accepts(token.strip()):
            raise HttpError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if fault is PreRequestFault.SERVER_ERROR:
            raise HttpError(
                503, "SERVER_UNAVAILABLE", "Server temporarily unavailable (sandbox fault)"
            )
        if fault is PreRequestFault.THROTTLE:
            raise HttpError(
                403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."
            )
        if self._counted:
            return
        with org.lock:
            if org.used >= org.daily_limit:
                raise HttpError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            org.used += 1
        self._counted = True

    # -- routes ----------------------------------------------------------------------------
    def _route(
        self, method: str, path: str, query: str, fault: PreRequestFault | None
    ) -> tuple[int, Any, int]:
        if path.rstrip("/") == "/services/data" and method == "GET":
            return (
                200,
                [
                    {"label": _RELEASES[v], "url": f"/services/data/v{v}", "version": v}
                    for v in API_VERSIONS
                ],
                0,
            )
        if method == "POST" and (login := self._sign_in(path)) is not None:
            return login
        m = _VERSIONED.match(path)
        if m is None or m.group(1) not in API_VERSIONS:
            raise not_found()
        version = m.group(1)
        parts = [p for p in (m.group(2) or "").split("/") if p]
        self._authorize(fault)
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        head = parts[0] if parts else ""
        if not parts and method == "GET":
            return 200, self._resources(version), 0
        if head == "limits" and method == "GET":
            remaining = max(0, self.org.daily_limit - self.org.used)
            return (
                200,
                {
                    "DailyApiRequests": {"Max": self.org.daily_limit, "Remaining": remaining},
                    "DailyBulkV2QueryJobs": {
                        "Max": DAILY_QUERY_JOBS,
                        "Remaining": self.org.bulk.remaining,
                    },
                },
                0,
            )
        if head in ("query", "queryAll") and method == "GET":
            return 200, self._query(head == "queryAll", parts[1:], params, version), 0
        if head == "sobjects":
            return self._sobjects(method, parts[1:], params, version)
        if parts[:2] == ["jobs", "query"]:  # Bulk API 2.0, see .bulk
            status, body = self.org.bulk.handle(method, parts[2:], params, version, self._json_body)
            return status, body, 0
        if parts == ["composite", "sobjects"] and method in ("PATCH", "POST"):
            return self._collection(method, path)
        if parts == ["composite"] and method == "POST" and self._sub is None:
            return self._composite()
        if parts == ["tooling", "sobjects", "CustomField"] and method == "POST":
            return self._create_custom_field()
        raise not_found()

    def _composite(self) -> tuple[int, Any, int]:
        """``POST composite``: subrequests through these same routes, one daily-pool call.

        A subrequest's error is its own answer (``allOrNone`` false); the composite's
        headers (``Sforce-Auto-Assign`` …) apply to each subrequest unless it sets its own.
        """
        body = self._json_body()
        inputs = 0

        def route(
            method: str, path: str, query: str, sub_body: Any, headers: dict[str, str]
        ) -> tuple[int, Any]:
            nonlocal inputs
            self._sub = (sub_body, headers)
            try:
                status, out, n = self._route(method, path, query, None)
            except HttpError as err:
                return err.status, err.body()
            except SoqlError as err:
                return 400, [{"message": err.render(_query_text(query)), "errorCode": err.code}]
            finally:
                self._sub = None
            inputs += n
            return status, out

        try:
            answer = run_composite(body, route)
        except CompositeError as err:
            raise HttpError(400, err.code, err.message) from None
        return 200, answer, inputs

    def _sign_in(self, path: str) -> tuple[int, Any, int] | None:
        """SOAP ``login()`` and the OAuth 2.0 token endpoint (see :mod:`.login`); None when
        ``path`` is neither.  Bodies are read only for these paths."""
        auth = self.org.auth
        if (m := _SOAP_LOGIN.match(path)) is not None:
            status, xml = auth.soap_login(m.group(1), self._raw_body())
            return status, Raw(xml.encode(), "text/xml;charset=UTF-8"), 0
        if path.rstrip("/") == "/services/oauth2/token":
            form = parse_qs(self._raw_body().decode("utf-8", "replace"), keep_blank_values=True)
            status, body = auth.oauth_token({k: v[-1] for k, v in form.items()})
            return status, body, 0
        return None

    def _create_custom_field(self) -> tuple[int, Any, int]:
        """Tooling API ``POST tooling/sobjects/CustomField`` (``FullName`` ``Object.Field__c``).

        Followed: Tooling API reference, *CustomField* (REST POST; ``Metadata`` with ``type``,
        ``label``, ``length``, ``precision``, ``scale``, ``valueSet`` for a Picklist).  An
        existing name → ``DUPLICATE_DEVELOPER_NAME``; without Customize Application (the
        ``tooling_allowed`` knob) → 403 ``INSUFFICIENT_ACCESS_OR_READONLY``.  Field-level
        security is not modelled: a created field is immediately readable and writable
        through the API.
        """
        body = self._json_body()
        if not self.org.tooling_allowed:
            raise HttpError(
                403, "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id: the user needs the "
                "Customize Application permission",
            )  # fmt: skip
        if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
            raise HttpError(400, "JSON_PARSER_ERROR", "Expected FullName and Metadata")
        obj_name, _, field_name = str(body.get("FullName") or "").partition(".")
        static = OBJECTS_LOWER.get(obj_name.lower())
        if static is None or not field_name:
            raise HttpError(400, "INVALID_FIELD", f"Invalid FullName: {body.get('FullName')}")
        try:
            fdef = custom_field(field_name, body["Metadata"])
        except (ValueError, TypeError) as err:
            raise HttpError(400, "FIELD_INTEGRITY_EXCEPTION", str(err), []) from None
        store = self.org.store
        with store.lock:
            table = store.tables[static.name]
            if table.obj.field(field_name) is not None:
                raise HttpError(
                    400, "DUPLICATE_DEVELOPER_NAME",
                    f"There is already a field named {field_name[:-3]} on {static.name}.", [],
                )  # fmt: skip
            table.add_field(fdef)
            store.custom_field_serial += 1
            new_id = make_id("00N", store.custom_field_serial)
        return 201, {"id": new_id, "success": True, "errors": [], "warnings": [], "infos": []}, 1

    def _resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        return {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "limits", "composite")}

    def _query(
        self, include_deleted: bool, rest: list[str], params: dict[str, str], version: str
    ) -> dict[str, Any]:
        queries = self.org.queries
        if rest:
            return queries.more(rest[0], version=version)
        soql = params.get("q")
        if soql is None:
            raise HttpError(400, "MALFORMED_QUERY", "A query string has to be specified")
        batch = MAX_BATCH
        options = self._header("Sforce-Query-Options") or ""
        if (bm := _BATCH.search(options)) is not None:
            batch = int(bm.group(1))
        return queries.query(soql, version=version, include_deleted=include_deleted, batch=batch)

    def _sobjects(
        self, method: str, rest: list[str], params: dict[str, str], version: str
    ) -> tuple[int, Any, int]:
        if not rest:
            if method != "GET":
                raise not_found()
            return 200, describe_global(version), 0
        static = OBJECTS_LOWER.get(rest[0].lower())
        if static is None:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        obj = self.org.store.tables[static.name].obj  # this org's fields (provisioning adds)
        if len(rest) == 1 and method == "POST":
            return self._save_one(obj.name, None)
        if len(rest) == 1 and method == "GET":
            summary = describe_object(obj, version)
            summary.pop("fields")
            return 200, {"objectDescribe": summary, "recentItems": []}, 0
        if rest[1:] == ["describe"] and method == "GET":
            return 200, describe_object(obj, version), 0
        if len(rest) != 2:
            raise not_found()
        record_id = rest[1]
        if method == "GET":
            wanted = params.get("fields")
            names = (
                [f.strip() for f in wanted.split(",")] if wanted else [f.name for f in obj.fields]
            )
            if not re.fullmatch(r"[A-Za-z0-9]{15,18}", record_id):
                raise not_found()
            if not all(re.fullmatch(r"[A-Za-z0-9_.]+", n) for n in names):
                raise HttpError(400, "INVALID_FIELD", f"No such column '{wanted}'")
            # names and id are validated above, so this text is plain SOQL, not an injection
            soql = f"SELECT {', '.join(names)} FROM {obj.name} WHERE Id = '{record_id}'"  # noqa: S608
            result = self.org.queries.query(soql, version=version, include_deleted=False)
            if not result["records"]:
                raise not_found()
            return 200, result["records"][0], 0
        if method == "PATCH":
            return self._save_one(obj.name, record_id)
        raise HttpError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed.")

    def _save_one(self, sobject: str, record_id: str | None) -> tuple[int, Any, int]:
        """sObject Rows: create (``POST``, 201 with a SaveResult) when ``record_id`` is None,
        else update (``PATCH``, 204); a failed save is a 400 error body, an unknown id 404."""
        body = self._json_body()
        if not isinstance(body, dict):
            raise HttpError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        create = record_id is None
        self._record_write("POST" if create else "PATCH", urlsplit(self.path).path, 1)
        values = {k: v for k, v in body.items() if k != "attributes"}
        if create:  # an Id in a create body is refused, as a collection's would be
            record_id = values.pop("Id", values.pop("id", None))
        result = self._save([(sobject, record_id, values)], create=create, all_or_none=True)[0]
        if result["errors"]:
            err = result["errors"][0]
            if err["statusCode"] == "INVALID_CROSS_REFERENCE_KEY" and not create:
                raise not_found()
            raise HttpError(400, err["statusCode"], err["message"], err["fields"])
        return (201, result, 1) if create else (204, None, 1)

    def _collection(self, method: str, path: str) -> tuple[int, Any, int]:
        """sObject Collections: ``POST`` creates, ``PATCH`` updates, ≤ 200 records."""
        body = self._json_body()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise HttpError(400, "JSON_PARSER_ERROR", "Expected a JSON object with records")
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            raise HttpError(
                400, "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records into "
                "this call",
            )  # fmt: skip
        work: list[Work] = []
        for rec in records:
            if not isinstance(rec, dict):
                raise HttpError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
            attrs = rec.get("attributes")
            sobject = attrs.get("type") if isinstance(attrs, dict) else None
            values = {k: v for k, v in rec.items() if k not in ("attributes", "id", "Id")}
            work.append((sobject if isinstance(sobject, str) else None,
                         rec.get("id", rec.get("Id")), values))  # fmt: skip
        self._record_write(method, path, len(records))
        all_or_none = bool(body.get("allOrNone", False))
        results = self._save(work, create=method == "POST", all_or_none=all_or_none)
        return 200, results, len(records)

    def _record_write(self, method: str, path: str, n: int) -> None:
        call = WriteCall(method, path, self._header("Sforce-Auto-Assign"), n)
        with self.org.lock:
            self.org.writes.append(call)

    def _save(self, work: list[Work], *, create: bool, all_or_none: bool) -> list[dict[str, Any]]:
        auto_assign = (self._header("Sforce-Auto-Assign") or "").strip().upper() != "FALSE"
        return save_records(
            self.org.store, self.org.faults, work,
            create=create, all_or_none=all_or_none, auto_assign=auto_assign,
        )  # fmt: skip


def _query_text(query: str) -> str:
    return parse_qs(query).get("q", [""])[-1]


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        """Wrap each accepted socket; the handshake runs in the connection's own thread."""
        sock, addr = self.socket.accept()
        return self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that drop mid-handshake are normal here; keep stderr quiet."""


def make_server(
    org: OrgState, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    handler = type("SalesforceHandler", (_Handler,), {"org": org})
    server = _TlsServer((host, port), handler)
    server.ssl_context = context
    return server
