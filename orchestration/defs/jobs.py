"""Jobs, the run-start configuration check, and the schedules read from sync.yaml.

Order comes from the asset graph, never from two schedules happening to line up: the preflight check precedes
every extract, extract precedes dbt, dbt precedes the write-back, and the score push depends on the list sync.
"""

import dagster as dg

from ingest.preflight import preflight
from ingest.sync_config import load_sync_config
from orchestration.defs.resources import SalesforceResource, SyncConfigResource

PREFLIGHT = dg.AssetKey(["checks", "sync_preflight"])


@dg.asset(key=PREFLIGHT, group_name="checks", kinds={"salesforce"})
def sync_preflight(salesforce: SalesforceResource, sync_config: SyncConfigResource) -> dg.MaterializeResult:
    """Run-start check: every Salesforce field sync.yaml writes exists on Lead and Contact and is updateable,
    and every field it reads exists. Fails the run, having written nothing, naming the key, field and fix."""
    preflight(salesforce.client(), sync_config.load(), sync_config.path)
    return dg.MaterializeResult(metadata={"config": dg.MetadataValue.path(sync_config.path)})


sync_job = dg.define_asset_job(
    "sync_job",
    selection=dg.AssetSelection.all(),
    description="Extract both systems, build the models, then write back: lists (with the score), scores, "
    "opt-outs, bounces and prospect fields.",
)
optout_job = dg.define_asset_job(
    "optout_job",
    selection=dg.AssetSelection.assets("optout_sync").upstream(),
    description="The opt-out path alone: extract of the consent fields and the opt-out list, the consent "
    "models, the opt-out writes.",
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
