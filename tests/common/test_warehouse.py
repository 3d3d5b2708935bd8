"""A warehouse made by an older version gains the tables and columns this one needs when it is opened, and keeps
its rows."""

from pathlib import Path

import duckdb

from common.warehouse import SYNC_STATE_TABLES, connect, schema_columns
from ingest.extract import acton as extract_acton


def test_opening_an_older_warehouse_adds_what_it_lacks_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE SCHEMA sync_state")
    old.execute("CREATE TABLE sync_state.rejects (run_id VARCHAR, reason VARCHAR)")
    old.execute("INSERT INTO sync_state.rejects VALUES ('run-1', 'missing_email')")
    old.execute("CREATE SCHEMA raw_acton")
    old.execute('CREATE TABLE raw_acton.optouts (email VARCHAR, "_extracted_at" TIMESTAMP)')
    old.execute("INSERT INTO raw_acton.optouts VALUES ('a@example.com', now()::TIMESTAMP)")
    old.close()

    conn = connect(path)
    extract_acton.ensure_tables(conn)

    sync_state = schema_columns(conn, "sync_state")
    assert set(sync_state) == set(SYNC_STATE_TABLES)
    # the old columns stay first, the missing ones are added after them
    assert list(sync_state["rejects"])[:2] == ["run_id", "reason"]
    assert set(sync_state["rejects"]) == set(SYNC_STATE_TABLES["rejects"])
    raw_acton = schema_columns(conn, "raw_acton")
    assert set(raw_acton) == set(extract_acton.TABLES)
    assert set(raw_acton["optouts"]) == {"email", "opted_out_at", "origin", "_extracted_at"}
    assert conn.execute("SELECT run_id, reason, email FROM sync_state.rejects").fetchall() == [
        ("run-1", "missing_email", None)
    ]
    assert conn.execute("SELECT email FROM raw_acton.optouts").fetchall() == [("a@example.com",)]
    conn.close()
