"""The production instance on Postgres (``.dagster-postgres/dagster.yaml``): syncs recorded in a real Postgres
server started here from the ``pgserver`` wheel's binaries, run as ``make sync`` runs them. Its runs, events and
asset materialisations are read back from the database itself, the run guard and the one-slot ``duckdb`` pool
hold there as on SQLite (two syncs at once run one after the other), and a run SIGKILLed holding the slot does not
block the next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.postgres_server import PostgresServer, postgres_server
from tests.reliability.harness import REPO, World, start_world
from tests.reliability.unattended import (
    committed_instance,
    killed_holding_the_pool_slot_then_next,
    two_syncs_at_once,
)

# two syncs per test on a small world (about a minute and a half each on a loaded two-core machine)
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

INSTANCE = ".dagster-postgres"


def _config(folder: str) -> dict:
    return yaml.safe_load((REPO / folder / "dagster.yaml").read_text())


def test_the_postgres_instance_keeps_every_rule_of_the_default_one() -> None:
    postgres, default = _config(INSTANCE), _config(".dagster")
    storage = postgres.pop("storage")
    assert postgres == default, "the two committed instances differ beyond their storage: change both"
    # secrets only from the environment: every connection setting is a variable, none a value
    db = storage["postgres"]["postgres_db"]
    assert db == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USER"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"},
        "scheme": "postgresql+psycopg2",
    }


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def world(
    postgres: PostgresServer, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """A fresh world whose DAGSTER_HOME is the committed Postgres instance, on a database of its own."""
    db = postgres.create_database(re.sub(r"\W", "_", request.node.name)[:60])
    env = postgres.dagster_env(db)
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # this process opens the instance too
    fresh = start_world(tmp_path)
    fresh.env.update(env)
    yield fresh
    fresh.sandbox.stop()


@pytest.fixture
def instance(world: World) -> Iterator[dg.DagsterInstance]:
    opened = committed_instance(world, INSTANCE)
    # the instance is Dagster's Postgres storage, not a SQLite one that a wrong config would fall back to
    assert type(opened.run_storage).__name__ == "PostgresRunStorage"
    assert type(opened.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(opened.schedule_storage).__name__ == "PostgresScheduleStorage"
    yield opened
    opened.dispose()


def _query(postgres: PostgresServer, world: World, sql: str, params: tuple = ()) -> list[tuple]:
    """Straight from the database the runs were recorded in, bypassing Dagster."""
    conn = postgres.connect(world.env["DAGSTER_PG_DB"])
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _statuses(postgres: PostgresServer, world: World) -> dict[str, str]:
    return dict(_query(postgres, world, "SELECT run_id, status FROM runs"))


def _pool_slots(postgres: PostgresServer, world: World) -> list[str | None]:
    """The ``duckdb`` pool's slots, by the run holding each (None: free)."""
    sql = "SELECT run_id FROM concurrency_slots WHERE concurrency_key = 'duckdb' AND NOT deleted"
    return [run_id for (run_id,) in _query(postgres, world, sql)]


def _materialised(postgres: PostgresServer, world: World, run_id: str) -> set[str]:
    rows = _query(
        postgres,
        world,
        "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
        (run_id, dg.DagsterEventType.ASSET_MATERIALIZATION.value),
    )
    return {"/".join(json.loads(key)) for (key,) in rows}


def test_two_syncs_at_once_run_one_after_the_other_recorded_in_postgres(
    postgres: PostgresServer, world: World, instance: dg.DagsterInstance
) -> None:
    first, second = two_syncs_at_once(world, instance)

    assert _statuses(postgres, world) == {first: "SUCCESS", second: "SUCCESS"}
    # the run guard's process tags, read by the next run's clean-up, are in the database too
    tagged = _query(postgres, world, "SELECT DISTINCT run_id FROM run_tags WHERE key = 'sfacton/pid'")
    assert {run_id for (run_id,) in tagged} == {first, second}

    events = dict(_query(postgres, world, "SELECT run_id, count(*) FROM event_logs GROUP BY run_id"))
    assert set(events) == {first, second} and min(events.values()) > 50, events
    for run_id in (first, second):
        # the run's end, as Dagster's event log table spells it (its run events keep their old PIPELINE_ names)
        ends = _query(
            postgres,
            world,
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
            (run_id, dg.DagsterEventType.RUN_SUCCESS.value),
        )
        assert ends == [(1,)]
        # every asset the run materialised, as Dagster reports it, is a row of the database's event log
        reported = {
            record.asset_key.to_user_string()
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
            ).records
        }
        stored = _materialised(postgres, world, run_id)
        assert stored == reported
        assert {"raw_salesforce/lead", "acton_list_sync", "salesforce_score_push"} <= stored, sorted(stored)

    # the asset index Dagster keeps for the UI points at the second run for what both materialised
    latest = dict(
        _query(postgres, world, "SELECT asset_key, last_run_id FROM asset_keys WHERE last_run_id IS NOT NULL")
    )
    assert latest[dg.AssetKey("acton_list_sync").to_string()] == second
    # the pool is in the database: one slot, free once both runs ended
    assert _pool_slots(postgres, world) == [None]


def test_a_sync_killed_holding_the_pool_slot_does_not_block_the_next_on_postgres(
    postgres: PostgresServer, world: World, instance: dg.DagsterInstance
) -> None:
    dead, after = killed_holding_the_pool_slot_then_next(world, instance)

    assert _statuses(postgres, world) == {dead: "FAILURE", after: "SUCCESS"}
    (message,) = _query(
        postgres,
        world,
        "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
        (dead, dg.DagsterEventType.RUN_FAILURE.value),
    )
    assert "Marked failed by the run guard: its process" in message[0]
    assert _pool_slots(postgres, world) == [None]
