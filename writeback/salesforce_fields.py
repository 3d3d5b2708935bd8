"""Field writes to Salesforce: one generic "update these (object, id, field → value) rows", and the one push
built on it that sends a field-update model (scores, sales-prospect fields, hard bounces: one row per record and
field; opt-outs, with their guarded un-ticks and consent ledger, live in ``writeback.optouts``).

A push reads its sync model in chunks (``CHUNK_ROWS`` records) and sends and records each chunk before reading
the next, so its memory does not grow with the model. Of a chunk, an object's writes below the configured bulk
threshold go through sObject Collections (200 per call, allOrNone false), at or above it through one Bulk API 2.0
update job. Every row's outcome is appended to ``sync_state.writeback_results``. A transient row error (a
locked row) is retried within the run with backoff; a permanent one is recorded and left alone — the row is
still in the sync model's diff on the next run.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from common.sync_config import SyncConfig
from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.errors import ApiError
from ingest.clients.salesforce_client import COLLECTION_MAX, SalesforceClient
from writeback.state import (
    CHUNK_ROWS,
    ResultRow,
    WritebackSummary,
    already_succeeded,
    as_text,
    record_results,
    sync_row_chunks,
)

SYSTEM = "salesforce"
TRANSIENT_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW"})
BULK_NULL = "#N/A"  # in a Bulk update an empty cell leaves the field as it is; this sets it to null
BOUNCED_REASON, BOUNCED_DATE = "EmailBouncedReason", "EmailBouncedDate"

# (object, record id) -> (error code, message); a None code means the record was written
Outcomes = dict[tuple[str, str], tuple[str | None, str | None]]
Records = dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class FieldWrite:
    """One field of one record to set; ``old_value`` is what the warehouse last saw (for the audit trail)."""

    object: str
    record_id: str
    field: str
    new_value: Any
    old_value: Any = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.object, self.record_id, self.field)


@dataclass
class FieldWriteResult:
    summary: WritebackSummary
    succeeded: list[FieldWrite] = field(default_factory=list)


@dataclass(frozen=True)
class WriteSettings:
    bulk_threshold: int
    dry_run: bool = False
    attempts: int = 3  # sends per row: the first one and up to two retries of a transient error
    backoff_s: float = 0.5

    @classmethod
    def from_config(cls, config: SyncConfig) -> WriteSettings:
        return cls(bulk_threshold=config.writeback.bulk_threshold, dry_run=config.writeback.dry_run)


def _json_value(value: Any) -> Any:
    """A value as the REST API takes it: datetimes and dates as text, everything else as JSON."""
    return value if value is None or isinstance(value, bool | int | float | str) else as_text(value)


def _error_code(error: ApiError) -> str:
    return error.code or f"HTTP_{error.status}"


def _send_collections(client: SalesforceClient, obj: str, records: Records) -> Outcomes:
    outcomes: Outcomes = {}
    keys = list(records)
    for start in range(0, len(keys), COLLECTION_MAX):
        chunk = keys[start : start + COLLECTION_MAX]
        payload = [
            {"id": rid, **{f: _json_value(v) for f, v in records[(obj, rid)].items()}} for _, rid in chunk
        ]
        try:
            results = client.update_records(obj, payload)
        except UnexpectedAnswer:
            raise  # Salesforce answered, but not what it wrote: no record is credited or blamed on a guess
        except ApiError as e:  # the whole call failed: every record of it, with the call's error
            outcomes.update({k: (_error_code(e), e.message) for k in chunk})
            continue
        # the client checked one result per record, each with success and the first error's statusCode
        for k, result in zip(chunk, results, strict=True):
            if result["success"]:
                outcomes[k] = (None, None)
            else:
                error = result["errors"][0]
                outcomes[k] = (error["statusCode"], error.get("message"))
    return outcomes


def _bulk_csv(obj: str, records: Records, columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    # Every value quoted: minimal quoting leaves a lone "\r" bare, which a reader takes for a line end.
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["Id", *columns])
    for (_, rid), values in records.items():
        row = [
            ("" if c not in values else BULK_NULL if values[c] is None else as_text(values[c]))
            for c in columns
        ]
        writer.writerow([rid, *row])
    return out.getvalue().encode()


def _bulk_error(cell: str) -> tuple[str, str]:
    """``CODE:message:fields --`` as Bulk 2.0 writes sf__Error."""
    code, _, rest = cell.partition(":")
    return code or "UNKNOWN_ERROR", rest.removesuffix("--").rstrip(": ")


def _send_bulk(client: SalesforceClient, obj: str, records: Records) -> Outcomes:
    columns = sorted({f for values in records.values() for f in values})
    try:
        result = client.bulk_ingest(obj, "update", _bulk_csv(obj, records, columns), rows=len(records))
    except UnexpectedAnswer:
        raise  # as in _send_collections: an answer that does not say what was written stops the push
    except ApiError as e:
        return {k: (_error_code(e), e.message) for k in records}
    outcomes: Outcomes = {}
    # every results row names its record in the upload's Id column, and a failed one has sf__Error (checked)
    if result.successful is None:  # the job processed every row: those not failed succeeded
        outcomes = dict.fromkeys(records, (None, None))
    else:
        for row in result.successful:
            outcomes[(obj, row["Id"])] = (None, None)
    for row in result.failed:
        outcomes[(obj, row["Id"])] = _bulk_error(row["sf__Error"])
    state = f"not processed: bulk job {result.job_id} ended {result.state}"
    for k in records:
        outcomes.setdefault(k, ("UNPROCESSED", state))
    return outcomes


def _send(client: SalesforceClient, records: Records, bulk_threshold: int) -> Outcomes:
    by_object: dict[str, Records] = {}
    for (obj, rid), values in records.items():
        by_object.setdefault(obj, {})[(obj, rid)] = values
    outcomes: Outcomes = {}
    for obj, part in by_object.items():
        send = _send_bulk if len(part) >= bulk_threshold else _send_collections
        outcomes.update(send(client, obj, part))
    return outcomes


def write_fields(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    writes: Iterable[FieldWrite],
    *,
    run_id: str,
    settings: WriteSettings,
) -> FieldWriteResult:
    """Set each (object, id, field) to its value, the fields of one record in one row of the request.

    A field this run already wrote is skipped, and a duplicate keeps its last value. Returns the counts and the
    writes Salesforce accepted."""
    latest = {w.key: w for w in writes}
    done = already_succeeded(conn, run_id, SYSTEM, latest.keys())
    unique = {k: w for k, w in latest.items() if k not in done}
    by_record: dict[tuple[str, str], list[FieldWrite]] = {}
    for w in unique.values():
        by_record.setdefault((w.object, w.record_id), []).append(w)
    summary = WritebackSummary(rows_sent=len(unique), dry_run=settings.dry_run)
    result = FieldWriteResult(summary)
    calls_before = client.calls

    if settings.dry_run:
        record_results(
            conn,
            run_id,
            [
                ResultRow(SYSTEM, w.object, w.record_id, w.field, w.old_value, w.new_value, "dry_run")
                for w in unique.values()
            ],
        )
        return result

    pending = by_record
    for attempt in range(1, settings.attempts + 1):
        if not pending:
            break
        records = {k: {w.field: w.new_value for w in ws} for k, ws in pending.items()}
        outcomes = _send(client, records, settings.bulk_threshold)
        rows: list[ResultRow] = []
        retry: dict[tuple[str, str], list[FieldWrite]] = {}
        for k, ws in pending.items():
            code, message = outcomes.get(k, ("NO_RESULT", "Salesforce returned no result for the record"))
            if code is None:
                status = "success"
                result.succeeded += ws
                summary.succeeded += len(ws)
            elif code in TRANSIENT_ERRORS and attempt < settings.attempts:
                status = "retried"
                retry[k] = ws
                summary.retried += len(ws)
            else:
                status = "failed"
                summary.failed += len(ws)
            rows += [
                ResultRow(
                    SYSTEM, w.object, w.record_id, w.field, w.old_value, w.new_value, status, code, message
                )
                for w in ws
            ]
        # recorded per attempt, so that a crash later in the run keeps what was already written
        record_results(conn, run_id, rows)
        if retry:
            time.sleep(settings.backoff_s * 2 ** (attempt - 1))
        pending = retry

    summary.api_calls = client.calls - calls_before
    return result


# -- the push of a field-update model ---------------------------------------------------------------------------
def _written_fields(config: SyncConfig, model: str) -> list[str]:
    """The fields ``sync.<model>`` may set under ``config``. The model computed its rows under the config of its
    build: a field this config does not write (hard bounces when opt-outs do not push, a prospect field set to
    null) is never sent, whatever a model built earlier holds."""
    pushes_optouts = config.optouts.direction in ("push", "both")
    fields = {
        "salesforce_score_updates": [config.scores.salesforce_field],
        "salesforce_bounce_updates": [BOUNCED_REASON, BOUNCED_DATE] if pushes_optouts else [],
        "salesforce_prospect_updates": config.sales_prospects.written_fields(),
    }
    if model not in fields:
        raise ValueError(
            f"sync.{model} is not a Salesforce field-update model; fix: name one of {sorted(fields)}"
        )
    return fields[model]


def push_field_updates(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    config: SyncConfig,
    run_id: str,
    model: str,
    *,
    objects: Collection[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> WritebackSummary:
    """Send what ``sync.<model>`` (one row per record and field: salesforce_id, salesforce_object, field,
    old_value, new_value) holds for ``objects`` (default all): each record's fields together, in one record of
    the request. Chunks of ``chunk_rows`` records, each sent and recorded before the next is read, so a record's
    fields never span two chunks."""
    settings = WriteSettings.from_config(config)
    summary = WritebackSummary(dry_run=settings.dry_run)
    fields = _written_fields(config, model)
    if not fields:
        return summary
    where, params = "list_contains(?, field)", [fields]
    if objects is not None:
        where, params = f"{where} AND list_contains(?, salesforce_object)", [*params, list(objects)]
    for chunk in sync_row_chunks(
        conn, model, where=where, params=params, chunk_rows=chunk_rows, key="salesforce_id"
    ):
        writes = [
            FieldWrite(r["salesforce_object"], r["salesforce_id"], r["field"], r["new_value"], r["old_value"])
            for r in chunk.iter_rows(named=True)
        ]
        summary += write_fields(conn, client, writes, run_id=run_id, settings=settings).summary
    return summary
