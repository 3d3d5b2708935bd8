"""`make doctor`: refresh what the checks read from both systems (extract and dbt — never a write-back), run
every check against the current environment, print each verdict with what to do, and exit non-zero when any
check fails. A field the sync needs that the org lacks, or that the integration user may not write, fails the
preflight (a refresh step) and the schema contract, each naming the command that creates it and grants the
access: `make setup-org`.

Freshness is judged before the refresh: it is about the scheduled runs, which the refresh itself would mask.
The Dagster instance is $DAGSTER_HOME's when set (where the scheduled runs are recorded), else a throwaway one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import dagster as dg

from common.sync_config import config_path, load_sync_config
from common.warehouse import connect, utc_now
from health import CheckResult, Status
from health.budget import check_api_budget, projected_calls
from health.completeness import check_extraction_complete
from health.freshness import NAME as FRESHNESS
from health.freshness import TITLE as FRESHNESS_TITLE
from health.freshness import check_freshness
from health.lists import check_records_missing_in_acton
from health.optouts import check_optout_hold, check_optout_mismatch
from health.reports import check_reports_incomplete
from health.schema_contract import check_schema_contract
from health.scores import check_scores_not_updating
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from orchestration.definitions import defs
from orchestration.defs.health import freshness_inputs, last_run_calls

REFRESH_JOB = "doctor_refresh"
# The dbt models (dagster-dbt gives them the kind dbt) and everything upstream (preflight, extracts): no
# write-back, nothing published. Checks excluded: the doctor runs them itself, and dbt then skips its tests.
REFRESH = dg.AssetSelection.kind("dbt").upstream().without_checks()
MARK = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def refresh(definitions: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """Extract both systems and build the models in this process; returns the failed steps' messages."""
    job = dg.Definitions.merge(
        definitions, dg.Definitions(jobs=[dg.define_asset_job(REFRESH_JOB, selection=REFRESH)])
    ).resolve_job_def(REFRESH_JOB)
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    return [
        f"{e.step_key}: {e.event_specific_data.error.message.strip()}"  # type: ignore[union-attr]
        for e in result.all_events
        if e.is_step_failure
    ]


def run_checks(
    definitions: dg.Definitions, instance: dg.DagsterInstance, *, do_refresh: bool = True
) -> list[CheckResult]:
    """Every check, in the order of the setup guide's troubleshooting list, against the environment."""
    config = load_sync_config()
    nodes = list(definitions.resolve_asset_graph().asset_nodes)
    if os.environ.get("DAGSTER_HOME"):
        freshness = check_freshness(freshness_inputs(instance, nodes, config, utc_now()), utc_now())
    else:
        freshness = CheckResult(
            FRESHNESS,
            FRESHNESS_TITLE,
            Status.WARN,
            "not judged: no Dagster instance ($DAGSTER_HOME) records the scheduled runs",
            "set DAGSTER_HOME to the instance the schedules run in (`make doctor` uses .dagster/)",
        )
    if do_refresh:
        for failure in refresh(definitions, instance):
            print(f"  refresh step failed: {failure}", flush=True)
    salesforce, acton = SalesforceClient.from_env(), ActOnClient.from_env()
    try:
        with connect() as conn:
            results = [
                check_records_missing_in_acton(conn, config),
                check_scores_not_updating(conn, salesforce, config),
                check_optout_mismatch(conn, config),
                check_optout_hold(conn),
                check_reports_incomplete(conn, config),
                check_extraction_complete(conn, salesforce),
            ]
        results += [
            check_schema_contract(salesforce, config, config_path()),
            check_api_budget(salesforce, acton, projected_calls(last_run_calls(instance, nodes))),
            freshness,
        ]
    finally:
        salesforce.session.close()
        acton.session.close()
    return results


def render(result: CheckResult) -> str:
    lines = [f"[{MARK[result.status]}] {result.title}: {result.summary}"]
    if result.status is not Status.PASS:
        if result.remediation:
            lines.append(f"       what to do: {result.remediation}")
        for row in result.samples[:5]:
            lines.append("       e.g. " + ", ".join(f"{k}={v}" for k, v in row.items() if v is not None))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.doctor", description=__doc__)
    parser.add_argument(
        "--no-refresh", action="store_true", help="check the warehouse as it is, without extract and dbt"
    )
    args = parser.parse_args(argv)

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    if args.no_refresh:
        print("==> Checking the warehouse as it is", flush=True)
    else:
        print(
            "==> Refreshing both systems into the warehouse (extract and dbt; nothing is written back)",
            flush=True,
        )
    results = run_checks(defs(), instance, do_refresh=not args.no_refresh)
    print()
    for result in results:
        print(render(result), flush=True)
    failed = [r for r in results if r.status is Status.FAIL]
    verdict = f"; failing: {', '.join(r.name for r in failed)}" if failed else ""
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
