"""Memory a step frees goes back to the machine: the rest of a run (dbt's build among it) does not carry it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RSS = """
import resource

def rss_mib():
    return next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
"""

POLARS = """
import ingest  # the pipeline's modules import polars through this package
import polars as pl

before = rss_mib()
frame = pl.DataFrame({"n": pl.arange(0, 20_000_000, eager=True)}).with_columns(text=pl.col("n").cast(pl.Utf8))
peak = rss_mib()
del frame
print(before, peak, rss_mib())
"""

DUCKDB = """
import ingest  # every DuckDB connection of the pipeline, and dbt's process, starts after this import
import duckdb

conn = duckdb.connect()
before = rss_mib()
# a hash table of 4M strings, built and freed inside the query: only its small result is kept
conn.execute(
    "SELECT count(*) FROM (SELECT s, count(*) FROM (SELECT md5(i::VARCHAR) AS s FROM range(4000000) AS r(i)) GROUP BY s)"
).fetchall()
print(before, peak_mib(), rss_mib())
"""


def run_fresh(script: str) -> tuple[int, int, int]:
    """before, peak, after (MiB) printed by ``script`` in a new interpreter that sets no allocator option itself."""
    env = {k: v for k, v in os.environ.items() if k not in ("_RJEM_MALLOC_CONF", "DUCKDB_JE_MALLOC_CONF")}
    out = subprocess.run(
        [sys.executable, "-c", RSS + script], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    before, peak, after = map(int, out.split())
    return before, peak, after


def test_a_freed_polars_frame_is_returned_to_the_machine() -> None:
    before, peak, after = run_fresh(POLARS)
    assert peak - before > 300, (before, peak, after)  # the frame was really allocated
    assert after - before < 50, (before, peak, after)  # and, freed, no longer held


def test_memory_a_duckdb_query_freed_is_returned_to_the_machine() -> None:
    before, peak, after = run_fresh(DUCKDB)
    assert peak - before > 250, (before, peak, after)  # the hash table was really built
    assert after - before < 50, (before, peak, after)  # and, freed, no longer held
