"""Check 7, API budget: the projected calls of the next run against what is left of each daily budget —
Salesforce's from ``/limits`` (DailyApiRequests), Act-On's from the clients' own persisted count against the
published 30,000 (Act-On has no usage API). Warns at 80% of a budget; fails (and, as a blocking check, stops the
run before it starts) when the run would exhaust what is left."""

from __future__ import annotations

from collections.abc import Mapping

from health.result import CheckResult, status_of
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.salesforce import OBJECTS

NAME = "api_budget"
TITLE = "API budget"
ACTON_DAILY_MAX = 30_000  # Act-On's published daily limit per account
WARN_SHARE = 0.8
WRITEBACK_ASSETS = 5
# Calls a run spends outside the assets' own counts: the preflight's describes (run start and each write-back)
# and the checks (three COUNT() per object, the contract's describes).
SALESFORCE_OVERHEAD = 5 * (1 + WRITEBACK_ASSETS) + 3 * len(OBJECTS) + 10
# A first run (no history): a describe and a query per object, a write per sync model; Act-On's list, list
# record, contact, opt-out and message pages.
FIRST_RUN = {"salesforce": 2 * len(OBJECTS) + 7 + SALESFORCE_OVERHEAD, "acton": 50}


def projected_calls(last_run: Mapping[str, int] | None = None) -> dict[str, int]:
    """The next run's calls per system: what the last run's assets spent (plus the unmetered overhead), never
    less than a first run's."""
    last = last_run or {}
    return {
        "salesforce": max(last.get("salesforce", 0) + SALESFORCE_OVERHEAD, FIRST_RUN["salesforce"]),
        "acton": max(last.get("acton", 0), FIRST_RUN["acton"]),
    }


def salesforce_usage(client: SalesforceClient) -> tuple[int, int]:
    """(used today, daily max) from /limits."""
    daily = client.limits()["DailyApiRequests"]
    return int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])


def check_api_budget(
    salesforce: SalesforceClient, acton: ActOnClient, projected: Mapping[str, int]
) -> CheckResult:
    usage = {"salesforce": salesforce_usage(salesforce), "acton": (acton.spent_today(), ACTON_DAILY_MAX)}
    counts: dict[str, int | float] = {}
    exhausted, near = [], []
    for system, (used, cap) in usage.items():
        need = int(projected[system])
        remaining = max(cap - used, 0)
        counts.update(
            {
                f"{system}.used": used,
                f"{system}.max": cap,
                f"{system}.remaining": remaining,
                f"{system}.projected": need,
            }
        )
        label = "Salesforce" if system == "salesforce" else "Act-On"
        line = f"{label}: {used:,} of {cap:,} daily calls used, the next run needs about {need:,}"
        if need > remaining:
            exhausted.append(f"{line} but only {remaining:,} are left")
        elif used + need > WARN_SHARE * cap:
            near.append(f"{line}, which passes {WARN_SHARE:.0%} of the budget")
    samples = [
        {"system": s, "used": u, "max": m, "projected": int(projected[s])} for s, (u, m) in usage.items()
    ]
    if exhausted:
        return CheckResult(
            NAME,
            TITLE,
            status_of(True),
            "the next run would exhaust the daily API budget, so it is stopped before it starts: "
            + "; ".join(exhausted),
            "wait for the budget to reset (Salesforce: rolling 24 hours; Act-On: UTC midnight), or raise the "
            "limit with the vendor, or run the sync less often (the schedules in sync.yaml); other integrations "
            "spend the same Salesforce budget",
            counts,
            samples,
        )
    if near:
        return CheckResult(
            NAME,
            TITLE,
            status_of(False, warned=True),
            "the daily API budget is running low: " + "; ".join(near),
            "space out the schedules in sync.yaml or find what else spends the budget before it runs out",
            counts,
            samples,
        )
    return CheckResult(
        NAME,
        TITLE,
        status_of(False),
        "the next run fits in both daily API budgets",
        counts=counts,
        samples=samples,
    )
