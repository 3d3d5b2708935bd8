"""When to alert (health/alerts.py builds and sends the messages): a failed run, and opt-outs gone stale.

A run the daemon sees ends in the sensor ``alert_on_run_failure``; a run of ``make sync`` (``dagster job execute``)
is seen by no sensor unless a daemon happens to run, hence also the hook ``alert_on_failure``, which the jobs attach
and which fires in the step that failed. Hook and sensor record the run in the instance's alert store before
sending, so a run is alerted once, by whichever comes first, however many of its steps fail.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from common.sync_config import load_sync_config
from health.alerts import (
    AlertDeliveryError,
    Delivery,
    SentAlerts,
    StepFailure,
    failed_run_alert,
    first_line,
    send_once,
    stale_optouts_alert,
    ui_url,
)
from health.cron import next_ticks
from orchestration.defs.sensors import upkeep_sensor

OPTOUT_SYNC = dg.AssetKey("optout_sync")


def _now() -> datetime:
    return datetime.now(UTC)


def _store(instance: dg.DagsterInstance) -> SentAlerts:
    return SentAlerts(instance.root_directory)


def _error_line(error: SerializableErrorInfo) -> str:
    """The first line of the innermost cause (Dagster wraps an op's exception in its own), with the class's bare
    name: 'ValueError: ...' rather than 'dagster._core.errors.DagsterExecutionStepExecutionError: ...'."""
    while error.cause is not None:
        error = error.cause
    line = first_line(error.message)
    qualified, sep, rest = line.partition(": ")
    return f"{error.cls_name}: {rest}" if sep and qualified.endswith(error.cls_name) else line


def step_failures(instance: dg.DagsterInstance, run_id: str) -> list[StepFailure]:
    failures = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        error = event.step_failure_data.error
        failures.append(StepFailure(event.step_key, _error_line(error) if error else "(no error recorded)"))
    return failures


def alert_failed_run(
    instance: dg.DagsterInstance, run: dg.DagsterRun, logger: logging.Logger, run_error: str | None = None
) -> Delivery | None:
    """Alert on ``run`` unless it was already alerted (None then)."""
    alert = failed_run_alert(
        job_name=run.job_name,
        run_id=run.run_id,
        failures=step_failures(instance, run.run_id),
        run_error=run_error,
        run_url=ui_url(f"/runs/{run.run_id}", os.environ),
        finished=run.is_finished,
    )
    return send_once(_store(instance), f"run:{run.run_id}", alert, logger, os.environ)


@dg.failure_hook(name="alert_on_failure")
def alert_on_failure(context: dg.HookContext) -> None:
    """One alert per failed run of the job it is attached to, from the first step that fails (later failing
    steps find the run already alerted). A delivery failure is logged, never raised: the run failed already."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None:
        alert_failed_run(context.instance, run, context.log)


def _raise_if_undelivered(delivery: Delivery | None) -> None:
    # A sensor's tick shows its error in the UI; the claim was released, so the next occasion retries.
    if delivery is not None and delivery.all_failed:
        raise AlertDeliveryError("; ".join(delivery.failed))


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends an alert (email and/or webhook, ALERT_* environment variables) for every failed run, "
    "unless the job's hook alert_on_failure already did.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    delivery = alert_failed_run(
        context.instance, context.dagster_run, context.log, context.failure_event.message
    )
    _raise_if_undelivered(delivery)


def stale_from(cron: str, since: datetime) -> datetime:
    """When opt-outs last synced at ``since`` go stale: at the second tick of ``cron`` after it, when two scheduled
    runs have had their turn (the first may still be running). Counted in ticks, not time, so that a weekday
    schedule is not stale over the weekend."""
    return next_ticks(cron, since, 2)[-1]


def last_optout_sync(instance: dg.DagsterInstance) -> datetime | None:
    entry = instance.get_latest_materialization_event(OPTOUT_SYNC)
    return datetime.fromtimestamp(entry.timestamp, UTC) if entry else None


@upkeep_sensor(
    minimum_interval_seconds=300,
    description="Sends an alert when two ticks of sync.yaml's optouts.schedule have passed since the last "
    "successful opt-out sync (optout_sync); once per stale episode.",
)
def alert_on_stale_optouts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    config = load_sync_config()
    if config.optouts.direction == "off":
        return dg.SkipReason("the opt-out sync is off in sync.yaml")
    now = _now()
    # Where a never-synced instance starts counting: the sensor's first tick, not the epoch, so that a new
    # deployment is not stale on its first evaluation.
    watching_since = datetime.fromisoformat(context.cursor) if context.cursor else now
    if context.cursor is None:
        context.update_cursor(now.isoformat())
    last_success = last_optout_sync(context.instance)
    since = last_success or watching_since
    stale = stale_from(config.optouts.schedule, since)
    if now < stale:
        return dg.SkipReason(
            f"opt-outs are fresh: last sync {last_success or 'none yet'}, stale from {stale}"
        )
    alert = stale_optouts_alert(
        last_success,
        watching_since,
        stale - since,
        config.optouts.schedule,
        now,
        ui_url("/assets/optout_sync", os.environ),
    )
    # One alert per episode: the episode is named by the success it is stale since, and ends with the next one.
    key = f"stale-optouts:{last_success.isoformat() if last_success else 'never'}"
    delivery = send_once(_store(context.instance), key, alert, context.log, os.environ)
    _raise_if_undelivered(delivery)
    return dg.SkipReason(
        f"stale opt-outs already alerted ({key})" if delivery is None else f"alerted: {alert.subject}"
    )


def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[alert_on_run_failure, alert_on_stale_optouts])
