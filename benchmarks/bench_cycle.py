"""Sync cycles against the world and warehouse a `make bench` left, without generating them again: at a million
Leads `make bench` takes an hour, and a change to the incremental path is measured here in minutes.

    .venv/bin/python -m benchmarks.bench_cycle --scale 1000000 [--cycles 2] [--churn 0.01] [--data-dir .data/bench]

Each cycle is a `sync_job` after nothing changed (the first after a `make bench` reads back nothing: its last
cycle was already a 0% one) or, with --churn, after one simulated hour at that churn (it also reads back what the
previous cycle wrote). The world keeps the simulated changes. The first cycle of a process also pays Python's
imports and Dagster's first load: take the later ones. Writes benchmarks/results/<date>-<scale>-cycles[-churnC].json.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.rss import Sampler
from benchmarks.run import Bench, bench_env
from sandbox.launcher import start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_cycle", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--scale", type=int, default=100_000, help="the scale of the `make bench` world")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument(
        "--churn",
        type=float,
        default=0.0,
        help="share of records one simulated hour changes before each cycle",
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench"))
    args = parser.parse_args(argv)
    data_dir = (args.data_dir / str(args.scale)).resolve()
    if not (data_dir / "warehouse.duckdb").exists():
        parser.error(f"no `make bench` world at {data_dir}: run `make bench SCALE={args.scale}` first")
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "scale": args.scale,
        "churn": args.churn,
        "machine": machine.machine(),
        "cycles": [],
    }
    sandbox = start(data_dir / "sandbox", scale=args.scale)
    try:
        env = bench_env(sandbox, data_dir, {"WAREHOUSE": "duckdb"})
        with Sampler(os.getpid(), sandbox.proc.pid) as sampler:
            bench = Bench(sandbox, sampler, env)
            for i in range(args.cycles):
                marks = bench.truth.marks()
                if args.churn:
                    sandbox.admin("salesforce", "POST", "simulate", {"hours": 1, "churn": args.churn})
                changed = f"{args.churn:.0%} churn" if args.churn else "nothing changed"
                report, _ = bench.cycle(f"cycle {i + 1} of {args.cycles}, {changed}", marks)
                result["cycles"].append(report)
    finally:
        sandbox.stop()
    churn = f"-churn{args.churn:g}" if args.churn else ""
    out = machine.save_result(result, f"{result['date']}-{args.scale}-cycles{churn}")
    seconds = ", ".join(f"{c['seconds']:.1f} s" for c in result["cycles"])
    print(f"\ncycles: {seconds}; wrote {out}")
    return 0 if all(c["ok"] for c in result["cycles"]) else 1


if __name__ == "__main__":
    sys.exit(main())
