"""What a build on the Postgres target leaves beside the models: planner statistics on every table it made, and
the analysts' role (WAREHOUSE_PG_ANALYSTS_ROLE) able to read every mart and nothing else — no raw data, no
write-back table, no write. The role is judged by logging in as a member of it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from psycopg2 import errors

from tests.dbt.test_dbt_models import OBSERVED_AT, load_raw
from tests.raw_fixtures import Warehouse, empty_warehouse, run_dbt

pytestmark = pytest.mark.postgres

MARTS = (
    "funnel_report",
    "funnel_stage_entries",
    "opportunities",
    "people",
    "rejected_records",
    "roi_report",
    "sales_prospects",
)


@dataclass
class Built:
    warehouse: Warehouse
    analyst: str
    password: str


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    scratch = tmp_path_factory.mktemp("postgres_build")
    warehouse = empty_warehouse(request, "postgres", scratch)
    role, analyst, password = f"analysts_{scratch.name}", f"ana_{scratch.name}", secrets.token_hex(8)
    warehouse.execute(f"create role {role} nologin")
    warehouse.execute(f"create role {analyst} login password '{password}' in role {role}")
    load_raw(warehouse.conn)
    env = {**warehouse.env, "WAREHOUSE_PG_ANALYSTS_ROLE": role}
    run_dbt(warehouse.path, "build", observed_at=OBSERVED_AT, env=env)
    yield Built(warehouse, analyst, password)
    warehouse.close()


def test_every_table_the_build_made_has_planner_statistics(built: Built) -> None:
    tables = built.warehouse.rows(
        "select schemaname, relname, last_analyze is not null from pg_stat_user_tables "
        "where schemaname in ('intermediate', 'marts', 'sync')"
    )
    assert {schema for schema, _, _ in tables} == {"intermediate", "marts", "sync"}
    assert [f"{schema}.{table}" for schema, table, analysed in tables if not analysed] == []


def test_analysts_read_every_mart_and_nothing_else(built: Built) -> None:
    warehouse = built.warehouse
    made = warehouse.rows("select table_name from information_schema.tables where table_schema = 'marts'")
    assert {name for (name,) in made} == set(MARTS)
    expected = {mart: warehouse.rows(f"select count(*) from marts.{mart}")[0][0] for mart in MARTS}
    assert expected["people"] > 0

    assert warehouse.server is not None
    conn = psycopg2.connect(
        host="127.0.0.1",
        port=warehouse.server.port,
        user=built.analyst,
        password=built.password,
        dbname=warehouse.database,
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for mart in MARTS:
                cur.execute(f"select count(*) from marts.{mart}")
                assert cur.fetchone() == (expected[mart],), mart
            for refused in (
                "select * from raw_salesforce.lead",
                "select * from sync.acton_list_upserts",
                "select * from sync_state.writeback_results",
                "delete from marts.people",
                "insert into marts.rejected_records select * from marts.rejected_records",
                "create table marts.mine (x int)",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    cur.execute(refused)
    finally:
        conn.close()
