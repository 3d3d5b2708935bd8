"""Jobs, the run-start configuration check, and the schedules read from sync.yaml.

Order comes from the asset graph, never from two schedules happening to line up: the preflight check precedes
every extract, extract precedes dbt, dbt precedes the write-back, and the score push depends on the list sync.
"""

import dagster as dg

from ingest.preflight import preflight
from ingest.sync_config import load_sync_config
from orchestration.defs.alerts import alert_on_failure
from orchestration.defs.resources import SalesforceResource, SyncConfigResource
from orchestration.defs.run_guard import SYNC_TAG, RunGuardResource, hold_run_guard

PREFLIGHT = dg.AssetKey(["checks", "sync_preflight"])


# It asks for the run guard so that any run that extracts (every extract follows it: the doctor's refresh, a
# "materialize all") holds the sync lock; the jobs' hook covers their runs that skip it (a re-execution).
@dg.asset(key=PREFLIGHT, group_name="checks", kinds={"salesforce"})
def sync_preflight(
    salesforce: SalesforceResource, sync_config: SyncConfigResource, run_guard: RunGuardResource
) -> dg.MaterializeResult:
    """Run-start check: every Salesforce field sync.yaml writes exists on Lead and Contact and is updateable,
    and every field it reads exists. Fails the run, having written nothing, naming the key, field and fix."""
    preflight(salesforce.client(), sync_config.load(), sync_config.path)
    return dg.MaterializeResult(metadata={"config": dg.MetadataValue.path(sync_config.path)})


# Both jobs write the warehouse and both systems: a run of either waits for the other (the sync tag queues the
# daemon's runs, the run guard's lock every run).
sync_job = dg.define_asset_job(
    "sync_job",
    selection=dg.AssetSelection.all(),
    description="Extract both systems, build the models, then write back: lists (with the score), scores, "
    "opt-outs, bounces and prospect fields.",
    tags={SYNC_TAG: "true"},
    hooks={hold_run_guard, alert_on_failure},
)
optout_job = dg.define_asset_job(
    "optout_job",
    selection=dg.AssetSelection.assets("optout_sync").upstream(),
    description="The opt-out path alone: extract of the consent fields and the opt-out list, the consent "
    "models, the opt-out writes.",
    tags={SYNC_TAG: "true"},
    hooks={hold_run_guard, alert_on_failure},
)


def _schedules() -> list[dg.ScheduleDefinition]:
    config = load_sync_config()
    crons = sorted({lst.schedule for lst in config.lists if lst.direction != "off"})
    schedules = [
        dg.ScheduleDefinition(
            name=f"sync_job_schedule_{i}", job=sync_job, cron_schedule=cron, execution_timezone="UTC"
        )
        for i, cron in enumerate(crons)
    ]
    if config.optouts.direction != "off":
        schedules.append(
            dg.ScheduleDefinition(
                name="optout_job_schedule",
                job=optout_job,
                cron_schedule=config.optouts.schedule,
                execution_timezone="UTC",
            )
        )
    return schedules


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[sync_preflight], jobs=[sync_job, optout_job], schedules=_schedules())
