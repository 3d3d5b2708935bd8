"""Memory a step frees goes back to the machine: the rest of a run (dbt's build among it) does not carry it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import common  # sets polars' allocator; every package of the pipeline imports it before polars
import polars as pl

def rss_mib():
    return next(int(line.split()[1]) // 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))

before = rss_mib()
frame = pl.DataFrame({"n": pl.arange(0, 20_000_000, eager=True)}).with_columns(text=pl.col("n").cast(pl.Utf8))
peak = rss_mib()
del frame
print(before, peak, rss_mib())
"""


def test_a_freed_polars_frame_is_returned_to_the_machine() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    before, peak, after = map(int, out.split())
    assert peak - before > 300, out  # the frame was really allocated
    assert after - before < 50, out  # and, freed, no longer held
