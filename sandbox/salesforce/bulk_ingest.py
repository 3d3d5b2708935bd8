"""Bulk API 2.0 ingest jobs: CSV upload, processing in the background, and the three result files."""

from __future__ import annotations

import csv
import io
import time
from contextlib import closing
from typing import Any

from starlette.responses import Response

from sandbox.admin.control import Control
from sandbox.salesforce.bulk_jobs import CREATE_KEYS, DELIMITERS, LINE_ENDINGS, Jobs, csv_format, quoted_csv
from sandbox.salesforce.calls import Call
from sandbox.salesforce.errors import RowError, bulk_error, json_response
from sandbox.salesforce.results import Results
from sandbox.salesforce.values import BULK_NULL
from sandbox.salesforce.writes import Op, write
from sandbox.store import Store

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CHUNK_ROWS = 2000  # rows written per store transaction, so REST calls interleave with a big job
_CREATE_KEYS = (*CREATE_KEYS, "externalIdFieldName", "contentUrl")


class _BatchError(Exception):
    """The upload as a whole is unusable: the job fails with this message."""


class BulkIngest:
    def __init__(self, control: Control, results: Results, jobs: Jobs):
        self.control = control
        self.store: Store = control.store
        self.results = results
        self.jobs = jobs

    # -- job lifecycle --------------------------------------------------------------------------------
    def create(self, call: Call) -> Response:
        body = call.json()
        if not isinstance(body, dict) or body.get("operation") not in OPERATIONS:
            raise bulk_error(400, "INVALIDJOB", f"Invalid operation: must be one of {', '.join(OPERATIONS)}")
        obj = self.store.canonical_object(str(body.get("object") or ""))
        if obj is None:
            raise bulk_error(
                400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        delimiter, ending = csv_format(body)
        extra: dict[str, Any] = {}
        if body["operation"] == "upsert":
            name = str(body.get("externalIdFieldName") or "")
            f = self.store.field(obj, name) if name else None
            if f is None or not (f.external_id or f.type == "id"):
                raise bulk_error(
                    400,
                    "INVALIDJOB",
                    f"Field name provided, {name} does not match an External ID, Salesforce Id, or indexed field for {obj}",
                )
            extra["externalIdFieldName"] = f.name
        info = self.jobs.create(
            "ingest",
            {
                "operation": body["operation"],
                "object": obj,
                "createdById": call.user_id,
                "state": "Open",
                **extra,
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(call.version),
                "lineEnding": ending,
                "columnDelimiter": delimiter,
                "jobType": "V2Ingest",
                "numberRecordsProcessed": 0,
                "numberRecordsFailed": 0,
                "retries": 0,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
                "_uploads": 0,
            },
        )
        info = self.jobs.update(
            "ingest", info["id"], contentUrl=f"services/data/v{call.version}/jobs/ingest/{info['id']}/batches"
        )
        return json_response(Jobs.public(info, _CREATE_KEYS))

    def list(self, call: Call) -> Response:
        records = [Jobs.public(j) for j in self.jobs.all("ingest")]
        return json_response({"done": True, "records": records, "nextRecordsUrl": None})

    def upload(self, call: Call) -> Response:
        job_id = call.params["job_id"]
        if not call.body:
            raise bulk_error(400, "INVALIDBATCH", "Empty CSV upload")
        with self.results.lock:
            info = self.jobs.get("ingest", job_id)
            if info["state"] != "Open":
                raise bulk_error(
                    409,
                    "INVALIDJOBSTATE",
                    f"Job state is {info['state']}: data can only be added to an Open job",
                )
            with closing(self.results.connect()) as c:
                c.execute(
                    "INSERT INTO blobs VALUES (?, 'upload', ?, ?)", (job_id, info["_uploads"], call.body)
                )
            self.jobs.update("ingest", job_id, _uploads=info["_uploads"] + 1)
        return Response(status_code=201)

    def job(self, call: Call) -> Response:
        job_id = call.params["job_id"]
        if call.method == "GET":
            return json_response(Jobs.public(self.jobs.status("ingest", job_id)))
        info = self.jobs.get("ingest", job_id)
        if call.method == "DELETE":
            if info["state"] in ("UploadComplete", "InProgress"):
                raise bulk_error(
                    400, "INVALIDJOBSTATE", f"Deleting a job in state {info['state']} not allowed"
                )
            self.jobs.delete(job_id)
            return Response(status_code=204)
        body = call.json()
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete":
            changed = self.jobs.transition("ingest", job_id, ("Open",), state="UploadComplete")
            if changed is not None:
                self.jobs.run_in_background(job_id, self._process, call.method, call.path)
        elif state == "Aborted":
            changed = self.jobs.transition(
                "ingest", job_id, ("Open", "UploadComplete", "InProgress"), state="Aborted"
            )
        else:
            raise bulk_error(400, "INVALIDJOBSTATE", "state must be UploadComplete or Aborted")
        if changed is None:
            raise bulk_error(
                400,
                "INVALIDJOBSTATE",
                f"Changing the state of a job in state {info['state']} to {state} not allowed",
            )
        return json_response(Jobs.public(changed, _CREATE_KEYS))

    # -- results --------------------------------------------------------------------------------------
    def result_file(self, call: Call) -> Response:
        job_id, kind = call.params["job_id"], call.path.rstrip("/").rsplit("/", 1)[1]
        kind = {"successfulResults": "successful", "failedResults": "failed"}.get(kind, "unprocessed")
        info = self.jobs.get("ingest", job_id)
        data = self._blob(job_id, kind)
        if data is None:  # not processed (yet): every uploaded row is unprocessed
            try:
                header, rows = self._parse_uploads(job_id, info)
            except _BatchError:
                header, rows = [], []
            if kind == "unprocessed":
                data = self._unprocessed(info, header, rows)
            else:
                data = self._results_csv(info, kind, header, [])
        return Response(data, media_type="text/csv")

    def _blob(self, job_id: str, kind: str) -> bytes | None:
        with closing(self.results.connect()) as c:
            row = c.execute("SELECT data FROM blobs WHERE job_id = ? AND kind = ?", (job_id, kind)).fetchone()
        return row[0] if row else None

    def _parse_uploads(self, job_id: str, info: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        with closing(self.results.connect()) as c:
            uploads = [
                r[0]
                for r in c.execute(
                    "SELECT data FROM blobs WHERE job_id = ? AND kind = 'upload' ORDER BY seq", (job_id,)
                )
            ]
        header: list[str] = []
        rows: list[list[str]] = []
        for blob in uploads:
            reader = csv.reader(
                io.StringIO(blob.decode("utf-8-sig"), newline=""),
                delimiter=DELIMITERS[info["columnDelimiter"]],
            )
            part = [r for r in reader if r]
            if part:
                header = header or part[0]
                if part[0] != header:
                    raise _BatchError("InvalidBatch : All uploads of a job must have the same header")
                rows.extend(part[1:])
        return header, rows

    def _header_line(self, info: dict[str, Any], header: list[str]) -> str:
        out = io.StringIO()
        delimiter, ending = DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        csv.writer(out, delimiter=delimiter, lineterminator=ending).writerow(header)
        return out.getvalue()

    def _results_csv(
        self, info: dict[str, Any], kind: str, header: list[str], rows: list[list[Any]]
    ) -> bytes:
        delimiter, ending = DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        lead = '"sf__Id"' + delimiter + ('"sf__Created"' if kind == "successful" else '"sf__Error"')
        head = lead + (delimiter + self._header_line(info, header) if header else ending)
        return (head + quoted_csv(rows, delimiter, ending)).encode()

    def _unprocessed(self, info: dict[str, Any], header: list[str], rows: list[list[str]]) -> bytes:
        delimiter, ending = DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        return (
            (self._header_line(info, header) if header else "") + quoted_csv(rows, delimiter, ending)
        ).encode()

    # -- processing -----------------------------------------------------------------------------------
    def _process(self, job_id: str, method: str, path: str) -> None:
        started = time.monotonic()
        info = self.jobs.transition("ingest", job_id, ("UploadComplete",), state="InProgress")
        if info is None:
            return
        try:
            header, rows = self._parse_uploads(job_id, info)
            ops = self._ops(info, header, rows)
        except _BatchError as e:
            self.jobs.transition("ingest", job_id, ("InProgress",), state="Failed", errorMessage=str(e))
            return
        if self.control.bulk_job_fails("salesforce", method, path):
            # a failed job writes nothing: every row stays unprocessed
            self.jobs.transition(
                "ingest",
                job_id,
                ("InProgress",),
                state="Failed",
                errorMessage="InternalServerError : retry later",
            )
            return
        faults = self.control.row_errors("salesforce", method, path, len(rows))
        user_id = info["createdById"]
        succeeded: list[list[Any]] = []
        failed: list[list[Any]] = []
        done = 0
        for start in range(0, len(ops), CHUNK_ROWS):
            if self.jobs.get("ingest", job_id)["state"] != "InProgress":
                break  # aborted: the rest stays unprocessed
            chunk = ops[start : start + CHUNK_ROWS]
            chunk_faults = {i - start: c for i, c in faults.items() if start <= i < start + len(chunk)}
            for k, o in enumerate(write(self.store, chunk, user_id, faults=chunk_faults)):
                original = rows[start + k]
                if o.error is None:
                    succeeded.append([o.id, "true" if o.created else "false", *original])
                else:
                    failed.append([o.id or "", o.error.bulk_text(), *original])
            done = start + len(chunk)
        with closing(self.results.connect()) as c:
            for kind, data in (
                ("successful", self._results_csv(info, "successful", header, succeeded)),
                ("failed", self._results_csv(info, "failed", header, failed)),
                ("unprocessed", self._unprocessed(info, header, rows[done:])),
            ):
                c.execute("INSERT INTO blobs VALUES (?, ?, 0, ?)", (job_id, kind, data))
        self.jobs.transition(
            "ingest",
            job_id,
            ("InProgress",),
            state="JobComplete",
            numberRecordsProcessed=done,
            numberRecordsFailed=len(failed),
            totalProcessingTime=int((time.monotonic() - started) * 1000),
        )

    def _ops(self, info: dict[str, Any], header: list[str], rows: list[list[str]]) -> list[Op]:
        obj, operation = info["object"], info["operation"]
        names = []
        for column in header:
            f = self.store.field(obj, column)
            if f is None:
                raise _BatchError(f"InvalidBatch : Field name not found : {column}")
            names.append(f.name)
        if operation in ("delete", "hardDelete") and names != ["Id"]:
            raise _BatchError(f"InvalidBatch : The '{operation}' batch must contain only ids")
        if operation == "update" and "Id" not in names:
            raise _BatchError("InvalidBatch : Field name not found : Id")
        ext = info.get("externalIdFieldName")
        if ext and ext not in names:
            raise _BatchError(f"InvalidBatch : Field name not found : {ext}")
        matches = self._external_ids(obj, ext) if ext and ext != "Id" else {}
        ops = []
        for row in rows:
            if len(row) != len(names):
                ops.append(
                    Op("insert", obj, error=RowError("INVALID_FIELD", "Wrong number of columns in row"))
                )
                continue
            data = {n: (None if v == BULK_NULL else v) for n, v in zip(names, row, strict=True) if v != ""}
            record_id = data.pop("Id", None)
            if operation in ("delete", "hardDelete", "update"):
                ops.append(Op(operation, obj, record_id, data))
            elif operation == "insert":
                ops.append(Op("insert", obj, data={**data, **({"Id": record_id} if record_id else {})}))
            elif ext == "Id":
                ops.append(Op("update", obj, record_id, data) if record_id else Op("insert", obj, data=data))
            else:
                found = matches.get(data.get(ext) or "", [])
                error = None
                if len(found) > 1:
                    error = RowError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"more than one record found for external id field: [{', '.join(found)}]",
                        [ext],
                    )
                ops.append(
                    Op("update", obj, found[0], data, error)
                    if found
                    else Op("insert", obj, data=data, error=error)
                )
        return ops

    def _external_ids(self, obj: str, ext: str) -> dict[str, list[str]]:
        live = ' AND "IsDeleted" = 0' if self.store.field(obj, "IsDeleted") else ""
        out: dict[str, list[str]] = {}
        with self.store.lock:
            for value, record_id in self.store.conn.execute(
                f'SELECT "{ext}", "Id" FROM "{obj}" WHERE "{ext}" IS NOT NULL{live}'
            ):
                out.setdefault(str(value), []).append(record_id)
        return out
