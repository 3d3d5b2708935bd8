"""Bulk API 2.0 query jobs: a CSV snapshot taken in the background, served as pages by opaque locator."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from starlette.responses import Response, StreamingResponse

from sandbox.admin.control import Control
from sandbox.salesforce.bulk_jobs import (
    CREATE_KEYS,
    DELIMITERS,
    LINE_ENDINGS,
    TERMINAL_STATES,
    Jobs,
    csv_format,
)
from sandbox.salesforce.calls import Call
from sandbox.salesforce.csv_snapshots import CsvSnapshots, SnapshotGone
from sandbox.salesforce.errors import bulk_error, json_response
from sandbox.salesforce.soql import SoqlError, compile_query

DEFAULT_PAGE = 100_000  # rows per results page when the client names no maxRecords
KEEP_SNAPSHOTS = 32
SNAPSHOT_TTL_S = 6 * 3600
_FAILED_MESSAGE = (
    "Failed to process query: UNKNOWN_EXCEPTION: An unexpected error occurred. Please retry the job."
)


def encode_locator(offset: int) -> str:
    """Salesforce's locators are the base64 of the next row's offset."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    if not locator:
        return 0
    try:
        offset = int(base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bulk_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
    if offset < 0:
        raise bulk_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    return offset


def line_sql(types: list[str], delimiter: str) -> str:
    """One SQL expression building a whole CSV line from columns ``c0``, ``c1``...: every value quoted, quotes
    doubled (printf's ``%w``), null as empty, booleans true/false, datetimes with ``Z`` as Bulk writes them.
    One printf call per row is faster than SQL concatenation or Python's csv module over the same rows."""
    args = []
    for i, t in enumerate(types):
        v = f"c{i}"
        if t == "boolean":
            args.append(f"CASE WHEN {v} IS NULL THEN '' WHEN {v} THEN 'true' ELSE 'false' END")
        elif t == "datetime":
            args.append(f"ifnull(substr({v}, 1, 23) || 'Z', '')")
        else:
            args.append(f"ifnull({v}, '')")
    pattern = delimiter.join(['"%w"'] * len(types))
    return f"printf('{pattern}', {', '.join(args)})"


def lines_select(sql: str, types: list[str], delimiter: str, ending: str) -> str:
    """``sql``'s rows as CSV lines, each with its line ending, as UTF-8 BLOBs (whose lengths are byte counts)."""
    names = ", ".join(f"c{i}" for i in range(len(types)))
    end = f"char({', '.join(str(ord(ch)) for ch in ending)})"
    return f"WITH q({names}) AS ({sql}) SELECT CAST({line_sql(types, delimiter)} || {end} AS BLOB) FROM q"


class BulkQuery:
    def __init__(self, control: Control, jobs: Jobs):
        self.control = control
        self.store = control.store
        self.snapshots = CsvSnapshots(control.data_dir / "salesforce_bulk_results", self.store.path)
        self.jobs = jobs

    def create(self, call: Call) -> Response:
        body = call.json()
        if not isinstance(body, dict) or body.get("operation") not in ("query", "queryAll"):
            raise bulk_error(400, "INVALIDJOB", "Invalid operation: must be query or queryAll")
        delimiter, ending = csv_format(body)
        try:
            q = compile_query(
                str(body.get("query") or ""),
                self.store,
                include_deleted=body["operation"] == "queryAll",
                bulk=True,
            )
        except SoqlError as e:
            raise bulk_error(400, e.error_code, e.message) from None
        self._forget_old_snapshots()
        info = self.jobs.create(
            "query",
            {
                "operation": body["operation"],
                "object": q.object,
                "createdById": call.user_id,
                "state": "UploadComplete",
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(call.version),
                "jobType": "V2Query",
                "lineEnding": ending,
                "columnDelimiter": delimiter,
                "numberRecordsProcessed": 0,
                "retries": 0,
                "totalProcessingTime": 0,
                "isPkChunkingSupported": True,
                "_headers": [c.header for c in q.columns],
                "_types": [c.field.type for c in q.columns],
            },
        )
        fails = self.control.bulk_job_fails("salesforce", call.method, call.path)
        select = lines_select(q.sql, info["_types"], DELIMITERS[delimiter], LINE_ENDINGS[ending])
        self.jobs.run_in_background(info["id"], self._run, select, q.params, fails)
        return json_response(Jobs.public(info, CREATE_KEYS))

    def _run(self, job_id: str, select: str, params: list[Any], fails: bool) -> None:
        started = time.monotonic()
        if self.jobs.transition("query", job_id, ("UploadComplete",), state="InProgress") is None:
            return
        if fails:
            self.jobs.transition(
                "query", job_id, ("InProgress",), state="Failed", errorMessage=_FAILED_MESSAGE
            )
            return
        n = self.snapshots.write(job_id, select, params)
        took = int((time.monotonic() - started) * 1000)
        done = self.jobs.transition(
            "query",
            job_id,
            ("InProgress",),
            state="JobComplete",
            numberRecordsProcessed=n,
            totalProcessingTime=took,
            _completed=time.time(),
        )
        if done is None:  # aborted meanwhile
            self.snapshots.drop(job_id)

    def _forget_old_snapshots(self) -> None:
        done = [j for j in self.jobs.all("query") if j.get("_completed") and not j.get("_expired")]
        done.sort(key=lambda j: j["_completed"], reverse=True)
        cutoff = time.time() - SNAPSHOT_TTL_S
        for i, job in enumerate(done):
            if i >= KEEP_SNAPSHOTS or job["_completed"] < cutoff:
                self.snapshots.drop(job["id"])
                self.jobs.update("query", job["id"], _expired=True)

    def list(self, call: Call) -> Response:
        records = [Jobs.public(j) for j in self.jobs.all("query")]
        return json_response({"done": True, "records": records, "nextRecordsUrl": None})

    def job(self, call: Call) -> Response:
        job_id = call.params["job_id"]
        if call.method == "GET":
            return json_response(Jobs.public(self.jobs.status("query", job_id)))
        info = self.jobs.get("query", job_id)
        if call.method == "DELETE":
            if info["state"] not in TERMINAL_STATES:
                raise bulk_error(
                    400, "INVALIDJOBSTATE", f"Deleting a job in state {info['state']} not allowed"
                )
            self.snapshots.drop(job_id)
            self.jobs.delete(job_id)
            return Response(status_code=204)
        body = call.json()
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise bulk_error(400, "INVALIDJOBSTATE", "Query jobs can only be set to Aborted")
        aborted = self.jobs.transition("query", job_id, ("UploadComplete", "InProgress"), state="Aborted")
        if aborted is None:
            raise bulk_error(400, "INVALIDJOBSTATE", f"Aborting already {info['state']} Job not allowed")
        return json_response(Jobs.public(aborted, CREATE_KEYS))

    def results_page(self, call: Call) -> Response:
        job_id = call.params["job_id"]
        info = self.jobs.get("query", job_id)
        gone = bulk_error(
            400, "INVALIDJOBSTATE", f"Results are not available for a job in state {info['state']}"
        )
        if info["state"] != "JobComplete" or info.get("_expired"):
            raise gone
        offset = decode_locator(call.query.get("locator", ""))
        try:
            max_records = int(call.query.get("maxRecords") or DEFAULT_PAGE)
        except ValueError:
            max_records = 0
        if max_records < 1:
            raise bulk_error(400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
        total = info["numberRecordsProcessed"]
        n = max(0, min(max_records, total - offset))
        end = offset + n
        first = min(offset, total)  # a locator past the end reads nothing, as Salesforce's does
        try:
            page = self.snapshots.page(job_id, first, first + n)
        except SnapshotGone:
            raise gone from None
        delimiter, ending = DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        header = (delimiter.join(f'"{h}"' for h in info["_headers"]) + ending).encode()
        headers = {
            "Sforce-NumberOfRecords": str(n),
            "Sforce-Locator": encode_locator(end) if end < total else "null",
        }
        if "gzip" in call.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return StreamingResponse(page.gzip(header), media_type="text/csv", headers=headers)
        return StreamingResponse(page.plain(header), media_type="text/csv", headers=headers)
