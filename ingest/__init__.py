"""Extract side of the pipeline: HTTP clients for Salesforce and Act-On and their loaders into DuckDB.

Plain Python with no Dagster imports, so it runs the same under Dagster, in tests and from a shell.
"""

import os

# polars and DuckDB each allocate through their own jemalloc, which by default keeps freed pages for later reuse:
# a Dagster run process held the freed frames of its extracts (~280 MiB after the 1M Leads) through the rest of
# the run, dbt's build included, and dbt's process held each finished model's hash tables beside the next one's.
# Returned at once instead. Each jemalloc reads its variable when it first allocates, so both are set here, before
# the pipeline's modules import polars or open DuckDB; dbt's process inherits them. A value from the environment
# wins.
FREE_AT_ONCE = "dirty_decay_ms:0,muzzy_decay_ms:0"
os.environ.setdefault("_RJEM_MALLOC_CONF", FREE_AT_ONCE)  # polars
os.environ.setdefault("DUCKDB_JE_MALLOC_CONF", FREE_AT_ONCE)  # DuckDB
