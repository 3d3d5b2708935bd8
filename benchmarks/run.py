"""`make bench`: generate the sandbox world at SCALE, run the full cycle, one simulated hour at CHURN and the
incremental cycle, a 0%-churn cycle (each of the last two after a cycle that reads back the previous writes),
and the floors on the same data; write benchmarks/results/<date>-<scale>.json
and a row of the table in benchmarks/README.md.

    .venv/bin/python -m benchmarks.run --scale 100000 [--churn 0.01] [--seed 1] [--data-dir .data/bench] [--profile]
        [--warehouse postgres]

--warehouse postgres runs the same cycles with WAREHOUSE=postgres, on a database of a local Postgres server started
for the run (the tests' server from the pgserver wheel, fsync off); results under <date>-<scale>-postgres.json.

--profile (`make bench PROFILE=1`) profiles each cycle with pyinstrument (benchmarks/profiling.py): reports under
benchmarks/results/profiles/, hottest frames and dbt's slowest nodes under each cycle's "profile" in the JSON.

Numbers come from a shared machine: other work running at the same time slows every stage (see load_avg).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import floors, machine, profiling
from benchmarks.cycle import Cycle, run_sync_job
from benchmarks.report import ACTON_PREFIX, SF_EXTRACT_STEPS, print_stages, stages
from benchmarks.rss import Sampler, hwm_kib, maxrss_mib
from benchmarks.sandbox_truth import Marks, SandboxTruth
from common import warehouse
from ingest.extract.acton import ActOnExtractSettings
from ingest.extract.salesforce import OBJECTS, SalesforceExtractSettings
from sandbox.launcher import Sandbox, start

# Each cycle also reads back what the previous one wrote (scores, list records, opt-outs: they moved the
# modstamps). The cycles named by the targets are measured after a cycle that settled those writes, as an
# hourly schedule in its steady state would run them; the read-back cycles are reported too.
CYCLES = (
    ("full", "full cycle (empty warehouse)"),
    ("import_readback", "read-back cycle: reads back what the initial import wrote"),
    ("incremental", "incremental cycle ({churn:.0%} churn)"),
    ("readback", "read-back cycle: reads back what the incremental cycle wrote"),
    ("zero_churn", "0% churn cycle"),
)
SYSTEMS = ("salesforce", "acton")
# The extracts read from a lookback before the previous read began, so a write-back finished less than that
# before a read is read again by the next cycle. Scheduled hourly runs are that far apart; back-to-back cycles
# are not: before each read-back cycle the benchmark waits out the rest of the lookback (not counted in any
# cycle), so that the cycle after it sees what an hourly schedule would.
LOOKBACK_S = max(SalesforceExtractSettings().lookback, ActOnExtractSettings().lookback).total_seconds()
WAIT_BEFORE = ("import_readback", "readback")


def _stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for system in SYSTEMS:
        b, a = before[system]["by_endpoint"], after[system]["by_endpoint"]
        by = {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0)}
        out[system] = {"total": sum(by.values()), "by_endpoint": by}
    return out


def _model_rows(env: dict[str, str]) -> int | None:
    """Rows in every table the models and the sync state hold (what dbt built, plus bookkeeping)."""
    if env.get("WAREHOUSE") == "postgres":
        with warehouse.connect(env=env, read_only=True) as conn:
            (n,) = conn.execute(
                "SELECT * FROM postgres_query(?, 'SELECT coalesce(sum(c.reltuples), 0)::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = ''r'' AND n.nspname NOT IN (''raw_salesforce'', ''raw_acton'')')",
                [warehouse.POSTGRES_CATALOG],
            ).fetchone()  # type: ignore[misc]
        return int(n)
    try:
        conn = duckdb.connect(env["WAREHOUSE_PATH"], read_only=True)
    except duckdb.IOException:  # a failed dbt step can leave its process holding the lock for a while
        return None
    try:
        (n,) = conn.execute(
            "SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables() WHERE schema_name NOT LIKE 'raw_%'"
        ).fetchone()  # type: ignore[misc]
    finally:
        conn.close()
    return int(n)


def bench_env(sandbox: Sandbox, data_dir: Path, warehouse_env: dict[str, str]) -> dict[str, str]:
    """The pipeline's environment for the world in ``data_dir``, set in this process before the orchestration
    is imported (its resources read the environment); Dagster's home is made on first use. ``warehouse_env``:
    WAREHOUSE and, for Postgres, its settings."""
    env = {
        **sandbox.env,
        **warehouse_env,
        "WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
        "TOKEN_CACHE_PATH": str(data_dir / "tokens.json"),
        "DAGSTER_HOME": str(data_dir / "dagster_home"),
    }
    home = Path(env["DAGSTER_HOME"])
    if not home.exists():
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(env)
    return env


class Bench:
    def __init__(self, sandbox: Sandbox, sampler: Sampler, env: dict[str, str]):
        import dagster as dg

        from common.sync_config import load_sync_config

        self.sandbox, self.sampler, self.env = sandbox, sampler, env
        self.lists = sum(1 for lst in load_sync_config().lists if lst.direction != "off")
        self.instance = dg.DagsterInstance.get()
        self.truth = SandboxTruth(sandbox.data_dir, OBJECTS)

    def cycle(
        self, name: str, marks: Marks | None, profile_stem: str | None = None
    ) -> tuple[dict[str, Any], Cycle]:
        """One sync_job; ``marks`` are the cursor marks taken before the previous cycle (None: a full read);
        with ``profile_stem``, profiled (reports named after it)."""
        changed = self.truth.changed_since(marks)
        before = {s: self.sandbox.admin(s, "GET", "stats")["calls"] for s in SYSTEMS}
        profile: dict[str, Any] | None = None
        if profile_stem is None:
            cycle = run_sync_job(self.instance)
        else:
            cycle, session = profiling.profile_call(lambda: run_sync_job(self.instance))
            profile = {
                **profiling.write_report(session, profile_stem),
                "dbt": profiling.dbt_slowest(cycle.run_id, cycle.start),
            }
        after = {s: self.sandbox.admin(s, "GET", "stats")["calls"] for s in SYSTEMS}
        rows = stages(cycle, changed, self.sampler, self.lists, first_run=marks is None)
        dbt = next((r for r in rows if r["step"] == "dbt_models"), None)
        if dbt is not None:
            dbt["rows"] = _model_rows(self.env)
            dbt["rows_per_s"] = (
                round(dbt["rows"] / dbt["seconds"]) if dbt["rows"] and dbt["seconds"] else None
            )
        sf_extract = [r for r in rows if r["step"] in SF_EXTRACT_STEPS]
        acton_floor = sum(r["acton_api_floor"] for r in rows)
        report = {
            "name": name,
            "ok": cycle.ok,
            "failures": cycle.failures,
            "seconds": round(cycle.seconds, 2),
            "salesforce_changed_rows": changed,
            "salesforce_extract_seconds": round(sum(r["seconds"] for r in sf_extract), 2),
            "salesforce_extract_calls": sum(r["api_calls"] or 0 for r in sf_extract),
            "salesforce_extract_floor": sum(r["api_floor"] for r in sf_extract),
            "salesforce_extract_max_calls_per_object": max(
                (r["api_calls"] or 0 for r in sf_extract), default=0
            ),
            "acton_extract_calls": sum(
                r["api_calls"] or 0 for r in rows if r["step"].startswith(ACTON_PREFIX)
            ),
            "metadata_api_calls": sum(r["api_calls"] or 0 for r in rows),
            "api_floor": sum(r["api_floor"] for r in rows),
            "acton_api_floor": acton_floor,
            "rate_floor_s": round(floors.rate_floor_s(acton_floor), 1),
            "sandbox_calls": _stats_delta(before, after),
            "peak_rss_mib": self.sampler.peak_mib(cycle.start, cycle.end),
            "stages": rows,
        }
        if profile is not None:
            report["profile"] = profile
        print_stages(f"{name}: {cycle.seconds:.1f} s, ok={cycle.ok}", rows)
        for failure in cycle.failures:
            print(f"  FAILED {failure}")
        if profile is not None:
            print(f"  profile: {profile['text']}")
        return report, cycle


def _salesforce_calls(cycle: dict[str, Any]) -> int:
    """The cycle's Salesforce calls as the sandbox counted them, less token requests (not API calls)."""
    by_endpoint = cycle["sandbox_calls"]["salesforce"]["by_endpoint"]
    return sum(n for endpoint, n in by_endpoint.items() if "oauth2/token" not in endpoint)


def _targets(scale: int, result: dict[str, Any]) -> dict[str, Any]:
    full, incr, zero = (result["cycles"][k] for k in ("full", "incremental", "zero_churn"))
    floor_s = result["extract_floor"]["seconds"]
    bound = max(floor_s, full["rate_floor_s"])
    out: dict[str, Any] = {
        "full_cycle_vs_max_floor": round(full["seconds"] / bound, 2) if bound else None,
        "extract_vs_extract_floor": round(full["salesforce_extract_seconds"] / floor_s, 2)
        if floor_s
        else None,
        "incremental_extract_calls_vs_floor": round(
            incr["salesforce_extract_calls"] / max(1, incr["salesforce_extract_floor"]), 2
        ),
        "zero_churn_max_calls_per_object": zero["salesforce_extract_max_calls_per_object"],
        # everything the cycle asked Salesforce (extract, describes, limits, the completeness checks), per object
        "zero_churn_salesforce_calls_per_object": round(_salesforce_calls(zero) / len(SF_EXTRACT_STEPS), 2),
        "peak_rss_pipeline_mib": round(max(c["peak_rss_mib"]["pipeline"] for c in result["cycles"].values())),
    }
    if scale >= 1_000_000:
        out["met"] = {
            "full_cycle_1.5x": out["full_cycle_vs_max_floor"] is not None
            and out["full_cycle_vs_max_floor"] <= 1.5,
            "full_cycle_10min": full["seconds"] < 600,
            "incremental_60s": incr["seconds"] < 60,
            "zero_churn_20s": zero["seconds"] < 20,
            "rss_2gib": out["peak_rss_pipeline_mib"] < 2048,
        }
    out["met_at_any_scale"] = {
        "extract_2x_floor": out["extract_vs_extract_floor"] is not None
        and out["extract_vs_extract_floor"] <= 2,
        "incremental_calls_1.2x": out["incremental_extract_calls_vs_floor"] <= 1.2,
        "zero_churn_2_calls_per_object": out["zero_churn_max_calls_per_object"] <= 2,
    }
    return out


def _readme_row(result: dict[str, Any]) -> None:
    c, t, fl = result["cycles"], result["targets"], result["extract_floor"]
    rss = t["peak_rss_pipeline_mib"]
    sandbox_rss = result["sandbox_peak_rss_mib"]
    machine.append_row(
        "make bench results",
        [
            "date",
            "scale",
            "churn",
            "generate s",
            "full cycle s",
            "SF extract s / floor s",
            "incr. cycle s",
            "incr. SF extract calls / floor",
            "0% cycle s",
            "0% calls/object (extract max / all SF)",
            "peak RSS MiB (pipeline / sandbox)",
            "ok",
            "machine (shared, noisy)",
        ],
        [
            result["date"],
            f"{result['scale']:,}" + ("" if result["warehouse"] == "duckdb" else f" ({result['warehouse']})"),
            f"{result['churn']:.0%}",
            f"{result['generate_seconds']:.0f}",
            f"{c['full']['seconds']:.0f}",
            f"{c['full']['salesforce_extract_seconds']:.1f} / {fl['seconds']:.1f} ({t['extract_vs_extract_floor']}x)",
            f"{c['incremental']['seconds']:.1f}",
            f"{c['incremental']['salesforce_extract_calls']} / {c['incremental']['salesforce_extract_floor']}",
            f"{c['zero_churn']['seconds']:.1f}",
            f"{t['zero_churn_max_calls_per_object']} / {t.get('zero_churn_salesforce_calls_per_object', '-')}",
            f"{rss} / {sandbox_rss:.0f}",
            "yes" if all(x["ok"] for x in c.values()) else "NO",
            machine.describe(result["machine"]),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="number of Leads")
    parser.add_argument(
        "--churn", type=float, default=0.01, help="share of records the simulated hour changes"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench"))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile each cycle with pyinstrument (benchmarks/results/profiles/)",
    )
    parser.add_argument("--warehouse", choices=warehouse.TARGETS, default=warehouse.TARGETS[0])
    args = parser.parse_args(argv)
    data_dir = (args.data_dir / str(args.scale)).resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "scale": args.scale,
        "churn": args.churn,
        "seed": args.seed,
        "warehouse": args.warehouse,
        "machine": machine.machine(),
        "cycles": {},
    }

    started = time.perf_counter()
    sandbox = start(data_dir / "sandbox", scale=args.scale, seed=args.seed, timeout=4 * 3600)
    result["generate_seconds"] = round(time.perf_counter() - started, 1)  # includes server start (~1-2 s)
    print(f"generated the world at {args.scale:,} Leads in {result['generate_seconds']} s", flush=True)
    with ExitStack() as stack:
        warehouse_env = {"WAREHOUSE": "duckdb"}  # whatever the shell running the benchmark has set
        if args.warehouse == "postgres":
            from tests.postgres_server import postgres_server

            server = stack.enter_context(postgres_server(data_dir / "postgres"))
            database = server.create_database("warehouse")
            warehouse_env = server.warehouse_env(database)
        return _run_cycles(args, result, sandbox, data_dir, warehouse_env)


def _run_cycles(
    args: argparse.Namespace,
    result: dict[str, Any],
    sandbox: Sandbox,
    data_dir: Path,
    warehouse_env: dict[str, str],
) -> int:
    try:
        env = bench_env(sandbox, data_dir, warehouse_env)
        from ingest.clients.salesforce_client import SalesforceClient

        with Sampler(os.getpid(), sandbox.proc.pid) as sampler:
            bench = Bench(sandbox, sampler, env)
            marks: Marks | None = None
            previous_end = time.time()
            for key, title in CYCLES:
                if key == "incremental":
                    started = time.perf_counter()
                    sim = sandbox.admin("salesforce", "POST", "simulate", {"hours": 1, "churn": args.churn})
                    result["simulate"] = {"seconds": round(time.perf_counter() - started, 1), **sim}
                    print(
                        f"\nsimulated one hour at {args.churn:.0%} churn in {result['simulate']['seconds']} s"
                    )
                    title = title.format(churn=args.churn)
                if key in WAIT_BEFORE:
                    waited = max(0.0, LOOKBACK_S - (time.time() - previous_end))
                    print(f"\nwaiting {waited:.0f} s: the lookback since the last write-back", flush=True)
                    time.sleep(waited)
                    result.setdefault("waited_seconds", {})[key] = round(waited, 1)
                taken = bench.truth.marks()
                stem = f"{result['date']}-{args.scale}-{key}" if args.profile else None
                result["cycles"][key], cycle = bench.cycle(title, marks, stem)
                previous_end = cycle.end
                marks = taken
                if key == "full":
                    print("\nextract floor: plain HTTP Bulk 2.0 pages + DuckDB read_csv", flush=True)
                    floor = floors.extract_floor(SalesforceClient.from_env(env), OBJECTS, data_dir / "floor")
                    result["extract_floor"] = {
                        "seconds": round(sum(f["seconds"] for f in floor.values()), 2),
                        "objects": floor,
                    }
                    for obj, f in floor.items():
                        print(
                            f"  {obj:<24}{f['rows']:>10,} rows {f['seconds']:>7.2f} s {f['calls']:>4} calls"
                        )
            result["sandbox_peak_rss_mib"] = hwm_kib(sandbox.proc.pid) / 1024
        result["maxrss_mib"] = maxrss_mib()
    finally:
        sandbox.stop()

    result["targets"] = _targets(args.scale, result)
    on = "" if args.warehouse == "duckdb" else f"-{args.warehouse}"
    out = machine.save_result(result, f"{result['date']}-{args.scale}{on}")
    _readme_row(result)
    print(f"\ntargets: {json.dumps(result['targets'], indent=2)}\nwrote {out}")
    return 0 if all(c["ok"] for c in result["cycles"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
