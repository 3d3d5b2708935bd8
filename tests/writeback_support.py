"""What the write-back tests share: the sync.* input tables as the dbt models leave them (created directly, so the
tests do not depend on a dbt run) and the environment the pipeline's clients read for a sandbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from sandbox.launcher import Sandbox

# The sync models' columns and types (dbt_project/models/sync/_sync.yml).
FIELD_UPDATE_COLUMNS = {
    "salesforce_id": "VARCHAR",
    "salesforce_object": "VARCHAR",
    "email": "VARCHAR",
    "field": "VARCHAR",
    "old_value": "VARCHAR",
    "new_value": "VARCHAR",
}
SYNC_COLUMNS: dict[str, dict[str, str]] = {
    "acton_list_upserts": {
        "list_member_id": "VARCHAR",
        "list_name": "VARCHAR",
        "list_id": "VARCHAR",
        "record_id": "VARCHAR",
        "change_type": "VARCHAR",
        "email": "VARCHAR",
        "salesforce_object": "VARCHAR",
        "salesforce_id": "VARCHAR",
        "field_values": "JSON",
    },
    "acton_list_removals": {
        "record_id": "VARCHAR",
        "list_name": "VARCHAR",
        "list_id": "VARCHAR",
        "email": "VARCHAR",
        "salesforce_id": "VARCHAR",
        "reason": "VARCHAR",
    },
    "salesforce_score_updates": {
        "salesforce_id": "VARCHAR",
        "salesforce_object": "VARCHAR",
        "email": "VARCHAR",
        "field": "VARCHAR",
        "old_value": "DOUBLE",
        "new_value": "DOUBLE",
    },
    "salesforce_optout_updates": {
        "salesforce_id": "VARCHAR",
        "salesforce_object": "VARCHAR",
        "email": "VARCHAR",
        "field": "VARCHAR",
        "old_value": "BOOLEAN",
        "new_value": "BOOLEAN",
        "source_event": "VARCHAR",
        "event_at": "TIMESTAMP",
    },
    "acton_optout_additions": {"email": "VARCHAR", "source_event": "VARCHAR", "event_at": "TIMESTAMP"},
    "salesforce_bounce_updates": FIELD_UPDATE_COLUMNS,
    "salesforce_prospect_updates": FIELD_UPDATE_COLUMNS,
}


def env(sb: Sandbox, tmp: Path) -> dict[str, str]:
    return {**sb.env, "TOKEN_CACHE_PATH": str(tmp / "tokens.json")}


def set_sync_rows(conn: duckdb.DuckDBPyConnection, model: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """(Re)create sync.<model> holding ``rows`` — what a dbt build would have left there."""
    columns = SYNC_COLUMNS[model]
    conn.execute("CREATE SCHEMA IF NOT EXISTS sync")
    conn.execute(
        f"CREATE OR REPLACE TABLE sync.{model} ({', '.join(f'{c} {t}' for c, t in columns.items())})"
    )
    if rows:
        conn.executemany(
            f"INSERT INTO sync.{model} VALUES ({', '.join('?' * len(columns))})",
            [[r.get(c) for c in columns] for r in rows],
        )


def empty_sync_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for model in SYNC_COLUMNS:
        set_sync_rows(conn, model, [])
