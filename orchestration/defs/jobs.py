"""Jobs and the schedules read from sync.yaml.

Order comes from the asset graph, never from two schedules happening to line up: the preflight check precedes
every extract, extract precedes dbt, dbt precedes the write-back, and the score push depends on the list sync.
Each list's schedule runs its own list's path (everything but the opt-out write-back, with the list sync and the
score push kept to its lists; lists of one cron share a path) and the opt-out schedule the opt-out path;
``sync_job`` (everything) is run by hand or by ``make sync``. Every schedule runs once deployed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import dagster as dg

from common.sync_config import ListConfig, SyncConfig
from health.freshness import OPTOUT_WRITEBACK
from orchestration.defs.alerts import alert_on_failure
from orchestration.defs.run_guard import SYNC_TAG, hold_run_guard

if TYPE_CHECKING:  # what define_asset_job returns, which dagster does not export
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

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
    selection=dg.AssetSelection.assets(OPTOUT_WRITEBACK).upstream(),
    description="The opt-out path alone: extract of the consent fields and the opt-out list, the consent "
    "models, the opt-out writes.",
    tags={SYNC_TAG: "true"},
    hooks={hold_run_guard, alert_on_failure},
)


def list_paths(lists: list[ListConfig]) -> dict[str, list[ListConfig]]:
    """Lists by schedule: the lists of one cron share one path, so that a tick extracts and builds once."""
    paths: dict[str, list[ListConfig]] = {}
    for lst in lists:
        paths.setdefault(lst.schedule, []).append(lst)
    return paths


def list_job_name(lists: list[ListConfig], taken: list[str]) -> str:
    """``list_sync__<name>[__<name>...]``: each list's name in lower case with other characters as ``_``; a name
    that comes out as an earlier one's gets a number (job names must be unique)."""
    name = "list_sync__" + "__".join(re.sub(r"[^a-z0-9]+", "_", lst.name.lower()).strip("_") for lst in lists)
    return f"{name}_{len(taken)}" if name in taken else name


# Everything but the opt-out write-back, which keeps its own schedule: the extracts of both systems, the models,
# the reports, the bounces and prospect fields, and the list sync and score push kept to the path's lists.
LIST_PATH = dg.AssetSelection.all() - dg.AssetSelection.assets(OPTOUT_WRITEBACK)


def list_job(lists: list[ListConfig], name: str) -> UnresolvedAssetJobDefinition:
    # The write-backs' run config keeps them to these lists: another list's rows wait for its own schedule.
    names = ", ".join(repr(lst.name) for lst in lists)
    return dg.define_asset_job(
        name,
        selection=LIST_PATH,
        description=f"The path of the list(s) {names}: the extracts and the models, the list sync and the score "
        "push of these lists alone, the bounces, the prospect fields and the reports (not the opt-outs).",
        config={
            "ops": {
                "acton_list_sync": {"config": {"lists": [lst.name for lst in lists]}},
                "salesforce_score_push": {"config": {"objects": sorted({lst.object for lst in lists})}},
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


def defs(config: SyncConfig) -> dg.Definitions:
    """The jobs, and a schedule for each list path and for the opt-outs, from ``config`` (sync.yaml)."""
    jobs: list[UnresolvedAssetJobDefinition] = []
    schedules = []
    for cron, lists in list_paths([lst for lst in config.lists if lst.direction != "off"]).items():
        job = list_job(lists, list_job_name(lists, [j.name for j in jobs]))
        jobs.append(job)
        schedules.append(schedule(f"{job.name}_schedule", job, cron))
    if config.optouts.direction != "off":
        schedules.append(schedule("optout_job_schedule", optout_job, config.optouts.schedule))
    return dg.Definitions(jobs=[sync_job, optout_job, *jobs], schedules=schedules)
