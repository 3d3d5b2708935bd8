"""What the dbt project makes, read from its manifest (``dbt_project/target/manifest.json``, which ``dbt parse``
writes; the Dagster definitions parse again whenever it is missing or older than the project's files).

The folder ``dbt_project/models/sync/`` is the one list of the sync models: everything that needs it reads it
from here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DBT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
MANIFEST_PATH = DBT_DIR / "target" / "manifest.json"
SYNC_SCHEMA = "sync"


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def relations(manifest: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The tables the build reads (its sources) and the relations it makes (its models)."""
    sources = sorted((s["schema"], s["identifier"]) for s in manifest["sources"].values())
    models = sorted(
        (n["schema"], n.get("alias") or n["name"])
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
    )
    return sources, models


def sync_models(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The models of the ``sync`` schema, what the write-back sends, by name."""
    return tuple(
        sorted(
            n["name"]
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["schema"] == SYNC_SCHEMA
        )
    )


def group_owners(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Each dbt group's owner email (models/_catalogue.yml), by group name."""
    return {g["name"]: g["owner"]["email"] for g in manifest["groups"].values() if g["owner"].get("email")}
