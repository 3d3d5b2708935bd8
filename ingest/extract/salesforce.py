"""Extract Salesforce objects into ``raw_salesforce.<object>``: incremental by SystemModstamp, deletes included.

Per object: describe (new fields become columns; a new column triggers a full re-read so that existing rows get
its values), a window ``cursor >= watermark - lookback`` read with queryAll (so IsDeleted rows arrive), REST for
small windows and Bulk 2.0 for large ones, page by page into DuckDB. The watermark is the server's time when the
read began (the largest cursor value seen, if the server sent no time) and commits in the transaction of the last
page. A periodic reconciliation re-reads the object and compares it field by field: it catches hard deletes
(CampaignMember), rows that committed behind the watermark and changes that did not move SystemModstamp.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain

import duckdb
import polars as pl

from common.warehouse import (
    ensure_table,
    get_watermark,
    mark_reconciled,
    q,
    reconciliation_due,
    register,
    set_watermark,
    table_columns,
    transaction,
    upsert,
    utc_now,
)
from ingest.clients import salesforce_soql
from ingest.clients.http import ServerClock
from ingest.clients.salesforce_client import SalesforceClient
from ingest.clients.salesforce_frames import (
    Column,
    columns_from_describe,
    frame_from_bulk_page,
    frame_from_records,
)
from ingest.extract.results import ExtractResult

log = logging.getLogger(__name__)

SOURCE = "salesforce"
SCHEMA = "raw_salesforce"
OBJECTS = (
    "User",
    "Account",
    "Campaign",
    "Lead",
    "Contact",
    "Opportunity",
    "OpportunityContactRole",
    "OpportunityHistory",
    "CampaignMember",
)
CURSOR_FIELDS = ("SystemModstamp", "CreatedDate")
# A Bulk 2.0 query costs at least three calls (create, one poll, one result page of up to 100,000 rows) and
# seconds of job latency; REST costs a call per 2,000 rows. Above three REST pages, Bulk is the cheaper way.
DEFAULT_BULK_THRESHOLD = 6_000


def _bulk_threshold() -> int:
    """SALESFORCE_BULK_THRESHOLD, else the default: lets a small org (tests, demos) take the Bulk path."""
    return int(os.environ.get("SALESFORCE_BULK_THRESHOLD") or DEFAULT_BULK_THRESHOLD)


@dataclass(frozen=True)
class SalesforceExtractSettings:
    lookback: timedelta = timedelta(minutes=5)
    # Above this many rows in a window the extract uses Bulk 2.0; REST below (fewer calls, no job latency).
    bulk_threshold: int = field(default_factory=_bulk_threshold)
    reconcile_every: timedelta = timedelta(days=1)
    rest_batch_size: int = 2000


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def _frames(
    client: SalesforceClient,
    query: str,
    columns: Sequence[Column],
    settings: SalesforceExtractSettings,
    expected: int | None = None,
) -> tuple[str, Iterator[pl.DataFrame]]:
    """Typed frames of a queryAll. Bulk 2.0 straight away when ``expected`` (the object's record count, for a
    full read) is above the threshold; otherwise REST, whose first page's totalSize is the window's COUNT():
    above the threshold the REST cursor is dropped for a Bulk job, so a small window costs a single call.

    Either way the frames come from pages the client checked, and they are the rows the answers counted (REST's
    totalSize, each Bulk page's Sforce-NumberOfRecords, the job's numberRecordsProcessed): a disagreement raises
    before the last page and the watermark are written."""
    now = utc_now()

    def bulk(rows: int) -> Iterator[pl.DataFrame]:
        pages = client.bulk_query_pages(query, expected_rows=rows)
        return (frame_from_bulk_page(p, columns, now) for p in pages)

    if expected is not None and expected > settings.bulk_threshold:
        return "bulk", bulk(expected)
    pages = client.query_pages(query, batch_size=settings.rest_batch_size)
    first = next(pages)
    if first["totalSize"] > settings.bulk_threshold:
        pages.close()
        return "bulk", bulk(first["totalSize"])
    return "rest", (frame_from_records(p["records"], columns, now) for p in chain([first], pages))


class _ObjectLoader:
    def __init__(self, conn: duckdb.DuckDBPyConnection, obj: str, columns: Sequence[Column]):
        self.conn = conn
        self.obj = obj
        self.table = obj.lower()
        self.target = f"{SCHEMA}.{q(self.table)}"
        self.has_deleted = any(c.name == "IsDeleted" for c in columns)

    def write(self, frame: pl.DataFrame, result: ExtractResult) -> None:
        """Upsert one page (inside the caller's transaction), counting rows that turn deleted."""
        if frame.is_empty():
            return
        if self.has_deleted:
            batch = register(self.conn, frame)
            try:
                row = self.conn.execute(
                    f'SELECT count(*) FROM {batch} b LEFT JOIN {self.target} t ON t."Id" = b."Id" '
                    f'WHERE b."IsDeleted" AND NOT coalesce(t."IsDeleted", false)'
                ).fetchone()
            finally:
                self.conn.unregister(batch)
            result.rows_deleted += int(row[0]) if row else 0
        counts = upsert(self.conn, SCHEMA, self.table, frame, ["Id"])
        result.rows_inserted += counts.inserted
        result.rows_updated += counts.updated


def _load(
    conn: duckdb.DuckDBPyConnection,
    loader: _ObjectLoader,
    frames: Iterator[pl.DataFrame],
    cursor: str | None,
    result: ExtractResult,
    clock: ServerClock,
) -> None:
    """Write page by page, each in its own transaction; the last one also carries the new watermark: the
    server's time when the read began (``clock``), else the newest cursor value read."""
    newest: datetime | None = None
    last: pl.DataFrame | None = None
    for frame in frames:
        if last is not None:
            with transaction(conn):
                loader.write(last, result)
        if cursor and not frame.is_empty():
            top = frame[cursor].max()
            newest = top if newest is None or (top is not None and top > newest) else newest  # type: ignore[operator]
        last = frame
    with transaction(conn):
        if last is not None:
            loader.write(last, result)
        after = clock.at.replace(tzinfo=None) if clock.at else newest
        if cursor and after is not None:
            if result.watermark_before:
                after = max(after, _parse_ts(result.watermark_before))
            result.watermark_after = salesforce_soql.datetime_literal(after)
            set_watermark(conn, SOURCE, loader.obj, result.watermark_after)


def _reconcile(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    loader: _ObjectLoader,
    columns: Sequence[Column],
    settings: SalesforceExtractSettings,
    result: ExtractResult,
) -> None:
    """Re-read every row and compare it with the warehouse, field by field: rows that are missing or differ are
    written (late commits behind the watermark, changes that did not move SystemModstamp such as formula
    fields), rows the source no longer has are flagged IsDeleted (hard deletes). Costs what a full read costs."""
    names = [c.name for c in columns]
    select = ", ".join(q(n) for n in names)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE _source ({', '.join(f'{q(c.name)} {c.duckdb_type}' for c in columns)})"
    )
    query = f"SELECT {', '.join(names)} FROM {loader.obj}"
    _, frames = _frames(client, query, columns, settings, expected=client.record_count(loader.obj))
    for frame in frames:
        batch = register(conn, frame.select(names))
        conn.execute(f"INSERT INTO _source SELECT {select} FROM {batch}")
        conn.unregister(batch)
    changed = conn.execute(
        f"SELECT {select}, ?::TIMESTAMP AS _extracted_at FROM (SELECT {select} FROM _source "
        f"EXCEPT SELECT {select} FROM {loader.target})",
        [utc_now()],
    ).pl()
    with transaction(conn):
        loader.write(changed, result)
        if loader.has_deleted:
            row = conn.execute(
                f'UPDATE {loader.target} SET "IsDeleted" = true, "_extracted_at" = ? '
                f'WHERE NOT coalesce("IsDeleted", false) AND "Id" NOT IN (SELECT "Id" FROM _source)',
                [utc_now()],
            ).fetchone()
            result.rows_deleted += int(row[0]) if row else 0
        mark_reconciled(conn, SOURCE, loader.obj)
    conn.execute("DROP TABLE _source")
    if changed.height:
        log.info("%s reconciliation wrote %d rows that were missing or differed", loader.obj, changed.height)


def extract_object(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    obj: str,
    settings: SalesforceExtractSettings | None = None,
    *,
    reconcile: bool | None = None,
) -> ExtractResult:
    """Bring ``raw_salesforce.<obj>`` up to date. ``reconcile`` forces (True) or skips (False) the Id
    reconciliation; by default it runs when ``settings.reconcile_every`` has passed."""
    settings = settings or SalesforceExtractSettings()
    calls_before = client.calls
    result = ExtractResult(SOURCE, obj)
    columns = columns_from_describe(client.describe(obj))
    names = {c.name for c in columns}
    cursor = next((f for f in CURSOR_FIELDS if f in names), None)
    loader = _ObjectLoader(conn, obj, columns)

    had_rows = bool(table_columns(conn, SCHEMA, loader.table))
    added = ensure_table(
        conn, SCHEMA, loader.table, {**{c.name: c.duckdb_type for c in columns}, "_extracted_at": "TIMESTAMP"}
    )
    result.watermark_before = get_watermark(conn, SOURCE, obj)
    full = not result.watermark_before or not cursor or (had_rows and bool(added))
    if added and had_rows:
        log.info("%s has new fields %s: reading it in full so existing rows get their values", obj, added)

    query = f"SELECT {', '.join(c.name for c in columns)} FROM {obj}"
    if not full and cursor and result.watermark_before:
        since = _parse_ts(result.watermark_before) - settings.lookback
        query += f" WHERE {cursor} >= {salesforce_soql.datetime_literal(since)}"
    expected = client.record_count(obj) if full else None
    # A row this read misses was committed after it began, so it bears a later stamp than the read's start less
    # the lookback: the next window starts there, not at the newest row, and the rows written just before this
    # read (the last run's write-back) are not read a second time.
    clock = client.session.server_clock()
    result.mode, frames = _frames(client, query, columns, settings, expected)
    _load(conn, loader, frames, cursor, result, clock)
    result.watermark_after = result.watermark_after or result.watermark_before

    due = reconciliation_due(conn, SOURCE, obj, settings.reconcile_every)
    if reconcile or (reconcile is None and due and not full):
        _reconcile(conn, client, loader, columns, settings, result)
    elif full:
        # a full read is itself a reconciliation of everything but hard deletes of rows never seen
        with transaction(conn):
            mark_reconciled(conn, SOURCE, obj)

    result.api_calls = client.calls - calls_before
    result.budget_remaining = client.api_usage.remaining if client.api_usage else None
    return result


def extract_all(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    objects: Sequence[str] = OBJECTS,
    settings: SalesforceExtractSettings | None = None,
) -> list[ExtractResult]:
    return [extract_object(conn, client, obj, settings) for obj in objects]
