"""Write-back assets of group ``writeback``: each sends what its ``sync.*`` model computed and records every
row's outcome in ``sync_state``. Graph order carries the setup guide's ordering: the Act-On list sync (with
the Lead Score maintenance) runs before the Salesforce score push. The opt-out sync runs before every other
Salesforce field push: its un-tick guard takes a record last modified by the integration user since the extract
for our own write, which a push in between would make true of a record a person had just changed."""

from collections.abc import Collection, Sequence
from typing import get_args

import dagster as dg
from pydantic import Field

from common.sync_config import SalesforceObject, SyncConfig
from health.preflight import preflight
from ingest.clients.salesforce_client import SalesforceClient
from orchestration.defs.freshness import with_freshness_policies
from orchestration.defs.resources import (
    DUCKDB_POOL,
    ActOnResource,
    SalesforceResource,
    SyncConfigResource,
    WarehouseResource,
)
from writeback.acton_lists import sync_acton_lists
from writeback.optouts import sync_optouts
from writeback.salesforce_fields import push_field_updates
from writeback.state import WritebackSummary

GROUP = "writeback"


def sync_model(name: str) -> dg.AssetKey:
    """The asset key the dbt translator gives a model of schema ``sync``."""
    return dg.AssetKey(["sync", name])


def checked(
    salesforce: SalesforceResource, sync_config: SyncConfigResource
) -> tuple[SyncConfig, SalesforceClient]:
    """The validated configuration and a Salesforce client, after the describe-based preflight passed."""
    config = sync_config.load()
    client = salesforce.client()
    preflight(client, config, sync_config.path)
    return config, client


class ListSyncConfig(dg.Config):
    lists: list[str] | None = Field(
        default=None,
        description="The sync.yaml lists to sync (a list's own job names its list); all when unset.",
    )


class FieldPushConfig(dg.Config):
    objects: list[str] | None = Field(
        default=None,
        description="The Salesforce objects to write (a list's own job names its object); all when unset.",
    )


def known(requested: list[str] | None, configured: Collection[str], key: str) -> list[str] | None:
    """The run config's filter, refused when it names what is not configured: that run would send nothing."""
    unknown = sorted(set(requested or ()) - set(configured))
    if unknown:
        raise ValueError(
            f"run config {key} names {unknown}, not among {sorted(set(configured))}; fix: name some of those "
            "(after renaming a list in sync.yaml, reload the definitions)"
        )
    return requested


def summary_result(
    context: dg.AssetExecutionContext,
    summary: WritebackSummary,
    extra: dict[str, dg.MetadataValue] | None = None,
) -> dg.MaterializeResult:
    context.log.info(
        "%d rows sent: %d succeeded, %d failed, %d rejected, %d retried, %d skipped, %d API calls%s",
        summary.rows_sent,
        summary.succeeded,
        summary.failed,
        summary.rejected,
        summary.retried,
        summary.skipped,
        summary.api_calls,
        " (dry run: nothing sent)" if summary.dry_run else "",
    )
    return dg.MaterializeResult(
        metadata={
            "rows_sent": dg.MetadataValue.int(summary.rows_sent),
            "succeeded": dg.MetadataValue.int(summary.succeeded),
            "failed": dg.MetadataValue.int(summary.failed),
            "rejected": dg.MetadataValue.int(summary.rejected),
            "retried": dg.MetadataValue.int(summary.retried),
            "skipped": dg.MetadataValue.int(summary.skipped),
            "api_calls": dg.MetadataValue.int(summary.api_calls),
            "dry_run": dg.MetadataValue.bool(summary.dry_run),
            **(extra or {}),
        }
    )


@dg.asset(
    group_name=GROUP,
    pool=DUCKDB_POOL,
    deps=[sync_model("acton_list_upserts"), sync_model("acton_list_removals")],
    kinds={"acton"},
)
def acton_list_sync(
    context: dg.AssetExecutionContext,
    config: ListSyncConfig,
    warehouse: WarehouseResource,
    salesforce: SalesforceResource,
    acton: ActOnResource,
    sync_config: SyncConfigResource,
) -> dg.MaterializeResult:
    """Salesforce Contacts and Leads in their Act-On marketing lists (created if missing): a merge upload
    (UPSERT on EMAIL) whose Lead Score column carries the behavioural score — the list-maintenance step — and
    the removal of converted, deleted and re-addressed records. Rejected rows land in sync_state.rejects."""
    sync, _ = checked(salesforce, sync_config)
    names = known(config.lists, [lst.name for lst in sync.lists], "lists")
    with warehouse.connect() as conn:
        summary = sync_acton_lists(conn, acton.client(), sync, context.run.run_id, names=names)
    # Act-On's own counts from the upload jobs, next to ours
    job_counts = {
        "acton_appended": dg.MetadataValue.int(summary.appended),
        "acton_updated": dg.MetadataValue.int(summary.updated),
        "removed": dg.MetadataValue.int(summary.removed),
    }
    return summary_result(context, summary, job_counts)


@dg.asset(
    group_name=GROUP,
    pool=DUCKDB_POOL,
    deps=[sync_model("salesforce_optout_updates"), sync_model("acton_optout_additions")],
    kinds={"salesforce", "acton"},
)
def optout_sync(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    salesforce: SalesforceResource,
    acton: ActOnResource,
    sync_config: SyncConfigResource,
) -> dg.MaterializeResult:
    """Opt-outs in the configured direction: HasOptedOutOfEmail on every Lead and Contact with the email, and
    Act-On's opt-out list; every accepted change is a row in sync_state.consent_ledger. An un-tick of a record
    someone changed since the extract is skipped, and decided again by the next run."""
    config, client = checked(salesforce, sync_config)
    with warehouse.connect() as conn:
        summary = sync_optouts(conn, client, acton.client(), config, context.run.run_id)
    return summary_result(context, summary)


def _field_push(name: str, model: str, description: str, after: Sequence[str] = ()) -> dg.AssetsDefinition:
    """A Salesforce field write-back: what its sync model computed, to every Lead and Contact concerned."""

    @dg.asset(
        name=name,
        group_name=GROUP,
        pool=DUCKDB_POOL,
        deps=[sync_model(model), *after],
        kinds={"salesforce"},
        description=description,
    )
    def field_push(
        context: dg.AssetExecutionContext,
        config: FieldPushConfig,
        warehouse: WarehouseResource,
        salesforce: SalesforceResource,
        sync_config: SyncConfigResource,
    ) -> dg.MaterializeResult:
        sync, client = checked(salesforce, sync_config)
        objects = known(config.objects, get_args(SalesforceObject), "objects")
        with warehouse.connect() as conn:
            summary = push_field_updates(conn, client, sync, context.run.run_id, model, objects=objects)
        return summary_result(context, summary)

    return field_push


salesforce_score_push = _field_push(
    "salesforce_score_push",
    "salesforce_score_updates",
    "The behavioural score on the score field of every Lead and Contact whose value differs; after the list "
    "maintenance, so Salesforce and the lists show the same score.",
    after=["acton_list_sync", "optout_sync"],
)
salesforce_bounce_push = _field_push(
    "salesforce_bounce_push",
    "salesforce_bounce_updates",
    "Act-On hard bounces on EmailBouncedReason / EmailBouncedDate (a bounce is not an opt-out).",
    after=["optout_sync"],
)
salesforce_prospect_fields_push = _field_push(
    "salesforce_prospect_fields_push",
    "salesforce_prospect_updates",
    "The sales-prospect fields sales see on Leads and Contacts: high intent and last engagement (each unless "
    "sync.yaml sets it to null).",
    after=["optout_sync"],
)


# The write-back's own records dbt reads back (docs/warehouse.md): declared here, where they are written, so
# that the catalogue shows what they are and who owns them. Their own group, and no freshness policy: the health
# checks judge every asset of the writeback group as a scheduled write-back, and no step materialises these.
RECORDS_GROUP = "sync_state"
WRITEBACK_RECORDS = [
    dg.AssetSpec(
        [RECORDS_GROUP, "writeback_results"],
        group_name=RECORDS_GROUP,
        description="Every row a write-back sent, with its outcome (success, failed, retried, dry_run, skipped).",
    ),
    dg.AssetSpec(
        [RECORDS_GROUP, "consent_ledger"],
        group_name=RECORDS_GROUP,
        description="Every consent change a target system accepted: email, system, old and new value, source event.",
    ),
]


def defs(config: SyncConfig) -> dg.Definitions:
    """The write-backs, each with the freshness policy of the schedule that runs it (sync.yaml), and the records
    they keep."""
    assets = [
        acton_list_sync,
        salesforce_score_push,
        optout_sync,
        salesforce_bounce_push,
        salesforce_prospect_fields_push,
    ]
    return dg.Definitions(assets=[*WRITEBACK_RECORDS, *with_freshness_policies(assets, config)])
