"""The warehouse as every part uses it: connection, schemas, sync_state tables, watermarks, keyed upserts.

WAREHOUSE picks where the tables live: ``duckdb`` (the default, a file) or ``postgres`` (a database on a server,
WAREHOUSE_PG_*). Either way the pipeline talks to DuckDB, the one SQL dialect of its Python code: on Postgres an
in-memory DuckDB attaches the database through DuckDB's own postgres extension, which keeps the tables and the
transactions in Postgres, writes batches with Postgres's binary COPY and reads them back by COPY too."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from itertools import count
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

DEFAULT_PATH = "./warehouse.duckdb"
TARGETS = ("duckdb", "postgres")
# The variables naming the Postgres warehouse (dbt_project/profiles.yml's postgres target reads the same), by the
# key DuckDB's postgres secret takes. Other libpq settings (PGSSLMODE, PGSSLROOTCERT, ...) come from libpq's own
# variables.
POSTGRES_ENV = {
    "host": "WAREHOUSE_PG_HOST",
    "port": "WAREHOUSE_PG_PORT",
    "user": "WAREHOUSE_PG_USER",
    "password": "WAREHOUSE_PG_PASSWORD",
    "database": "WAREHOUSE_PG_DATABASE",
}
POSTGRES_CATALOG = "warehouse"
DEFAULT_MEMORY_LIMIT = "1.5GB"  # also the default in dbt_project/profiles.yml; 1GB fails dbt at 1M Leads
RAW_SCHEMAS = ("raw_salesforce", "raw_acton", "sync_state")

# writeback_results.field of the Act-On list sync's rows: an email merged into a list, or a record removed from it
# (the extract of list records reads the removals back)
LIST_MEMBER_FIELD, LIST_REMOVE_FIELD = "member", "removed"
SYNC_STATE_TABLES: dict[str, dict[str, str]] = {
    "watermarks": {"source": "VARCHAR", "entity": "VARCHAR", "value": "VARCHAR", "updated_at": "TIMESTAMP"},
    "runs": {"run_id": "VARCHAR", "started_at": "TIMESTAMP", "finished_at": "TIMESTAMP", "status": "VARCHAR"},
    "writeback_results": {
        "run_id": "VARCHAR",
        "system": "VARCHAR",
        "object": "VARCHAR",
        "record_id": "VARCHAR",
        "field": "VARCHAR",
        "old_value": "VARCHAR",
        "new_value": "VARCHAR",
        "status": "VARCHAR",
        "error_code": "VARCHAR",
        "message": "VARCHAR",
        "written_at": "TIMESTAMP",
    },
    "consent_ledger": {
        "email": "VARCHAR",
        "system": "VARCHAR",
        "old_value": "VARCHAR",
        "new_value": "VARCHAR",
        "source_event": "VARCHAR",
        "event_at": "TIMESTAMP",
        "run_id": "VARCHAR",
        "written_at": "TIMESTAMP",
    },
    # consent writes about to be sent (writeback/optouts.py): committed before the call, so that a process
    # that dies before the outcome leaves a row the next run settles against both systems' state
    "consent_intents": {
        "run_id": "VARCHAR",
        "intent_id": "VARCHAR",
        "system": "VARCHAR",
        "email": "VARCHAR",
        "object": "VARCHAR",
        "record_id": "VARCHAR",
        "field": "VARCHAR",
        "old_value": "VARCHAR",
        "new_value": "VARCHAR",
        "source_event": "VARCHAR",
        "event_at": "TIMESTAMP",
        "intended_at": "TIMESTAMP",
        "outcome": "VARCHAR",  # null until settled | accepted | not_applied
        "settled_at": "TIMESTAMP",
    },
    "rejects": {
        "run_id": "VARCHAR",
        "source": "VARCHAR",
        "object": "VARCHAR",
        "record_id": "VARCHAR",
        "email": "VARCHAR",
        "reason": "VARCHAR",
        # what was sent (a list row's values as JSON, an opt-out's consent event): not sent again unchanged
        "sent_value": "VARCHAR",
        "rejected_at": "TIMESTAMP",
    },
    # whole reads of Act-On's opt-out list that would infer more opt-ins than optouts.max_inferred_optins
    # allows (ingest/extract/optout_holds.py): held until an operator releases that one read
    "optout_holds": {
        "hold_id": "VARCHAR",
        "run_id": "VARCHAR",
        "read_at": "TIMESTAMP",
        "inferred_optins": "BIGINT",
        "known_optouts": "BIGINT",
        "allowed": "BIGINT",
        "status": "VARCHAR",  # held | released | applied | superseded
        "released_at": "TIMESTAMP",
        "released_by": "VARCHAR",
        "applied_at": "TIMESTAMP",
    },
    "optout_hold_emails": {"hold_id": "VARCHAR", "email": "VARCHAR", "last_seen_at": "TIMESTAMP"},
    # the inputs of the last complete dbt build (common/build_inputs.py): one row
    "build_inputs": {"context": "VARCHAR", "tables": "VARCHAR", "run_id": "VARCHAR", "built_at": "TIMESTAMP"},
}

_names = count()


def memory_limit(env: Mapping[str, str] | None = None) -> str:
    """DUCKDB_MEMORY_LIMIT (default 1.5GB), for the pipeline's connections and dbt's (profiles.yml): DuckDB's own
    default is 80% of the machine's memory, kept once taken; with a limit it spills to disk beyond it."""
    env = os.environ if env is None else env
    return env.get("DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def warehouse_path(env: Mapping[str, str] | None = None) -> Path:
    """WAREHOUSE_PATH (default ./warehouse.duckdb) made absolute once, so dbt's own cwd does not matter."""
    env = os.environ if env is None else env
    return Path(env.get("WAREHOUSE_PATH") or DEFAULT_PATH).expanduser().resolve()


def target(env: Mapping[str, str] | None = None) -> str:
    """WAREHOUSE: duckdb (default) or postgres."""
    env = os.environ if env is None else env
    chosen = env.get("WAREHOUSE") or TARGETS[0]
    if chosen not in TARGETS:
        raise ValueError(
            f"WAREHOUSE={chosen!r} is not a warehouse target: choose one of {', '.join(TARGETS)}"
        )
    return chosen


def describe(env: Mapping[str, str] | None = None) -> str:
    """Where the warehouse is, for logs and errors (never the password)."""
    env = os.environ if env is None else env
    if target(env) == "postgres":
        return _postgres_location(postgres_settings(env))
    return str(warehouse_path(env))


def _postgres_location(settings: Mapping[str, str]) -> str:
    return "postgres://{user}@{host}:{port}/{database}".format(**settings)


def utc_now() -> datetime:
    """Naive UTC, as the warehouse stores every timestamp."""
    return datetime.now(UTC).replace(tzinfo=None)


def q(identifier: str) -> str:
    """A quoted identifier (API names keep their case; quotes inside are doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


def connect(
    path: str | Path | None = None, env: Mapping[str, str] | None = None, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A connection with the raw and sync_state schemas in place: to the DuckDB file at ``path`` (else
    WAREHOUSE_PATH), or with WAREHOUSE=postgres to the Postgres database (``path`` then plays no part).
    ``read_only``: for tools that only look (a DuckDB file open read-only does not wait for a running sync)."""
    env = os.environ if env is None else env
    if target(env) == "postgres":
        settings = postgres_settings(env)
        conn = duckdb.connect()  # the engine only: every table lives in Postgres
        _limit_memory(conn, env)
        _attach_postgres(conn, settings, read_only)
    else:
        file = Path(path).expanduser().resolve() if path else warehouse_path(env)
        if not read_only:
            file.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(file), read_only=read_only)
        _limit_memory(conn, env)
        # Every step opens and closes its own connection, and a close checkpoints: 0.18 s on a 2 GB warehouse
        # even for a watermark, most of an unchanged step. The write-ahead log (committed, fsynced) is replayed
        # by the next open instead, and DuckDB still checkpoints once it reaches checkpoint_threshold, as does
        # dbt's close.
        conn.execute("PRAGMA disable_checkpoint_on_shutdown")
    if not read_only:
        ensure_schemas(conn)
    return conn


def _limit_memory(conn: duckdb.DuckDBPyConnection, env: Mapping[str, str]) -> None:
    limit = memory_limit(env)
    try:
        conn.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as e:
        conn.close()
        raise ValueError(
            f"DUCKDB_MEMORY_LIMIT={limit!r} is not a memory size DuckDB takes (e.g. 1GB): {e}"
        ) from e


def postgres_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The Postgres warehouse's coordinates by the key DuckDB's postgres secret takes, every one set."""
    missing = [name for name in POSTGRES_ENV.values() if not env.get(name)]
    if missing:
        raise ValueError(
            f"WAREHOUSE=postgres needs {', '.join(missing)} (the warehouse database's coordinates)"
        )
    settings = {key: env[name] for key, name in POSTGRES_ENV.items()}
    if not settings["port"].isdigit():
        raise ValueError(f"WAREHOUSE_PG_PORT={settings['port']!r} is not a port number")
    return settings


def _attach_postgres(conn: duckdb.DuckDBPyConnection, settings: Mapping[str, str], read_only: bool) -> None:
    """Attach the Postgres database as the current catalog, its credentials in a secret of this connection only
    (DuckDB's errors and its secrets listing do not show them)."""
    spec = find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        conn.close()
        raise RuntimeError(
            "WAREHOUSE=postgres needs the duckdb-ext-postgres package (make setup installs it)"
        )
    # the extension comes from the installed wheel, never downloaded at run time
    extensions = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    conn.execute(f"SET extension_directory = {literal(extensions)}")
    conn.execute("SET autoinstall_known_extensions = false")
    conn.execute("LOAD postgres")
    options = ", ".join(
        f"{key.upper()} {settings[key] if key == 'port' else literal(settings[key])}" for key in POSTGRES_ENV
    )
    conn.execute(f"CREATE SECRET warehouse_postgres (TYPE postgres, {options})")
    try:
        conn.execute(
            f"ATTACH '' AS {POSTGRES_CATALOG} "
            f"(TYPE postgres, SECRET warehouse_postgres{', READ_ONLY' if read_only else ''})"
        )
    except duckdb.Error as e:
        conn.close()
        raise ConnectionError(
            f"the Postgres warehouse {_postgres_location(settings)} cannot be opened: {e}"
        ) from e
    conn.execute(f"USE {POSTGRES_CATALOG}")


def literal(text: str | Path) -> str:
    """A SQL string literal (a path, a setting): quotes inside are doubled."""
    return "'" + str(text).replace("'", "''") + "'"


def is_postgres(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is not None and row[0] == "postgres"


def ensure_schemas(conn: duckdb.DuckDBPyConnection) -> None:
    have = {
        r[0]
        for r in conn.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database()"
        ).fetchall()
    }
    for schema in RAW_SCHEMAS:
        if schema not in have:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    ensure_tables(conn, "sync_state", SYNC_STATE_TABLES)


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def table_columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Existing columns (name as created → type); empty when the table does not exist."""
    return schema_columns(conn, schema, table).get(table, {})


def schema_columns(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str | None = None
) -> dict[str, dict[str, str]]:
    """Each existing table's columns (name as created → type), of one table or of the whole schema in one query:
    every step opens its own connection, and a query per table made that 0.05 s of each open."""
    rows = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND (? IS NULL OR table_name = ?) "
        "ORDER BY table_name, ordinal_position",
        [schema, table, table],
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for name, column, dtype in rows:
        tables.setdefault(name, {})[column] = dtype
    return tables


def ensure_tables(
    conn: duckdb.DuckDBPyConnection, schema: str, tables: Mapping[str, Mapping[str, str]]
) -> None:
    """``ensure_table`` for each of ``tables``, after one look at the schema."""
    existing = schema_columns(conn, schema)
    for table, columns in tables.items():
        ensure_table(conn, schema, table, columns, existing.get(table, {}))


def ensure_table(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: Mapping[str, str],
    existing: Mapping[str, str] | None = None,
) -> list[str]:
    """Create the table, or add the columns it lacks (compared case-insensitively); returns the added names.
    ``existing``: the table's columns when the caller has already looked them up."""
    existing = table_columns(conn, schema, table) if existing is None else existing
    if is_postgres(conn):
        columns = {name: _postgres_column_type(dtype) for name, dtype in columns.items()}
    if not existing:
        cols = ", ".join(f"{q(name)} {dtype}" for name, dtype in columns.items())
        conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{q(table)} ({cols})")
        return []
    have = {name.lower() for name in existing}
    added = [name for name in columns if name.lower() not in have]
    for name in added:
        conn.execute(f"ALTER TABLE {schema}.{q(table)} ADD COLUMN {q(name)} {columns[name]}")
    return added


def _postgres_column_type(duckdb_type: str) -> str:
    """Postgres has no unnamed composite types: a list of structs is kept as JSON there (DuckDB writes it as
    JSON text; the dbt project's Postgres macros read it as jsonb)."""
    return "JSON" if duckdb_type.endswith("[]") else duckdb_type


def get_watermark(conn: duckdb.DuckDBPyConnection, source: str, entity: str) -> str | None:
    row = conn.execute(
        "SELECT value FROM sync_state.watermarks WHERE source = ? AND entity = ?", [source, entity]
    ).fetchone()
    return row[0] if row else None


def set_watermark(conn: duckdb.DuckDBPyConnection, source: str, entity: str, value: str) -> None:
    """Set within the caller's transaction, so it commits together with the rows it covers."""
    conn.execute("DELETE FROM sync_state.watermarks WHERE source = ? AND entity = ?", [source, entity])
    conn.execute("INSERT INTO sync_state.watermarks VALUES (?, ?, ?, ?)", [source, entity, value, utc_now()])


def reconciliation_due(conn: duckdb.DuckDBPyConnection, source: str, entity: str, every: timedelta) -> bool:
    """Whether ``entity``'s last whole re-read (see ``mark_reconciled``) is ``every`` or more ago, or never ran."""
    last = get_watermark(conn, source, f"{entity}.reconciled_at")
    if last is None:
        return True
    return utc_now() - datetime.fromisoformat(last.replace("Z", "+00:00")).replace(tzinfo=None) >= every


def mark_reconciled(conn: duckdb.DuckDBPyConnection, source: str, entity: str) -> None:
    """Record a whole re-read of ``entity`` now, within the caller's transaction."""
    set_watermark(conn, source, f"{entity}.reconciled_at", utc_now().isoformat(timespec="milliseconds") + "Z")


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int


def temp_name() -> str:
    """A fresh name for a batch or temporary table of this process."""
    return f"_batch_{next(_names)}"


def register(conn: duckdb.DuckDBPyConnection, data: pa.Table | pl.DataFrame) -> str:
    """Register a batch under a fresh view name (the caller unregisters it)."""
    name = temp_name()
    conn.register(name, data.to_arrow() if isinstance(data, pl.DataFrame) else data)
    return name


@contextmanager
def registered(conn: duckdb.DuckDBPyConnection, data: pa.Table | pl.DataFrame) -> Iterator[str]:
    """``register`` for the length of a ``with`` block."""
    name = register(conn, data)
    try:
        yield name
    finally:
        conn.unregister(name)


def upsert(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    data: pa.Table | pl.DataFrame,
    key: Sequence[str],
) -> UpsertCounts:
    """Replace the rows whose key is in the batch, insert the rest (by column name; the batch may hold a
    subset of the table's columns). Runs in the caller's transaction; duplicate keys in a batch keep one row."""
    if len(data) == 0:
        return UpsertCounts(0, 0)
    arrow = data.to_arrow() if isinstance(data, pl.DataFrame) else data
    # Postgres keeps nested values as JSON (ensure_table), which a new connection sees as text: DuckDB would
    # write its own rendering of a list there, not JSON
    nested = [q(f.name) for f in arrow.schema if pa.types.is_nested(f.type)] if is_postgres(conn) else []
    as_json = f" REPLACE ({', '.join(f'to_json({c}) AS {c}' for c in nested)})" if nested else ""
    batch = register(conn, arrow)
    try:
        keys = ", ".join(q(k) for k in key)
        target = f"{schema}.{q(table)}"
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _upsert AS SELECT DISTINCT ON ({keys}) * FROM {batch}")
        match = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in key)
        deleted = conn.execute(
            f"DELETE FROM {target} AS t WHERE EXISTS (SELECT 1 FROM _upsert AS s WHERE {match})"
        ).fetchone()
        conn.execute(f"INSERT INTO {target} BY NAME SELECT *{as_json} FROM _upsert")
        total = conn.execute("SELECT count(*) FROM _upsert").fetchone()
        conn.execute("DROP TABLE _upsert")
    finally:
        conn.unregister(batch)
    updated = int(deleted[0]) if deleted else 0
    return UpsertCounts(inserted=int(total[0]) - updated if total else 0, updated=updated)
