"""The extract assets, one module per system as in ``ingest/extract/``."""
