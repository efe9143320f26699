"""Bulk API 2.0 query jobs of the Salesforce emulator.

Why: extracting a large org page by page through REST ``query`` costs one API call per 2,000
records; Bulk API 2.0 returns the same rows as CSV in sets of up to ``maxRecords`` and is what
an adapter should use for a full backfill.  The SOQL runs on the same engine as REST queries.

Followed: Bulk API 2.0 Developer Guide, *Query Jobs* (*Create a Query Job*, *Get Information
About a Query Job*, *Get Results for a Query Job*, *Abort a Query Job*, *Delete a Query Job*,
*Get Information About All Query Jobs*) and *Understanding Bulk API 2.0 Query*:

- ``POST jobs/query`` ``{"operation": "query"|"queryAll", "query", "columnDelimiter"?,
  "lineEnding"?}`` → 200 job info (``id``, ``operation``, ``object``, ``createdById``,
  ``createdDate``, ``systemModstamp``, ``state: UploadComplete``, ``concurrencyMode``,
  ``contentType: CSV``, ``apiVersion``, ``lineEnding``, ``columnDelimiter``).  SOQL Bulk API
  2.0 does not support (aggregate functions such as ``COUNT()``, ``OFFSET``) and SOQL errors are
  refused when the job is created, 400 ``INVALIDJOB`` with the query error's message.
- ``GET jobs/query/<id>`` → job info plus ``jobType: V2Query``, ``numberRecordsProcessed``,
  ``retries``, ``totalProcessingTime``; the state goes ``UploadComplete`` → ``InProgress`` (for
  :attr:`QueryJobs.in_progress_polls` polls, 0 by default) → ``JobComplete``.
- ``GET jobs/query/<id>/results?maxRecords=N&locator=L`` → CSV (RFC 4180, every value quoted, a
  header row of field names, ``Relationship.Field`` for parent fields, null as an empty value,
  dateTimes ``2026-10-30T12:00:00.000Z``, booleans ``true``/``false``) with headers
  ``Sforce-NumberOfRecords`` and ``Sforce-Locator`` (the next set's locator, the string
  ``null`` after the last set); a locator can be read again while the job exists; results of a
  job not ``JobComplete`` → 400 ``INVALIDJOBSTATE``; asked with another API version than the
  job's → 409.  Without ``maxRecords`` a set holds at most 50,000 records (the emulator's
  stand-in for the size-based split).
- ``PATCH jobs/query/<id>`` ``{"state": "Aborted"}`` → job info; ``DELETE`` → 204; unknown id →
  404 ``NOT_FOUND``.  Every job created counts against ``DailyBulkV2QueryJobs`` in ``limits``.

The rows are selected when the job is created (the job's snapshot of ids); field values are
read when a result set is fetched.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.salesforce.engine import Extract, QueryService
from connector.sandbox.salesforce.errors import HttpError, Raw, not_found
from connector.sandbox.salesforce.schema import FieldDef, make_id
from connector.sandbox.salesforce.soql import Count, SoqlError, parse
from connector.sandbox.salesforce.store import Clock, ms_to_sf

__all__ = ["DAILY_QUERY_JOBS", "QueryJobs"]

DAILY_QUERY_JOBS = 10_000
DEFAULT_SET = 50_000
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
               "BACKQUOTE": "`"}  # fmt: skip
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_FINAL = ("JobComplete", "Failed", "Aborted")


@dataclass(slots=True)
class _Job:
    info: dict[str, Any]
    extract: Extract
    polls_left: int


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise HttpError(400, "API_ERROR", f"Invalid locator: {locator}")
    return int(text)


def _csv_value(f: FieldDef, v: Any) -> Any:
    if v is None:
        return ""
    if f.type == "boolean":
        return "true" if v else "false"
    if f.type == "datetime":
        return ms_to_sf(v).replace("+0000", "Z")
    return v


class QueryJobs:
    """The org's query jobs; thread-safe."""

    def __init__(self, queries: QueryService, clock: Clock, user_id: str) -> None:
        self.queries, self.clock, self.user_id = queries, clock, user_id
        self.in_progress_polls = 0
        self.created = 0
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        """``DailyBulkV2QueryJobs.Remaining`` of ``limits``."""
        with self._lock:
            return max(0, DAILY_QUERY_JOBS - self.created)

    def handle(
        self,
        method: str,
        rest: list[str],
        params: dict[str, str],
        version: str,
        body: Callable[[], Any],
    ) -> tuple[int, Any]:
        """Route ``jobs/query[/<id>[/results]]`` (``rest`` = the parts after ``jobs/query``)."""
        if not rest and method == "POST":
            return 200, self.create(body(), version)
        if not rest and method == "GET":
            with self._lock:
                records = [dict(job.info) for job in self._jobs.values()]
            return 200, {"done": True, "records": records, "nextRecordsUrl": None}
        if len(rest) == 1 and method == "GET":
            return 200, self.info(rest[0])
        if len(rest) == 1 and method == "PATCH":
            return 200, self.abort(rest[0], body())
        if len(rest) == 1 and method == "DELETE":
            with self._lock:
                if self._jobs.pop(rest[0], None) is None:
                    raise not_found()
            return 204, None
        if rest[1:] == ["results"] and method == "GET":
            return 200, self.results(rest[0], version, params)
        raise not_found()

    def create(self, body: Any, version: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise HttpError(400, "API_ERROR", "A query job needs 'operation' and 'query'")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise HttpError(400, "API_ERROR", f"Invalid operation for a query job: {operation}")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in _DELIMITERS or line_ending not in _LINE_ENDINGS:
            raise HttpError(400, "API_ERROR", "Invalid columnDelimiter or lineEnding")
        try:
            q = parse(body["query"])
            if any(isinstance(item, Count) for item in q.select):
                raise SoqlError("INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0")
            if q.offset is not None:
                raise SoqlError("INVALIDJOB", "OFFSET is not supported by Bulk API 2.0")
            extract = self.queries.extract(q, include_deleted=operation == "queryAll")
        except SoqlError as err:
            raise HttpError(400, "INVALIDJOB", err.render(body["query"]).strip()) from None
        now = ms_to_sf(self.clock.now_ms())
        with self._lock:
            self.created += 1
            job_id = make_id("750", self.created)
            info = {
                "id": job_id, "operation": operation, "object": extract.table.obj.name,
                "createdById": self.user_id, "createdDate": now, "systemModstamp": now,
                "state": "UploadComplete", "concurrencyMode": "Parallel", "contentType": "CSV",
                "apiVersion": float(version), "lineEnding": line_ending,
                "columnDelimiter": delimiter,
            }  # fmt: skip
            self._jobs[job_id] = _Job(info, extract, self.in_progress_polls)
        return dict(info)

    def info(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            if job.info["state"] not in _FINAL:
                if job.polls_left > 0:
                    job.polls_left -= 1
                    job.info["state"] = "InProgress"
                else:
                    job.info["state"] = "JobComplete"
                    job.info["numberRecordsProcessed"] = len(job.extract.rows)
            return {
                "numberRecordsProcessed": 0, "retries": 0, "totalProcessingTime": 0,
                "jobType": "V2Query", "isPkChunkingSupported": True, **job.info,
            }  # fmt: skip

    def abort(self, job_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise HttpError(400, "API_ERROR", "A query job can only be set to Aborted")
        with self._lock:
            job = self._job(job_id)
            if job.info["state"] in _FINAL:
                raise HttpError(
                    400, "INVALIDJOBSTATE", f"Job in state {job.info['state']} can't be aborted"
                )
            job.info["state"] = "Aborted"
            return dict(job.info)

    def results(self, job_id: str, version: str, params: dict[str, str]) -> Raw:
        with self._lock:
            job = self._job(job_id)
            info = dict(job.info)
        if info["state"] != "JobComplete":
            raise HttpError(
                400, "INVALIDJOBSTATE", f"Job {job_id} is in state {info['state']}, not JobComplete"
            )
        if info["apiVersion"] != float(version):
            raise HttpError(
                409, "API_ERROR",
                f"Job {job_id} was created in API version {info['apiVersion']}; get its results "
                "with the same version",
            )  # fmt: skip
        size = params.get("maxRecords", str(DEFAULT_SET))
        if not size.isdigit() or int(size) < 1:
            raise HttpError(400, "API_ERROR", f"Invalid maxRecords: {size}")
        start = _offset(params["locator"]) if params.get("locator") else 0
        extract = job.extract
        end = min(start + int(size), len(extract.rows))
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=_DELIMITERS[info["columnDelimiter"]],
            lineterminator=_LINE_ENDINGS[info["lineEnding"]],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow([name for name, _, _ in extract.columns])
        with self.queries.store.lock:
            rows = extract.table.rows
            for i in extract.rows[start:end]:
                row = rows[i]
                writer.writerow([_csv_value(f, get(row)) for _, get, f in extract.columns])
        headers = {
            "Sforce-NumberOfRecords": str(max(0, end - start)),
            "Sforce-Locator": _locator(end) if end < len(extract.rows) else "null",
        }
        return Raw(out.getvalue().encode(), "text/csv", headers)

    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found()
        return job
