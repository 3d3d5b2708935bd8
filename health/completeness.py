"""Check 5, extraction completeness: per Salesforce object, ``SELECT COUNT()`` of the live rows created up to the
extract's watermark against the warehouse's, plus one for the recent cursor window before the watermark (every
object's queries together, five to a Composite call).

A total that differs means rows the warehouse never saw or deletes it missed (hard deletes before the daily Id
reconciliation, a row deleted without its SystemModstamp moving); more rows in Salesforce's window than in the
warehouse's means changes committed behind the cursor — the silent gaps other extractors are known for.
Rows modified after the watermark leave Salesforce's window, so fewer there is not a gap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from common.warehouse import get_watermark, q, table_columns
from health.result import CheckResult, passing, status_of
from ingest.clients import salesforce_soql
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.salesforce import CURSOR_FIELDS, OBJECTS, SOURCE

NAME = "extraction_complete"
TITLE = "Extraction completeness"
WINDOW = timedelta(hours=1)


@dataclass
class _Plan:
    """One object's side of the check: the warehouse's counts, and the COUNT() queries Salesforce answers."""

    counts: dict[str, object]
    queries: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None
    window: timedelta = WINDOW


def _plan(conn: duckdb.DuckDBPyConnection, obj: str, window: timedelta) -> _Plan:
    columns = {c.lower(): c for c in table_columns(conn, "raw_salesforce", obj.lower())}
    mark = get_watermark(conn, SOURCE, obj)
    if not columns or mark is None:
        return _Plan({"object": obj, "problem": "never extracted"})
    top = datetime.fromisoformat(mark.replace("Z", "+00:00")).replace(tzinfo=None)
    cursor = next((columns[f.lower()] for f in CURSOR_FIELDS if f.lower() in columns), None)
    table = f"raw_salesforce.{q(obj.lower())}"
    live = 'NOT coalesce("IsDeleted", false)' if "isdeleted" in columns else "true"
    created = "createddate" in columns
    created_sql = ' AND "CreatedDate" <= ?' if created else ""
    plan = _Plan({"object": obj, "watermark": mark}, cursor=cursor, window=window)
    plan.counts["warehouse_total"] = conn.execute(
        f"SELECT count(*) FROM {table} WHERE {live}{created_sql}", [top] if created else []
    ).fetchone()[0]  # type: ignore[index]
    # all rows (queryAll) minus the deleted ones is the live rows: a row whose IsDeleted is unset is live
    created_until = [f"CreatedDate <= {salesforce_soql.datetime_literal(top)}"] if created else []
    where = {"total": created_until}
    if "isdeleted" in columns:
        where["deleted"] = [*created_until, "IsDeleted = true"]
    if cursor:
        start = top - window
        plan.counts["warehouse_window"] = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {q(cursor)} BETWEEN ? AND ?", [start, top]
        ).fetchone()[0]  # type: ignore[index]
        where["window"] = [
            f"{cursor} >= {salesforce_soql.datetime_literal(start)}",
            f"{cursor} <= {salesforce_soql.datetime_literal(top)}",
        ]
    plan.queries = {
        key: f"SELECT COUNT() FROM {obj}" + (f" WHERE {' AND '.join(terms)}" if terms else "")
        for key, terms in where.items()
    }
    return plan


def _evaluate(plan: _Plan, found: dict[str, int]) -> dict[str, object]:
    counts = plan.counts
    if not plan.queries:
        return counts
    obj, cursor = counts["object"], plan.cursor
    counts["salesforce_total"] = found["total"] - found.get("deleted", 0)
    if cursor:
        counts["salesforce_window"] = found["window"]
    problems = []
    diff = counts["warehouse_total"] - counts["salesforce_total"]  # type: ignore[operator]
    if diff:
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
            f"(committed behind the {cursor} cursor; window {plan.window})"
        )
    if problems:
        counts["problem"] = "; ".join(problems)
    return counts


def object_counts(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    objects: Sequence[str],
    window: timedelta = WINDOW,
) -> list[dict[str, object]]:
    """Each object's counts on both sides (and its problem, if any). Salesforce's side of every object in
    Composite requests: up to three COUNT() queries an object, five a call."""
    plans = [_plan(conn, obj, window) for obj in objects]
    asked = [(i, key, query) for i, plan in enumerate(plans) for key, query in plan.queries.items()]
    answers = client.counts([query for _, _, query in asked]) if asked else []
    found: list[dict[str, int]] = [{} for _ in plans]
    for (i, key, _), total in zip(asked, answers, strict=True):
        found[i][key] = total
    return [_evaluate(plan, got) for plan, got in zip(plans, found, strict=True)]


def check_extraction_complete(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    objects: Sequence[str] = OBJECTS,
    window: timedelta = WINDOW,
) -> CheckResult:
    return summarise(object_counts(conn, client, objects, window))


def summarise(per_object: Sequence[dict[str, object]]) -> CheckResult:
    """One result for the objects' counts: a failure names each object with a problem."""
    objects = [str(c["object"]) for c in per_object]
    broken = [c for c in per_object if "problem" in c]
    counts: dict[str, int | float] = {}
    for c in per_object:
        for key in ("salesforce_total", "warehouse_total", "salesforce_window", "warehouse_window"):
            if key in c:
                counts[f"{c['object']}.{key}"] = c[key]  # type: ignore[assignment]
    label = objects[0] if len(objects) == 1 else f"{len(objects)} Salesforce objects"
    if not broken:
        return passing(NAME, TITLE, f"the warehouse holds every row of {label} up to the watermark", counts)
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
