"""Thin resources: each returns an ``ingest`` client or a DuckDB connection, configured from the environment.

Nothing here runs at import: the environment is read when the definitions are built (which variables are set)
and, through ``dg.EnvVar``, when a run starts (their values); it is never written.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from common import sync_config, warehouse
from common.sync_config import SyncConfig, load_sync_config
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.salesforce import OBJECTS

DEFAULT_WAREHOUSE = warehouse.DEFAULT_PATH
DEFAULT_SYNC_CONFIG = str(sync_config.DEFAULT_PATH)
# The concurrency pool of every asset that writes the warehouse: DuckDB has one writer, and .dagster/dagster.yaml
# limits each pool to one op at a time across all runs.
DUCKDB_POOL = "duckdb"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file ($WAREHOUSE_PATH, default ./warehouse.duckdb); a relative path is taken from the
    working directory of the run, and handed on as ``file``, absolute (dbt runs from dbt_project/)."""

    path: str = DEFAULT_WAREHOUSE

    @property
    def file(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def connect(self) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(self.file)


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

    path: str = DEFAULT_SYNC_CONFIG

    def load(self) -> SyncConfig:
        return load_sync_config(self.path)


def env_or_default(name: str, default: str) -> str:
    """``dg.EnvVar(name)`` when the variable is set (Dagster reads its value when a run starts, and does not show
    it), else ``default``: an EnvVar has no default of its own, and these variables are optional."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(path=env_or_default("WAREHOUSE_PATH", DEFAULT_WAREHOUSE)),
            "salesforce": SalesforceResource(
                login_url=dg.EnvVar("SALESFORCE_LOGIN_URL"), client_id=dg.EnvVar("SALESFORCE_CLIENT_ID")
            ),
            "acton": ActOnResource(
                base_url=dg.EnvVar("ACTON_BASE_URL"), client_id=dg.EnvVar("ACTON_CLIENT_ID")
            ),
            "sync_config": SyncConfigResource(path=env_or_default(sync_config.ENV_VAR, DEFAULT_SYNC_CONFIG)),
        },
        executor=dg.in_process_executor,
    )
