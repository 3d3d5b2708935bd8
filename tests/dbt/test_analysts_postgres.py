"""On the Postgres target analysts read the marts as a role of their own (WAREHOUSE_PG_ANALYSTS_ROLE): every mart,
and nothing else — no raw data, no write-back table, no write. Judged by logging in as a member of that role."""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors

from tests.dbt.test_dbt_models import OBSERVED_AT, load_raw
from tests.raw_fixtures import empty_warehouse, run_dbt

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


def test_analysts_read_every_mart_and_nothing_else(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    warehouse = empty_warehouse(request, "postgres", tmp_path)
    server, database = warehouse.server, warehouse.database
    assert server is not None and database is not None
    role, analyst, password = f"analysts_{tmp_path.name}", f"ana_{tmp_path.name}", secrets.token_hex(8)
    warehouse.execute(f"create role {role} nologin")
    warehouse.execute(f"create role {analyst} login password '{password}' in role {role}")
    load_raw(warehouse.conn)
    env = {**server.warehouse_env(database), "WAREHOUSE_PG_ANALYSTS_ROLE": role}
    run_dbt(warehouse.path, "build", observed_at=OBSERVED_AT, target="postgres", env=env)

    built = {
        name
        for (name,) in warehouse.rows(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    }
    assert built == set(MARTS)
    expected = {mart: warehouse.rows(f"select count(*) from marts.{mart}")[0][0] for mart in MARTS}
    assert expected["people"] > 0

    conn = psycopg2.connect(
        host="127.0.0.1", port=server.port, user=analyst, password=password, dbname=database
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
        warehouse.close()
