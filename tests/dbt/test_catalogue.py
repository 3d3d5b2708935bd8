"""The catalogue: every model, source and column described; exposures for everything that reads the models;
owners, code references and the marts' freshness in Dagster; `make docs` generating dbt's site from the analysts'
read-only copy without opening the live warehouse.

One warehouse is built by dbt on empty raw tables, and its marts published as the analysts' copy, as a run does."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph  # what resolve_asset_graph returns

from analytics.catalogue import docs_path
from analytics.marts_copy import analytics_path, publish_marts
from common.sync_config import load_sync_config
from health.freshness import expected_cron
from orchestration.catalogue import GIT_URL_VAR
from tests.raw_fixtures import ROOT, create_raw_tables, run_dbt

DESCRIBED_SCHEMAS = ("staging", "intermediate")
CONFIGURED_PREFIX = "cfg__"  # the fields sync.yaml names: which they are depends on the configuration
WRITEBACKS = {
    "acton_list_sync",
    "salesforce_score_push",
    "optout_sync",
    "salesforce_bounce_push",
    "salesforce_prospect_fields_push",
}


@dataclass
class Built:
    warehouse: Path
    copy: Path
    manifest: dict[str, Any]

    def columns(self, schemas: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
        # as dbt opened it: dbt-duckdb keeps its connection in this process, and DuckDB refuses another configuration
        with duckdb.connect(str(self.warehouse)) as conn:
            rows = conn.execute(
                "select table_schema, table_name, list(column_name order by ordinal_position) "
                "from information_schema.columns where table_schema in (select unnest(?)) group by all",
                [list(schemas)],
            ).fetchall()
        return {(schema, table): columns for schema, table, columns in rows}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    data_dir = tmp_path_factory.mktemp("catalogue")
    warehouse = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        create_raw_tables(conn)
    run_dbt(warehouse, "run")
    copy = analytics_path(warehouse, env={})
    with duckdb.connect(str(warehouse)) as conn:
        publish_marts(conn, copy)
    manifest = json.loads((data_dir / "target" / "manifest.json").read_text())
    return Built(warehouse, copy, manifest)


@pytest.fixture(scope="module")
def graph() -> AssetGraph:
    from orchestration.definitions import defs

    return defs().resolve_asset_graph()


def models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def model_key(node: dict[str, Any]) -> dg.AssetKey:
    return dg.AssetKey([node["schema"], node["name"]])


# -- descriptions -------------------------------------------------------------------------------------------------
def test_every_model_and_source_table_is_described(built: Built) -> None:
    nodes = [*models(built.manifest).values(), *built.manifest["sources"].values()]
    assert len(nodes) > 60
    undescribed = [n["unique_id"] for n in nodes if not n["description"].strip()]
    assert undescribed == []


def test_every_staging_and_intermediate_column_is_described(built: Built) -> None:
    """Against the columns the build really made: a column missing from the yml is as undescribed as one listed
    without words, and a yml column the model does not have describes nothing."""
    by_name = models(built.manifest)
    built_columns = built.columns(DESCRIBED_SCHEMAS)
    assert len(built_columns) == sum(n["schema"] in DESCRIBED_SCHEMAS for n in by_name.values()) > 30
    undescribed, stale = [], []
    for (schema, table), columns in built_columns.items():
        node = by_name[table]
        described = {name for name, c in node["columns"].items() if c["description"].strip()}
        undescribed += [
            f"{schema}.{table}.{c}"
            for c in columns
            if c not in described and not c.startswith(CONFIGURED_PREFIX)
        ]
        stale += [f"{schema}.{table}.{c}" for c in node["columns"] if c not in columns]
        if any(c.startswith(CONFIGURED_PREFIX) for c in columns):
            # the configured fields are described once, by the model, as the convention that names them
            assert CONFIGURED_PREFIX in node["description"], table
    assert undescribed == []
    assert stale == []


# -- exposures ------------------------------------------------------------------------------------------------------
def test_exposures_name_every_reader_of_the_models_with_what_it_reads(
    built: Built, graph: AssetGraph
) -> None:
    exposures = {e["name"]: e for e in built.manifest["exposures"].values()}
    assert set(exposures) == WRITEBACKS | {"analytics_copy", "report_charts"}
    nodes = built.manifest["nodes"]
    model_keys = {model_key(n) for n in models(built.manifest).values()}
    for name, exposure in exposures.items():
        reads = {model_key(nodes[uid]) for uid in exposure["depends_on"]["nodes"]}
        # the Dagster asset of the same name reads exactly these models
        assert reads == graph.get(dg.AssetKey(name)).parent_keys & model_keys, name
        assert reads and exposure["owner"]["email"] and exposure["description"].strip(), name
    marts = {model_key(n) for n in models(built.manifest).values() if n["schema"] == "marts"}
    assert {model_key(nodes[uid]) for uid in exposures["analytics_copy"]["depends_on"]["nodes"]} == marts


# -- Dagster: owners, code references, freshness ------------------------------------------------------------------
def test_every_asset_has_an_owner_and_dbt_models_their_groups(built: Built, graph: AssetGraph) -> None:
    groups = {g["name"]: g["owner"]["email"] for g in built.manifest["groups"].values()}
    assert set(groups) == {"marketing_ops", "analytics"}
    ownerless = [k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).owners]
    assert ownerless == []
    for node in models(built.manifest).values():
        assert graph.get(model_key(node)).owners == [groups[node["group"]]], node["name"]
    assert graph.get(dg.AssetKey(["marts", "people"])).owners == [groups["analytics"]]
    assert graph.get(dg.AssetKey("optout_sync")).owners == [groups["marketing_ops"]]
    assert graph.get(dg.AssetKey("analytics_copy")).owners == [groups["analytics"]]


def _references(spec: Any) -> list[Any]:
    refs = spec.metadata.get("dagster/code_references")
    return list(refs.code_references) if refs else []


def test_every_asset_links_to_its_code(built: Built, graph: AssetGraph) -> None:
    by_key = {model_key(n): n for n in models(built.manifest).values()}
    for key in graph.materializable_asset_keys:
        refs = _references(graph.get(key))
        assert refs, key.to_user_string()
        path = Path(refs[0].file_path)
        assert path.is_file(), path
        if key in by_key:  # a model links to its SQL
            assert path == ROOT / "dbt_project" / by_key[key]["original_file_path"]
        else:  # any other asset to the function that materialises it
            assert path.suffix == ".py" and refs[0].line_number, key.to_user_string()
            line = path.read_text().splitlines()[refs[0].line_number - 1].lstrip()
            assert line.startswith(("@dg.", "def ")), key.to_user_string()  # its decorator or its def


def test_code_references_link_to_the_repository_when_it_is_named() -> None:
    from orchestration.definitions import build

    linked = build(env={GIT_URL_VAR: "https://github.com/acme/sfacton/"}).resolve_asset_graph()
    base = "https://github.com/acme/sfacton/tree/main/"
    (people,) = _references(linked.get(dg.AssetKey(["marts", "people"])))
    assert people.url == base + "dbt_project/models/marts/people.sql"
    (optouts,) = _references(linked.get(dg.AssetKey("optout_sync")))
    assert optouts.url.startswith(base + "orchestration/defs/writeback.py#L")


def test_the_marts_analysts_read_carry_the_freshness_of_their_schedules(graph: AssetGraph) -> None:
    config = load_sync_config(ROOT / "sync.yaml")
    marts = [k for k in graph.materializable_asset_keys if k.path[0] == "marts"]
    assert len(marts) == 7
    for key in marts:
        policy = graph.get(key).freshness_policy
        assert policy is not None, key.to_user_string()
        assert policy.deadline_cron == expected_cron(key.to_user_string(), config) is not None


# -- make docs ------------------------------------------------------------------------------------------------------
@pytest.fixture
def warehouse_held(built: Built) -> Iterator[None]:
    """The live warehouse held for writing and the copy open for reading, as a run and an analyst would: any
    attempt of the docs to open the warehouse, or the copy for writing, fails on DuckDB's file lock."""
    with duckdb.connect(str(built.warehouse)), duckdb.connect(str(built.copy), read_only=True):
        yield


def test_make_docs_generates_the_catalogue_from_the_copy_alone(built: Built, warehouse_held: None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_PATH", "ANALYTICS_PATH")}
    data_dir = str(built.warehouse.parent)
    command = [sys.executable, "-m", "analytics.catalogue", "--data-dir", data_dir, "--no-serve"]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    site = docs_path(built.copy)
    catalog = json.loads((site / "catalog.json").read_text())
    assert (site / "index.html").is_file() and not catalog["errors"]
    tables = {n["metadata"]["name"]: n for n in catalog["nodes"].values()}
    with duckdb.connect(str(built.copy), read_only=True) as copy:
        marts = dict(
            copy.execute(
                "select table_name, list(column_name order by ordinal_position) from information_schema.columns "
                "where table_schema = 'marts' group by all"
            ).fetchall()
        )
    assert set(tables) == set(marts) and len(marts) == 7
    for name, columns in marts.items():
        assert tables[name]["metadata"]["schema"] == "marts"
        assert sorted(tables[name]["columns"]) == sorted(columns), name
    # the rest of the project is in the site from its yml: its descriptions, not the copy's types
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["nodes"]["model.sfacton.int_people_identified"]["description"].strip()
