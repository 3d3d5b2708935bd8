"""Act-On client: v1 lists, opt-outs and messages, v2 unified contacts; paginators yield pages.

Each HTTP attempt waits for the shared 5-per-second bucket and adds to the persisted daily call count.
A 401 renews the token once (refresh grant under the cache lock) and repeats the call.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import requests
import tenacity

from ingest.clients.acton_auth import SYSTEM, ActOnConfig, obtain_token
from ingest.clients.answers import UnexpectedAnswer, agree, rows, whole_number
from ingest.clients.call_log import DailyCallLog
from ingest.clients.errors import ApiError
from ingest.clients.http import CallCounter, json_or_raise, new_session, raise_for_error
from ingest.clients.job_polling import poll_job
from ingest.clients.rate_limit import shared_bucket
from ingest.clients.redact import RedactingFilter
from ingest.clients.token_cache import TokenCache

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

MAX_PAGE = 1000
# Rows each page of a v1 read re-reads of the page before: the most rows that may leave the list between two
# pages ahead of the read without it looking further back.
OVERLAP = 20
DELETE_BATCH = 100
_EXPIRY_MARGIN_S = 60
DRILLDOWNS = ("SENT", "OPENED", "CLICKED", "BOUNCED", "OPT_OUT", "SPAM")


def _csv_line(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([value])
    return out.getvalue()


def survives_csv(email: str) -> bool:
    """Whether a CSV reader (one that drops a leading byte-order mark, as Act-On's does) gets ``email`` back
    exactly from the line an upload carries: one that would not is never sent, since the wrong person would be
    opted out and the right one recorded as done."""
    parsed = list(csv.reader(io.StringIO(_csv_line(email).encode().decode("utf-8-sig"), newline="")))
    return bool(email) and parsed == [[email]]


def emails_csv(emails: Iterable[str]) -> bytes:
    """A one-column CSV upload of ``emails``, quoted where CSV needs it; each must survive the round trip."""
    lines = []
    for email in emails:
        if not survives_csv(email):
            raise ValueError(
                f"email {email!r} does not survive a CSV round trip; it must be rejected, not sent"
            )
        lines.append(_csv_line(email))
    return "".join(lines).encode()


def _row_key(row: Any) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def _after_anchors(page: Sequence[Any], anchors: Sequence[str]) -> int | None:
    """Where ``page`` continues after the newest of ``anchors`` it holds (0 with no anchors), or None."""
    if not anchors:
        return 0
    keys = [_row_key(r) for r in page]
    for anchor in reversed(anchors):
        if anchor in keys:
            return len(keys) - keys[::-1].index(anchor)
    return None


class ActOnClient:
    def __init__(self, config: ActOnConfig, token_cache: TokenCache, counter: CallCounter | None = None):
        self.config = config
        self.token_cache = token_cache
        self.counter = counter or CallCounter()
        self.daily = DailyCallLog(token_cache.path.with_name("acton_calls.json"), config.cache_key)
        bucket = shared_bucket(config.cache_key, config.rate_per_s)

        def before_attempt() -> None:
            bucket.acquire()
            self.daily.add()

        self.session = new_session(
            SYSTEM, counter=self.counter, before_attempt=before_attempt, ca_bundle=config.ca_bundle
        )
        self._token: dict[str, Any] | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, counter: CallCounter | None = None
    ) -> ActOnClient:
        """Built from ACTON_* variables (``env`` defaults to os.environ; tests pass a sandbox.env dict)."""
        return cls(ActOnConfig.from_env(env), TokenCache.from_env(env), counter)

    @property
    def calls(self) -> int:
        """HTTP attempts spent so far by this client, retries and token calls included."""
        return self.counter.get(SYSTEM)

    # -- authentication -------------------------------------------------------------------------------
    def _renew(self, stale: str | None) -> None:
        self._token = self.token_cache.renew(
            self.config.cache_key, stale, lambda current: obtain_token(self.config, self.session, current)
        )

    def _access_token(self) -> str:
        if self._token is None:
            cached = self.token_cache.get(self.config.cache_key)
            if (
                cached
                and cached.get("access_token")
                and cached.get("expires_at", 0) > time.time() + _EXPIRY_MARGIN_S
            ):
                self._token = cached
            else:
                self._renew(cached.get("access_token") if cached else None)
        assert self._token is not None
        return self._token["access_token"]

    # -- requests -------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A checked request; a 401 renews the token once and repeats."""
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(2):
            token = self._access_token()
            response = self.session.request(
                method,
                f"{self.config.base_url}{path}",
                headers={**extra_headers, "Authorization": f"Bearer {token}"},
                **kwargs,
            )
            if response.status_code == 401 and not attempt:
                log.info("act-on token refused on %s %s; renewing", method, path)
                self._renew(token)
                continue
            raise_for_error(SYSTEM, response)
            return response
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json_or_raise(SYSTEM, self.request(method, path, **kwargs))

    # -- paginators -------------------------------------------------------------------------------------
    def offset_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        rows_key: str = "result",
        count: int = MAX_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a v1 offset/count read, a page at a time: each page is the answer with ``rows_key``
        holding only the rows not yielded before.

        Complete even when the list changes while it is read or the server answers fewer rows than asked:
        each page after the first starts a few rows back and continues after the last of them it finds (a row
        removed ahead of the offset shifts the rest left by one, which would skip a row). The read ends on a
        page that adds nothing after those rows, or once as many rows are in as an exact ``totalCount`` (one
        other than -1 that stayed the same throughout) says, never on a short page alone; that count must
        equal the rows read."""
        call = f"GET {path}"
        position, tail, shortest, read = 0, deque[str](maxlen=OVERLAP), count, 0
        totals: set[int] = set()
        while True:
            anchors = list(tail)[len(tail) - min(len(tail), shortest // 2) :]
            start = position - len(anchors)
            while True:
                body = self.json("GET", path, params={**(params or {}), "offset": start, "count": count})
                page = rows(body, SYSTEM, call, rows_key)
                totals.add(whole_number(body, SYSTEM, call, "totalCount") if "totalCount" in body else -1)
                if anchors and not page:
                    # it should hold the rows read last: a list does not lose them all between two pages
                    raise UnexpectedAnswer(
                        SYSTEM, call, f"no rows at offset {start}, where rows were read before"
                    )
                after = _after_anchors(page, anchors)
                if after is not None or start == 0:
                    break
                start = max(0, start - count)  # the rows read last moved further back: look there
            if after is None:
                raise UnexpectedAnswer(
                    SYSTEM, call, f"none of the last {len(anchors)} rows read is on the list any more"
                )
            fresh = page[after:]
            if not fresh:
                break
            yield {**body, rows_key: fresh}
            read += len(fresh)
            position, shortest = start + len(page), min(shortest, len(page))
            tail.extend(_row_key(r) for r in fresh)
            if len(totals) == 1 and 0 <= next(iter(totals)) <= read:
                break  # an exact count, unchanged since the first page: every row is in
        if len(totals) == 1 and (total := totals.pop()) >= 0:
            agree(SYSTEM, call, "totalCount", total, read)

    def v2_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        rows_key: str = "contacts",
        page_size: int = MAX_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Pages of the v2 page/pageSize style (pages from 0), until ``totalCount`` rows are read or a page is
        empty; a ``totalCount`` that stayed the same throughout must equal the rows read."""
        call = f"GET {path}"
        page, read, totals = 0, 0, set()
        while True:
            body = self.json("GET", path, params={**(params or {}), "page": page, "pageSize": page_size})
            found = rows(body, SYSTEM, call, rows_key)
            totals.add(total := whole_number(body, SYSTEM, call, "totalCount"))
            if not found:
                break
            yield body
            read, page = read + len(found), page + 1
            if 0 <= total <= read:
                break
        if len(totals) == 1 and (total := totals.pop()) >= 0:
            agree(SYSTEM, call, "totalCount", total, read)

    # -- reads ------------------------------------------------------------------------------------------
    def account_id(self) -> str:
        """The v2 ``{accountId}``; kept in the token cache entry so it costs one call per credential."""
        self._access_token()
        assert self._token is not None
        if not self._token.get("account_id"):
            account = self.json("GET", "/api/1/account")
            self._token["account_id"] = str(account["account_id"])
            self.token_cache.update_fields(self.config.cache_key, account_id=self._token["account_id"])
        return self._token["account_id"]

    def lists(self, listing_type: str = "CONTACT_LIST") -> Iterator[dict[str, Any]]:
        return self.offset_pages("/api/1/list", {"listingtype": listing_type})

    def list_record_pages(
        self, list_id: str, *, modified_after_ms: int | None = None, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """JSON pages of a list's records (``headers`` + ``data`` rows), optionally only those modified after."""
        params: dict[str, Any] = {"responseformat": "JSON", "datequalifiers": "true"}
        if modified_after_ms is not None:
            params["modafter"] = modified_after_ms
        if fields:
            params["fields"] = ";".join(fields)
        return self.offset_pages(f"/api/1/list/{list_id}", params, rows_key="data")

    @tenacity.retry(
        retry=tenacity.retry_if_exception_type(requests.exceptions.ChunkedEncodingError),
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_exponential_jitter(initial=0.5, max=30),
        reraise=True,
    )
    def download_list_csv(self, list_id: str, out: IO[bytes]) -> int:
        """Stream the whole list as CSV into ``out`` (one call, whatever the size); returns the bytes written."""
        out.seek(0)
        out.truncate()
        with self.request(
            "GET",
            f"/api/1/list/{list_id}",
            params={"responseformat": "CSV", "datequalifiers": "true"},
            stream=True,
        ) as response:
            written = 0
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
                written += len(chunk)
        return written

    def list_csv(self, list_id: str) -> bytes:
        buf = io.BytesIO()
        self.download_list_csv(list_id, buf)
        return buf.getvalue()

    def optout_pages(
        self, kind: str = "optout", created_after_ms: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Pages of ``optout``, ``hardbounce`` or ``spamcomplaint`` rows (totalCount is always -1 there)."""
        params = {"createdafter": created_after_ms} if created_after_ms is not None else {}
        return self.offset_pages(f"/api/1/list/{kind}", params)

    def contact_pages(self, *, updated_after_s: int | None = None) -> Iterator[dict[str, Any]]:
        """v2 unified contact pages; the time filter is in epoch seconds (v1 uses milliseconds)."""
        params = {"updatedAfter": updated_after_s} if updated_after_s is not None else {}
        return self.v2_pages(f"/ucl/v2/{self.account_id()}/contact/", params)

    def message_pages(self, message_type: str = "SENT") -> Iterator[dict[str, Any]]:
        return self.offset_pages("/api/1/message", {"type": message_type}, rows_key="msgresult")

    def message_report(self, message_id: str) -> dict[str, Any]:
        return self.json("GET", f"/api/1/message/{message_id}/report")

    def drilldown_pages(self, message_id: str, verb: str) -> Iterator[dict[str, Any]]:
        return self.offset_pages(f"/api/1/message/{message_id}/report/{verb}", {"responseformat": "JSON"})

    # -- writes (used by the write-back) ---------------------------------------------------------------
    def create_list(
        self, name: str, uploadspecs: Sequence[Mapping[str, Any]], folder: str | None = None
    ) -> str:
        """An empty list whose columns are given by ``uploadspecs`` (one must be of columnType EMAIL)."""
        form = {"listname": name, "headings": "Y", "uploadspecs": json.dumps(list(uploadspecs))}
        if folder:
            form["foldername"] = folder
        # no file part: requests builds multipart only from ``files``, so the fields go there as plain parts
        body = self.json("POST", "/api/1/list", files={k: (None, v) for k, v in form.items()})
        return str(body["listId"])

    def merge_upload(
        self,
        list_id: str,
        csv_data: bytes,
        uploadspecs: Sequence[Mapping[str, Any]],
        *,
        merge_mode: str = "UPSERT",
        merge_key: str = "EMAIL",
        put_empty_values: bool = False,
    ) -> str:
        """Merge a CSV (with a header row) into a list; returns the job id to poll."""
        mergespecs = [
            {"dstListId": list_id, "mergeMode": merge_mode, "columnMap": [], "mergeKeyHeading": merge_key}
        ]
        form = {
            "uploadspecs": json.dumps(list(uploadspecs)),
            "mergespecs": json.dumps(mergespecs),
            "headings": "Y",
            "fieldseparator": "COMMA",
            "quotecharacter": "DOUBLE_QUOTE",
            "putEmptyValues": "Y" if put_empty_values else "N",
        }
        body = self.json(
            "PUT",
            f"/api/1/list/{list_id}",
            data=form,
            files={"file": ("upload.csv", csv_data, "text/csv")},
        )
        return str(body["jobId"])

    def job_status(self, job_id: str) -> dict[str, Any]:
        return self.json("GET", f"/api/1/list/{job_id}/status")

    def wait_for_job(self, job_id: str, timeout_s: float = 1800) -> dict[str, Any]:
        """Poll a list upload job until it is no longer pending or running."""
        status = poll_job(
            lambda: self.job_status(job_id),
            lambda s: str(s.get("status", "")).lower().startswith("the job is"),
            timeout_s=timeout_s,
        )
        if str(status.get("status", "")).lower().startswith("the job is"):
            raise ApiError(
                SYSTEM, f"GET /api/1/list/{job_id}/status", 200, "timeout", str(status.get("status"))
            )
        return status

    def rejected_records(self, filename: str) -> bytes:
        return self.request("GET", "/api/1/list/rejectedUploadRecords", params={"filename": filename}).content

    def delete_records(self, list_id: str, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Bulk delete, 100 ids per call; one result body per call."""
        return [
            self.json(
                "DELETE",
                f"/api/1/list/{list_id}/record",
                params={"contactids": ",".join(record_ids[i : i + DELETE_BATCH])},
            )
            for i in range(0, len(record_ids), DELETE_BATCH)
        ]

    def opt_out(self, emails: Iterable[str]) -> dict[str, Any]:
        """Add emails to the account's opt-out list."""
        return self.json(
            "PUT", "/api/1/list/optout", files={"file": ("optout.csv", emails_csv(emails), "text/csv")}
        )

    def opt_in(self, emails: Iterable[str]) -> dict[str, Any]:
        """Remove emails from the opt-out list (a feature Act-On enables per account)."""
        return self.json(
            "PUT", "/api/1/list/optin", files={"file": ("optin.csv", emails_csv(emails), "text/csv")}
        )

    def spent_today(self) -> int:
        """Calls this account spent today (UTC) across every process, as recorded by the clients."""
        return self.daily.spent_today()
