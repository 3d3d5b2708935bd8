"""Materialisation metadata shared by the extract assets."""

from __future__ import annotations

import dagster as dg

from ingest.results import ExtractResult


def extract_metadata(result: ExtractResult) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        "rows_inserted": dg.MetadataValue.int(result.rows_inserted),
        "rows_updated": dg.MetadataValue.int(result.rows_updated),
        "rows_deleted": dg.MetadataValue.int(result.rows_deleted),
        "api_calls": dg.MetadataValue.int(result.api_calls),
        "mode": dg.MetadataValue.text(result.mode or "n/a"),
        "watermark_before": dg.MetadataValue.text(result.watermark_before or "none"),
        "watermark_after": dg.MetadataValue.text(result.watermark_after or "none"),
    }
    if result.budget_remaining is not None:
        meta["daily_api_budget_remaining"] = dg.MetadataValue.int(result.budget_remaining)
    return meta
