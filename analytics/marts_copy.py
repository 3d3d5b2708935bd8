"""The analysts' copy of the marts: a separate DuckDB file, rebuilt after each successful run and swapped in with
an atomic rename. Analysts open it read-only, so their queries never hold the warehouse's single-writer lock
against a scheduled run, and a run never waits for — or breaks — a query in progress (the old file stays
readable by whoever has it open until they close it). Beside it, every mart as CSV and Parquet for tools that
do not speak DuckDB, swapped in the same way as one folder."""

import argparse
import os
import shutil
import stat
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from common.warehouse import literal, q, warehouse_path

ENV_VAR = "ANALYTICS_PATH"
MARTS_SCHEMA = "marts"
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def analytics_path(warehouse: Path, env: Mapping[str, str] | None = None) -> Path:
    """$ANALYTICS_PATH, else ``<warehouse name>_analytics.duckdb`` next to the warehouse."""
    configured = (os.environ if env is None else env).get(ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    return warehouse.with_name(f"{warehouse.stem}_analytics{warehouse.suffix}")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path(".data/demo"), help="the demo's data dir")


def find_copy(data_dir: Path, env: Mapping[str, str]) -> Path | None:
    """The copy as the sync writes it, for the command-line tools (`make sql`, `make docs`): $ANALYTICS_PATH,
    else beside $WAREHOUSE_PATH (a real setup's environment, from ENV_FILE), else in the demo's ``data_dir``.
    None, said on stderr, when there is none yet."""
    if ENV_VAR in env or "WAREHOUSE_PATH" in env:
        target = analytics_path(warehouse_path(env), env)
    else:
        target = analytics_path(data_dir.resolve() / "warehouse.duckdb", env)
    if not target.exists():
        print(f"no analysts' copy at {target}: run `make demo` (or a sync) first", file=sys.stderr)
        return None
    return target


def exports_path(target: Path) -> Path:
    """The folder of CSV and Parquet exports beside the copy: ``<copy name>_exports``."""
    return target.with_name(f"{target.stem}_exports")


def _export(conn: duckdb.DuckDBPyConnection, tables: list[str], folder: Path) -> None:
    """Every table as ``<table>.csv`` (header, RFC 4180 quoting) and ``<table>.parquet`` in a new folder, then
    swapped in for the old one: readers see the old exports or the new, never a half-written mix."""
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)  # a crashed earlier publish
    staging.mkdir()
    for table in tables:
        source = f"{MARTS_SCHEMA}.{q(table)}"
        conn.execute(f"COPY {source} TO {literal(staging / f'{table}.csv')} (FORMAT csv, HEADER)")
        conn.execute(f"COPY {source} TO {literal(staging / f'{table}.parquet')} (FORMAT parquet)")
    retired = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        os.replace(folder, retired)
    os.replace(staging, folder)
    shutil.rmtree(retired, ignore_errors=True)


def published_at(target: Path) -> datetime:
    """When the copy was renamed into place, as naive UTC like the warehouse's times."""
    return datetime.fromtimestamp(target.stat().st_mtime, UTC).replace(tzinfo=None)


def publish_marts(conn: duckdb.DuckDBPyConnection, target: Path) -> dict[str, int]:
    """Copy every table of the marts schema into a new file beside ``target``, then rename it over ``target``;
    then the exports (``exports_path``). Returns the rows per table."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a crashed earlier publish
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
            [MARTS_SCHEMA],
        ).fetchall()
    ]
    rows: dict[str, int] = {}
    conn.execute(f"ATTACH {literal(staging)} AS analytics_copy")
    try:
        conn.execute(f"CREATE SCHEMA analytics_copy.{MARTS_SCHEMA}")
        for table in tables:
            source, copy = f"{MARTS_SCHEMA}.{q(table)}", f"analytics_copy.{MARTS_SCHEMA}.{q(table)}"
            conn.execute(f"CREATE TABLE {copy} AS SELECT * FROM {source}")
            (rows[table],) = conn.execute(f"SELECT count(*) FROM {copy}").fetchone() or (0,)
        conn.execute("CHECKPOINT analytics_copy")  # everything in the file itself, no WAL to carry along
    finally:
        conn.execute("DETACH analytics_copy")
    staging.chmod(READ_ONLY)
    os.replace(staging, target)
    _export(conn, tables, exports_path(target))
    return rows
