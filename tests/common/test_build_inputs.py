"""The dbt build's input fingerprint on a real DuckDB file: what must make the next run build, and what must not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from common import build_inputs
from common.warehouse import connect

SOURCES = [("raw_acton", "optouts"), ("raw_acton", "optout_history"), ("sync_state", "writeback_results")]
MODELS = [("marts", "people")]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(tmp_path / "warehouse.duckdb") as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.people (email VARCHAR)")
        conn.execute(
            "CREATE TABLE raw_acton.optouts (email VARCHAR, opted_out_at TIMESTAMP, _extracted_at TIMESTAMP)"
        )
        conn.execute(
            "CREATE TABLE raw_acton.optout_history (email VARCHAR, first_seen_at TIMESTAMP, last_seen_at TIMESTAMP)"
        )
        conn.execute(
            "INSERT INTO raw_acton.optouts VALUES ('a@x.io', '2026-01-01', now()), ('b@x.io', NULL, now())"
        )
        conn.execute("INSERT INTO raw_acton.optout_history VALUES ('a@x.io', '2026-01-01', now())")
        yield conn


def built(conn: duckdb.DuckDBPyConnection, context: str = "c1") -> None:
    """A complete build at this moment."""
    last = build_inputs.last_build(conn)
    inputs, _ = build_inputs.current(conn, context, SOURCES, MODELS, last.inputs if last else None)
    build_inputs.record(conn, inputs, "run-1")


def changed(conn: duckdb.DuckDBPyConnection, context: str = "c1") -> str | None:
    last = build_inputs.last_build(conn)
    return build_inputs.current(conn, context, SOURCES, MODELS, last.inputs if last else None)[1]


def test_the_first_run_builds_and_an_untouched_warehouse_does_not(conn: duckdb.DuckDBPyConnection) -> None:
    assert changed(conn) == "no complete build recorded"
    built(conn)
    assert changed(conn) is None


def test_a_table_read_again_unchanged_does_not_build(conn: duckdb.DuckDBPyConnection) -> None:
    built(conn)
    # the opt-out list is read whole every run: same rows, newer read times
    conn.execute("UPDATE raw_acton.optouts SET _extracted_at = now() + INTERVAL 1 HOUR")
    conn.execute("UPDATE raw_acton.optout_history SET last_seen_at = now() + INTERVAL 1 HOUR")
    assert changed(conn) is None


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (
            "UPDATE raw_acton.optouts SET opted_out_at = '2026-02-02', _extracted_at = now() + INTERVAL 1 HOUR "
            "WHERE email = 'b@x.io'",
            "raw_acton.optouts",
        ),
        # a table with no write time is hashed every run: a change in place is seen
        ("UPDATE raw_acton.optout_history SET first_seen_at = '2025-12-31'", "raw_acton.optout_history"),
        ("INSERT INTO raw_acton.optouts SELECT * FROM raw_acton.optouts", "raw_acton.optouts"),  # duplicates
        ("ALTER TABLE raw_acton.optouts ADD COLUMN origin VARCHAR", "raw_acton.optouts"),
        (
            "INSERT INTO sync_state.writeback_results (run_id, status, written_at) VALUES ('r', 'failed', now())",
            "sync_state.writeback_results",
        ),
        ("DROP TABLE marts.people", "marts.people missing"),
    ],
)
def test_a_change_to_an_input_or_a_missing_model_builds(
    conn: duckdb.DuckDBPyConnection, change: str, what: str
) -> None:
    built(conn)
    conn.execute(change)
    assert changed(conn) == what
    if what != "marts.people missing":
        built(conn)
        assert changed(conn) is None  # and the build records the new state


def test_a_new_day_or_project_builds_and_a_failed_build_is_forgotten(conn: duckdb.DuckDBPyConnection) -> None:
    built(conn)
    assert changed(conn, context="c2") == "the dbt project, its vars or the date"
    build_inputs.forget(conn)
    assert changed(conn) == "no complete build recorded"


def test_the_context_covers_files_vars_and_day() -> None:
    base = build_inputs.context_digest([("models/a.sql", b"select 1")], '{"x": 1}', "2026-11-27")
    assert base == build_inputs.context_digest([("models/a.sql", b"select 1")], '{"x": 1}', "2026-11-27")
    assert base != build_inputs.context_digest([("models/a.sql", b"select 2")], '{"x": 1}', "2026-11-27")
    assert base != build_inputs.context_digest([("models/b.sql", b"select 1")], '{"x": 1}', "2026-11-27")
    assert base != build_inputs.context_digest([("models/a.sql", b"select 1")], '{"x": 2}', "2026-11-27")
    assert base != build_inputs.context_digest([("models/a.sql", b"select 1")], '{"x": 1}', "2026-11-28")
