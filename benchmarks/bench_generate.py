"""Time the synthetic org's generation (and optionally some simulated hours) at a given scale.

    .venv/bin/python benchmarks/bench_generate.py --scale 100000 [--hours 24] [--seed 1] [--salesforce-only]
        [--keep DIR]

Prints seconds, rows per object, database size and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import world
from sandbox.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100_000, help="number of Leads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=int, default=0, help="simulated hours to time after generating")
    parser.add_argument("--salesforce-only", action="store_true", help="skip the Act-On side of the world")
    parser.add_argument("--keep", type=Path, help="directory to keep the database in (default: a temp dir)")
    args = parser.parse_args()
    if args.salesforce_only:  # an Act-On side that adds nothing
        world.acton_world = SimpleNamespace(  # type: ignore[assignment]
            generate=lambda store, rng: None, simulate_hour=lambda store, rng, start, end: {}
        )

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "sandbox.sqlite"
        store = Store(path)
        started = time.perf_counter()
        world.generate(store, args.scale, args.seed)
        generated = time.perf_counter() - started
        print(f"generate scale={args.scale}: {generated:.1f} s")
        with store.lock:
            for obj in store.objects():
                (n,) = store.conn.execute(f'SELECT COUNT(*) FROM "{obj}"').fetchone()
                print(f"  {obj:<24} {n:>10,}")
        if args.hours:
            started = time.perf_counter()
            counts = world.simulate(store, args.hours)
            simulated = time.perf_counter() - started
            print(f"simulate {args.hours} h: {simulated:.1f} s ({simulated / args.hours:.2f} s/h) {counts}")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"database: {path.stat().st_size / 2**20:.0f} MiB")
        # ru_maxrss is KiB on Linux
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main()
