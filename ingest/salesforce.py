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

from ingest.errors import ApiError, BulkJobFailed, MalformedResponse
from ingest.http import CallCounter, error_fields, json_or_raise, new_session, raise_for_error
from ingest.job_polling import poll_job
from ingest.redact import RedactingFilter
from ingest.salesforce_auth import SYSTEM, SalesforceConfig, obtain_token
from ingest.token_cache import TokenCache

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
class BulkIngestResult:
    """A finished Bulk 2.0 ingest job and the rows of the result files its counts leave open. ``successful`` is
    None when the job processed every uploaded row and ``failed`` lists all it failed: every other row succeeded."""

    job_id: str
    state: str
    records_processed: int
    records_failed: int
    successful: list[dict[str, str]] | None
    failed: list[dict[str, str]]
    unprocessed: list[dict[str, str]]


@dataclass(frozen=True)
class _Subrequest:
    kind: str  # describe | recordCount | count
    target: str  # the object (objects, for recordCount)
    url: str


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


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


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
        subrequests = [_Subrequest("describe", o, f"{base}/sobjects/{o}/describe") for o in wanted]
        counted = [o for o in wanted if not o.endswith(_UNCOUNTED_SUFFIXES)]
        if counted:
            url = f"{base}/limits/recordCount?{urlencode({'sObjects': ','.join(counted)})}"
            subrequests.append(_Subrequest("recordCount", ",".join(counted), url))
        subrequests += [
            _Subrequest("count", o, f"{base}/query?{urlencode({'q': f'SELECT COUNT() FROM {o}'})}")
            for o in wanted
            if o.endswith(_UNCOUNTED_SUFFIXES)
        ]
        self._counts.update(dict.fromkeys(wanted, 0))  # recordCount leaves out objects without rows
        for batch in _composite_batches(subrequests):
            for sub, answer in zip(batch, self._composite(batch), strict=True):
                self._take(sub, answer, required=sub.target == obj)

    def _composite(self, batch: Sequence[_Subrequest]) -> list[dict[str, Any]]:
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {"method": "GET", "url": s.url, "referenceId": f"r{i}"} for i, s in enumerate(batch)
            ],
        }
        return self._with_session(
            "POST composite",
            lambda: self.sf.restful("composite", method="POST", json=body, idempotent=True),  # reads only
        )["compositeResponse"]

    def _take(self, sub: _Subrequest, answer: Mapping[str, Any], *, required: bool) -> None:
        status, body = answer["httpStatusCode"], answer["body"]
        if status != 200:
            code, message = error_fields(body)
            if required and sub.kind == "describe":
                raise ApiError(SYSTEM, f"GET sobjects/{sub.target}/describe", status, code, message)
            # a prefetched object may not exist in this org; a missing count only costs a REST page later
            log.info("Salesforce %s of %s not available: %s %s", sub.kind, sub.target, status, code)
        elif sub.kind == "describe":
            self._describes[sub.target] = body
        elif sub.kind == "recordCount":
            self._counts.update({e["name"]: int(e["count"]) for e in body.get("sObjects", [])})
        else:
            self._counts[sub.target] = int(body["totalSize"])

    def limits(self) -> dict[str, Any]:
        return self._with_session("GET limits", lambda: self.sf.limits())

    def query_pages(
        self, soql: str, *, include_deleted: bool = True, batch_size: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Pages of a REST query (queryAll by default): each the JSON page with ``records``, ``totalSize``."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        endpoint = "queryAll" if include_deleted else "query"
        page = self._with_session(
            f"GET {endpoint}", lambda: self.sf.query(soql, include_deleted=include_deleted, headers=headers)
        )
        yield page
        while not page.get("done", True):
            next_url = page["nextRecordsUrl"]
            page = self._with_session(
                f"GET {endpoint}/<locator>",
                lambda next_url=next_url: self.sf.query_more(
                    next_url, identifier_is_url=True, headers=headers
                ),
            )
            yield page

    def count(self, soql: str, *, include_deleted: bool = True) -> int:
        """``totalSize`` of a ``SELECT COUNT() ...`` (or any) query."""
        return int(next(self.query_pages(soql, include_deleted=include_deleted))["totalSize"])

    def counts(self, soqls: Sequence[str], *, include_deleted: bool = True) -> list[int]:
        """``totalSize`` of several queries, in Composite requests (one call each for up to 5 queries)."""
        endpoint = "queryAll" if include_deleted else "query"
        base = f"/services/data/v{self.config.api_version}/{endpoint}"
        subrequests = [_Subrequest("count", soql, f"{base}?{urlencode({'q': soql})}") for soql in soqls]
        totals: list[int] = []
        for batch in _composite_batches(subrequests):
            for sub, answer in zip(batch, self._composite(batch), strict=True):
                if answer["httpStatusCode"] != 200:
                    code, message = error_fields(answer["body"])
                    raise ApiError(
                        SYSTEM, f"GET {endpoint} {sub.target}", answer["httpStatusCode"], code, message
                    )
                totals.append(int(answer["body"]["totalSize"]))
        return totals

    def update_records(self, obj: str, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections update, 200 per call, allOrNone false: one result per record, in order."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), COLLECTION_MAX):
            chunk = [{"attributes": {"type": obj}, **r} for r in records[start : start + COLLECTION_MAX]]
            body = {"allOrNone": False, "records": chunk}
            results += self._with_session(
                "PATCH composite/sobjects",
                lambda body=body: self.sf.restful("composite/sobjects", method="PATCH", json=body),
            )
        return results

    # -- Bulk API 2.0 -------------------------------------------------------------------------------------
    def _poll(self, kind: str, job_id: str, first_wait: float = 0.0) -> dict[str, Any]:
        job = poll_job(
            lambda: self.json("GET", f"jobs/{kind}/{job_id}"),
            lambda job: job.get("state") not in _TERMINAL,
            timeout_s=self.poll_max_seconds,
            first_wait_s=first_wait,
        )
        if job.get("state") != "JobComplete":
            raise BulkJobFailed(
                SYSTEM,
                f"GET jobs/{kind}/{job_id}",
                200,
                job.get("state"),
                job.get("errorMessage") or "job did not complete",
            )
        return job

    def bulk_query_pages(
        self,
        soql: str,
        *,
        include_deleted: bool = True,
        max_records: int | None = None,
        expected_rows: int = 0,
    ) -> Iterator[bytes]:
        """Raw CSV pages of a Bulk 2.0 query job (queryAll by default), each with its own header row.

        A job is not done before it could have read its rows: the first status poll waits the time
        ``expected_rows`` take at ``BULK_ROWS_PER_S`` (a poll earlier only spends a call), then backs off."""
        job = self.json(
            "POST",
            "jobs/query",
            json={
                "operation": "queryAll" if include_deleted else "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
            idempotent=True,  # a second job for the same query is wasted work, not a wrong result
        )
        self._poll("query", job["id"], first_wait=expected_rows / BULK_ROWS_PER_S)
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"locator": locator} if locator else {}
            if max_records:
                params["maxRecords"] = max_records
            response = self.request(
                "GET", f"jobs/query/{job['id']}/results", params=params, headers={"Accept-Encoding": "gzip"}
            )
            yield response.content
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

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
        job = self.json("POST", "jobs/ingest", json=spec)
        base = f"jobs/ingest/{job['id']}"
        self.request("PUT", f"{base}/batches", data=csv_data, headers={"Content-Type": "text/csv"})
        self.json("PATCH", base, json={"state": "UploadComplete"})
        try:
            done = self._poll("ingest", job["id"], first_wait=rows / BULK_INGEST_ROWS_PER_S)
        except BulkJobFailed as e:
            done = {"state": e.code, "numberRecordsProcessed": 0, "numberRecordsFailed": 0}

        def result_rows(kind: str) -> list[dict[str, str]]:
            return _csv_rows(self.request("GET", f"{base}/{kind}").content)

        state = str(done.get("state"))
        processed = int(done.get("numberRecordsProcessed") or 0)
        failed_count = int(done.get("numberRecordsFailed") or 0)
        failed = result_rows("failedResults") if failed_count or state != "JobComplete" else []
        told = state == "JobComplete" and processed == rows and len(failed) == failed_count
        return BulkIngestResult(
            job_id=job["id"],
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
