"""Raw warehouse tables as the extract writes them (docs/warehouse.md), for tests that feed dbt by hand.

`create_raw_tables(conn)` makes every `raw_salesforce`, `raw_acton` and `sync_state` table dbt reads (Salesforce
columns from the sandbox's field definitions, typed by their describe type); `insert_rows` fills a table from
dicts, leaving unnamed columns null; `run_dbt` runs the dbt project on such a warehouse. Both take a DuckDB
connection or a psycopg2 one (the dbt profile's `postgres` target, the raw types as `postgres_type` spells them).
`Warehouse` is one such warehouse on either target, read back with portable SQL (`empty_warehouse`, and
`built_warehouse` for a fixture parametrized over `WAREHOUSE_TARGETS`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import psycopg2.extensions
import psycopg2.extras
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from common.postgres_copy import postgres_type
from common.sync_config import SyncConfig, load_sync_config
from common.warehouse import SYNC_STATE_TABLES as WAREHOUSE_SYNC_STATE
from ingest.clients.salesforce_frames import DUCKDB_TYPES
from ingest.extract.acton import TABLES as ACTON_EXTRACT_TABLES
from ingest.extract.salesforce import OBJECTS as SALESFORCE_OBJECTS
from sandbox.salesforce.schema import OBJECTS
from tests.postgres_server import PostgresServer

Connection = duckdb.DuckDBPyConnection | psycopg2.extensions.connection

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


def is_postgres(conn: Connection) -> bool:
    return isinstance(conn, psycopg2.extensions.connection)


def create_raw_tables(conn: Connection) -> None:
    """Create the raw schemas and tables, empty."""
    spell = postgres_type if is_postgres(conn) else str
    statements = [f"create schema if not exists {s}" for s in ("raw_salesforce", "raw_acton", "sync_state")]
    for table, columns in raw_table_columns().items():
        ddl = ", ".join(f'"{name}" {spell(type_)}' for name, type_ in columns.items())
        statements.append(f"create table if not exists {table} ({ddl})")
    if is_postgres(conn):
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    else:
        for statement in statements:
            conn.execute(statement)


def insert_rows(conn: Connection, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
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
    if not values:
        return
    quoted = ", ".join(f'"{n}"' for n in names)
    if is_postgres(conn):
        # a list record's fields arrive as Python lists of dicts: psycopg2 sends those as jsonb only when asked
        values = [
            [psycopg2.extras.Json(v) if isinstance(v, list | dict) else v for v in row] for row in values
        ]
        with conn, conn.cursor() as cur:
            cur.executemany(
                f"insert into {table} ({quoted}) values ({', '.join('%s' for _ in names)})", values
            )
    else:
        conn.executemany(f"insert into {table} ({quoted}) values ({', '.join('?' for _ in names)})", values)


def duckdb_env(path: Path) -> dict[str, str]:
    """The variables of the DuckDB warehouse at `path`, whatever the environment running the tests has set."""
    return {"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": str(path)}


def run_dbt(
    path: Path,
    *args: str,
    observed_at: str | None = None,
    integration_user_id: str | None = None,
    config: SyncConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> dbtRunnerResult:
    """One dbt invocation with the shipped sync.yaml, or `config` when given (observation time and the integration
    user pinned when given); every node must succeed. The warehouse is the DuckDB file at `path`, or the one `env`
    names (WAREHOUSE picks the profile's target, as for the sync). Target and logs go next to `path`, not into the
    project."""
    dbt_vars = (config or load_sync_config(ROOT / "sync.yaml")).to_dbt_vars()
    if observed_at is not None:
        dbt_vars["observed_at"] = observed_at
    if integration_user_id is not None:
        dbt_vars["integration_user_id"] = integration_user_id
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (duckdb_env(path) if env is None else env).items():
            mp.setenv(name, value)
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


WAREHOUSE_TARGETS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass
class Warehouse:
    """A warehouse a test fills and builds with dbt: a DuckDB file in `scratch`, or a database of a Postgres
    server (the profile's `postgres` target); dbt's target and logs go to `scratch` either way."""

    scratch: Path
    server: PostgresServer | None = None
    database: str | None = None

    @property
    def path(self) -> Path:
        return self.scratch / "warehouse.duckdb"

    @cached_property
    def conn(self) -> Connection:
        if self.server is None:
            # dbt-duckdb keeps its own connection open in this process: a second one must use the same configuration
            return duckdb.connect(str(self.path))
        conn = self.server.connect(self.database)
        conn.autocommit = True
        # JSON columns as the text DuckDB returns, not parsed
        psycopg2.extras.register_default_json(conn, loads=str)
        psycopg2.extras.register_default_jsonb(conn, loads=str)
        return conn

    def rows(self, sql: str) -> list[tuple]:
        if self.server is None:
            return self.conn.execute(sql).fetchall()
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def execute(self, sql: str) -> None:
        if self.server is None:
            self.conn.execute(sql)
        else:
            with self.conn.cursor() as cur:
                cur.execute(sql)

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the pipeline and dbt at this warehouse."""
        if self.server is None:
            return duckdb_env(self.path)
        assert self.database is not None
        return self.server.warehouse_env(self.database)

    def run_dbt(self, *args: str, **kwargs: Any) -> dbtRunnerResult:
        return run_dbt(self.path, *args, env=self.env, **kwargs)

    def copy(self, scratch: Path) -> Warehouse:
        """A copy of the warehouse as it is now, its scratch in `scratch`."""
        if self.server is None:
            # into the file now: dbt's connection to it stays open, so closing ours would not checkpoint
            self.execute("checkpoint")
            shutil.copy(self.path, scratch / self.path.name)
            return Warehouse(scratch)
        self.close()  # a template database must have no session open; dbt closes its own at the end of a run
        name = self.server.create_database(scratch.name, template=self.database)
        return Warehouse(scratch, self.server, name)

    def close(self) -> None:
        if "conn" in self.__dict__:
            self.__dict__.pop("conn").close()


def empty_warehouse(request: pytest.FixtureRequest, target: str, scratch: Path) -> Warehouse:
    """A warehouse on `target` of WAREHOUSE_TARGETS (Postgres: a fresh database of the session's server)."""
    if target == "duckdb":
        return Warehouse(scratch)
    server: PostgresServer = request.getfixturevalue("postgres_warehouse_server")
    return Warehouse(scratch, server, server.create_database(scratch.name))


def built_warehouse(
    request: pytest.FixtureRequest, scratch: Path, load: Callable[[Connection], None], observed_at: str
) -> Iterator[Warehouse]:
    """For a fixture parametrized over WAREHOUSE_TARGETS: a warehouse on the param's target, filled by `load`,
    after one `dbt build` (models, data tests, unit tests, contracts) observed at `observed_at`."""
    warehouse = empty_warehouse(request, request.param, scratch)
    load(warehouse.conn)
    warehouse.run_dbt("build", observed_at=observed_at)
    yield warehouse
    warehouse.close()
