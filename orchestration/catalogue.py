"""What the Dagster UI tells about each asset beyond its data: who owns it and where its code is.

dbt models get both from dagster-dbt (their group's owner, their SQL file: orchestration/defs/dbt.py). Every
other asset gets here the owner of the dbt group it serves, by its Dagster group, and a reference to the Python
function that materialises it. With ``CODE_REFERENCES_GIT_URL`` (a GitHub or GitLab repository's address) and
``CODE_REFERENCES_GIT_BRANCH`` (default ``main``), the references become links to that repository instead of
local paths.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from common.dbt_manifest import group_owners

ROOT = Path(__file__).resolve().parents[1]
GIT_URL_VAR = "CODE_REFERENCES_GIT_URL"
GIT_BRANCH_VAR = "CODE_REFERENCES_GIT_BRANCH"
CODE_REFERENCES = "dagster/code_references"

# The dbt group (its owner) each non-dbt Dagster group serves: the extracts, the preflight and the write-backs
# keep the systems aligned; the analysts' copy and the charts are the reports.
OWNING_GROUP = {
    "raw_salesforce": "marketing_ops",
    "raw_acton": "marketing_ops",
    "checks": "marketing_ops",
    "writeback": "marketing_ops",
    "sync_state": "marketing_ops",
    "analytics": "analytics",
}


def _code_references(assets: list[dg.AssetsDefinition], env: Mapping[str, str]) -> dict[dg.AssetKey, object]:
    """The code references of every asset: the function's file and line where dagster-dbt gave none."""
    located = [
        a
        if any(CODE_REFERENCES in a.metadata_by_key[k] for k in a.keys)
        else dg.with_source_code_references([a])[0]
        for a in assets
    ]
    if env.get(GIT_URL_VAR):
        located = dg.link_code_references_to_git(
            located,
            git_url=env[GIT_URL_VAR].rstrip("/"),
            git_branch=env.get(GIT_BRANCH_VAR) or "main",
            file_path_mapping=dg.AnchorBasedFilePathMapping(
                local_file_anchor=ROOT / "pyproject.toml", file_anchor_path_in_repository="pyproject.toml"
            ),
        )
    return {
        key: a.metadata_by_key[key][CODE_REFERENCES]
        for a in located
        if isinstance(a, dg.AssetsDefinition)
        for key in a.keys
        if CODE_REFERENCES in a.metadata_by_key[key]
    }


def annotated(
    defs: dg.Definitions, manifest: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dg.Definitions:
    """``defs`` with owners on every asset that has none (the dbt groups' in ``manifest``) and code references on
    every asset."""
    # the APIs are beta / preview: one warning per asset on every load would bury the warnings that matter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _annotated(defs, group_owners(manifest), os.environ if env is None else env)


def _annotated(defs: dg.Definitions, owners: Mapping[str, str], env: Mapping[str, str]) -> dg.Definitions:
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    references = _code_references(assets, env)

    def annotate(spec: dg.AssetSpec) -> dg.AssetSpec:
        owner = owners.get(OWNING_GROUP.get(spec.group_name or "", ""))
        return spec.replace_attributes(
            owners=spec.owners or ([owner] if owner else []),
            metadata={
                **spec.metadata,
                **({CODE_REFERENCES: references[spec.key]} if spec.key in references else {}),
            },
        )

    return defs.map_asset_specs(func=annotate)
