"""Extract side of the pipeline: HTTP clients for Salesforce and Act-On and their loaders into DuckDB.

Plain Python with no Dagster imports, so it runs the same under Dagster, in tests and from a shell.
"""
