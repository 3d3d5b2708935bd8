"""Salesforce describe types → DuckDB column types, and query pages (REST JSON, Bulk CSV) → typed frames."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from ingest.clients.answers import agree
from ingest.clients.salesforce_client import SYSTEM, BulkPage

DUCKDB_TYPES = {
    "boolean": "BOOLEAN",
    "int": "BIGINT",
    "double": "DOUBLE",
    "currency": "DOUBLE",
    "percent": "DOUBLE",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}
# Compound fields (their components are separate fields) and binaries: Bulk refuses them, the warehouse needs none.
SKIPPED_TYPES = frozenset({"address", "location", "base64"})
_POLARS_TYPES = {"BOOLEAN": pl.Boolean, "BIGINT": pl.Int64, "DOUBLE": pl.Float64}
_SF_DATETIME = "%Y-%m-%dT%H:%M:%S%.f%z"


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str


def columns_from_describe(describe: Mapping[str, Any]) -> list[Column]:
    """The warehouse columns of a describe (``SalesforceClient.describe``, whose fields it checked)."""
    return [
        Column(f["name"], DUCKDB_TYPES.get(f["type"], "VARCHAR"))
        for f in describe["fields"]
        if f["type"] not in SKIPPED_TYPES
    ]


def _parse_temporal(columns: Sequence[Column]) -> list[pl.Expr]:
    exprs = []
    for c in columns:
        col = pl.col(c.name)
        if c.duckdb_type == "DATE":
            exprs.append(col.str.slice(0, 10).str.to_date("%Y-%m-%d"))
        elif c.duckdb_type == "TIMESTAMP":
            exprs.append(
                col.str.replace(r"Z$", "+0000")
                .str.to_datetime(_SF_DATETIME, time_unit="us", time_zone="UTC")
                .dt.replace_time_zone(None)
            )
    return exprs


def frame_from_records(
    records: Sequence[Mapping[str, Any]], columns: Sequence[Column], extracted_at: datetime
) -> pl.DataFrame:
    """REST records (JSON-typed values) → a frame with the warehouse types."""
    data = {c.name: [r.get(c.name) for r in records] for c in columns}
    schema = {c.name: _POLARS_TYPES.get(c.duckdb_type, pl.String) for c in columns}
    frame = pl.DataFrame(data, schema=schema, strict=False)
    # Null and empty text are one value (Bulk cannot tell them apart), whichever API delivered the page.
    texts = [c.name for c in columns if schema[c.name] == pl.String]
    frame = frame.with_columns(
        pl.when(pl.col(t) == "").then(None).otherwise(pl.col(t)).alias(t) for t in texts
    )
    return frame.with_columns(*_parse_temporal(columns), pl.lit(extracted_at).alias("_extracted_at"))


def frame_from_csv(data: bytes, columns: Sequence[Column], extracted_at: datetime) -> pl.DataFrame:
    """A Bulk 2.0 CSV page (all values text, empty = null) → a frame with the warehouse types."""
    wanted = {c.name for c in columns}
    frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
    # Bulk writes null and empty string alike (quoted or not): both mean null.
    frame = frame.select(
        [
            pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
            for c in frame.columns
            if c in wanted
        ]
    )
    casts = []
    for c in columns:
        if c.name not in frame.columns:
            continue
        col = pl.col(c.name)
        if c.duckdb_type == "BOOLEAN":
            casts.append(
                pl.when(col.is_null()).then(None).otherwise(col.str.to_lowercase() == "true").alias(c.name)
            )
        elif c.duckdb_type in ("BIGINT", "DOUBLE"):
            casts.append(col.cast(pl.Float64).cast(_POLARS_TYPES[c.duckdb_type]))
    present = [c for c in columns if c.name in frame.columns]
    frame = frame.with_columns(*casts).with_columns(*_parse_temporal(present))
    return frame.with_columns(pl.lit(extracted_at).alias("_extracted_at"))


def frame_from_bulk_page(page: BulkPage, columns: Sequence[Column], extracted_at: datetime) -> pl.DataFrame:
    """``frame_from_csv`` of a Bulk results page, which must hold the rows Salesforce says it does."""
    frame = frame_from_csv(page.data, columns, extracted_at)
    agree(SYSTEM, page.call, "Sforce-NumberOfRecords", page.records, frame.height)
    return frame
