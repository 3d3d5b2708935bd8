"""What every check returns, and the small warehouse helpers the checks share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import duckdb

SAMPLE_ROWS = 10


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"  # worth a look, not a broken sync (e.g. 80% of the API budget)
    FAIL = "fail"


@dataclass
class CheckResult:
    """One check's verdict. ``summary`` says what is wrong (or that nothing is) in the user's words;
    ``remediation`` says what to do; ``counts`` and ``samples`` are the evidence."""

    name: str
    title: str
    status: Status
    summary: str
    remediation: str = ""
    counts: dict[str, int | float] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status is not Status.FAIL


def status_of(failed: bool, warned: bool = False) -> Status:
    return Status.FAIL if failed else Status.WARN if warned else Status.PASS


def passing(name: str, title: str, summary: str, counts: dict[str, int | float]) -> CheckResult:
    """A check that found nothing wrong: no remediation, and the counts that show it."""
    return CheckResult(name, title, Status.PASS, summary, counts=counts)


def rows(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()
    return found is not None


def extracted_at(conn: duckdb.DuckDBPyConnection, *tables: str) -> datetime | None:
    """When the latest of these raw tables (``schema.table``) was last written by the extract: the state the
    sync models were diffed against. Write-back results after it are changes the warehouse has not seen yet."""
    times = [
        conn.execute(f"SELECT max(_extracted_at) FROM {t}").fetchone()[0]  # type: ignore[index]
        for t in tables
        if table_exists(conn, *t.split("."))
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def plain(value: Any) -> Any:
    """A sample value as text-friendly JSON (dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return value


def sample(records: Sequence[dict[str, Any]], n: int = SAMPLE_ROWS) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in r.items()} for r in records[:n]]


def missing_models(
    conn: duckdb.DuckDBPyConnection, name: str, title: str, *tables: str
) -> CheckResult | None:
    """A failing result when the models a check reads have not been built, else None."""
    absent = [t for t in tables if not table_exists(conn, *t.split("."))]
    if not absent:
        return None
    return CheckResult(
        name,
        title,
        Status.FAIL,
        f"the warehouse has no {', '.join(absent)}: the extract and dbt have not run against it",
        "run `make doctor` (it refreshes both systems into the warehouse) or the sync job",
    )
