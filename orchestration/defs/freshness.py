"""Freshness policies matching the schedules in sync.yaml: a write-back is expected to have been materialised
since each tick of the schedule that runs it, within the schedule's shortest interval before it (the most Dagster
accepts: a longer one would refuse to load whenever the definitions load between two ticks further apart)."""

from __future__ import annotations

import dagster as dg

from common.sync_config import load_sync_config
from health.cron import shortest_interval
from health.freshness import expected_cron


def freshness_policy(asset: str = "") -> dg.FreshnessPolicy | None:
    """The policy of the write-back ``asset``; None when no schedule runs it, as for a raw asset (no name)."""
    cron = expected_cron(asset, load_sync_config())
    if cron is None:
        return None
    return dg.FreshnessPolicy.cron(
        deadline_cron=cron, lower_bound_delta=shortest_interval(cron), timezone="UTC"
    )
