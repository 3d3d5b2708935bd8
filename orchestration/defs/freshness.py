"""Freshness policies matching the schedules in sync.yaml: a raw asset or write-back is expected to have been
materialised since each tick of the schedule that runs it, within the schedule's shortest interval before it (the
most Dagster accepts: a longer one would refuse to load whenever the definitions load between two ticks further
apart). Applied when the definitions are built, from the sync.yaml read then."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from common.sync_config import SyncConfig
from health.cron import shortest_interval
from health.freshness import expected_cron


def freshness_policy(asset: str, config: SyncConfig) -> dg.FreshnessPolicy | None:
    """The policy of ``asset`` (a write-back's name, or a raw table's); None when no schedule runs it."""
    cron = expected_cron(asset, config)
    if cron is None:
        return None
    return dg.FreshnessPolicy.cron(
        deadline_cron=cron, lower_bound_delta=shortest_interval(cron), timezone="UTC"
    )


def with_freshness_policies(
    assets: Sequence[dg.AssetsDefinition], config: SyncConfig
) -> Sequence[dg.AssetsDefinition]:
    """``assets`` (extract or write-back) with each asset's policy: the one health/freshness.py expects of it, by
    the last part of its key, as the freshness check looks it up."""
    return dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=freshness_policy(spec.key.path[-1], config)),
        assets,
    )
