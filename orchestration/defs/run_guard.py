"""The run guard's Dagster wiring (orchestration/run_guard.py holds the logic).

A resource that every step of ``sync_job`` and ``optout_job`` requires (through the hook below), so that it is set
up before a run's first step and torn down after its last, however the run was started (``make sync``, the UI, a
schedule, a re-execution that skips the preflight): it records the run's process, waits for the sync lock, ends
dead runs and frees their slots. A sensor does the same clean-up every minute under the daemon.
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from orchestration.defs.sensors import upkeep_sensor
from orchestration.run_guard import SyncLock, clean_up_runs, max_runtime_s, record_process

# Run tag of every sync; .dagster/dagster.yaml lets one run with it run at a time (the others queue).
SYNC_TAG = "sfacton/sync"


class RunGuardResource(dg.ConfigurableResource):
    """One sync at a time on an instance, and no dead run left holding a slot."""

    _lock: SyncLock | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        instance, run_id, log = context.instance, context.run_id, context.log
        assert instance is not None and run_id is not None and log is not None  # always so in a run
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            # `dagster job execute` sets the resources up once more after the run, to load its outputs: there is
            # nothing to guard, and waiting for the lock there would hold the process until the next sync ends
            return
        record_process(instance, run_id)
        lock = SyncLock(instance)

        def clean_up() -> None:
            clean_up_runs(instance, log.warning, skip_run_id=run_id)

        lock.acquire(run_id, log.info, timeout_s=max_runtime_s(instance), while_waiting=clean_up)
        try:
            # after the lock: a run that died while this one waited is ended too
            clean_up()
        except BaseException:
            lock.release()
            raise
        self._lock = lock

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


@dg.success_hook(name="hold_run_guard", required_resource_keys={"run_guard"})
def hold_run_guard(context: dg.HookContext) -> None:
    """Does nothing: it is there for its required resource, which a job's hooks add to every step's."""


@upkeep_sensor(
    minimum_interval_seconds=60,
    description="Marks failed the runs whose process is gone or that outlived the maximum runtime, and frees "
    "their concurrency slots (orchestration/run_guard.py).",
)
def dead_run_cleanup(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    ended = clean_up_runs(context.instance, context.log.warning)
    return dg.SkipReason(f"ended {len(ended)} run(s): {', '.join(ended)}" if ended else "no dead run")


def defs() -> dg.Definitions:
    return dg.Definitions(resources={"run_guard": RunGuardResource()}, sensors=[dead_run_cleanup])
