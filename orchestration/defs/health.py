"""The health checks in Dagster (the logic lives in ``health``, plain Python shared with ``make doctor``): the
run-start preflight, an asset every extract follows, and the setup guide's troubleshooting list as asset checks,
each attached to the asset after which it can tell: list membership after the list sync, scores after the push,
opt-outs after the opt-out sync, report completeness after dbt, extraction completeness after each Salesforce
extract. The schema contract (on the sync models) and the API budget (on the run-start preflight) are blocking: a
failure stops the write-back, or the whole run, before anything is sent."""

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import dagster as dg

from common.sync_config import SyncConfig
from health import CheckResult, Status
from health.budget import check_api_budget, projected_calls
from health.completeness import object_counts, summarise
from health.freshness import AssetFreshness, expected_cron
from health.lists import check_records_missing_in_acton
from health.optouts import check_optout_hold, check_optout_mismatch
from health.preflight import preflight
from health.reports import check_reports_incomplete
from health.schema_contract import check_schema_contract
from health.scores import check_scores_not_updating
from ingest.extract.salesforce import OBJECTS
from orchestration.defs.resources import (
    DUCKDB_POOL,
    ActOnResource,
    SalesforceResource,
    SyncConfigResource,
    WarehouseResource,
)
from orchestration.defs.run_guard import RunGuardResource

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


SYSTEMS = ("salesforce", "acton")
RAW_GROUPS = ("raw_salesforce", "raw_acton")
WRITEBACK_GROUP = "writeback"


def check_result(result: CheckResult, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """A health result as Dagster shows it: a warning is a failed check of severity WARN (it never blocks)."""
    metadata: dict[str, dg.MetadataValue] = {
        "summary": dg.MetadataValue.text(result.summary),
        "remediation": dg.MetadataValue.text(result.remediation or "nothing to do"),
        **{
            k: dg.MetadataValue.float(v) if isinstance(v, float) else dg.MetadataValue.int(v)
            for k, v in result.counts.items()
        },
    }
    if result.samples:
        metadata["samples"] = dg.MetadataValue.json(result.samples)
    return dg.AssetCheckResult(
        passed=result.status is Status.PASS,
        asset_key=asset_key,
        check_name=result.name,
        severity=dg.AssetCheckSeverity.WARN if result.status is Status.WARN else dg.AssetCheckSeverity.ERROR,
        description=result.summary,
        metadata=metadata,
    )


# -- what the budget and freshness checks read from the Dagster instance ---------------------------------------
def _metered_nodes(nodes: Iterable[dg.AssetsDefinition | object]) -> Iterator[tuple[str, str, dict]]:
    """(system, op name, asset node) of every raw and write-back asset, once per system it calls."""
    for node in nodes:
        group = getattr(node, "group_name", None)
        if group in RAW_GROUPS or group == WRITEBACK_GROUP:
            for system in SYSTEMS:
                if system in getattr(node, "kinds", ()):
                    # outside a job's selection (optout_job) a node has no op: count it under its key
                    computation = getattr(getattr(node, "assets_def", None), "computation", None)
                    op = computation.node_def.name if computation else node.key.to_user_string()  # type: ignore[attr-defined]
                    yield system, op, node


def last_run_calls(instance: dg.DagsterInstance, nodes: Iterable[object]) -> dict[str, int]:
    """API calls per system of the latest materialisation of each raw and write-back asset (a multi-asset's
    tables share one count, taken once)."""
    per_op: dict[tuple[str, str], int] = {}
    for system, op, node in _metered_nodes(nodes):
        event = instance.get_latest_materialization_event(node.key)  # type: ignore[attr-defined]
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        calls = meta.get("api_calls")
        per_op[(system, op)] = max(per_op.get((system, op), 0), int(calls.value) if calls else 0)  # type: ignore[union-attr]
    return {s: sum(n for (system, _), n in per_op.items() if system == s) for s in SYSTEMS}


def freshness_inputs(
    instance: dg.DagsterInstance, nodes: Iterable[object], config: SyncConfig, now: datetime
) -> list[AssetFreshness]:
    out = []
    for node in nodes:
        group = getattr(node, "group_name", None)
        if group not in RAW_GROUPS and group != WRITEBACK_GROUP:
            continue
        key: dg.AssetKey = node.key  # type: ignore[attr-defined]
        policy = getattr(node, "freshness_policy", None)
        event = instance.get_latest_materialization_event(key)
        last = datetime.fromtimestamp(event.timestamp, UTC).replace(tzinfo=None) if event else None
        out.append(
            AssetFreshness(
                asset=key.to_user_string(),
                expected_cron=expected_cron(key.path[-1], config, now),
                policy_cron=getattr(policy, "deadline_cron", None),
                last_materialized_at=last,
            )
        )
    return out


# -- the checks ---------------------------------------------------------------------------------------------------
@dg.asset_check(asset="acton_list_sync", name="records_missing_in_acton", pool=DUCKDB_POOL)
def records_missing_in_acton(
    warehouse: WarehouseResource, sync_config: SyncConfigResource
) -> dg.AssetCheckResult:
    """Eligible Salesforce Leads and Contacts absent from their Act-On list after the list sync, with the likely
    cause: list sync not enabled, rejected rows, or the wrong object imported."""
    with warehouse.connect() as conn:
        return check_result(check_records_missing_in_acton(conn, sync_config.load()))


@dg.asset_check(asset="salesforce_score_push", name="scores_not_updating", pool=DUCKDB_POOL)
def scores_not_updating(
    warehouse: WarehouseResource, salesforce: SalesforceResource, sync_config: SyncConfigResource
) -> dg.AssetCheckResult:
    """Matched records whose Salesforce score differs from the behavioural score after the push: maintenance
    not run before the push, push failed, or field not writable."""
    with warehouse.connect() as conn:
        return check_result(check_scores_not_updating(conn, salesforce.client(), sync_config.load()))


@dg.asset_check(asset="optout_sync", name="optout_mismatch", pool=DUCKDB_POOL)
def optout_mismatch(warehouse: WarehouseResource, sync_config: SyncConfigResource) -> dg.AssetCheckResult:
    """Emails whose opt-out state disagrees between Salesforce and Act-On given the configured direction."""
    with warehouse.connect() as conn:
        return check_result(check_optout_mismatch(conn, sync_config.load()))


# Not blocking in Dagster's sense: the Salesforce field pushes follow optout_sync (so that a box re-checked since
# the extract is not hidden behind our own write), and a held read must not stop the scores, lists and new
# opt-outs. The hold itself is what blocks: no un-check is written for the read's opt-ins.
@dg.asset_check(asset="optout_sync", name="optout_hold", pool=DUCKDB_POOL)
def optout_hold(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """A whole read of Act-On's opt-out list that would infer more opt-ins than the guard allows is held: nothing
    is un-ticked for them until an operator releases it; the check fails (severity ERROR) naming both counts."""
    with warehouse.connect() as conn:
        return check_result(check_optout_hold(conn))


@dg.asset_check(asset=["marts", "funnel_report"], name="reports_incomplete", pool=DUCKDB_POOL)
def reports_incomplete(warehouse: WarehouseResource, sync_config: SyncConfigResource) -> dg.AssetCheckResult:
    """Funnel and ROI marts without rows, and opportunities missing the mapped amount, stage or close date."""
    with warehouse.connect() as conn:
        return check_result(check_reports_incomplete(conn, sync_config.load()))


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "extraction_complete",
            asset=dg.AssetKey(["raw_salesforce", obj.lower()]),
            description="Salesforce COUNT() of the live rows and of the recent SystemModstamp window against "
            "the warehouse.",
        )
        for obj in OBJECTS
    ],
    can_subset=True,
    pool=DUCKDB_POOL,
)
def extraction_complete(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, salesforce: SalesforceResource
) -> Iterator[dg.AssetCheckResult]:
    """Every extracted object's counts in one step: Salesforce answers all of them in a few Composite calls."""
    by_key = {dg.AssetKey(["raw_salesforce", obj.lower()]): obj for obj in OBJECTS}
    keys = sorted({k.asset_key for k in context.selected_asset_check_keys}, key=lambda k: k.path)
    with warehouse.connect() as conn:
        counts = object_counts(conn, salesforce.client(), [by_key[k] for k in keys])
    for key, per_object in zip(keys, counts, strict=True):
        yield check_result(summarise([per_object]), key)


def schema_contract_check(sync_models: Sequence[str]) -> dg.AssetChecksDefinition:
    """The schema contract on each of ``sync_models`` (the dbt manifest's, read when the definitions are built)."""

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                "schema_contract",
                asset=dg.AssetKey(["sync", model]),
                blocking=True,
                description="Every mapped Salesforce field exists with a compatible type and every written field is "
                "updateable; blocks the write-back of this model otherwise.",
            )
            for model in sync_models
        ],
        can_subset=True,
    )
    def schema_contract(
        context: dg.AssetCheckExecutionContext,
        salesforce: SalesforceResource,
        sync_config: SyncConfigResource,
    ) -> Iterator[dg.AssetCheckResult]:
        """The schema contract, checked once against the describe and reported on every sync model it guards."""
        result = check_schema_contract(salesforce.client(), sync_config.load(), sync_config.path)
        for key in context.selected_asset_check_keys:
            yield check_result(result, key.asset_key)

    return schema_contract


@dg.asset_check(asset=PREFLIGHT, name="api_budget", blocking=True)
def api_budget(
    context: dg.AssetCheckExecutionContext, salesforce: SalesforceResource, acton: ActOnResource
) -> dg.AssetCheckResult:
    """The next run's projected API calls (the last run's, per system) against what is left of Salesforce's
    daily budget (/limits) and Act-On's 30,000 (our own persisted count); blocks the run before it would
    exhaust either."""
    nodes = context.op_execution_context.job_def.asset_layer.asset_graph.asset_nodes
    projected = projected_calls(last_run_calls(context.instance, nodes))
    return check_result(check_api_budget(salesforce.client(), acton.client(), projected))


def defs(sync_models: Sequence[str]) -> dg.Definitions:
    return dg.Definitions(
        assets=[sync_preflight],
        asset_checks=[
            records_missing_in_acton,
            scores_not_updating,
            optout_mismatch,
            optout_hold,
            reports_incomplete,
            extraction_complete,
            schema_contract_check(sync_models),
            api_budget,
        ],
    )
