"""dbt models as Dagster assets: sources map to the extract assets, models are keyed ``[schema, model]``, and dbt
tests surface as asset checks. The sync configuration reaches dbt as vars."""

import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.defs.resources import DUCKDB_POOL, SyncConfigResource

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# The venv's dbt, whether or not the venv is on PATH (make runs .venv/bin/python directly).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_DIR / "dbt_project.yml", *DBT_DIR.glob("models/**/*"), *DBT_DIR.glob("macros/**/*")]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


# A fresh clone has no manifest and an edited project has a stale one: parse before the assets are built.
dbt_cli = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
if _manifest_is_stale():
    dbt_cli.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


class SyncTranslator(DagsterDbtTranslator):
    """Sources are the extract assets (``raw_salesforce/lead``); models are ``<schema>/<model>``, grouped by schema."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["schema"]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=SyncTranslator(),
    pool=DUCKDB_POOL,
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, sync_config: SyncConfigResource
) -> Iterator[Any]:
    """Staging, the person spine, the funnel and ROI marts, and the sync.* tables the write-back sends."""
    dbt_vars = {
        **sync_config.load().to_dbt_vars(),
        "run_id": context.run_id,
        # the sync's own writes must not count as people's changes when duplicates are ranked
        "integration_username": os.environ.get("SALESFORCE_USERNAME", ""),
    }
    args = ["build", "--vars", json.dumps(dbt_vars)]
    if context.is_subset:
        # a partial graph (optout_job) must not run relationship tests against models it does not build
        args += ["--indirect-selection", "cautious"]
    yield from dbt.cli(args, context=context).stream()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[dbt_models], resources={"dbt": dbt_cli})
