"""dbt models as Dagster assets: sources map to the extract assets, models are keyed ``[schema, model]``, and dbt
tests surface as asset checks. The sync configuration reaches dbt as vars."""

import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ingest.sync_config import SyncConfig
from orchestration.defs.resources import DUCKDB_POOL, SyncConfigResource

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# The venv's dbt, whether or not the venv is on PATH (make runs .venv/bin/python directly).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
# dagster-dbt gives each invocation its own target directory and seeds it with this file when it exists.
PARTIAL_PARSE = DBT_DIR / dbt_project.target_path / "partial_parse.msgpack"


def sync_vars(config: SyncConfig) -> dict[str, Any]:
    """The dbt vars of a sync run: sync.yaml, and who the integration user is."""
    return {
        **config.to_dbt_vars(),
        # the sync's own writes must not count as people's changes when duplicates are ranked
        "integration_username": os.environ.get("SALESFORCE_USERNAME", ""),
    }


def build_args(dbt_vars: Mapping[str, Any]) -> list[str]:
    """The sync's `dbt build`: models, contracts and data tests (the asset checks). Unit tests are development
    checks (`make test` runs them) and take seconds a run. The vars must be the same every run with the same
    sync.yaml: dbt re-parses the whole project whenever its command-line vars change."""
    return ["build", "--exclude", "resource_type:unit_test", "--vars", json.dumps(dbt_vars, sort_keys=True)]


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


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_DIR / "dbt_project.yml", *DBT_DIR.glob("models/**/*"), *DBT_DIR.glob("macros/**/*")]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


def _parse_if_stale(dbt_cli: DbtCliResource) -> None:
    """A fresh clone has no manifest and an edited project has a stale one: parse before the assets are built.
    Several processes load these definitions at once (Dagster's webserver and daemon, parallel test workers):
    the lock lets one parse, and the manifest is parsed aside and moved into place, so a reader sees the old
    manifest or the new one, never half of one."""
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _manifest_is_stale():
            return
        with tempfile.TemporaryDirectory(dir=target) as parsed:
            dbt_cli.cli(["parse", "--quiet"], target_path=Path(parsed)).wait()
            os.replace(Path(parsed) / "manifest.json", dbt_project.manifest_path)


dbt_cli = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
_parse_if_stale(dbt_cli)


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
    args = build_args(sync_vars(sync_config.load()))
    if context.is_subset:
        # a partial graph (optout_job) must not run relationship tests against models it does not build
        args += ["--indirect-selection", "cautious"]
    invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    # A subset may run from a temporary copy of the project (dagster-dbt's generated selector): its parse
    # state names files there, so only the whole project's seeds the next run.
    if invocation.project_dir == DBT_DIR:
        keep_partial_parse(invocation.target_path)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[dbt_models], resources={"dbt": dbt_cli})
