"""Extract assets of group ``raw_salesforce``: one asset per object, landing in ``raw_salesforce.<object>``."""

import dagster as dg

from common.sync_config import SyncConfig
from ingest.extract.salesforce import OBJECTS, extract_object
from orchestration.defs.extract.metadata import extract_metadata
from orchestration.defs.freshness import with_freshness_policies
from orchestration.defs.health import PREFLIGHT
from orchestration.defs.resources import DUCKDB_POOL, SalesforceResource, WarehouseResource


def _extract_asset(obj: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw_salesforce", obj.lower()],
        group_name="raw_salesforce",
        pool=DUCKDB_POOL,
        kinds={"salesforce", "duckdb"},
        deps=[PREFLIGHT],
        description=(
            f"Salesforce {obj} records in raw_salesforce.{obj.lower()}: incremental by SystemModstamp with an "
            "overlap window, deletes from queryAll, Bulk 2.0 for large windows, a daily field-by-field reconciliation."
        ),
    )
    def extract(warehouse: WarehouseResource, salesforce: SalesforceResource) -> dg.MaterializeResult:
        with warehouse.connect() as conn:
            result = extract_object(conn, salesforce.client(), obj)
        return dg.MaterializeResult(metadata=extract_metadata(result))

    return extract


def defs(config: SyncConfig) -> dg.Definitions:
    return dg.Definitions(assets=with_freshness_policies([_extract_asset(obj) for obj in OBJECTS], config))
