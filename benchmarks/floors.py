"""Floors a stage is compared with: the fewest API calls its page and batch sizes allow, the time Act-On's
rate limit forces on those calls, and the extract floor (the same Bulk 2.0 CSV pages fetched with plain HTTP and
loaded with DuckDB's own ``read_csv``)."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import requests

from ingest.clients.acton_client import DELETE_BATCH as ACTON_DELETE_BATCH
from ingest.clients.salesforce_client import COLLECTION_MAX, SalesforceClient
from ingest.clients.salesforce_frames import columns_from_describe

SF_REST_PAGE = 2000  # REST query batchSize maximum
SF_BULK_PAGE = 100_000  # rows per Bulk 2.0 results page (the sandbox's and the extract's default)
SF_BULK_JOB_OVERHEAD = 2  # create + one poll
SF_BULK_INGEST_CALLS = 4  # create, upload, close, one poll (reading results back is optional)
ACTON_PAGE = 1000  # v1 count / v2 pageSize maximum
ACTON_OPTOUT_BATCH = 5000  # emails per opt-out upload (writeback/optouts.py)
ACTON_RATE_PER_S = 5.0


def sf_query_calls(rows: int) -> int:
    """Fewest calls that read ``rows`` rows: REST pages or one Bulk 2.0 job, whichever is fewer (at least 1)."""
    rest = math.ceil(rows / SF_REST_PAGE)
    bulk = SF_BULK_JOB_OVERHEAD + math.ceil(rows / SF_BULK_PAGE)
    return max(1, min(rest, bulk))


def sf_write_calls(rows: int, objects: int = 2) -> int:
    """Fewest calls that update ``rows`` records spread over ``objects`` sObjects (Collections or Bulk ingest)."""
    if rows == 0:
        return 0
    return min(math.ceil(rows / COLLECTION_MAX), SF_BULK_INGEST_CALLS * objects)


def acton_read_calls(rows: int) -> int:
    return max(1, math.ceil(rows / ACTON_PAGE))


def acton_list_sync_calls(rows: int, removed: int, lists: int, create: bool) -> int:
    """A merge upload and one status poll per list (and the list's creation the first time) for the members,
    and Act-On's bulk delete of up to 100 records a call for the removals."""
    upserts = 0 if rows == removed else lists * (2 + int(create))
    return upserts + math.ceil(removed / ACTON_DELETE_BATCH)


def acton_optout_calls(rows: int) -> int:
    return math.ceil(rows / ACTON_OPTOUT_BATCH)


def rate_floor_s(acton_calls: int) -> float:
    return acton_calls / ACTON_RATE_PER_S


def bulk_csv_pages(
    session: requests.Session, base: str, headers: Mapping[str, str], query: str, out_dir: Path
) -> tuple[list[Path], int]:
    """One queryAll job; its result pages written to files as they arrive. Returns (files, calls)."""
    job = session.post(
        f"{base}/jobs/query",
        json={"operation": "queryAll", "query": query, "contentType": "CSV", "lineEnding": "LF"},
        headers=headers,
    )
    job.raise_for_status()
    job_id, calls = job.json()["id"], 1
    while True:
        calls += 1
        state = session.get(f"{base}/jobs/query/{job_id}", headers=headers).json()["state"]
        if state == "JobComplete":
            break
        if state in ("Failed", "Aborted"):
            raise RuntimeError(f"floor query job {job_id} ended {state}")
        time.sleep(0.05)
    files, locator = [], None
    while True:
        params = {"locator": locator} if locator else {}
        page = session.get(
            f"{base}/jobs/query/{job_id}/results",
            params=params,
            headers={**headers, "Accept-Encoding": "gzip"},
        )
        page.raise_for_status()
        calls += 1
        path = out_dir / f"page{len(files):05d}.csv"
        path.write_bytes(page.content)
        files.append(path)
        locator = page.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return files, calls


def plain_http(client: SalesforceClient) -> tuple[requests.Session, str, dict[str, str]]:
    """A bare requests session, the versioned data URL and the bearer header of ``client``'s token."""
    session = requests.Session()
    # else a REQUESTS_CA_BUNDLE in the environment would override the pinned sandbox CA
    session.trust_env = False
    session.verify = client.config.ca_bundle or True
    return session, client.url("").rstrip("/"), {"Authorization": f"Bearer {client.token['access_token']}"}


def extract_floor(
    client: SalesforceClient, objects: Sequence[str], work_dir: Path
) -> dict[str, dict[str, Any]]:
    """Per object: seconds and calls to fetch every row's CSV pages with plain HTTP and load them with
    ``read_csv`` into a DuckDB file. Authentication and describe (for the SELECT list) are not timed."""
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    session, base, headers = plain_http(client)
    conn = duckdb.connect(str(work_dir / "floor.duckdb"))
    out: dict[str, dict[str, Any]] = {}
    for obj in objects:
        select = ", ".join(c.name for c in columns_from_describe(client.describe(obj)))
        pages_dir = work_dir / obj
        pages_dir.mkdir()
        started = time.perf_counter()
        files, calls = bulk_csv_pages(session, base, headers, f"SELECT {select} FROM {obj}", pages_dir)
        fetched = time.perf_counter() - started
        conn.execute(
            f'CREATE TABLE "{obj}" AS SELECT * FROM read_csv(?, header = true)', [[str(f) for f in files]]
        )
        seconds = time.perf_counter() - started
        (rows,) = conn.execute(f'SELECT count(*) FROM "{obj}"').fetchone()  # type: ignore[misc]
        out[obj] = {"rows": rows, "seconds": seconds, "fetch_seconds": fetched, "calls": calls}
    conn.close()
    shutil.rmtree(work_dir, ignore_errors=True)
    return out
