"""A DuckDB warehouse's schemas copied to Postgres hold the same values: text with the characters CSV must quote,
an empty string apart from a null, timestamps, decimals, and a list record's (heading, value) pairs as a jsonb
array in order."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from common.postgres_copy import copy_schemas
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgres

ROWS = [
    (
        "l-1:1",
        'a "quoted", comma\nand a new line — ünïcode',
        "",
        datetime(2024, 2, 29, 23, 59, 59, 123456),
        Decimal("1234.50"),
        True,
        [{"heading": "Company", "value": 'Acme, "Inc"'}, {"heading": "Phone", "value": None}],
        '{"score": 7}',
    ),
    ("l-1:2", None, None, None, None, None, [], None),
]


def test_every_value_arrives_as_duckdb_holds_it(
    tmp_path: Path, postgres_warehouse_server: PostgresServer
) -> None:
    duck = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    duck.execute("create schema raw_acton")
    duck.execute(
        "create table raw_acton.list_records (record_id varchar, note varchar, blank varchar, modified_at timestamp, "
        "amount decimal(18, 2), is_deleted boolean, fields struct(heading varchar, value varchar)[], doc json)"
    )
    duck.executemany("insert into raw_acton.list_records values (?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    database = postgres_warehouse_server.create_database(tmp_path.name)
    postgres = postgres_warehouse_server.connect(database)
    try:
        assert copy_schemas(duck, postgres, ["raw_acton"]) == {"raw_acton.list_records": 2}
        # a second copy replaces the tables, it does not add to them
        assert copy_schemas(duck, postgres, ["raw_acton"]) == {"raw_acton.list_records": 2}
        with postgres.cursor() as cur:
            cur.execute("select * from raw_acton.list_records order by record_id")
            got = cur.fetchall()
    finally:
        postgres.close()
        duck.close()
    assert [row[:6] for row in got] == [row[:6] for row in ROWS]
    # psycopg2 parses jsonb; the pairs keep their order, a null value stays null
    assert [row[6] for row in got] == [row[6] for row in ROWS]
    assert [row[7] for row in got] == [json.loads(ROWS[0][7]), None]
