"""dbt models as Dagster assets: sources map to the extract assets, models are keyed ``[schema, model]``, and dbt
tests surface as asset checks. The sync configuration and the warehouse's path reach dbt as vars.

The assets are made from the dbt manifest when the definitions are built (``dbt_models_asset``), never at import:
that is when a missing or stale manifest is parsed again.
"""

import fcntl
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cached_property
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging.version import Version
from pydantic import Field

from analytics.marts_copy import MARTS_SCHEMA
from common import build_inputs
from common.dbt_manifest import DBT_DIR, load_manifest, relations
from common.sync_config import SyncConfig
from common.warehouse import utc_now
from orchestration.defs.freshness import freshness_policy
from orchestration.defs.resources import (
    DUCKDB_POOL,
    SalesforceResource,
    SyncConfigResource,
    WarehouseResource,
)

# The venv's dbt, whether or not the venv is on PATH (make runs .venv/bin/python directly).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
# dagster-dbt gives each invocation its own target directory and seeds it with this file when it exists.
PARTIAL_PARSE = DBT_DIR / dbt_project.target_path / "partial_parse.msgpack"


# The var naming the DuckDB file dbt builds in (profiles.yml; $WAREHOUSE_PATH when it is not given).
WAREHOUSE_VAR = "warehouse_path"


def sync_vars(config: SyncConfig, integration_user_id: str) -> dict[str, Any]:
    """The dbt vars of a sync run: sync.yaml, and who the integration user is (the Salesforce user Id the sync's
    token acts as)."""
    return {
        **config.to_dbt_vars(),
        # the sync's own writes must not count as people's changes when duplicates are ranked or un-ticks judged
        "integration_user_id": integration_user_id,
    }


def build_args(dbt_vars: Mapping[str, Any], warehouse: Path | None = None) -> list[str]:
    """The sync's `dbt build`: models, contracts and data tests (the asset checks), in ``warehouse`` (absolute;
    else $WAREHOUSE_PATH). Unit tests are development checks (`make test` runs them) and take seconds a run. The
    vars must be the same every run with the same sync.yaml and warehouse: dbt re-parses the whole project whenever
    its command-line vars change."""
    all_vars = {**dbt_vars, **({WAREHOUSE_VAR: str(warehouse)} if warehouse else {})}
    return ["build", "--exclude", "resource_type:unit_test", "--vars", json.dumps(all_vars, sort_keys=True)]


def keep_partial_parse(target_path: Path) -> None:
    """Make this invocation's parse the seed of the next one, so that runs with unchanged vars and project parse
    only what changed (dbt compares vars, profile and file hashes itself). Replaced atomically: a concurrent
    invocation reads the old file or the new one."""
    parsed = target_path / PARTIAL_PARSE.name
    if not parsed.exists():
        return
    staged = PARTIAL_PARSE.with_suffix(f".{os.getpid()}.tmp")
    PARTIAL_PARSE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(parsed, staged)
    os.replace(staged, PARTIAL_PARSE)


def project_files() -> list[Path]:
    """The files that decide what a build makes, besides the data and the vars."""
    found = [DBT_DIR / "dbt_project.yml", *DBT_DIR.glob("models/**/*"), *DBT_DIR.glob("macros/**/*")]
    return sorted(p for p in [*found, *DBT_DIR.glob("tests/**/*")] if p.is_file())


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in project_files())


def parse_if_stale(dbt_cli: DbtCliResource) -> Path:
    """A fresh clone has no manifest and an edited project has a stale one: parse before the assets are built;
    returns the manifest's path. Unlike ``DbtProject.prepare_if_dev``, which parses under `dagster dev` only, this
    parses whenever the manifest is missing or stale: `make sync`, `make demo` and the tests start from a clone.
    Several processes load these definitions at once (Dagster's webserver and daemon, parallel test workers):
    the lock lets one parse, and the manifest is parsed aside and moved into place, so a reader sees the old
    manifest or the new one, never half of one."""
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _manifest_is_stale():
            with tempfile.TemporaryDirectory(dir=target) as parsed:
                # a parse opens no database: an in-memory one renders the profile without a warehouse
                parse = ["parse", "--quiet", "--vars", json.dumps({WAREHOUSE_VAR: ":memory:"})]
                dbt_cli.cli(parse, target_path=Path(parsed)).wait()
                os.replace(Path(parsed) / "manifest.json", dbt_project.manifest_path)
    return dbt_project.manifest_path


class VenvDbtCliResource(DbtCliResource):
    """dagster-dbt, before each invocation, runs `dbt --version` (about 2 s of dbt's imports) and sets up a dbt
    adapter in this process (about 1 s) that only its row-count and column-metadata fetchers use. The executable
    is this environment's own dbt, whose version is the installed dbt-core's, and no fetcher is used here."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_cli() -> VenvDbtCliResource:
    return VenvDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


class SyncTranslator(DagsterDbtTranslator):
    """Sources are the extract assets (``raw_salesforce/lead``); models are ``<schema>/<model>``, grouped by schema.
    Each model links to its SQL file and is owned by its dbt group's owner (dagster-dbt reads the group's email)."""

    def __init__(self) -> None:
        super().__init__(DagsterDbtTranslatorSettings(enable_code_references=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["schema"]


class DbtBuildConfig(dg.Config):
    always_build: bool = Field(
        default=False,
        description="Build even when no input changed since the last complete build (after a hand edit).",
    )


def _build_context(dbt_vars: Mapping[str, Any]) -> str:
    files = [(str(p.relative_to(DBT_DIR)), p.read_bytes()) for p in project_files()]
    day = utc_now().date().isoformat()
    return build_inputs.context_digest(files, json.dumps(dbt_vars, sort_keys=True), day)


def _in_graph_order(
    deps: Mapping[dg.AssetKey, AbstractSet[dg.AssetKey]], keys: AbstractSet[dg.AssetKey]
) -> list[dg.AssetKey]:
    """Dagster takes a multi-asset's materialisations only upstream first."""
    return list(TopologicalSorter({key: deps.get(key, set()) & keys for key in keys}).static_order())


def prepared_manifest() -> dict[str, Any]:
    """The project's manifest, parsed first when it is missing or stale."""
    return load_manifest(parse_if_stale(dbt_cli()))


def dbt_models_asset(manifest: Mapping[str, Any]) -> dg.AssetsDefinition:
    """The dbt models as one multi-asset, made from ``manifest`` (dagster-dbt keeps it: no second copy)."""
    sources, models = relations(manifest)

    @dbt_assets(
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=SyncTranslator(),
        pool=DUCKDB_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        config: DbtBuildConfig,
        dbt: DbtCliResource,
        sync_config: SyncConfigResource,
        warehouse: WarehouseResource,
        salesforce: SalesforceResource,
    ) -> Iterator[Any]:
        """Staging, the person spine, the funnel and ROI marts, and the sync.* tables the write-back sends. The
        whole graph is not rebuilt when no input changed since its last complete build (common/build_inputs.py)."""
        dbt_vars = sync_vars(sync_config.load(), salesforce.client().user_id)
        args = build_args(dbt_vars, warehouse.file)
        whole = not context.is_subset
        if whole:
            with warehouse.connect() as conn:
                last = build_inputs.last_build(conn)
                inputs, changed = build_inputs.current(
                    conn, _build_context(dbt_vars), sources, models, last.inputs if last else None
                )
            if last and changed is None and not config.always_build:
                context.log.info("no input changed since the build of run %s: dbt build skipped", last.run_id)
                note = f"skipped: no input changed since the build of run {last.run_id}"
                for key in _in_graph_order(context.assets_def.asset_deps, context.selected_asset_keys):
                    yield dg.MaterializeResult(asset_key=key, metadata={"dbt_build": note})
                return
            context.log.info("dbt build: %s", changed or "always_build")
        else:
            # a partial graph (optout_job) must not run relationship tests against models it does not build
            args += ["--indirect-selection", "cautious"]
        invocation = dbt.cli(args, context=context)
        try:
            yield from invocation.stream()
        except Exception:
            if whole:
                with warehouse.connect() as conn:
                    build_inputs.forget(conn)
            raise
        if whole:
            with warehouse.connect() as conn:
                build_inputs.record(conn, inputs, context.run.run_id)
        # A subset may run from a temporary copy of the project (dagster-dbt's generated selector): its parse
        # state names files there, so only the whole project's seeds the next run.
        if invocation.project_dir == DBT_DIR:
            keep_partial_parse(invocation.target_path)

    return dbt_models


def with_marts_freshness(dbt_models: dg.AssetsDefinition, config: SyncConfig) -> dg.AssetsDefinition:
    """The marts analysts read with the freshness policy of the schedules that rebuild them: every list's path
    does, as it refreshes the raw assets, so theirs is the same (health/freshness.py)."""
    (mapped,) = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=freshness_policy(spec.key.path[-1], config))
        if spec.key.path[0] == MARTS_SCHEMA
        else spec,
        [dbt_models],
    )
    return mapped


def defs(dbt_models: dg.AssetsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[dbt_models], resources={"dbt": dbt_cli()})
