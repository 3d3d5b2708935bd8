"""Time the sync's `dbt build` (models, contracts, data tests) on a warehouse extracted from a sandbox org.

    .venv/bin/python benchmarks/bench_dbt.py --scale 100000 [--seed 1] [--keep DIR]
    .venv/bin/python benchmarks/bench_dbt.py --warehouse DIR/warehouse.duckdb   # re-time an existing warehouse
    .venv/bin/python benchmarks/bench_dbt.py --warehouse DIR/warehouse.duckdb --postgres   # and on Postgres

Starts a sandbox at the scale (number of Leads), extracts both systems into a fresh DuckDB warehouse exactly
as the pipeline does, stops the sandbox, then runs the Dagster asset's `dbt build` (same arguments and vars) twice,
each in a fresh process: the first run after a deploy (full parse) and a later run (partial parse). Prints
seconds, nodes, peak RSS (DuckDB runs inside that process, so its memory counts) and the load average around each
(the machine may be shared). Every dbt node must pass: a failing model or test is a benchmark failure, not a number.
With --postgres, the same raw tables are then copied (common/postgres_copy.py) into a database of a local Postgres
server (the tests' server from the pgserver wheel, fsync off) and the same build is timed on the profile's
`postgres` target; the peak RSS is then dbt's alone, the server's memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from common import warehouse  # noqa: E402
from common.postgres_copy import copy_schemas  # noqa: E402
from common.sync_config import load_sync_config  # noqa: E402
from ingest.clients.acton_client import ActOnClient  # noqa: E402
from ingest.clients.salesforce_client import SalesforceClient  # noqa: E402
from ingest.extract import acton as extract_acton  # noqa: E402
from ingest.extract import salesforce as extract_salesforce  # noqa: E402
from orchestration.defs.dbt import build_args, sync_vars  # noqa: E402
from sandbox import launcher  # noqa: E402


def build_raw_warehouse(directory: Path, scale: int, seed: int) -> Path:
    """Generate the org in a sandbox and extract it into DIR/warehouse.duckdb; returns the warehouse path."""
    path = directory / "warehouse.duckdb"
    started = time.perf_counter()
    sandbox = launcher.start(directory / "sandbox", scale=scale, seed=seed, timeout=7200)
    print(f"sandbox scale={scale} seed={seed}: {time.perf_counter() - started:.1f} s", flush=True)
    try:
        env = {**sandbox.env, "TOKEN_CACHE_PATH": str(directory / "tokens.json")}
        lists = [lst.name for lst in load_sync_config(ROOT / "sync.yaml").lists if lst.direction != "off"]
        started = time.perf_counter()
        with warehouse.connect(path) as conn:
            extract_salesforce.extract_all(conn, SalesforceClient.from_env(env))
            extract_acton.extract_all(conn, ActOnClient.from_env(env), list_names=lists)
            counts = {
                f"{schema}.{table}": conn.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
                for schema, table in conn.execute(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_schema in ('raw_salesforce', 'raw_acton') order by 1, 2"
                ).fetchall()
            }
        print(f"extract: {time.perf_counter() - started:.1f} s", flush=True)
        for table, n in counts.items():
            print(f"  {table:<40} {n:>10,}")
    finally:
        sandbox.stop()
    return path


def _dbt_build(env: dict[str, str], target_dir: str, args: list[str], results: multiprocessing.Queue) -> None:
    """In a fresh process with ``env`` set: one dbt invocation, then (seconds, execution seconds, peak RSS MiB,
    nodes by type, failed nodes) on the queue."""
    import os

    from dbt.cli.main import dbtRunner

    os.environ.update(env)
    started = time.perf_counter()
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir", str(ROOT / "dbt_project"),
            "--profiles-dir", str(ROOT / "dbt_project"),
            "--target-path", target_dir,
            "--log-path", target_dir,
            "--quiet",
        ]
    )  # fmt: skip
    seconds = time.perf_counter() - started
    nodes = Counter(r.node.resource_type for r in (result.result or []))
    failed = [
        f"{r.node.name}: {r.status} {r.message}"
        for r in (result.result or [])
        # an exposure (the consumers the catalogue names) has nothing to run: dbt build answers "no-op" for it
        if str(r.status) not in ("success", "pass") and str(r.node.resource_type) != "exposure"
    ]
    if not result.success and not failed:
        failed = [repr(result.exception)]
    # the run without parsing and start-up, as dbt measured it
    executed = (
        json.loads((Path(target_dir) / "run_results.json").read_text())["elapsed_time"] if nodes else 0.0
    )
    # ru_maxrss is KiB on Linux
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    results.put((seconds, executed, peak_rss, dict(nodes), failed))


def time_dbt_build(env: dict[str, str], label: str, target_dir: Path, args: list[str]) -> bool:
    """One timed invocation in a fresh process, as the Dagster asset runs it (dbt in its own process)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    load_before = Path("/proc/loadavg").read_text().split()[0]
    process = context.Process(target=_dbt_build, args=(env, str(target_dir), args, results))
    process.start()
    seconds, executed, rss_mib, nodes, failed = results.get()
    process.join()
    load_after = Path("/proc/loadavg").read_text().split()[0]
    by_type = ", ".join(f"{n} {kind}" for kind, n in sorted(nodes.items()))
    print(
        f"{label}: {seconds:.1f} s (nodes {executed:.1f} s, parse and start-up {seconds - executed:.1f} s), "
        f"{sum(nodes.values())} nodes ({by_type}), peak RSS {rss_mib:.0f} MiB, load {load_before} -> {load_after}",
        flush=True,
    )
    for failure in failed:
        print(f"  FAILED {failure}")
    return not failed


def time_production_builds(path: Path, env: dict[str, str]) -> bool:
    """The sync's `dbt build` twice on the warehouse ``env`` names (WAREHOUSE picks the profile's target): the
    first run after a deploy (fresh target: full parse) and every later run (the previous run's parse state:
    partial parse), like the Dagster asset's."""
    # who the integration user is changes which rows pass a filter, not what the build costs
    args = build_args(sync_vars(load_sync_config(ROOT / "sync.yaml"), ""))
    target = env["WAREHOUSE"]
    target_dir = path.parent / f"target-{target}"
    shutil.rmtree(target_dir, ignore_errors=True)
    on = f" on {target}"
    ok = time_dbt_build(env, f"dbt build{on}, first run (full parse)", target_dir, args)
    return time_dbt_build(env, f"dbt build{on}, next runs (partial parse)", target_dir, args) and ok


def time_postgres_builds(path: Path, scratch: Path) -> bool:
    """The raw tables copied into a fresh Postgres database, then the same builds on the `postgres` target."""
    from tests.postgres_server import postgres_server

    with postgres_server(scratch) as server:
        database = server.create_database("warehouse")
        started = time.perf_counter()
        with duckdb.connect(str(path), read_only=True) as duck, closing(server.connect(database)) as postgres:
            copied = copy_schemas(duck, postgres, warehouse.RAW_SCHEMAS)
        rows = sum(copied.values())
        print(
            f"copy to Postgres: {rows:,} rows in {len(copied)} tables, {time.perf_counter() - started:.1f} s"
        )
        return time_production_builds(path, server.warehouse_env(database))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="number of Leads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="directory to keep the sandbox and warehouse in")
    parser.add_argument("--warehouse", type=Path, help="time dbt build on this existing warehouse instead")
    parser.add_argument("--postgres", action="store_true", help="then the same build on a Postgres copy")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.warehouse:
            path = args.warehouse.resolve()
        else:
            directory = (args.keep or Path(tmp)).resolve()
            directory.mkdir(parents=True, exist_ok=True)
            path = build_raw_warehouse(directory, args.scale, args.seed)
        ok = time_production_builds(path, {"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": str(path)})
        print(f"warehouse: {path.stat().st_size / 2**20:.0f} MiB")
        if args.postgres:
            ok = time_postgres_builds(path, Path(tmp)) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
