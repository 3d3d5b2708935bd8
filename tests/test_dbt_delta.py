"""The `delta` materialisation (dbt_project/macros/delta.sql) on test_dbt_models' hand-made world: after changes
of each kind a person's row follows, the marts built for the changed people only are the marts a full build
makes, and a build with nothing changed computes and writes nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tests.raw_fixtures import insert_rows, run_dbt
from tests.test_dbt_models import OBSERVED_AT, load_world

SCOPED = ("people", "funnel_stage_entries")
BUILD = ("build", "--exclude", "resource_type:unit_test")


@pytest.fixture(scope="module")
def warehouse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dbt_delta") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        load_world(conn)
    run_dbt(path, *BUILD, observed_at=OBSERVED_AT)
    return path


def last_build(path: Path, model: str) -> tuple[int | None, set[str]]:
    """The keys the model's latest build computed (None: not scoped) and the keys it logged as changed."""
    with duckdb.connect(str(path)) as conn:
        (built_at, computed), *_ = conn.execute(
            "select built_at, computed_keys from sync_state.model_changes "
            "where model = ? and changed_key is null order by built_at desc limit 1",
            [model],
        ).fetchall()
        changed = conn.execute(
            "select changed_key from sync_state.model_changes where model = ? and built_at = ? "
            "and changed_key is not null",
            [model, built_at],
        ).fetchall()
    return computed, {k for (k,) in changed}


def table(path: Path, model: str) -> list[tuple]:
    with duckdb.connect(str(path)) as conn:
        return sorted(conn.execute(f"select * from marts.{model}").fetchall(), key=repr)


def test_marts_built_for_the_changed_people_equal_a_full_build(warehouse_path: Path) -> None:
    with duckdb.connect(str(warehouse_path)) as conn:
        everyone = conn.execute("select count(*) from marts.people").fetchone()[0]
        # Ann's Lead moves to another email; Pat's owner is renamed (no record of Pat's changes)
        conn.execute("""update raw_salesforce.lead set "Email" = 'ann@new-gamma.org' where "Id" = '00QA1'""")
        conn.execute("""update raw_salesforce.user set "Name" = 'Una Renamed' where "Id" = '005U1'""")
        # Lee: opts out in Act-On, is scored again and opens a message (a funnel stage further)
        insert_rows(
            conn,
            "raw_acton.optouts",
            [
                {
                    "email": "lee@beta.io",
                    "opted_out_at": datetime(2024, 3, 30, 9),
                    "origin": "User: via Act-On",
                }
            ],
        )
        conn.execute("update raw_acton.contacts set score = 99 where contact_id = 'c-lee'")
        insert_rows(
            conn,
            "raw_acton.message_events",
            [
                {
                    "message_id": "s-1",
                    "event_type": "OPENED",
                    "email": "lee@beta.io",
                    "event_at": datetime(2024, 3, 25),
                }
            ],
        )
        # Sam's Contact is deleted
        conn.execute("""update raw_salesforce.contact set "IsDeleted" = true where "Id" = '003S1'""")
    run_dbt(warehouse_path, *BUILD, observed_at="2024-04-02 00:00:00")

    computed, changed = last_build(warehouse_path, "marts.people")
    assert changed == {"ann@gamma.org", "ann@new-gamma.org", "pat@acme.com", "lee@beta.io", "sam@delta.com"}
    assert computed is not None and computed < everyone  # built for the changed people, not everyone
    with duckdb.connect(str(warehouse_path)) as conn:
        assert conn.execute(
            "select owner_name, acton_opted_out, score from marts.people where email in ('pat@acme.com', "
            "'lee@beta.io') order by email"
        ).fetchall() == [("Una Renamed", True, 99.0), ("Una Renamed", False, 80.0)]
    scoped = {model: table(warehouse_path, model) for model in SCOPED}

    run_dbt(warehouse_path, "build", "--select", *SCOPED, "--full-refresh", observed_at="2024-04-02 00:00:00")
    assert {model: table(warehouse_path, model) for model in SCOPED} == scoped


def test_a_build_with_nothing_changed_computes_and_writes_nothing(warehouse_path: Path) -> None:
    run_dbt(warehouse_path, *BUILD, observed_at="2024-04-03 00:00:00")
    with duckdb.connect(str(warehouse_path)) as conn:
        models = [
            m for (m,) in conn.execute("select distinct model from sync_state.model_changes").fetchall()
        ]
    assert {"marts.people", "intermediate.int_people_identified"} <= set(models)
    for model in models:
        computed, changed = last_build(warehouse_path, model)
        assert changed == set(), model
        assert computed in (None, 0), model
