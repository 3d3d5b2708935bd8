"""WAREHOUSE=postgres: the pipeline's connection keeps every table and transaction in the Postgres database, as
Postgres itself (psycopg2, not the connection under test) shows; bad settings stop with the variable's name."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import polars as pl
import psycopg2
import pytest

from common import warehouse
from common.warehouse import SYNC_STATE_TABLES, connect, set_watermark, transaction, upsert
from ingest.extract import acton as extract_acton
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres
_databases = count()


@pytest.fixture
def env(postgres_warehouse_server: PostgresServer) -> Iterator[dict[str, str]]:
    database = postgres_warehouse_server.create_database(f"warehouse_test_{next(_databases)}")
    yield postgres_warehouse_server.warehouse_env(database)


def postgres_rows(env: dict[str, str], sql: str) -> list[tuple]:
    with (
        psycopg2.connect(
            host=env["WAREHOUSE_PG_HOST"],
            port=env["WAREHOUSE_PG_PORT"],
            user=env["WAREHOUSE_PG_USER"],
            password=env["WAREHOUSE_PG_PASSWORD"],
            dbname=env["WAREHOUSE_PG_DATABASE"],
        ) as pg,
        pg.cursor() as cur,
    ):
        cur.execute(sql)
        rows = cur.fetchall()
    pg.close()
    return rows


def test_the_schemas_tables_and_rows_are_in_postgres(env: dict[str, str]) -> None:
    conn = connect(env=env)
    extract_acton.ensure_tables(conn)
    frame = pl.DataFrame(
        {
            "list_id": ["L1", "L1"],
            "record_id": ["r1", "r2"],
            "fields": [[{"heading": "Company", "value": 'O\'Brien, "Ltd"'}], []],
        }
    )
    with transaction(conn):
        counts = upsert(conn, "raw_acton", "list_records", frame, ["list_id", "record_id"])
        set_watermark(conn, "acton", "list_records", "2026-12-01T00:00:00Z")
    conn.close()
    # a later connection finds the JSON column in Postgres, not the list type it was made from
    later = connect(env=env)
    with transaction(later):
        upsert(later, "raw_acton", "list_records", frame.head(1), ["list_id", "record_id"])
    later.close()

    assert counts.inserted == 2
    tables = postgres_rows(
        env, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sync_state'"
    )
    assert {t for (t,) in tables} == set(SYNC_STATE_TABLES)
    # the list of structs is JSON in Postgres, readable as the dbt project's macros read it
    assert postgres_rows(
        env,
        "SELECT record_id, fields::jsonb -> 0 ->> 'value' FROM raw_acton.list_records ORDER BY record_id",
    ) == [("r1", 'O\'Brien, "Ltd"'), ("r2", None)]
    assert postgres_rows(env, "SELECT value FROM sync_state.watermarks") == [("2026-12-01T00:00:00Z",)]


def test_a_failed_transaction_leaves_nothing_in_postgres(env: dict[str, str]) -> None:
    conn = connect(env=env)
    with pytest.raises(RuntimeError, match="mid-way"), transaction(conn):
        set_watermark(conn, "salesforce", "Lead", "2026-12-01T00:00:00Z")
        raise RuntimeError("mid-way")
    conn.close()
    assert postgres_rows(env, "SELECT count(*) FROM sync_state.watermarks") == [(0,)]


def test_settings_that_cannot_work_say_which_variable(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="WAREHOUSE='sqlite'"):
        connect(env={**env, "WAREHOUSE": "sqlite"})
    with pytest.raises(ValueError, match="WAREHOUSE_PG_DATABASE"):
        connect(env={k: v for k, v in env.items() if k != "WAREHOUSE_PG_DATABASE"})
    wrong = {**env, "WAREHOUSE_PG_PASSWORD": "not-the-password-4711"}
    with pytest.raises(ConnectionError, match="password authentication failed") as failed:
        connect(env=wrong)
    assert "not-the-password-4711" not in str(failed.value)
    assert warehouse.describe(env).startswith("postgres://postgres@127.0.0.1:")
