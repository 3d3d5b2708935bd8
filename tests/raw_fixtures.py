"""Raw warehouse tables as the extract writes them (docs/warehouse.md), for tests that feed dbt by hand.

`create_raw_tables(conn)` makes every `raw_salesforce`, `raw_acton` and `sync_state` table dbt reads (Salesforce
columns from the sandbox's field definitions, typed by their describe type); `insert_rows` fills a table from
dicts, leaving unnamed columns null; `run_dbt` runs the dbt project on such a warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from common.sync_config import SyncConfig, load_sync_config
from common.warehouse import SYNC_STATE_TABLES as WAREHOUSE_SYNC_STATE
from ingest.clients.salesforce_frames import DUCKDB_TYPES
from ingest.extract.acton import TABLES as ACTON_EXTRACT_TABLES
from ingest.extract.salesforce import OBJECTS as SALESFORCE_OBJECTS
from sandbox.salesforce.schema import OBJECTS

ROOT = Path(__file__).resolve().parents[1]

# raw_acton exactly as the extract creates it (optout_history is kept across runs, so it has no _extracted_at)
ACTON_TABLES = ACTON_EXTRACT_TABLES
ACTON_WITHOUT_EXTRACTED_AT = {"optout_history"}

# the sync_state tables dbt reads, exactly as the extract creates them
SYNC_STATE_TABLES = {name: WAREHOUSE_SYNC_STATE[name] for name in ("writeback_results", "consent_ledger")}


def salesforce_columns(object_name: str) -> dict[str, str]:
    """The raw table's columns for a Salesforce object: describe fields by API name, plus _extracted_at."""
    _, fields = OBJECTS[object_name]
    columns = {f.name: DUCKDB_TYPES.get(f.type, "VARCHAR") for f in fields}
    return {**columns, "_extracted_at": "TIMESTAMP"}


def raw_table_columns() -> dict[str, dict[str, str]]:
    """Every raw table dbt reads, as "schema.table" -> {column: DuckDB type}."""
    tables = {f"raw_salesforce.{o.lower()}": salesforce_columns(o) for o in SALESFORCE_OBJECTS}
    for name, columns in ACTON_TABLES.items():
        extra = {} if name in ACTON_WITHOUT_EXTRACTED_AT else {"_extracted_at": "TIMESTAMP"}
        tables[f"raw_acton.{name}"] = {**columns, **extra}
    tables |= {f"sync_state.{name}": columns for name, columns in SYNC_STATE_TABLES.items()}
    return tables


def create_raw_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schemas and tables, empty."""
    for schema in ("raw_salesforce", "raw_acton", "sync_state"):
        conn.execute(f"create schema if not exists {schema}")
    for table, columns in raw_table_columns().items():
        ddl = ", ".join(f'"{name}" {type_}' for name, type_ in columns.items())
        conn.execute(f"create table if not exists {table} ({ddl})")


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert dicts into "schema.table"; unnamed columns stay null, _extracted_at defaults to now (UTC)."""
    columns = raw_table_columns()[table]
    names = list(columns)
    now = datetime.now(UTC).replace(tzinfo=None)
    values = []
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"{table} has no column {sorted(unknown)}")
        defaults = {"_extracted_at": now} if "_extracted_at" in columns else {}
        values.append([{**defaults, **row}.get(name) for name in names])
    if values:
        quoted = ", ".join(f'"{n}"' for n in names)
        placeholders = ", ".join("?" for _ in names)
        conn.executemany(f"insert into {table} ({quoted}) values ({placeholders})", values)


def run_dbt(
    path: Path,
    *args: str,
    observed_at: str | None = None,
    integration_user_id: str | None = None,
    config: SyncConfig | None = None,
) -> dbtRunnerResult:
    """One dbt invocation on the warehouse at `path` with the shipped sync.yaml, or `config` when given
    (observation time and the integration user pinned when given); every node must succeed. Target and logs go
    next to the warehouse, not into the project."""
    dbt_vars = (config or load_sync_config(ROOT / "sync.yaml")).to_dbt_vars()
    if observed_at is not None:
        dbt_vars["observed_at"] = observed_at
    if integration_user_id is not None:
        dbt_vars["integration_user_id"] = integration_user_id
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WAREHOUSE_PATH", str(path))
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir", str(ROOT / "dbt_project"),
                "--profiles-dir", str(ROOT / "dbt_project"),
                "--target-path", str(path.parent / "target"),
                "--log-path", str(path.parent / "logs"),
                "--vars", json.dumps(dbt_vars),
            ]
        )  # fmt: skip
    failures = [
        f"{r.node.name}: {r.status} {r.message}"
        for r in (result.result or [])
        # an exposure (the consumers the catalogue names) has nothing to run: dbt build answers "no-op" for it
        if str(r.status) not in ("success", "pass") and str(r.node.resource_type) != "exposure"
    ]
    assert result.success and not failures, failures or result.exception
    return result
