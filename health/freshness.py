"""Check 8, freshness: each write-back carries a freshness policy matching the schedule that runs it (sync.yaml),
and was materialised since the tick before that schedule's last one (a run missed, not merely one under way).

Each list's schedule runs its list's path, every raw asset and write-back but the opt-out sync; the opt-out
schedule runs the opt-out path, which ends in the opt-out sync. So the opt-out sync keeps the opt-out schedule and
everything else the most frequent list schedule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from common.sync_config import SyncConfig
from health.cron import last_ticks, most_frequent
from health.result import CheckResult, passing, sample, status_of

NAME = "freshness"
TITLE = "Freshness"
OPTOUT_WRITEBACK = "optout_sync"


@dataclass(frozen=True)
class AssetFreshness:
    asset: str  # "raw_salesforce/lead", "acton_list_sync"
    expected_cron: str | None  # the schedule that materialises it, from sync.yaml (None: unscheduled)
    policy_cron: str | None  # the policy on the definition
    last_materialized_at: datetime | None  # naive UTC


def expected_cron(asset: str, config: SyncConfig, now: datetime | None = None) -> str | None:
    """The schedule ``asset`` is expected to keep: the opt-out schedule for the opt-out sync; for every other
    raw asset and write-back the most frequent list schedule (every list's path runs all of them). None when no
    schedule runs it. The choice does not depend on ``now``, which callers may still pass."""
    if asset == OPTOUT_WRITEBACK:
        return config.optouts.schedule if config.optouts.direction != "off" else None
    return most_frequent(lst.schedule for lst in config.lists if lst.direction != "off")


def check_freshness(assets: Sequence[AssetFreshness], now: datetime) -> CheckResult:
    mismatched, stale = [], []
    for a in assets:
        if a.policy_cron != a.expected_cron:
            mismatched.append(
                {"asset": a.asset, "policy": a.policy_cron or "none", "schedule": a.expected_cron or "none"}
            )
        if a.expected_cron is None:
            continue
        _, due = last_ticks(a.expected_cron, now, 2)
        if a.last_materialized_at is None or a.last_materialized_at < due:
            stale.append(
                {
                    "asset": a.asset,
                    "schedule": a.expected_cron,
                    "last_materialized_at": a.last_materialized_at,
                    "expected_since": due,
                }
            )
    counts: dict[str, int | float] = {
        "assets": len(assets),
        "unscheduled": sum(a.expected_cron is None for a in assets),
        "policy_mismatch": len(mismatched),
        "stale": len(stale),
    }
    if not mismatched and not stale:
        return passing(
            NAME, TITLE, f"all {len(assets)} raw and write-back assets are fresh for their schedule", counts
        )
    parts, fixes = [], []
    if stale:
        never = [s["asset"] for s in stale if s["last_materialized_at"] is None]
        parts.append(
            f"{len(stale)} assets were not refreshed by either of their last two scheduled runs"
            + (f" ({len(never)} never were)" if never else "")
            + ": "
            + ", ".join(s["asset"] for s in stale[:8])
        )
        fixes.append(
            "check that the schedules are on (`dg dev` → Automation, or the dagster-daemon is running) and why "
            "the last list_sync__<list> / optout_job runs failed; then run the sync job"
        )
    if mismatched:
        parts.append(f"{len(mismatched)} assets have no freshness policy matching their schedule")
        fixes.append("reload the Dagster definitions after changing a schedule in sync.yaml")
    return CheckResult(
        NAME, TITLE, status_of(True), "; ".join(parts), "; ".join(fixes), counts, sample(stale + mismatched)
    )
