"""What every part of the pipeline shares: the DuckDB warehouse (connection, schemas, ``sync_state`` tables,
watermarks, keyed upserts), the sync configuration (``sync.yaml``), and what the dbt build reads and makes (its
inputs, its manifest).

Plain Python; ``ingest``, ``writeback``, ``health``, ``analytics`` and ``orchestration`` build on it, and it
imports none of them.
"""

import os

# polars allocates through its own jemalloc, which by default keeps freed pages for later reuse: a Dagster run
# process held the freed frames of its extracts (~280 MiB after the 1M Leads) through the rest of the run, dbt's
# build included. Returned at once instead, for a cost within run-to-run noise. jemalloc reads this when polars
# loads, so it is set here, before the pipeline's modules import polars (the packages whose modules import it
# import this one first); a value from the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
