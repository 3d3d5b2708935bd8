"""Materialisation metadata shared by the extract assets."""

from __future__ import annotations

import dagster as dg

from ingest.extract.results import ExtractResult


def extract_metadata(*results: ExtractResult) -> dict[str, dg.MetadataValue]:
    """One asset's metadata from the results of its extract steps (several for per-list or two-table assets)."""
    meta: dict[str, dg.MetadataValue] = {
        "rows_inserted": dg.MetadataValue.int(sum(r.rows_inserted for r in results)),
        "rows_updated": dg.MetadataValue.int(sum(r.rows_updated for r in results)),
        "rows_deleted": dg.MetadataValue.int(sum(r.rows_deleted for r in results)),
        "api_calls": dg.MetadataValue.int(sum(r.api_calls for r in results)),
    }
    for r in results:
        prefix = "" if len(results) == 1 else f"{r.entity}."
        meta[f"{prefix}mode"] = dg.MetadataValue.text(r.mode or "n/a")
        meta[f"{prefix}watermark_before"] = dg.MetadataValue.text(r.watermark_before or "none")
        meta[f"{prefix}watermark_after"] = dg.MetadataValue.text(r.watermark_after or "none")
    budgets = [r.budget_remaining for r in results if r.budget_remaining is not None]
    if budgets:
        meta["daily_api_budget_remaining"] = dg.MetadataValue.int(min(budgets))
    return meta
