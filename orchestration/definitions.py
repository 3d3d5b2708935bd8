"""Dagster entry point: every definition under ``orchestration/defs``, built when Dagster loads the code location,
with an owner and code references on every asset (orchestration/catalogue.py).

Importing a module under ``orchestration/`` only defines things: it reads no sync.yaml, parses no dbt project and
writes no environment variable (tests/orchestration/test_imports.py). All of that happens here, in ``defs``, each time it is
called: sync.yaml is read once, for the schedules and the freshness policies; the dbt manifest is parsed again
when it is missing or stale, and loaded once, for the dbt assets, the analysts' copy, the schema contract and the
owners.
"""

from collections.abc import Mapping

import dagster as dg

from common.dbt_manifest import sync_models
from common.sync_config import load_sync_config
from orchestration.catalogue import annotated
from orchestration.defs import alerts, analytics, dbt, health, jobs, resources, run_guard, writeback
from orchestration.defs.extract import acton as extract_acton
from orchestration.defs.extract import salesforce as extract_salesforce


def build(env: Mapping[str, str] | None = None) -> dg.Definitions:
    """The definitions, the code references read from ``env`` (default the environment)."""
    config = load_sync_config()
    manifest = dbt.prepared_manifest()
    dbt_models = dbt.with_marts_freshness(dbt.dbt_models_asset(manifest), config)
    merged = dg.Definitions.merge(
        resources.defs(),
        run_guard.defs(),
        health.defs(sync_models(manifest)),
        extract_salesforce.defs(config),
        extract_acton.defs(config),
        dbt.defs(dbt_models),
        writeback.defs(config),
        analytics.defs(dbt_models),
        jobs.defs(config),
        alerts.defs(),
    )
    return annotated(merged, manifest, env)


@dg.definitions
def defs() -> dg.Definitions:
    return build()
