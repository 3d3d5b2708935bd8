"""What the dbt build reads, fingerprinted, so that a run whose inputs are all as the last complete build left
them skips the build: at a million Leads a rebuild takes a minute and an unchanged hour changes nothing.

Each source table is fingerprinted cheaply by its row count, its columns and its newest ``_extracted_at`` (or
``written_at``): every extract and every write-back record sets one of them on each row it writes. Tables read
whole every run (the opt-out list, the lists, the messages) are rewritten unchanged and move that time, so when
the cheap fingerprint moved the table's content is hashed too, without the columns that only say when a row was
last read. The build's context — the dbt project's files, its vars and the UTC date (the engagement window of
the sales prospects counts from now) — is part of the fingerprint, and so is every model's table being there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from common.warehouse import q, schema_columns, transaction, utc_now

# set on every row each time it is read, whether or not it changed
READ_TIME_COLUMNS = ("_extracted_at", "last_seen_at")
# the newest of these moves whenever a row is inserted or updated
WRITE_TIME_COLUMNS = ("_extracted_at", "written_at")
TABLE = "sync_state.build_inputs"


@dataclass(frozen=True)
class BuildInputs:
    context: str
    # "schema.table" -> [cheap fingerprint (None: the table has no write time), content hash]
    tables: dict[str, list[str | None]]


@dataclass(frozen=True)
class LastBuild:
    inputs: BuildInputs
    run_id: str
    built_at: datetime


def context_digest(project_files: Iterable[tuple[str, bytes]], dbt_vars: str, day: str) -> str:
    """The fingerprint of what, besides the data, decides the build's output."""
    digest = hashlib.sha256(f"{dbt_vars}\n{day}\n".encode())
    for name, content in sorted(project_files):
        digest.update(f"{name}\n{len(content)}\n".encode())
        digest.update(content)
    return digest.hexdigest()


def _cheap(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]]
) -> str | None:
    """Row count, columns and newest write time; None when no column moves on every write (hash it instead)."""
    names = [name for name, _ in columns]
    written = next((c for c in WRITE_TIME_COLUMNS if c in names), None)
    if written is None:
        return None
    sql = f"SELECT count(*), max({q(written)})::VARCHAR FROM {schema}.{q(table)}"
    return json.dumps([*(conn.execute(sql).fetchone() or ()), columns])


def _content(conn: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]]) -> str:
    # a sum, not a xor: two identical rows must not cancel out
    kept = ", ".join(q(name) for name, _ in columns if name not in READ_TIME_COLUMNS) or "NULL"
    (total,) = conn.execute(
        f"SELECT sum(hash(r)::HUGEINT)::VARCHAR FROM (SELECT {kept} FROM {schema}.{q(table)}) AS r"
    ).fetchone() or (None,)
    return str(total)


def current(
    conn: duckdb.DuckDBPyConnection,
    context: str,
    sources: Sequence[tuple[str, str]],
    models: Sequence[tuple[str, str]],
    last: BuildInputs | None,
) -> tuple[BuildInputs, str | None]:
    """The inputs as they are now, and what changed since ``last`` (None: nothing, the build can be skipped)."""
    changed: list[str] = []
    if last is None:
        changed.append("no complete build recorded")
    elif last.context != context:
        changed.append("the dbt project, its vars or the date")
    tables: dict[str, list[str | None]] = {}
    in_schema = {schema: schema_columns(conn, schema) for schema in {schema for schema, _ in sources}}
    for schema, table in sources:
        name = f"{schema}.{table}"
        columns = list(in_schema[schema].get(table, {}).items())
        if not columns:
            changed.append(f"{name} missing")
            continue
        cheap = _cheap(conn, schema, table, columns)
        before = last.tables.get(name) if last else None
        if cheap is not None and before and before[0] == cheap:
            tables[name] = before
            continue
        tables[name] = [cheap, _content(conn, schema, table, columns)]
        if last is not None and (not before or before[1] != tables[name][1]):
            changed.append(name)
    existing = set(conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall())
    changed += [f"{schema}.{model} missing" for schema, model in models if (schema, model) not in existing]
    return BuildInputs(context, tables), ", ".join(changed) or None


def last_build(conn: duckdb.DuckDBPyConnection) -> LastBuild | None:
    row = conn.execute(f"SELECT context, tables, run_id, built_at FROM {TABLE}").fetchone()
    if row is None:
        return None
    context, tables, run_id, built_at = row
    return LastBuild(BuildInputs(context, json.loads(tables)), run_id, built_at)


def record(conn: duckdb.DuckDBPyConnection, inputs: BuildInputs, run_id: str) -> None:
    """The inputs of a build that completed: the next run compares with them."""
    with transaction(conn):
        conn.execute(f"DELETE FROM {TABLE}")
        conn.execute(
            f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",
            [inputs.context, json.dumps(inputs.tables), run_id, utc_now()],
        )


def forget(conn: duckdb.DuckDBPyConnection) -> None:
    """A build that did not complete: the next run builds whatever its inputs."""
    conn.execute(f"DELETE FROM {TABLE}")
