"""Syncs run unattended, as ``make sync`` runs them (``dagster job execute`` in a process group of its own), on
an instance with a committed config: the scenarios of ``test_unattended`` (the SQLite instance, ``.dagster/``)
and ``tests/orchestration/test_instance_postgres.py`` (the Postgres instance, ``.dagster-postgres/``) alike."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

from orchestration.run_guard import PID_TAG
from tests.reliability.harness import REPO, SyncRun, World

DAGSTER = Path(sys.executable).with_name("dagster")
SENT = (
    "SELECT system, object, record_id, field, new_value FROM sync_state.writeback_results "
    "WHERE run_id = ? AND status = 'success'"
)


def committed_instance(world: World, folder: str = ".dagster") -> dg.DagsterInstance:
    """The world's DAGSTER_HOME with the committed instance config of ``folder``, opened from this process too
    (its environment must hold what the config reads)."""
    home = Path(world.env["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text((REPO / folder / "dagster.yaml").read_text())
    return dg.DagsterInstance.from_config(str(home))


def make_sync(world: World) -> SyncRun:
    """The command `make sync` runs (through ``orchestration.progress``, which only prints the run's events)."""
    return world.start_sync(
        [str(DAGSTER), "job", "execute", "-m", "orchestration.definitions", "-j", "sync_job"]
    )


def duckdb_slot_holders(instance: dg.DagsterInstance) -> list[str]:
    return [slot.run_id for slot in instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots]


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def killed_holding_the_pool_slot_then_next(world: World, instance: dg.DagsterInstance) -> tuple[str, str]:
    """A sync SIGKILLed while its step holds the ``duckdb`` pool's only slot, then the next sync, which must not
    wait on it; returns the dead run's id and the next one's."""
    killed = make_sync(world)
    killed.kill_when(lambda: bool(duckdb_slot_holders(instance)))
    (dead,) = instance.get_runs()
    # what the next sync used to wait on forever ("Step blocked by limit for pool duckdb")
    assert dead.status == dg.DagsterRunStatus.STARTED
    assert duckdb_slot_holders(instance) == [dead.run_id]

    after = make_sync(world).wait()
    assert after.proc.returncode == 0, after.output[-5000:]
    assert after.saw(f"run {dead.run_id}: its process (pid {killed.proc.pid} ")
    assert status(instance, dead.run_id) == dg.DagsterRunStatus.FAILURE
    (next_run,) = [r for r in instance.get_runs() if r.run_id != dead.run_id]
    assert next_run.status == dg.DagsterRunStatus.SUCCESS
    assert duckdb_slot_holders(instance) == []
    return dead.run_id, next_run.run_id


def two_syncs_at_once(world: World, instance: dg.DagsterInstance) -> tuple[str, str]:
    """Two syncs started together: both succeed, one after the other, the second sending nothing the first
    sent; returns the first run's id and the second's."""
    syncs = [make_sync(world), make_sync(world)]
    for sync in syncs:
        sync.wait()
        assert sync.proc.returncode == 0, sync.output[-5000:]
    runs = instance.get_runs()
    assert len(runs) == 2 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}

    # the one that logged waiting ran second, and only once the first run's steps were over
    (waited,) = [s for s in syncs if s.saw("waiting for the sync run ")]
    (second,) = [r for r in runs if r.tags[PID_TAG] == str(waited.proc.pid)]
    (first,) = [r for r in runs if r.run_id != second.run_id]
    assert waited.saw(f"waiting for the sync run {first.run_id} (pid ")
    first_end = max(s.end_time for s in instance.get_run_step_stats(first.run_id))
    assert min(s.start_time for s in instance.get_run_step_stats(second.run_id)) >= first_end

    # the second sent nothing the first sent (it diffed against a fresh extract), and no change is recorded twice
    sent_first = set(world.query(SENT, [first.run_id]))
    sent_second = set(world.query(SENT, [second.run_id]))
    assert sent_first, "the first sync sent nothing: the world gave it nothing to do"
    assert not sent_first & sent_second, f"sent twice: {sorted(sent_first & sent_second)[:10]}"
    twice = world.query(
        "SELECT lower(trim(email)), system, old_value, new_value, count(*) FROM sync_state.consent_ledger "
        "GROUP BY ALL HAVING count(*) > 1"
    )
    assert not twice, f"the consent ledger records a change twice: {twice[:10]}"
    return first.run_id, second.run_id
