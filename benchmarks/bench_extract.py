"""Full Salesforce extract alone (no Dagster, no dbt) into an empty warehouse, against the extract floor measured
in the same run on the same data: rows/s, API calls against the fewest the page sizes allow, peak RSS.

    .venv/bin/python -m benchmarks.bench_extract --scale 100000 [--seed 1] [--data-dir .data/bench-world]

Shares the per-scale world with bench_sandbox. Numbers come from a shared machine and are noisy.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks import floors, machine
from benchmarks.rss import Sampler, hwm_kib, maxrss_mib
from benchmarks.sandbox_truth import SandboxTruth
from benchmarks.world import client_env, new_result, open_world, parse_args, world_dir
from common.warehouse import connect
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.salesforce import OBJECTS, extract_object


def main(argv: list[str] | None = None) -> int:
    args = parse_args("python -m benchmarks.bench_extract", __doc__ or "", argv)
    result: dict[str, Any] = new_result(args.scale)
    result["objects"] = {}
    sandbox, generated = open_world(args.data_dir, args.scale, args.seed)
    result["generate_seconds"] = None if generated is None else round(generated, 1)
    work = world_dir(args.data_dir, args.scale) / "bench_extract"
    shutil.rmtree(work, ignore_errors=True)
    try:
        env = client_env(sandbox, work)
        source_rows = SandboxTruth(sandbox.data_dir, OBJECTS).changed_since(None)
        client = SalesforceClient.from_env(env, prefetch=OBJECTS)  # as the pipeline's run: one describe call
        client.token  # authenticate before the clock starts, as the floor does  # noqa: B018
        conn = connect(Path(env["WAREHOUSE_PATH"]))
        with Sampler(os.getpid(), sandbox.proc.pid) as sampler:
            for obj in OBJECTS:
                started = time.perf_counter()
                r = extract_object(conn, client, obj)
                seconds = time.perf_counter() - started
                rows = r.rows_inserted + r.rows_updated
                result["objects"][obj] = {
                    "rows": rows,
                    "source_rows": source_rows[obj],
                    "seconds": round(seconds, 2),
                    "rows_per_s": round(rows / seconds),
                    "api_calls": r.api_calls,
                    "api_floor": floors.sf_query_calls(source_rows[obj]),
                    "mode": r.mode,
                }
            extract_end = time.time()
            conn.close()
            floor = floors.extract_floor(client, OBJECTS, work / "floor")
            result["peak_rss_mib"] = sampler.peak_mib(0, extract_end)
        result["maxrss_mib"] = maxrss_mib()
        result["sandbox_peak_rss_mib"] = round(hwm_kib(sandbox.proc.pid) / 1024)
    finally:
        sandbox.stop()
    objs = result["objects"]
    for obj, f in floor.items():
        objs[obj]["floor_seconds"] = round(f["seconds"], 2)
        objs[obj]["floor_calls"] = f["calls"]
        objs[obj]["vs_floor"] = round(objs[obj]["seconds"] / f["seconds"], 2)
    total = {
        k: sum(o[k] for o in objs.values())
        for k in ("rows", "seconds", "api_calls", "api_floor", "floor_seconds")
    }
    total["rows_per_s"] = round(total["rows"] / total["seconds"])
    total["vs_floor"] = round(total["seconds"] / total["floor_seconds"], 2)
    result["total"] = total
    print(
        f"  {'object':<24}{'rows':>10}{'s':>8}{'rows/s':>9}{'floor s':>9}{'x floor':>8}{'calls':>6}{'min':>5}"
    )
    for obj, o in [*objs.items(), ("TOTAL", total)]:
        print(
            f"  {obj:<24}{o['rows']:>10,}{o['seconds']:>8.2f}{o['rows_per_s']:>9,}{o['floor_seconds']:>9.2f}"
            f"{o['vs_floor']:>8}{o['api_calls']:>6}{o['api_floor']:>5}"
        )
    print(f"  peak RSS MiB: {result['peak_rss_mib']}, sandbox {result['sandbox_peak_rss_mib']}")
    out = machine.save_result(result, f"{result['date']}-extract-{args.scale}")
    machine.append_row(
        "bench_extract results",
        [
            "date",
            "scale",
            "rows",
            "extract s",
            "rows/s",
            "floor s",
            "x floor",
            "API calls / minimum",
            "peak RSS MiB",
            "machine (shared, noisy)",
        ],
        [
            result["date"],
            f"{args.scale:,}",
            f"{total['rows']:,}",
            f"{total['seconds']:.1f}",
            f"{total['rows_per_s']:,}",
            f"{total['floor_seconds']:.1f}",
            str(total["vs_floor"]),
            f"{total['api_calls']} / {total['api_floor']}",
            f"{result['peak_rss_mib']['pipeline']:.0f}",
            machine.describe(result["machine"]),
        ],
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
