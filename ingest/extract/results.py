"""What one extract step reports back (the Dagster assets turn it into materialization metadata)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ExtractResult:
    source: str
    entity: str
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    api_calls: int = 0
    watermark_before: str | None = None
    watermark_after: str | None = None
    budget_remaining: int | None = None
    mode: str = ""
