"""`make demo`: start both sandboxes, run ``sync_job`` once with real Dagster materialisations, show the reports.

Everything lands under the data dir (warehouse, token cache, Dagster instance), so the demo never touches a
real org's state and can be run again from scratch by deleting that folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

from analytics.charts import reports_dir
from analytics.html_report import INDEX_FILE
from orchestration.progress import VERBOSE_ENV, run_job
from sandbox.launcher import Sandbox, start

PROJECT = Path(__file__).resolve().parents[1]
# The committed instance config (the one-writer pool for DuckDB), copied into the demo's own DAGSTER_HOME.
INSTANCE_CONFIG = PROJECT / ".dagster" / "dagster.yaml"


def _step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def _table(conn: duckdb.DuckDBPyConnection, title: str, sql: str) -> None:
    print(f"\n{title}")
    rel = conn.sql(sql)
    rows = rel.fetchall()
    if not rows:
        print("  (no rows)")
        return
    cols = rel.columns
    cells = [
        [("" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v).replace("\n", " ")) for v in r]
        for r in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def show_reports(warehouse: Path, sandbox: Sandbox) -> None:
    conn = duckdb.connect(str(warehouse), read_only=True)
    _table(
        conn,
        "Write-back in this run",
        """select system, object, field, status, count(*) as rows
           from sync_state.writeback_results group by all order by all""",
    )
    _table(
        conn,
        "Consent changes",
        "select system, new_value, count(*) as emails from sync_state.consent_ledger group by all order by all",
    )
    _table(
        conn,
        "Rejects (records that cannot sync, and rows the APIs refused)",
        """select source_system as source, reason, count(*) as records from marts.rejected_records group by all
           union all
           select source, reason, count(*) from sync_state.rejects group by all
           order by all""",
    )
    _table(
        conn,
        "Funnel (all sources, by stage)",
        """select stage, sum(entered) as entered from marts.funnel_report
           where lead_source = '(all)' group by stage, stage_order order by stage_order""",
    )
    _table(
        conn,
        "ROI by campaign (primary attribution, top 10 by won revenue)",
        """select campaign_name, cost, opportunities, pipeline_amount, won_revenue, roi from marts.roi_report
           where attribution_model = 'primary' order by won_revenue desc nulls last limit 10""",
    )
    conn.close()
    calls = {system: sandbox.stats(system)["total"] for system in ("salesforce", "acton")}
    print(f"\nAPI calls spent: Salesforce {calls['salesforce']:,}, Act-On {calls['acton']:,}")


def show_images(warehouse: Path) -> None:
    images = sorted(reports_dir(warehouse).glob("*.png"))
    print(
        "\nReport images (also in the Dagster UI, asset report_charts):" if images else "\nNo report images."
    )
    for image in images:
        print(f"  {image}")
    page = reports_dir(warehouse) / INDEX_FILE
    print(f"\nThe report, to open in a browser: {page}" if page.exists() else "\nNo HTML report.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.demo")
    parser.add_argument("--data-dir", type=Path, default=Path(".data/demo"))
    parser.add_argument("--scale", type=int, default=2000)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    verbose = bool(os.environ.get(VERBOSE_ENV))
    if data_dir.exists():
        shutil.rmtree(data_dir)  # the demo always starts from scratch
    started = time.monotonic()

    _step(f"Starting the Salesforce and Act-On sandboxes ({args.scale:,} Leads) in {data_dir}")
    sandbox = start(data_dir / "sandbox", scale=args.scale, seed=1)
    try:
        env = {
            **sandbox.env,
            "WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
            "ANALYTICS_PATH": str(data_dir / "warehouse_analytics.duckdb"),
            "TOKEN_CACHE_PATH": str(data_dir / "tokens.json"),
            "DAGSTER_HOME": str(data_dir / "dagster_home"),
        }
        Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(INSTANCE_CONFIG, Path(env["DAGSTER_HOME"]) / "dagster.yaml")
        print(f"  Salesforce {env['SALESFORCE_LOGIN_URL']}, Act-On {env['ACTON_BASE_URL']}")

        _step("Running sync_job: extract -> dbt -> Act-On lists -> scores -> opt-outs -> prospects")
        ok = run_job("sync_job", data_dir / "sync_job.log", {**os.environ, **env}, sys.stdout, verbose) == 0
        show_reports(Path(env["WAREHOUSE_PATH"]), sandbox)
    finally:
        sandbox.stop()
    show_images(Path(env["WAREHOUSE_PATH"]))
    print(f"\nAnalysts' read-only copy of the marts: {env['ANALYTICS_PATH']}")
    _step(f"{'Done' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
