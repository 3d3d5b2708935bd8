"""Extract side of the pipeline: HTTP clients for Salesforce and Act-On and their loaders into DuckDB.

Plain Python with no Dagster imports, so it runs the same under Dagster, in tests and from a shell.
"""

import os

# polars allocates through its own jemalloc, which by default keeps freed pages for later reuse: a Dagster run
# process held the freed frames of its extracts (~280 MiB after the 1M Leads) through the rest of the run, dbt's
# build included. Returned at once instead, for a cost within run-to-run noise. jemalloc reads this when polars
# loads, so it is set here, before the pipeline's modules import polars; a value from the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
