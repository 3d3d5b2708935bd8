"""Jobs, the run-start configuration check, and the schedules read from sync.yaml.

Order comes from the asset graph, never from two schedules happening to line up: the preflight check precedes
every extract, extract precedes dbt, dbt precedes the write-back, and the score push depends on the list sync.
Each list's schedule runs its own list's path and the opt-out schedule the opt-out path; ``sync_job`` (everything)
is run by hand or by ``make sync``. Every schedule runs once deployed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import dagster as dg

from ingest.health.freshness import LIST_WRITEBACKS
from ingest.preflight import preflight
from ingest.sync_config import LOOKUPS, ListConfig, load_sync_config
from orchestration.defs.alerts import alert_on_failure
from orchestration.defs.resources import SalesforceResource, SyncConfigResource
from orchestration.defs.run_guard import SYNC_TAG, RunGuardResource, hold_run_guard

if TYPE_CHECKING:  # what define_asset_job returns, which dagster does not export
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

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


# The sync models a list's path builds for its write-backs.
LIST_MODELS = ("acton_list_upserts", "acton_list_removals", "salesforce_score_updates")


def list_tables(lst: ListConfig) -> list[str]:
    """The raw Salesforce tables a list reads: its object's and those of the lookups its fields follow."""
    lookups = {LOOKUPS[lst.object][path.split(".")[0]] for path in lst.fields.values() if "." in path}
    return sorted({lst.object.lower(), *lookups})


def list_selection(lst: ListConfig) -> dg.AssetSelection:
    """A list's path: the preflight, the extracts its sync models read (of Salesforce, only the list's own
    tables), those models, the list sync and the score push."""
    reads = dg.AssetSelection.assets(*(["sync", model] for model in LIST_MODELS)).upstream()
    others = dg.AssetSelection.groups("raw_salesforce") - dg.AssetSelection.assets(
        *(["raw_salesforce", table] for table in list_tables(lst))
    )
    return reads - others | dg.AssetSelection.assets(*LIST_WRITEBACKS)


def list_job_names(lists: list[ListConfig]) -> list[str]:
    """``list_sync__<name>``: the list's name in lower case with other characters as ``_``; a name that comes out
    empty or as an earlier list's gets the list's position too (job names must be unique)."""
    names: list[str] = []
    for i, lst in enumerate(lists):
        name = "list_sync__" + re.sub(r"[^a-z0-9]+", "_", lst.name.lower()).strip("_")
        names.append(f"{name}_{i}" if name in names or name.endswith("__") else name)
    return names


def list_job(lst: ListConfig, name: str) -> UnresolvedAssetJobDefinition:
    # The write-backs' run config keeps them to this list: another list's rows wait for its own schedule.
    return dg.define_asset_job(
        name,
        selection=list_selection(lst),
        description=f"The path of the list {lst.name!r} ({lst.object}): extract of its records and of the Act-On "
        "lists and scores, the models, its list sync, and the score push to its object.",
        config={
            "ops": {
                "acton_list_sync": {"config": {"lists": [lst.name]}},
                "salesforce_score_push": {"config": {"objects": [lst.object]}},
            }
        },
        tags={SYNC_TAG: "true"},
        hooks={hold_run_guard, alert_on_failure},
    )


def schedule(name: str, job: UnresolvedAssetJobDefinition, cron: str) -> dg.ScheduleDefinition:
    # Running once deployed: a deployment syncs without anyone switching its schedules on in the UI.
    return dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


@dg.definitions
def defs() -> dg.Definitions:
    config = load_sync_config()
    lists = [lst for lst in config.lists if lst.direction != "off"]
    jobs = [list_job(lst, name) for lst, name in zip(lists, list_job_names(lists), strict=True)]
    schedules = [
        schedule(f"{job.name}_schedule", job, lst.schedule) for lst, job in zip(lists, jobs, strict=True)
    ]
    if config.optouts.direction != "off":
        schedules.append(schedule("optout_job_schedule", optout_job, config.optouts.schedule))
    return dg.Definitions(assets=[sync_preflight], jobs=[sync_job, optout_job, *jobs], schedules=schedules)
