"""Sending the ``sync.*`` models dbt built to both systems: one module per destination (``acton_lists``,
``salesforce_fields``, ``optouts``), what they share (``state``: reading a sync model, per-row results, rejects,
consent intents and the consent ledger) and the email rule Python applies (``emails``, dbt's rule as well).

Plain Python with no Dagster imports.
"""

# First, so that polars' allocator is set before any module of this package imports polars (see common).
import common  # noqa: F401
