"""Thin resources: each returns an ``ingest`` client or a DuckDB connection, configured from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from common.sync_config import SyncConfig, load_sync_config
from common.warehouse import connect, warehouse_path
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.salesforce import OBJECTS

# Resolved once, to an absolute path, for every process the orchestration starts (dbt runs from dbt_project/).
os.environ["WAREHOUSE_PATH"] = str(warehouse_path())
# The concurrency pool of every asset that writes the warehouse: DuckDB has one writer, and .dagster/dagster.yaml
# limits each pool to one op at a time across all runs.
DUCKDB_POOL = "duckdb"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. Its path is resolved to an absolute path once (dbt runs from dbt_project/)."""

    path: str = os.environ["WAREHOUSE_PATH"]

    def connect(self) -> duckdb.DuckDBPyConnection:
        return connect(Path(self.path))


class SalesforceResource(dg.ConfigurableResource):
    """Salesforce org coordinates; the grant (password, client credentials, JWT, refresh) follows the environment.

    One client per run, shared by its steps: the describes and record counts of every extracted object are
    fetched once, in one call each, and cached for the run (a run is minutes; a schema change lands next run)."""

    login_url: str
    client_id: str
    _client: SalesforceClient | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = None

    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient.from_env(
                {
                    **os.environ,
                    "SALESFORCE_LOGIN_URL": self.login_url,
                    "SALESFORCE_CLIENT_ID": self.client_id,
                },
                prefetch=OBJECTS,
            )
        return self._client


class ActOnResource(dg.ConfigurableResource):
    """Act-On account coordinates; tokens live in the token cache, never in the warehouse or the event log."""

    base_url: str
    client_id: str

    def client(self) -> ActOnClient:
        return ActOnClient.from_env(
            {**os.environ, "ACTON_BASE_URL": self.base_url, "ACTON_CLIENT_ID": self.client_id}
        )


class SyncConfigResource(dg.ConfigurableResource):
    """The validated ``sync.yaml`` (path from SYNC_CONFIG, default ./sync.yaml)."""

    path: str = os.environ.get("SYNC_CONFIG", "sync.yaml")

    def load(self) -> SyncConfig:
        return load_sync_config(self.path)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "salesforce": SalesforceResource(
                login_url=dg.EnvVar("SALESFORCE_LOGIN_URL"), client_id=dg.EnvVar("SALESFORCE_CLIENT_ID")
            ),
            "acton": ActOnResource(
                base_url=dg.EnvVar("ACTON_BASE_URL"), client_id=dg.EnvVar("ACTON_CLIENT_ID")
            ),
            "sync_config": SyncConfigResource(),
        },
        executor=dg.in_process_executor,
    )
