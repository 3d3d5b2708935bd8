"""Opt-outs in the configured direction (DESIGN.md, Semantics): HasOptedOutOfEmail on every Salesforce Lead
and Contact with the email (push), and Act-On's opt-out list (pull). dbt has already resolved who must change
(``sync.salesforce_optout_updates``, ``sync.acton_optout_additions``); this sends it and keeps the consent ledger.

An opt-out is never lost: a ledger row is written only after the API accepted the change, and a change that
failed is still in the sync model's diff on the next run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb

from ingest.acton import ActOnClient
from ingest.errors import ApiError
from ingest.salesforce import SalesforceClient
from ingest.sync_config import SyncConfig
from ingest.writeback_salesforce import FieldWrite, WriteSettings, write_fields
from ingest.writeback_state import (
    CHUNK_ROWS,
    LedgerEntry,
    Reject,
    ResultRow,
    WritebackSummary,
    is_valid_email,
    normalise_email,
    record_ledger,
    record_rejects,
    record_results,
    sync_row_chunks,
)

OPTOUT_FIELD = "HasOptedOutOfEmail"
ACTON = "acton"
OPTOUT_LIST = "optout_list"  # the writeback_results object of Act-On's account-level opt-out list
OPTED_OUT = "opted_out"
UPLOAD_BATCH = 5000  # emails per opt-out upload: one failed call holds back no more than this


def push_salesforce_optouts(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    config: SyncConfig,
    run_id: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> WritebackSummary:
    """HasOptedOutOfEmail on every record ``sync.salesforce_optout_updates`` lists, a chunk at a time; one
    ledger row per email once Salesforce accepted the change for at least one of its records (the others stay
    in the diff)."""
    settings = WriteSettings.from_config(config)
    summary = WritebackSummary(dry_run=settings.dry_run)
    # An email's Lead and Contact may fall in two chunks. Opt-out models are small: the set stays small too.
    ledgered: set[str] = set()
    for chunk in sync_row_chunks(conn, "salesforce_optout_updates", chunk_rows=chunk_rows):
        rows = chunk.to_dicts()
        by_record = {(r["salesforce_object"], r["salesforce_id"]): r for r in rows}
        writes = [
            FieldWrite(
                r["salesforce_object"], r["salesforce_id"], OPTOUT_FIELD, r["new_value"], r["old_value"]
            )
            for r in rows
        ]
        result = write_fields(conn, client, writes, run_id=run_id, settings=settings)
        summary += result.summary
        changed: dict[str, dict[str, Any]] = {}
        for w in result.succeeded:
            row = by_record[(w.object, w.record_id)]
            email = normalise_email(row["email"])
            if email not in ledgered:
                changed.setdefault(email, row)
        ledgered.update(changed)
        record_ledger(
            conn,
            run_id,
            [
                LedgerEntry(
                    email, "salesforce", r["old_value"], r["new_value"], r["source_event"], r["event_at"]
                )
                for email, r in changed.items()
            ],
        )
    return summary


def _rejected_emails(client: ActOnClient, response: dict[str, Any]) -> set[str]:
    """The emails of an opt-out upload that Act-On rejected (its rejected-records file, first column)."""
    if not int(response.get("rejectedRecords") or 0):
        return set()
    url = str(response.get("rejectedRecordsUrl") or "")
    filename = (parse_qs(urlparse(url).query).get("filename") or [""])[0]
    data = client.rejected_records(filename).decode("utf-8", "replace")
    return {normalise_email(row[0]) for row in csv.reader(io.StringIO(data)) if row}


def _upload_optouts(
    client: ActOnClient, emails: Sequence[str]
) -> tuple[set[str], dict[str, tuple[str, str]]]:
    """(accepted emails, {email: (error code, message)} for the rest)."""
    accepted: set[str] = set()
    failed: dict[str, tuple[str, str]] = {}
    for start in range(0, len(emails), UPLOAD_BATCH):
        batch = emails[start : start + UPLOAD_BATCH]
        try:
            response = client.opt_out(batch)
            rejected = _rejected_emails(client, response)
        except ApiError as e:
            failed.update({email: (e.code or f"HTTP_{e.status}", e.message) for email in batch})
            continue
        for email in batch:
            if email in rejected:
                failed[email] = ("REJECTED", "Act-On rejected the email")
            else:
                accepted.add(email)
    return accepted, failed


def push_acton_optouts(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    config: SyncConfig,
    run_id: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> WritebackSummary:
    """Add the emails of ``sync.acton_optout_additions`` to Act-On's opt-out list, a chunk at a time; a ledger
    row for each accepted."""
    already = {
        e
        for (e,) in conn.execute(
            "SELECT DISTINCT email FROM sync_state.consent_ledger WHERE run_id = ? AND system = ?",
            [run_id, ACTON],
        ).fetchall()
    }
    summary = WritebackSummary(dry_run=config.writeback.dry_run)
    calls_before = client.calls
    for chunk in sync_row_chunks(conn, "acton_optout_additions", chunk_rows=chunk_rows):
        summary += _push_acton_chunk(
            conn, client, chunk.to_dicts(), already, run_id, config.writeback.dry_run
        )
    summary.api_calls = client.calls - calls_before
    return summary


def _push_acton_chunk(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    rows: Sequence[Mapping[str, Any]],
    already: set[str],
    run_id: str,
    dry_run: bool,
) -> WritebackSummary:
    """One chunk of the opt-out additions (the model's email is normalised and unique: no email is in two)."""
    events: dict[str, Mapping[str, Any]] = {}
    invalid: list[Reject] = []
    for r in rows:
        email = normalise_email(r["email"])
        if not is_valid_email(email):
            invalid.append(Reject(ACTON, OPTOUT_LIST, None, r["email"], "invalid email address"))
        elif email not in already:
            events.setdefault(email, r)
    summary = WritebackSummary(rows_sent=len(events), rejected=len(invalid), dry_run=dry_run)
    record_rejects(conn, run_id, invalid)

    def result(email: str, status: str, error: tuple[str, str] | None = None) -> ResultRow:
        code, message = error or (None, None)
        return ResultRow(ACTON, OPTOUT_LIST, email, OPTED_OUT, False, True, status, code, message)

    if dry_run:
        record_results(conn, run_id, [result(email, "dry_run") for email in events])
        return summary
    accepted, failed = _upload_optouts(client, list(events))
    summary.succeeded, summary.failed = len(accepted), len(failed)
    record_results(
        conn,
        run_id,
        [result(e, "success") for e in events if e in accepted]
        + [result(e, "failed", error) for e, error in failed.items()],
    )
    record_ledger(
        conn,
        run_id,
        [
            LedgerEntry(e, ACTON, False, True, events[e]["source_event"], events[e]["event_at"])
            for e in events
            if e in accepted
        ],
    )
    return summary


def sync_optouts(
    conn: duckdb.DuckDBPyConnection,
    salesforce: SalesforceClient,
    acton: ActOnClient,
    config: SyncConfig,
    run_id: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> WritebackSummary:
    """Both sides under the configured direction: push writes Salesforce, pull writes Act-On, off neither."""
    direction = config.optouts.direction
    summary = WritebackSummary(dry_run=config.writeback.dry_run)
    if direction in ("push", "both"):
        summary += push_salesforce_optouts(conn, salesforce, config, run_id, chunk_rows=chunk_rows)
    if direction in ("pull", "both"):
        summary += push_acton_optouts(conn, acton, config, run_id, chunk_rows=chunk_rows)
    return summary
