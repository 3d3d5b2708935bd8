"""The run guard on a real instance on disk (the committed .dagster/dagster.yaml), with a one-op job in the
``duckdb`` pool run in processes of their own: a killed run is failed and its slot freed, a run over the bound and
one marked failed while its process runs on are stopped, a second run waits for the first, a dead holder's lock is
free, and a reused pid is not the run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.run_guard import dead_run_cleanup
from orchestration.run_guard import Process, SyncLock, clean_up_runs, process_start

REPO = Path(__file__).resolve().parents[2]
# A job like a sync: the run guard on every step, one op in the duckdb pool that sleeps argv[1] seconds.
JOB = """
import sys, time
import dagster as dg
from orchestration.defs.run_guard import RunGuardResource, hold_run_guard

@dg.op(pool="duckdb")
def write() -> None:
    print("STEP RUNNING", flush=True)
    time.sleep(float(sys.argv[1]))

@dg.job(hooks={hold_run_guard}, resource_defs={"run_guard": RunGuardResource()})
def guarded():
    write()

result = guarded.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)
print("RESULT", result.run_id, result.success, flush=True)
"""
TIMEOUT_S = 60


def instance_home(tmp_path: Path, extra: str = "") -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / ".dagster" / "dagster.yaml").read_text() + extra)
    return home


def start_job(home: Path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", JOB, str(seconds)],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def claimed(instance: dg.DagsterInstance) -> list[str]:
    """The runs holding a slot of the duckdb pool."""
    return [slot.run_id for slot in instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def only_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    (run,) = instance.get_runs()
    return run


def test_a_reused_pid_is_not_the_run_process() -> None:
    me = Process.current()
    assert me.here and me.alive() and me.start
    assert not Process(me.host, me.pid, me.start + "0").alive()  # same pid, another start: another process
    child = subprocess.Popen(["true"])
    child.wait()
    assert process_start(child.pid) is None


def test_a_killed_run_is_failed_and_its_slot_freed(tmp_path: Path) -> None:
    home = instance_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(home))
    proc = start_job(home, 120)
    wait_for(lambda: claimed(instance), "the step to hold the pool's slot")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run = only_run(instance)
    # what every later run used to wait on forever
    assert run.status == dg.DagsterRunStatus.STARTED and claimed(instance) == [run.run_id]
    recorded = Process.of_run(run)
    assert recorded is not None and recorded.here and recorded.pid == proc.pid and not recorded.alive()

    # the daemon's sensor (running once deployed) ends it, as the start of the next run would
    assert dead_run_cleanup.default_status == dg.DefaultSensorStatus.RUNNING
    skipped = dead_run_cleanup(dg.build_sensor_context(instance=instance))
    assert isinstance(skipped, dg.SkipReason) and run.run_id in (skipped.skip_message or "")
    failed = only_run(instance)
    assert failed.status == dg.DagsterRunStatus.FAILURE and claimed(instance) == []
    failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert [e.message for e in failure] == [
        f"Marked failed by the run guard: its process ({recorded}) is gone."
    ]
    assert clean_up_runs(instance, print) == []


def test_a_run_over_the_bound_is_stopped(tmp_path: Path) -> None:
    home = instance_home(tmp_path)
    yaml = home / "dagster.yaml"
    yaml.write_text(yaml.read_text().replace("max_runtime_seconds: 10800", "max_runtime_seconds: 1"))
    instance = dg.DagsterInstance.from_config(str(home))
    proc = start_job(home, 120)
    wait_for(lambda: claimed(instance), "the step to hold the pool's slot")
    time.sleep(1.5)
    assert clean_up_runs(instance, lambda _: None) == [only_run(instance).run_id]
    assert proc.poll() is not None, "the run's process still runs"
    assert only_run(instance).status == dg.DagsterRunStatus.FAILURE and claimed(instance) == []


def test_a_run_marked_failed_while_its_process_runs_on_is_stopped(tmp_path: Path) -> None:
    """As the daemon's max runtime leaves a ``dagster job execute`` run: failed, its process still holding the
    slot (and the lock)."""
    home = instance_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(home))
    proc = start_job(home, 120)
    wait_for(lambda: claimed(instance), "the step to hold the pool's slot")
    instance.report_run_failed(only_run(instance), "Exceeded maximum runtime of 10800 seconds.")
    assert clean_up_runs(instance, print) == [only_run(instance).run_id]
    assert proc.poll() is not None, "the run's process still runs"
    assert claimed(instance) == []


def test_a_second_run_waits_for_the_first(tmp_path: Path) -> None:
    home = instance_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(home))
    first = start_job(home, 4)
    wait_for(lambda: claimed(instance), "the first run's step")
    second = start_job(home, 0)
    out_first, _ = first.communicate(timeout=TIMEOUT_S)
    out_second, _ = second.communicate(timeout=TIMEOUT_S)
    assert first.returncode == 0 and second.returncode == 0, out_first + out_second
    first_id = only_run_id(out_first)
    assert f"waiting for the sync run {first_id} (pid {first.pid}" in out_second
    runs = {r.run_id: r for r in instance.get_runs()}
    assert {r.status for r in runs.values()} == {dg.DagsterRunStatus.SUCCESS}
    (second_id,) = set(runs) - {first_id}
    first_end = max(s.end_time for s in instance.get_run_step_stats(first_id))
    second_start = min(s.start_time for s in instance.get_run_step_stats(second_id))
    assert second_start >= first_end


def only_run_id(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return line.split()[1]


def test_the_lock_of_a_dead_holder_is_free(tmp_path: Path) -> None:
    home = instance_home(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, dagster as dg\n"
            "from orchestration.run_guard import SyncLock\n"
            "SyncLock(dg.DagsterInstance.get()).acquire('dead', print, 5, lambda: None)\n"
            "print('HELD', flush=True)\n"
            "time.sleep(120)\n",
        ],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
    lock = SyncLock(dg.DagsterInstance.from_config(str(home)))
    assert lock.holder()["run_id"] == "dead"
    with pytest.raises(TimeoutError, match="the sync run dead"):
        lock.acquire("mine", lambda _: None, timeout_s=0.5, while_waiting=lambda: None, poll_s=0.1)
    holder.kill()
    holder.wait()
    lock.acquire("mine", lambda _: None, timeout_s=0.5, while_waiting=lambda: None, poll_s=0.1)
    assert lock.holder()["run_id"] == "mine"
    lock.release()
    assert lock.holder() == {}
