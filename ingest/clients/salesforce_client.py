"""Salesforce client: simple-salesforce on our session for REST, raw streaming for Bulk API 2.0.

Authentication comes from the token cache; a 401 INVALID_SESSION_ID renews the token once (under the cache
lock) and repeats the call. Every response's ``Sforce-Limit-Info`` updates ``api_usage``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
import simple_salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from ingest.clients.answers import UnexpectedAnswer, agree, required, rows, whole_number
from ingest.clients.errors import ApiError, BulkJobFailed, MalformedResponse
from ingest.clients.http import CallCounter, error_fields, json_or_raise, new_session, raise_for_error
from ingest.clients.job_polling import poll_job
from ingest.clients.redact import RedactingFilter
from ingest.clients.salesforce_auth import SYSTEM, SalesforceConfig, obtain_token
from ingest.clients.token_cache import TokenCache

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

T = TypeVar("T")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
COLLECTION_MAX = 200
COMPOSITE_MAX = 25
COMPOSITE_MAX_QUERIES = 5
# Salesforce's recordCount leaves out objects associated with others; a COUNT() query counts those.
_UNCOUNTED_SUFFIXES = ("History", "Share", "Feed")
BULK_ROWS_PER_S = 150_000  # about what a Bulk query job gets through; real orgs are slower, never faster
BULK_INGEST_ROWS_PER_S = 20_000  # the same for a Bulk update job
_TERMINAL = {"JobComplete", "Failed", "Aborted"}


@dataclass(frozen=True)
class ApiUsage:
    used: int
    max: int

    @property
    def remaining(self) -> int:
        return self.max - self.used


@dataclass(frozen=True)
class BulkPage:
    """One results page of a Bulk 2.0 query: its CSV, and the rows Salesforce says it holds
    (``Sforce-NumberOfRecords``), which whoever parses the CSV must find in it."""

    data: bytes
    records: int
    call: str


@dataclass(frozen=True)
class BulkIngestResult:
    """A finished Bulk 2.0 ingest job and the rows of the result files its counts leave open. ``successful`` is
    None when the job processed every uploaded row and ``failed`` lists all it failed: every other row succeeded.
    The counts are None for a job that did not complete (they are not believed: every file is read). Every row
    of every file names its record in the upload's key column (``Id``, or the external id field)."""

    job_id: str
    state: str
    records_processed: int | None
    records_failed: int | None
    successful: list[dict[str, str]] | None
    failed: list[dict[str, str]]
    unprocessed: list[dict[str, str]]


@dataclass(frozen=True)
class _Subrequest:
    kind: str  # describe | recordCount | count
    target: str  # the object (objects, for recordCount; the SOQL, for counts)
    url: str
    call: str  # as errors name it


def _composite_batches(subrequests: Sequence[_Subrequest]) -> Iterator[list[_Subrequest]]:
    batch: list[_Subrequest] = []
    for sub in subrequests:
        queries = sum(s.kind == "count" for s in batch) + (sub.kind == "count")
        if len(batch) == COMPOSITE_MAX or queries > COMPOSITE_MAX_QUERIES:
            yield batch
            batch = []
        batch.append(sub)
    if batch:
        yield batch


def _endpoint(include_deleted: bool) -> str:
    """The query resource (REST) or operation (Bulk): queryAll reads deleted rows too."""
    return "queryAll" if include_deleted else "query"


def _one_each(call: str, answers: Sequence[Any], sent: int, what: str) -> None:
    """Answers that go by position (a Composite's subrequests, a collection's records) must be one per item sent:
    one missing or extra would pin every later answer on the wrong item."""
    if len(answers) != sent:
        raise UnexpectedAnswer(SYSTEM, call, f"{len(answers)} answers for {sent} {what}")


def _status_and_body(call: str, answer: Any) -> tuple[int, Any]:
    """A Composite subrequest's status, and its body: required on a 200 (it is the answer), an error's only
    carries the message."""
    status = required(answer, SYSTEM, call, "httpStatusCode", int)
    return status, required(answer, SYSTEM, call, "body") if status == 200 else answer.get("body")


def _checked_describe(call: str, body: Any) -> dict[str, Any]:
    """A describe whose fields each have a name and a type: the extract's columns and the preflight's checks
    are made of them, and a describe without them would read as an object without fields."""
    for f in rows(body, SYSTEM, call, "fields"):
        required(f, SYSTEM, call, "name", str)
        required(f, SYSTEM, call, "type", str)
    return body


def _query_page(call: str, page: Any) -> dict[str, Any]:
    rows(page, SYSTEM, call, "records")
    required(page, SYSTEM, call, "totalSize", int)
    if not required(page, SYSTEM, call, "done", bool):
        required(page, SYSTEM, call, "nextRecordsUrl", str)
    return page


def _collection_results(call: str, answer: Any, sent: int) -> list[dict[str, Any]]:
    """One result per record sent, each saying whether its record was written: ``id`` when it was, at least
    one error with its ``statusCode`` when not."""
    if not isinstance(answer, list):
        raise UnexpectedAnswer(SYSTEM, call, f"expected a JSON array, got {type(answer).__name__}")
    _one_each(call, answer, sent, "records sent")
    for result in answer:
        if required(result, SYSTEM, call, "success", bool):
            required(result, SYSTEM, call, "id", str)
            continue
        errors = rows(result, SYSTEM, call, "errors")
        if not errors:
            raise UnexpectedAnswer(SYSTEM, call, "a record that was not written has no errors")
        required(errors[0], SYSTEM, call, "statusCode", str)
    return answer


def _result_rows(call: str, data: bytes, key: str, *columns: str) -> list[dict[str, str]]:
    """A Bulk ingest results file, parsed strictly: the columns present, every row whole and naming its record in
    ``key``. A row that does not say which record it speaks for can be credited to none."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    header = reader.fieldnames
    missing = [c for c in (key, *columns) if header is None or c not in header]
    if missing:
        raise UnexpectedAnswer(
            SYSTEM, call, f"the file has no {', '.join(missing)} column (header: {header})"
        )
    found = list(reader)
    for n, row in enumerate(found, 1):
        # DictReader keeps a long row's extra values under None and fills a short row's gaps with None
        if None in row or None in row.values() or not row[key]:
            raise UnexpectedAnswer(SYSTEM, call, f"row {n} is not whole or has no {key}: {row}")
    return found


class SalesforceClient:
    def __init__(
        self,
        config: SalesforceConfig,
        token_cache: TokenCache,
        counter: CallCounter | None = None,
        poll_max_seconds: float = 3600,
        prefetch: Sequence[str] = (),
    ):
        self.config = config
        self.token_cache = token_cache
        self.counter = counter or CallCounter()
        self.poll_max_seconds = poll_max_seconds
        self.prefetch = tuple(prefetch)
        self._describes: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, int] = {}
        self.session = new_session(SYSTEM, counter=self.counter, ca_bundle=config.ca_bundle)
        self.session.hooks["response"].append(self._read_limit_info)
        self.api_usage: ApiUsage | None = None
        self._token: dict[str, Any] | None = None
        self._sf: simple_salesforce.Salesforce | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        counter: CallCounter | None = None,
        prefetch: Sequence[str] = (),
    ) -> SalesforceClient:
        """Built from SALESFORCE_* variables (``env`` defaults to os.environ; tests pass a sandbox.env dict)."""
        return cls(SalesforceConfig.from_env(env), TokenCache.from_env(env), counter, prefetch=prefetch)

    @property
    def calls(self) -> int:
        """HTTP attempts spent so far by this client, retries and authentication included."""
        return self.counter.get(SYSTEM)

    # -- authentication -------------------------------------------------------------------------------
    def _read_limit_info(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = ApiUsage(int(match.group(1)), int(match.group(2)))

    def _authenticate(self, stale_token: str | None) -> None:
        self._token = self.token_cache.renew(
            self.config.cache_key,
            stale_token,
            lambda current: obtain_token(self.config, self.session, current),
        )
        self._sf = None

    @property
    def token(self) -> dict[str, Any]:
        if self._token is None:
            self._authenticate(None)
        assert self._token is not None
        return self._token

    @property
    def instance_url(self) -> str:
        return self.token["instance_url"]

    @property
    def user_id(self) -> str:
        """The user this client's calls act as — the integration user, whose writes are the sync's own — as the
        token's identity URL names it (client credentials and refresh tokens come without a username)."""
        return required(self.token, SYSTEM, "token cache entry", "user_id", str)

    @property
    def sf(self) -> simple_salesforce.Salesforce:
        """simple-salesforce bound to the current token and to our session (retries, TLS, counting)."""
        if self._sf is None:
            self._sf = simple_salesforce.Salesforce(
                instance_url=self.instance_url,
                session_id=self.token["access_token"],
                session=self.session,
                version=self.config.api_version,
            )
        return self._sf

    def _with_session(self, call: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; on an expired session renew the token once and run it again. Errors become typed."""
        for attempt in range(2):
            stale = self.token["access_token"]
            try:
                return fn()
            except SalesforceExpiredSession as e:
                if attempt:
                    raise self._typed(call, e) from None
                log.info("salesforce session expired during %s; renewing", call)
                self._authenticate(stale)
            except SalesforceError as e:
                raise self._typed(call, e) from None
            except ValueError as e:  # simple-salesforce decoding a body that is not JSON
                raise MalformedResponse(SYSTEM, call, None, "invalid-json", str(e)) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _typed(call: str, e: SalesforceError) -> ApiError:
        code, message = error_fields(e.content)
        return ApiError(SYSTEM, call, e.status, code, message)

    # -- raw requests (Bulk 2.0, anything simple-salesforce would parse in memory) --------------------
    def url(self, path: str) -> str:
        if path.startswith("/"):
            return self.instance_url + path
        return f"{self.instance_url}/services/data/v{self.config.api_version}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A checked request relative to the versioned data path; renews an expired session once."""

        extra_headers = kwargs.pop("headers", {})

        def send() -> requests.Response:
            headers = {**extra_headers, "Authorization": f"Bearer {self.token['access_token']}"}
            response = self.session.request(method, self.url(path), headers=headers, **kwargs)
            if response.status_code == 401:
                code, _ = error_fields(_safe_json(response))
                if code == "INVALID_SESSION_ID":
                    raise SalesforceExpiredSession(response.url, 401, path, response.content)
            raise_for_error(SYSTEM, response)
            return response

        return self._with_session(f"{method} {path.split('?')[0]}", send)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json_or_raise(SYSTEM, self.request(method, path, **kwargs))

    # -- REST helpers -----------------------------------------------------------------------------------
    def describe(self, obj: str) -> dict[str, Any]:
        """The object's describe, cached for this client's life (one run)."""
        if obj not in self._describes:
            self._fetch_metadata(obj)
        return self._describes[obj]

    def record_count(self, obj: str) -> int:
        """Salesforce's (approximate) count of the object's live rows, cached like ``describe``."""
        if obj not in self._counts:
            self._fetch_metadata(obj)
        return self._counts[obj]

    def _fetch_metadata(self, obj: str) -> None:
        """Describe and count ``obj`` and the ``prefetch`` objects not fetched yet, in Composite requests, which
        Salesforce bills as one call each: one for up to 25 subrequests, 5 of them queries."""
        wanted = [obj, *(o for o in self.prefetch if o != obj and o not in self._describes)]
        base = f"/services/data/v{self.config.api_version}"
        subrequests = [
            _Subrequest("describe", o, f"{base}/sobjects/{o}/describe", f"GET sobjects/{o}/describe")
            for o in wanted
        ]
        counted = [o for o in wanted if not o.endswith(_UNCOUNTED_SUFFIXES)]
        if counted:
            url = f"{base}/limits/recordCount?{urlencode({'sObjects': ','.join(counted)})}"
            subrequests.append(_Subrequest("recordCount", ",".join(counted), url, "GET limits/recordCount"))
        subrequests += [
            _Subrequest(
                "count",
                o,
                f"{base}/query?{urlencode({'q': f'SELECT COUNT() FROM {o}'})}",
                f"GET query SELECT COUNT() FROM {o}",
            )
            for o in wanted
            if o.endswith(_UNCOUNTED_SUFFIXES)
        ]
        # recordCount leaves out objects without rows; the count is approximate anyway, only ever a bound on
        # what a read costs (REST or Bulk, how long to wait), never checked against the rows read
        self._counts.update(dict.fromkeys(wanted, 0))
        for batch in _composite_batches(subrequests):
            for sub, answer in zip(batch, self._composite(batch), strict=True):
                self._take(sub, answer, asked=sub.target == obj)

    def _composite(self, batch: Sequence[_Subrequest]) -> list[Any]:
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {"method": "GET", "url": s.url, "referenceId": f"r{i}"} for i, s in enumerate(batch)
            ],
        }
        answer = self._with_session(
            "POST composite",
            lambda: self.sf.restful("composite", method="POST", json=body, idempotent=True),  # reads only
        )
        answers = rows(answer, SYSTEM, "POST composite", "compositeResponse")
        _one_each("POST composite", answers, len(batch), "subrequests sent")
        return answers

    def _take(self, sub: _Subrequest, answer: Any, *, asked: bool) -> None:
        """Keep a metadata subrequest's answer; ``asked``: the object the caller asked for, not a prefetch."""
        status, body = _status_and_body(sub.call, answer)
        if status != 200:
            code, message = error_fields(body)
            if asked and sub.kind == "describe":
                raise ApiError(SYSTEM, sub.call, status, code, message)
            # a prefetched object may not exist in this org; a missing count only costs a REST page later
            log.info("Salesforce %s of %s not available: %s %s", sub.kind, sub.target, status, code)
        elif sub.kind == "describe":
            self._describes[sub.target] = _checked_describe(sub.call, body)
        elif sub.kind == "recordCount":
            for entry in rows(body, SYSTEM, sub.call, "sObjects"):
                name = required(entry, SYSTEM, sub.call, "name", str)
                self._counts[name] = whole_number(entry, SYSTEM, sub.call, "count")
        else:
            self._counts[sub.target] = required(body, SYSTEM, sub.call, "totalSize", int)

    def limits(self) -> dict[str, Any]:
        return self._with_session("GET limits", lambda: self.sf.limits())

    def query_pages(
        self, soql: str, *, include_deleted: bool = True, batch_size: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Pages of a REST query (queryAll by default), each the JSON page, checked: ``records`` a list,
        ``totalSize`` an integer, ``done`` a boolean and ``nextRecordsUrl`` while not done.

        The last page comes only if the records of all pages number the first page's ``totalSize``: a caller
        that writes each page once the next one arrived never writes a read that does not add up. A ``COUNT()``
        query has a total and no records: read it with ``count``."""
        endpoint = _endpoint(include_deleted)
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page = self._first_page(soql, include_deleted, headers)
        total, read = page["totalSize"], 0
        more = f"GET {endpoint}/<locator>"
        while True:
            read += len(page["records"])
            if page["done"]:
                agree(SYSTEM, f"GET {endpoint}", "totalSize", total, read)
                yield page
                return
            yield page
            next_url = page["nextRecordsUrl"]
            page = _query_page(
                more,
                self._with_session(
                    more,
                    lambda next_url=next_url: self.sf.query_more(
                        next_url, identifier_is_url=True, headers=headers
                    ),
                ),
            )

    def _first_page(self, soql: str, include_deleted: bool, headers: Mapping[str, str]) -> dict[str, Any]:
        call = f"GET {_endpoint(include_deleted)}"
        return _query_page(
            call,
            self._with_session(
                call, lambda: self.sf.query(soql, include_deleted=include_deleted, headers=headers)
            ),
        )

    def count(self, soql: str, *, include_deleted: bool = True) -> int:
        """``totalSize`` of a ``SELECT COUNT() ...`` (or any) query."""
        return self._first_page(soql, include_deleted, {})["totalSize"]

    def counts(self, soqls: Sequence[str], *, include_deleted: bool = True) -> list[int]:
        """``totalSize`` of several queries, in Composite requests (one call each for up to 5 queries)."""
        endpoint = _endpoint(include_deleted)
        base = f"/services/data/v{self.config.api_version}/{endpoint}"
        subrequests = [
            _Subrequest("count", soql, f"{base}?{urlencode({'q': soql})}", f"GET {endpoint} {soql}")
            for soql in soqls
        ]
        totals: list[int] = []
        for batch in _composite_batches(subrequests):
            for sub, answer in zip(batch, self._composite(batch), strict=True):
                status, body = _status_and_body(sub.call, answer)
                if status != 200:
                    raise ApiError(SYSTEM, sub.call, status, *error_fields(body))
                totals.append(required(body, SYSTEM, sub.call, "totalSize", int))
        return totals

    def update_records(self, obj: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections update, 200 per call, allOrNone false: one result per record, in order, each
        with ``success`` and the ``id`` written or ``errors`` (the first with its ``statusCode``)."""
        call = "PATCH composite/sobjects"
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), COLLECTION_MAX):
            chunk = [{"attributes": {"type": obj}, **r} for r in records[start : start + COLLECTION_MAX]]
            body = {"allOrNone": False, "records": chunk}
            answer = self._with_session(
                call, lambda body=body: self.sf.restful("composite/sobjects", method="PATCH", json=body)
            )
            results += _collection_results(call, answer, len(chunk))
        return results

    # -- Bulk API 2.0 -------------------------------------------------------------------------------------
    def _poll(self, kind: str, job_id: str, first_wait: float = 0.0) -> dict[str, Any]:
        """The job's last status, once it ended; BulkJobFailed unless it completed. Every status must have a
        ``state``: a job without one would look running until the timeout."""
        call = f"GET jobs/{kind}/{job_id}"

        def status() -> dict[str, Any]:
            job = self.json("GET", f"jobs/{kind}/{job_id}")
            required(job, SYSTEM, call, "state", str)
            return job

        job = poll_job(
            status,
            lambda job: job["state"] not in _TERMINAL,
            timeout_s=self.poll_max_seconds,
            first_wait_s=first_wait,
        )
        if job["state"] != "JobComplete":
            raise BulkJobFailed(
                SYSTEM, call, 200, job["state"], job.get("errorMessage") or "job did not complete"
            )
        return job

    def bulk_query_pages(
        self,
        soql: str,
        *,
        include_deleted: bool = True,
        max_records: int | None = None,
        expected_rows: int = 0,
    ) -> Iterator[BulkPage]:
        """Raw CSV pages of a Bulk 2.0 query job (queryAll by default), each with its own header row and the
        rows Salesforce says it holds (``Sforce-NumberOfRecords``, on every page). The last page comes only if
        those add up to the job's ``numberRecordsProcessed``.

        A job is not done before it could have read its rows: the first status poll waits the time
        ``expected_rows`` take at ``BULK_ROWS_PER_S`` (a poll earlier only spends a call), then backs off."""
        job = self.json(
            "POST",
            "jobs/query",
            json={
                "operation": _endpoint(include_deleted),
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
            idempotent=True,  # a second job for the same query is wasted work, not a wrong result
        )
        job_id = required(job, SYSTEM, "POST jobs/query", "id", str)
        done = self._poll("query", job_id, first_wait=expected_rows / BULK_ROWS_PER_S)
        processed = whole_number(done, SYSTEM, f"GET jobs/query/{job_id}", "numberRecordsProcessed")
        path = f"jobs/query/{job_id}/results"
        call = f"GET {path}"
        locator: str | None = None
        read = 0
        while True:
            params: dict[str, Any] = {"locator": locator} if locator else {}
            if max_records:
                params["maxRecords"] = max_records
            response = self.request("GET", path, params=params, headers={"Accept-Encoding": "gzip"})
            page = BulkPage(
                response.content, whole_number(response.headers, SYSTEM, call, "Sforce-NumberOfRecords"), call
            )
            # the last page says "null"; no locator at all is not an end, and an empty one would start over
            locator = required(response.headers, SYSTEM, call, "Sforce-Locator", str)
            if not locator:
                raise UnexpectedAnswer(SYSTEM, call, "'Sforce-Locator' is empty")
            read += page.records
            if locator == "null":
                agree(SYSTEM, f"GET jobs/query/{job_id}", "numberRecordsProcessed", processed, read)
                yield page
                return
            yield page

    def bulk_ingest(
        self,
        obj: str,
        operation: str,
        csv_data: bytes,
        *,
        rows: int,
        external_id_field: str | None = None,
    ) -> BulkIngestResult:
        """One Bulk 2.0 ingest job (update/upsert/...) of the ``rows`` rows of ``csv_data``, waited for (the first
        status poll after the time they take at ``BULK_INGEST_ROWS_PER_S``), with its per-row results read back.

        The successful and unprocessed rows' files are read only when the job's counts leave them open: when a job
        processed every row and its failed file (read only if it failed some) names all it failed, every other row
        succeeded. The successful file is most of a job: downloading and parsing it is time and calls for nothing."""
        spec: dict[str, Any] = {
            "object": obj,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "LF",
        }
        if external_id_field:
            spec["externalIdFieldName"] = external_id_field
        job_id = required(self.json("POST", "jobs/ingest", json=spec), SYSTEM, "POST jobs/ingest", "id", str)
        base = f"jobs/ingest/{job_id}"
        self.request("PUT", f"{base}/batches", data=csv_data, headers={"Content-Type": "text/csv"})
        self.json("PATCH", base, json={"state": "UploadComplete"})
        key = external_id_field or "Id"

        def result_rows(kind: str, *columns: str) -> list[dict[str, str]]:
            return _result_rows(
                f"GET {base}/{kind}", self.request("GET", f"{base}/{kind}").content, key, *columns
            )

        processed: int | None = None
        failed_count: int | None = None
        try:
            done = self._poll("ingest", job_id, first_wait=rows / BULK_INGEST_ROWS_PER_S)
        except BulkJobFailed as e:
            state = str(e.code)  # its counts are not believed: every results file is read
        else:
            state = "JobComplete"
            processed = whole_number(done, SYSTEM, f"GET {base}", "numberRecordsProcessed")
            failed_count = whole_number(done, SYSTEM, f"GET {base}", "numberRecordsFailed")
        failed = result_rows("failedResults", "sf__Error") if failed_count != 0 else []
        told = processed == rows and len(failed) == failed_count
        return BulkIngestResult(
            job_id=job_id,
            state=state,
            records_processed=processed,
            records_failed=failed_count,
            successful=None if told else result_rows("successfulResults"),
            failed=failed,
            unprocessed=[] if told else result_rows("unprocessedrecords"),
        )


def _safe_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
