"""The sync process SIGKILLed at seeded points — during the extract, between dbt and the write-back, halfway
through the write-back — one run after the other, and then run to the end: the world ends in the fault-free
state of both systems (no duplicate list member, no lost score, no lost opt-out), and after every kill the warehouse the dead
process left reopens consistent (DuckDB replays its WAL) or refuses to open; a torn WAL is never read as data.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.reliability.harness import SEED, Baseline, SyncRun, World, differences, outside_the_warehouse

# several syncs per test (the first also pays for the shared baseline): minutes, more on a loaded machine
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]

SALESFORCE_READS = ("GET /services/data/vXX.X/query", "GET /services/data/vXX.X/jobs/query")
ACTON_MERGE = "PUT /api/1/list/{listid}"
# Writes of the write-back, in graph order: list uploads, opt-outs (both systems), Salesforce field writes.
WRITEBACK_POINTS = (
    ("acton", (ACTON_MERGE,), 1),
    ("acton", (ACTON_MERGE,), 2),
    ("acton", ("PUT /api/1/list/optout",), 1),
    ("salesforce", ("PATCH /services/data/vXX.X/composite/sobjects",), 1),
    ("salesforce", ("PUT /services/data/vXX.X/jobs/ingest",), 1),
)
WRITEBACK_STEPS = (
    "acton_list_sync",
    "optout_sync",
    "salesforce_score_push",
    "salesforce_bounce_push",
    "salesforce_prospect_fields_push",
)
UNIQUE_KEYS = {
    **{
        f"raw_salesforce.{t}": '"Id"'
        for t in ("lead", "contact", "account", "opportunity", "campaign", "campaignmember", "user")
    },
    "raw_acton.list_records": "list_id, record_id",
    "raw_acton.contacts": "contact_id",
    "raw_acton.optouts": "email",
    "sync_state.watermarks": "source, entity",
}


def calls(world: World, system: str, prefixes: tuple[str, ...]) -> int:
    return sum(n for key, n in world.stats(system).items() if key.startswith(prefixes))


def kill_after(world: World, system: str, prefixes: tuple[str, ...], n: int) -> SyncRun:
    """Start a sync and SIGKILL it once ``n`` more calls matching ``prefixes`` reached the sandbox."""
    before = calls(world, system, prefixes)
    run = world.start_sync()
    run.kill_when(lambda: calls(world, system, prefixes) - before >= n)
    return run


def kill_when(world: World, condition: Callable[[SyncRun], bool]) -> SyncRun:
    run = world.start_sync()
    run.kill_when(lambda: condition(run))
    return run


def assert_consistent(conn: duckdb.DuckDBPyConnection) -> None:
    """No key twice. (A watermark is the server's time when its read began, so the warehouse alone cannot tell
    one committed too early; the run after the kills converging to the fault-free state is what shows it.)"""
    tables = {
        f"{s}.{t}"
        for s, t in conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
    }
    for table, key in UNIQUE_KEYS.items():
        if table in tables:
            (dupes,) = conn.execute(f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}").fetchone()
            assert dupes == 0, f"{table} holds a key twice"


def reopen_consistent(world: World) -> None:
    """The dead process's lock is gone and its WAL replays into a consistent warehouse."""
    with world.warehouse_conn() as conn:
        assert_consistent(conn)


def torn_wal_is_refused_or_consistent(world: World, tmp: Path) -> bool:
    """A copy of the warehouse whose WAL lost its tail (a write torn by the kill) opens consistent or fails to
    open; it never opens with half a transaction in it. False when the kill left no WAL to tear."""
    wal = world.warehouse.with_name(world.warehouse.name + ".wal")
    if not wal.exists() or wal.stat().st_size < 2:
        return False
    copy = tmp / "torn.duckdb"
    shutil.copyfile(world.warehouse, copy)
    data = wal.read_bytes()
    copy.with_name(copy.name + ".wal").write_bytes(data[: len(data) // 2])
    try:
        conn = duckdb.connect(str(copy), read_only=True)
    except duckdb.Error:
        return True  # reported, not reused
    try:
        assert_consistent(conn)
    finally:
        conn.close()
    return True


def test_killed_runs_lose_and_duplicate_nothing(fault_free: Baseline, world: World, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    tore_a_wal = False

    # 1. during the extract: after a seeded number of Salesforce reads
    kill_after(world, "salesforce", SALESFORCE_READS, rng.randint(4, 12))
    reopen_consistent(world)
    tore_a_wal |= torn_wal_is_refused_or_consistent(world, tmp_path)

    # 2. between dbt and the write-back: as soon as the dbt step reports success. The kill is polled, so on a
    # loaded machine it can land after a write-back step began: then it is a kill during the write-back, which
    # the third kill and the convergence below cover, and an empty result log is no longer owed.
    run = kill_when(world, lambda run: run.saw("dbt_models - STEP_SUCCESS"))
    reopen_consistent(world)
    if not any(run.saw(f"{step} - STEP_START") for step in WRITEBACK_STEPS):
        assert world.query("SELECT count(*) FROM sync_state.writeback_results") == [(0,)]

    # 3. halfway through the write-back: after a seeded write reached its system
    system, prefixes, n = rng.choice(WRITEBACK_POINTS)
    kill_after(world, system, prefixes, n)
    reopen_consistent(world)
    tore_a_wal |= torn_wal_is_refused_or_consistent(world, tmp_path)

    runs = world.sync_until_converged(max_runs=2)
    assert all(r.killed for r in world.runs[:3]) and runs[-1].success
    facts = world.facts()
    duplicated = sorted(k for k, v in facts.items() if k.endswith("/records") and v != 1)
    assert not duplicated, f"list members held twice: {duplicated[:10]}"
    diff = differences(outside_the_warehouse(fault_free.facts), outside_the_warehouse(facts))
    assert not diff, "business state differs from the fault-free run:\n" + "\n".join(diff)
    assert world.ledger_optouts() == fault_free.world.ledger_optouts()
    assert tore_a_wal, "no kill left a WAL behind: the torn-WAL check never ran"
