"""Extract assets of group ``raw_acton``: lists and the SFDC lists' records, unified contacts with scores,
opt-outs (new ones every run, the whole list every few hours), hard bounces, spam complaints, messages and
their drill-downs."""

from collections.abc import Callable, Sequence

import dagster as dg
import duckdb

from common.sync_config import SyncConfig
from ingest.clients.acton_client import ActOnClient
from ingest.extract import acton as ex
from ingest.extract.results import ExtractResult
from orchestration.defs.extract.metadata import extract_metadata
from orchestration.defs.freshness import with_freshness_policies
from orchestration.defs.health import PREFLIGHT
from orchestration.defs.resources import DUCKDB_POOL, ActOnResource, SyncConfigResource, WarehouseResource

# (warehouse, client, configuration, run id) -> results
Step = Callable[[duckdb.DuckDBPyConnection, ActOnClient, SyncConfigResource, str], Sequence[ExtractResult]]


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw_acton", table])


def _run(
    step: Step,
    warehouse: WarehouseResource,
    acton: ActOnResource,
    sync_config: SyncConfigResource,
    run_id: str,
):
    with warehouse.connect() as conn:
        ex.ensure_tables(conn)
        return step(conn, acton.client(), sync_config, run_id)


def _extract_asset(
    tables: Sequence[str], description: str, step: Step, deps: Sequence[str] = ()
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"raw_acton_{tables[0]}",
        pool=DUCKDB_POOL,
        specs=[
            dg.AssetSpec(
                _key(t),
                group_name="raw_acton",
                kinds={"acton", "duckdb"},
                description=description,
                deps=[PREFLIGHT, *(_key(d) for d in deps)],
            )
            for t in tables
        ],
    )
    def extract(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        acton: ActOnResource,
        sync_config: SyncConfigResource,
    ):
        results = _run(step, warehouse, acton, sync_config, context.run.run_id)
        for table in tables:
            yield dg.MaterializeResult(asset_key=_key(table), metadata=extract_metadata(*results))

    return extract


def _list_names(config: SyncConfigResource) -> list[str]:
    return [lst.name for lst in config.load().lists if lst.direction != "off"]


def defs(config: SyncConfig) -> dg.Definitions:
    settings = ex.ActOnExtractSettings()
    assets = [
        _extract_asset(
            ["lists"],
            "Act-On contact lists (id, name, size, last modified).",
            lambda c, a, s, _: [ex.extract_lists(c, a)],
        ),
        _extract_asset(
            ["list_records"],
            "Records of the Salesforce marketing lists named in sync.yaml: whole CSV first, then modified-after pages.",
            lambda c, a, s, _: ex.extract_list_records(c, a, _list_names(s), settings),
            deps=["lists"],
        ),
        _extract_asset(
            ["contacts"],
            "Act-On unified contacts with the behavioural score (Act-On Primary Score), updatedAfter the watermark.",
            lambda c, a, s, _: [ex.extract_contacts(c, a, settings)],
        ),
        _extract_asset(
            ["optouts", "optout_history"],
            "Act-On's opt-out list: the opt-outs created since the last read, and the whole list every "
            "optouts.whole_list_every_hours (it can only be filtered by creation date); an email missing from "
            "whole reads of two runs opted back in, which optout_history records, unless more did than "
            "optouts.max_inferred_optins allows: then the read is held (check optout_hold).",
            lambda c, a, s, run_id: [
                ex.extract_optouts(
                    c,
                    a,
                    s.load().optouts.whole_list_every,
                    settings,
                    guard=s.load().optouts.optin_guard,
                    run_id=run_id,
                )
            ],
        ),
        _extract_asset(
            ["hard_bounces"],
            "Act-On hard bounces since the watermark.",
            lambda c, a, s, _: [ex.extract_suppressions(c, a, "hardbounce", settings)],
        ),
        _extract_asset(
            ["spam_complaints"],
            "Act-On spam complaints since the watermark (they count as opt-outs).",
            lambda c, a, s, _: [ex.extract_suppressions(c, a, "spamcomplaint", settings)],
        ),
        _extract_asset(
            ["messages", "message_events"],
            "Sent email messages and their drill-downs (sent, opened, clicked, bounced, opt-out, spam) for "
            "messages sent within the message window.",
            lambda c, a, s, _: ex.extract_messages(c, a, settings),
        ),
    ]
    return dg.Definitions(assets=with_freshness_policies(assets, config))
