"""Getting the data in: the Salesforce and Act-On API clients (``ingest.clients``) and the extracts that land
both systems in the warehouse's ``raw_salesforce`` and ``raw_acton`` schemas (``ingest.extract``).

Plain Python with no Dagster imports, so it runs the same under Dagster, in tests and from a shell. Nothing here
writes to Salesforce or Act-On: that is ``writeback``.
"""

# First, so that polars' allocator is set before any module of this package imports polars (see common).
import common  # noqa: F401
