"""Check 8, freshness: each raw asset and each write-back carries a freshness policy matching the schedule
that materialises it (sync.yaml), and was materialised since its last scheduled tick (the cron policy's rule:
stale when the latest materialisation is older than the last tick minus the schedule's interval)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.health.cron import interval, last_tick, most_frequent
from ingest.health.result import CheckResult, sample, status_of
from ingest.sync_config import SyncConfig

NAME = "freshness"
TITLE = "Freshness"
OPTOUT_WRITEBACK = "optout_sync"


@dataclass(frozen=True)
class AssetFreshness:
    asset: str  # "raw_salesforce/lead", "acton_list_sync"
    expected_cron: str | None  # the schedule that materialises it, from sync.yaml (None: unscheduled)
    policy_cron: str | None  # the policy on the definition
    last_materialized_at: datetime | None  # naive UTC


def sync_schedule(config: SyncConfig, now: datetime) -> str | None:
    """The cron of the sync job (its most frequent schedule): every raw asset and write-back runs in it."""
    return most_frequent(sorted({lst.schedule for lst in config.lists if lst.direction != "off"}), now)


def expected_cron(asset: str, config: SyncConfig, now: datetime) -> str | None:
    """The opt-out write-back also runs alone on the opt-out schedule: whichever is more frequent governs it."""
    crons = [c for c in [sync_schedule(config, now)] if c]
    if asset == OPTOUT_WRITEBACK and config.optouts.direction != "off":
        crons.append(config.optouts.schedule)
    return most_frequent(crons, now)


def policy_window(cron: str, now: datetime) -> timedelta:
    """The policy's lower bound: one interval of the schedule."""
    return interval(cron, now)


def check_freshness(assets: Sequence[AssetFreshness], now: datetime) -> CheckResult:
    mismatched, stale = [], []
    for a in assets:
        if a.policy_cron != a.expected_cron:
            mismatched.append(
                {"asset": a.asset, "policy": a.policy_cron or "none", "schedule": a.expected_cron or "none"}
            )
        if a.expected_cron is None:
            continue
        tick = last_tick(a.expected_cron, now)
        due = tick - policy_window(a.expected_cron, now)
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
        return CheckResult(
            NAME,
            TITLE,
            status_of(False),
            f"all {len(assets)} raw and write-back assets are fresh for their schedule",
            counts=counts,
        )
    parts, fixes = [], []
    if stale:
        never = [s["asset"] for s in stale if s["last_materialized_at"] is None]
        parts.append(
            f"{len(stale)} assets were not refreshed since their last scheduled run"
            + (f" ({len(never)} never were)" if never else "")
            + ": "
            + ", ".join(s["asset"] for s in stale[:8])
        )
        fixes.append(
            "check that the schedules are on (`dg dev` → Automation, or the dagster-daemon is running) and why "
            "the last sync_job / optout_job runs failed; then run the sync job"
        )
    if mismatched:
        parts.append(f"{len(mismatched)} assets have no freshness policy matching their schedule")
        fixes.append("reload the Dagster definitions after changing a schedule in sync.yaml")
    return CheckResult(
        NAME, TITLE, status_of(True), "; ".join(parts), "; ".join(fixes), counts, sample(stale + mismatched)
    )
