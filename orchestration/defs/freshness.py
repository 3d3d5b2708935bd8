"""Freshness policies matching the schedules in sync.yaml: a raw asset or write-back is expected to have been
materialised within one schedule interval before each tick of the schedule that runs it."""

from __future__ import annotations

import dagster as dg

from ingest.health.freshness import expected_cron, policy_window
from ingest.sync_config import load_sync_config
from ingest.warehouse import utc_now


def freshness_policy(asset: str = "") -> dg.FreshnessPolicy | None:
    """The policy of a raw asset (no name needed) or of the write-back ``asset``; None when unscheduled."""
    now = utc_now()
    cron = expected_cron(asset, load_sync_config(), now)
    if cron is None:
        return None
    return dg.FreshnessPolicy.cron(
        deadline_cron=cron, lower_bound_delta=policy_window(cron, now), timezone="UTC"
    )
