"""Check 5, extraction completeness: per Salesforce object, ``SELECT COUNT()`` of the live rows created up to the
extract's watermark against the warehouse's, plus one for the recent cursor window before the watermark.

A total that differs means rows the warehouse never saw or deletes it missed (hard deletes before the daily Id
reconciliation, a row deleted without its SystemModstamp moving); more rows in Salesforce's window than in the
warehouse's means changes committed behind the cursor — the silent gaps other extractors are known for.
Rows modified after the watermark leave Salesforce's window, so fewer there is not a gap."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import duckdb

from ingest import soql
from ingest.extract_salesforce import CURSOR_FIELDS, OBJECTS, SOURCE
from ingest.health.result import CheckResult, status_of
from ingest.salesforce import SalesforceClient
from ingest.warehouse import get_watermark, q, table_columns

NAME = "extraction_complete"
TITLE = "Extraction completeness"
WINDOW = timedelta(hours=1)


def _live_count(client: SalesforceClient, obj: str, created_until: datetime | None, has_deleted: bool) -> int:
    """Rows not deleted, as all rows minus the deleted ones (queryAll): a row whose IsDeleted is unset is live."""
    where = [f"CreatedDate <= {soql.datetime_literal(created_until)}"] if created_until else []
    total = client.count(f"SELECT COUNT() FROM {obj}" + (f" WHERE {where[0]}" if where else ""))
    if not has_deleted:
        return total
    deleted = " AND ".join([*where, "IsDeleted = true"])
    return total - client.count(f"SELECT COUNT() FROM {obj} WHERE {deleted}")


def _object_counts(
    conn: duckdb.DuckDBPyConnection, client: SalesforceClient, obj: str, window: timedelta
) -> dict[str, object]:
    columns = {c.lower(): c for c in table_columns(conn, "raw_salesforce", obj.lower())}
    mark = get_watermark(conn, SOURCE, obj)
    if not columns or mark is None:
        return {"object": obj, "problem": "never extracted"}
    top = datetime.fromisoformat(mark.replace("Z", "+00:00")).replace(tzinfo=None)
    cursor = next((columns[f.lower()] for f in CURSOR_FIELDS if f.lower() in columns), None)
    table = f"raw_salesforce.{q(obj.lower())}"
    live = 'NOT coalesce("IsDeleted", false)' if "isdeleted" in columns else "true"
    created = "createddate" in columns
    created_sql = ' AND "CreatedDate" <= ?' if created else ""
    warehouse_total = conn.execute(
        f"SELECT count(*) FROM {table} WHERE {live}{created_sql}", [top] if created else []
    ).fetchone()[0]  # type: ignore[index]
    source_total = _live_count(client, obj, top if created else None, "isdeleted" in columns)
    counts: dict[str, object] = {
        "object": obj,
        "watermark": mark,
        "salesforce_total": source_total,
        "warehouse_total": warehouse_total,
    }
    if cursor:
        start = top - window
        counts["warehouse_window"] = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {q(cursor)} BETWEEN ? AND ?", [start, top]
        ).fetchone()[0]  # type: ignore[index]
        counts["salesforce_window"] = client.count(
            f"SELECT COUNT() FROM {obj} WHERE {cursor} >= {soql.datetime_literal(start)} "
            f"AND {cursor} <= {soql.datetime_literal(top)}"
        )
    problems = []
    if source_total != warehouse_total:
        diff = warehouse_total - source_total
        problems.append(
            f"the warehouse has {diff} more live {obj} rows than Salesforce (deleted in Salesforce, the delete "
            "not seen)"
            if diff > 0
            else f"Salesforce has {-diff} {obj} rows the warehouse never received"
        )
    if cursor and counts["salesforce_window"] > counts["warehouse_window"]:  # type: ignore[operator]
        gap = counts["salesforce_window"] - counts["warehouse_window"]  # type: ignore[operator]
        problems.append(
            f"{gap} {obj} rows changed in the window before the watermark are not in the warehouse as changed "
            f"(committed behind the {cursor} cursor; window {window})"
        )
    if problems:
        counts["problem"] = "; ".join(problems)
    return counts


def check_extraction_complete(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    objects: Sequence[str] = OBJECTS,
    window: timedelta = WINDOW,
) -> CheckResult:
    per_object = [_object_counts(conn, client, obj, window) for obj in objects]
    broken = [c for c in per_object if "problem" in c]
    counts: dict[str, int | float] = {}
    for c in per_object:
        for key in ("salesforce_total", "warehouse_total", "salesforce_window", "warehouse_window"):
            if key in c:
                counts[f"{c['object']}.{key}"] = c[key]  # type: ignore[assignment]
    label = objects[0] if len(objects) == 1 else f"{len(objects)} Salesforce objects"
    if not broken:
        return CheckResult(
            NAME,
            TITLE,
            status_of(False),
            f"the warehouse holds every row of {label} up to the watermark",
            counts=counts,
        )
    return CheckResult(
        NAME,
        TITLE,
        status_of(True),
        "; ".join(f"{c['object']}: {c['problem']}" for c in broken),
        "force the extract's reconciliation (it re-reads the object, writes what the cursor missed and flags "
        "rows deleted in Salesforce): delete the '<Object>.reconciled_at' rows from sync_state.watermarks, then run the sync job "
        "or `make doctor`; it otherwise runs once a day",
        counts,
        broken,
    )
