"""A DuckDB warehouse's tables on Postgres: the extract's DuckDB types as Postgres spells them, and a bulk copy of
whole schemas (DuckDB writes each table as CSV, Postgres reads it with COPY: no row goes through Python).

Postgres has no list of structs: nested values (a list record's (heading, value) pairs, Act-On's JSON documents)
are jsonb there, as the dbt project's Postgres macros read them."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

POSTGRES_TYPES = {
    "VARCHAR": "text",
    "DOUBLE": "double precision",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "JSON": "jsonb",
}


def postgres_type(duckdb_type: str) -> str:
    """The Postgres type of a column of the DuckDB type (as DuckDB's information_schema spells it)."""
    if decimal := re.fullmatch(r"DECIMAL(\(\d+, *\d+\))", duckdb_type):
        return f"numeric{decimal[1]}"
    if is_nested(duckdb_type):
        return "jsonb"
    return POSTGRES_TYPES[duckdb_type]


def is_nested(duckdb_type: str) -> bool:
    return re.fullmatch(r"STRUCT\(.*\)\[\]", duckdb_type) is not None


def copy_schemas(duck: duckdb.DuckDBPyConnection, postgres, schemas: Sequence[str]) -> dict[str, int]:
    """Every table of ``schemas`` in the DuckDB warehouse created afresh in the Postgres database (a psycopg2
    connection) and filled with its rows, in one transaction; rows copied per "schema.table"."""
    tables = duck.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
        f"({', '.join('?' for _ in schemas)}) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        list(schemas),
    ).fetchall()
    copied = {}
    with tempfile.TemporaryDirectory() as scratch, postgres, postgres.cursor() as cur:
        for schema in schemas:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for schema, table in tables:
            columns = duck.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
            name = f'{schema}."{table}"'
            cur.execute(f"DROP TABLE IF EXISTS {name}")
            ddl = ", ".join(f'"{c}" {postgres_type(t)}' for c, t in columns)
            cur.execute(f"CREATE TABLE {name} ({ddl})")
            # nested values as JSON text; a null as an empty field, an empty string quoted (as COPY reads them)
            select = ", ".join(f'to_json("{c}")' if is_nested(t) else f'"{c}"' for c, t in columns)
            csv = Path(scratch) / f"{schema}.{table}.csv"
            duck.execute(f"COPY (SELECT {select} FROM {name}) TO '{csv}' (FORMAT csv, HEADER false)")
            with csv.open() as rows:
                cur.copy_expert(f"COPY {name} FROM STDIN WITH (FORMAT csv)", rows)
            copied[f"{schema}.{table}"] = cur.rowcount
            csv.unlink()
            cur.execute(f"ANALYZE {name}")  # the planner's statistics, before anything reads the table
    return copied
