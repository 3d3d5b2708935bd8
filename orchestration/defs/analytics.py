"""The analysts' copy of the marts: a separate DuckDB file, rebuilt after each successful run and swapped in with
an atomic rename. Analysts open it read-only, so their queries never hold the warehouse's single-writer lock
against a scheduled run, and a run never waits for — or breaks — a query in progress (the old file stays
readable by whoever has it open until they close it)."""

import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from ingest import build_inputs
from ingest.warehouse import q
from orchestration.defs.dbt import dbt_models
from orchestration.defs.resources import DUCKDB_POOL, WarehouseResource

GROUP = "analytics"
ENV_VAR = "ANALYTICS_PATH"
MARTS_SCHEMA = "marts"
MARTS = sorted((key for key in dbt_models.keys if key.path[0] == MARTS_SCHEMA), key=lambda k: k.path)
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def analytics_path(warehouse: Path, env: Mapping[str, str] | None = None) -> Path:
    """$ANALYTICS_PATH, else ``<warehouse name>_analytics.duckdb`` next to the warehouse."""
    configured = (os.environ if env is None else env).get(ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    return warehouse.with_name(f"{warehouse.stem}_analytics{warehouse.suffix}")


def published_at(target: Path) -> datetime:
    """When the copy was renamed into place, as naive UTC like the warehouse's times."""
    return datetime.fromtimestamp(target.stat().st_mtime, UTC).replace(tzinfo=None)


def publish_marts(conn: duckdb.DuckDBPyConnection, target: Path) -> dict[str, int]:
    """Copy every table of the marts schema into a new file beside ``target``, then rename it over ``target``.
    Returns the rows per table."""
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
    path_literal = "'" + str(staging).replace("'", "''") + "'"
    conn.execute(f"ATTACH {path_literal} AS analytics_copy")
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
    return rows


@dg.asset(
    group_name=GROUP,
    pool=DUCKDB_POOL,
    deps=MARTS,
    kinds={"duckdb"},
)
def analytics_copy(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The marts published to a read-only DuckDB file for analysts ($ANALYTICS_PATH, default
    warehouse_analytics.duckdb next to the warehouse), replaced atomically after each successful run so that
    analysts' queries never block a scheduled run nor get blocked by one. Not copied again when the marts have
    not been rebuilt since the copy was made."""
    target = analytics_path(Path(warehouse.path))
    with warehouse.connect() as conn:
        last = build_inputs.last_build(conn)
        if last and target.exists() and published_at(target) >= last.built_at:
            note = (
                f"unchanged: the marts were last built by run {last.run_id}, before this copy was published"
            )
            context.log.info("%s: %s", target, note)
            return dg.MaterializeResult(
                metadata={"path": dg.MetadataValue.path(str(target)), "skipped": note}
            )
        rows = publish_marts(conn, target)
    context.log.info("published %d marts tables to %s", len(rows), target)
    table = "\n".join(
        ["| table | rows |", "| --- | ---: |", *(f"| marts.{t} | {n:,} |" for t, n in rows.items())]
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "tables": dg.MetadataValue.int(len(rows)),
            "rows": dg.MetadataValue.int(sum(rows.values())),
            "contents": dg.MetadataValue.md(table),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[analytics_copy])
