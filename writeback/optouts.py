"""Opt-outs in the configured direction (docs/architecture.md, Semantics): HasOptedOutOfEmail on every
Salesforce Lead and Contact with the email (push), and Act-On's opt-out list (pull). dbt has already resolved who
must change (``sync.salesforce_optout_updates``, ``sync.acton_optout_additions``); this sends it and keeps the
consent ledger.

No change a system accepted is missing from the ledger, whenever the process dies: each change is first recorded
and committed as an intent (``sync_state.consent_intents``), the call made, and the accepted changes' ledger rows
written together with their intents' outcome. An intent still without an outcome (the process died, or the answer
was lost) is settled by the next run against what the targets hold as freshly extracted. A change that failed is
still in the sync model's diff on the next run.

An un-tick is guarded: just before it, the records are read again, and one a person changed since the extract (or
whose box is no longer checked, or which is gone) is left for the next run to decide on fresh data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import pyarrow as pa

from common.sync_config import SyncConfig
from common.warehouse import q, registered, table_columns
from ingest.clients import answers
from ingest.clients.acton_client import ActOnClient, survives_csv
from ingest.clients.errors import ApiError
from ingest.clients.salesforce_client import SalesforceClient
from ingest.clients.salesforce_soql import quote
from writeback.acton_rejects import refused_rows
from writeback.emails import NORMALISED_EMAIL_SQL, is_valid_email, normalise_email
from writeback.salesforce_fields import SYSTEM as SALESFORCE
from writeback.salesforce_fields import FieldWrite, WriteSettings, write_fields
from writeback.state import (
    CHUNK_ROWS,
    Intent,
    LedgerEntry,
    Reject,
    ResultRow,
    WritebackSummary,
    already_succeeded,
    as_text,
    ledgered_emails,
    record_accepted,
    record_intents,
    record_not_applied,
    record_rejects,
    record_results,
    rejected_as_sent,
    settle_open_intents,
    sync_row_chunks,
)

log = logging.getLogger(__name__)

OPTOUT_FIELD = "HasOptedOutOfEmail"
ACTON = "acton"
OPTOUT_LIST = "optout_list"  # the writeback_results object of Act-On's account-level opt-out list
OPTED_OUT = "opted_out"
UPLOAD_BATCH = 5000  # emails per opt-out upload: one failed call holds back no more than this
REREAD_IDS = 200  # Ids per re-read before un-ticking: one SOQL IN list each
RAW_SALESFORCE = "raw_salesforce"
SALESFORCE_OBJECTS = ("Lead", "Contact")


# -- settling the intents a dead process left -------------------------------------------------------------------
def _held_by_targets(conn: duckdb.DuckDBPyConnection) -> str:
    """SQL of (system, object, record_id, value): the opt-out state of every record and email as last extracted
    (a table not extracted yet holds nothing)."""
    parts = [
        "SELECT NULL::VARCHAR AS system, NULL::VARCHAR AS object, NULL::VARCHAR AS record_id, "
        "NULL::VARCHAR AS value WHERE false"
    ]
    for obj in SALESFORCE_OBJECTS:
        if table_columns(conn, RAW_SALESFORCE, obj.lower()):
            parts.append(
                f"SELECT '{SALESFORCE}', '{obj}', \"Id\", CAST({q(OPTOUT_FIELD)} AS VARCHAR) "
                f"FROM {RAW_SALESFORCE}.{q(obj.lower())}"
            )
    if table_columns(conn, "raw_acton", "optouts"):
        parts.append(
            f"SELECT '{ACTON}', '{OPTOUT_LIST}', {NORMALISED_EMAIL_SQL}, 'true' FROM raw_acton.optouts"
        )
    return " UNION ALL ".join(parts)


def settle_intents(conn: duckdb.DuckDBPyConnection) -> None:
    """Settle what earlier runs sent without learning the outcome, before this run sends anything: the ledger
    must hold every change a system accepted, and the diff this run sends was built without those changes."""
    settled = settle_open_intents(conn, _held_by_targets(conn))
    if settled.accepted or settled.not_applied:
        log.info(
            "settled the open consent intents of earlier runs: %d accepted (ledger rows written), %d not applied",
            settled.accepted,
            settled.not_applied,
        )


def _new_ledger_entries(accepted: Sequence[Intent], ledgered: set[str]) -> list[LedgerEntry]:
    """One ledger row per email, run and system (an email's Lead and Contact are one person's consent);
    ``ledgered`` holds the emails that already have theirs and is updated."""
    entries: dict[str, LedgerEntry] = {}
    for intent in accepted:
        if intent.change.email not in ledgered:
            entries.setdefault(intent.change.email, intent.change)
    ledgered.update(entries)
    return list(entries.values())


# -- the un-tick guard --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Current:
    """A record as Salesforce holds it just before an un-tick."""

    opted_out: bool
    modified_by: str
    modstamp: datetime


def _utc(stamp: str) -> datetime:
    """An API datetime as the warehouse stores it: naive UTC."""
    return datetime.fromisoformat(stamp).astimezone(UTC).replace(tzinfo=None)


def _reread(client: SalesforceClient, obj: str, ids: Sequence[str]) -> dict[str, _Current]:
    """The records' state now, ``REREAD_IDS`` a query; a record that is gone is absent. An answer that does not
    add up stops the step: a record missing from it would otherwise pass for deleted."""
    found: dict[str, _Current] = {}
    call = f"GET query re-read {obj}"
    for start in range(0, len(ids), REREAD_IDS):
        batch = ", ".join(quote(i) for i in ids[start : start + REREAD_IDS])
        soql = f"SELECT Id, {OPTOUT_FIELD}, LastModifiedById, SystemModstamp FROM {obj} WHERE Id IN ({batch})"
        told = read = 0
        for page in client.query_pages(soql, include_deleted=False):
            told = answers.whole_number(page, SALESFORCE, call, "totalSize")
            for r in answers.rows(page, SALESFORCE, call, "records"):
                found[answers.required(r, SALESFORCE, call, "Id", str)] = _Current(
                    answers.required(r, SALESFORCE, call, OPTOUT_FIELD, bool),
                    answers.required(r, SALESFORCE, call, "LastModifiedById", str),
                    _utc(answers.required(r, SALESFORCE, call, "SystemModstamp", str)),
                )
                read += 1
        answers.agree(SALESFORCE, call, "records", told, read)
    return found


def _extracted_modstamps(
    conn: duckdb.DuckDBPyConnection, obj: str, ids: Sequence[str]
) -> dict[str, datetime]:
    table = obj.lower()
    if not table_columns(conn, RAW_SALESFORCE, table):
        return {}
    with registered(conn, pa.table({"id": pa.array(ids, pa.string())})) as asked:
        found = conn.execute(
            f'SELECT t."Id", t."SystemModstamp" FROM {RAW_SALESFORCE}.{q(table)} t JOIN {asked} a ON t."Id" = a.id'
        ).fetchall()
    return dict(found)


def _why_wait(now: _Current | None, extracted: datetime | None, us: str) -> tuple[str, str] | None:
    """(code, message) when an un-tick must wait for the next run, else None."""
    if now is None:
        return "NOT_FOUND", "not returned by the re-read before the un-tick: deleted or no longer visible"
    if not now.opted_out:
        return "NOT_CHECKED", "the box is no longer checked in Salesforce"
    if extracted is None:
        return (
            "NOT_EXTRACTED",
            "not in the warehouse's extract: whether someone changed it since cannot be told",
        )
    # our own writes since the extract (LastModifiedById the integration user) changed nothing a person decided
    if now.modstamp != extracted and now.modified_by != us:
        return (
            "MODIFIED_SINCE_EXTRACT",
            f"modified by {now.modified_by} at {now.modstamp:%Y-%m-%d %H:%M:%S.%f} UTC, after the extract "
            f"(SystemModstamp {extracted:%Y-%m-%d %H:%M:%S.%f}): decided again on the next run's data",
        )
    return None


def _unticks_to_hold(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    unticks: Sequence[tuple[str, str]],
    us: Callable[[], str],
) -> dict[tuple[str, str], tuple[str, str]]:
    """Of the (object, id) records to un-tick, those that must wait: {record: (code, message)}."""
    by_object: dict[str, list[str]] = {}
    for obj, rid in unticks:
        by_object.setdefault(obj, []).append(rid)
    held: dict[tuple[str, str], tuple[str, str]] = {}
    for obj, ids in by_object.items():
        extracted = _extracted_modstamps(conn, obj, ids)
        now = _reread(client, obj, ids)
        for rid in ids:
            why = _why_wait(now.get(rid), extracted.get(rid), us())
            if why:
                held[(obj, rid)] = why
    return held


# -- Salesforce ---------------------------------------------------------------------------------------------------
def _salesforce_intent(row: Mapping[str, Any]) -> Intent:
    change = LedgerEntry(
        normalise_email(row["email"]),
        SALESFORCE,
        row["old_value"],
        row["new_value"],
        row["source_event"],
        row["event_at"],
    )
    return Intent(change, row["salesforce_object"], row["salesforce_id"], OPTOUT_FIELD)


def _push_salesforce_chunk(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    rows: Sequence[Mapping[str, Any]],
    run_id: str,
    settings: WriteSettings,
    ledgered: set[str],
    us: Callable[[], str],
) -> WritebackSummary:
    by_record = {(r["salesforce_object"], r["salesforce_id"]): r for r in rows}
    # what this run already wrote, write_fields would skip: no intent may be left open for a write never sent
    done = already_succeeded(conn, run_id, SALESFORCE, [(*k, OPTOUT_FIELD) for k in by_record])
    pending = {k: r for k, r in by_record.items() if (*k, OPTOUT_FIELD) not in done}
    held = _unticks_to_hold(conn, client, [k for k, r in pending.items() if not r["new_value"]], us)
    record_results(
        conn,
        run_id,
        [
            ResultRow(
                SALESFORCE,
                *k,
                OPTOUT_FIELD,
                pending[k]["old_value"],
                pending[k]["new_value"],
                "skipped",
                *why,
            )
            for k, why in held.items()
        ],
    )
    intents = {k: _salesforce_intent(r) for k, r in pending.items() if k not in held}
    if not settings.dry_run:
        record_intents(conn, run_id, intents.values())
    writes = [
        FieldWrite(i.object, i.record_id, i.field, i.change.new_value, i.change.old_value)
        for i in intents.values()
    ]
    result = write_fields(conn, client, writes, run_id=run_id, settings=settings)
    accepted = [intents[(w.object, w.record_id)] for w in result.succeeded]
    record_accepted(conn, run_id, accepted, _new_ledger_entries(accepted, ledgered))
    result.summary.skipped = len(held)
    return result.summary


def push_salesforce_optouts(
    conn: duckdb.DuckDBPyConnection,
    client: SalesforceClient,
    config: SyncConfig,
    run_id: str,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> WritebackSummary:
    """HasOptedOutOfEmail on every record ``sync.salesforce_optout_updates`` lists, a chunk at a time, un-ticks
    guarded; one ledger row per email once Salesforce accepted the change for at least one of its records (the
    others stay in the diff)."""
    settings = WriteSettings.from_config(config)
    summary = WritebackSummary(dry_run=settings.dry_run)
    # An email's Lead and Contact may fall in two chunks. Opt-out models are small: the set stays small too.
    ledgered = ledgered_emails(conn, run_id, SALESFORCE)
    us = cache(lambda: client.user_id)  # the token's user, looked up only by a run that un-ticks
    calls_before = client.calls
    for chunk in sync_row_chunks(conn, "salesforce_optout_updates", chunk_rows=chunk_rows):
        summary += _push_salesforce_chunk(conn, client, chunk.to_dicts(), run_id, settings, ledgered, us)
    summary.api_calls = client.calls - calls_before  # the re-reads too
    return summary


# -- Act-On -------------------------------------------------------------------------------------------------------
def _upload_optouts(
    client: ActOnClient, emails: Sequence[str]
) -> tuple[set[str], dict[str, str], dict[str, tuple[str, str]]]:
    """(accepted emails, {email: Act-On's reason} for those it refused, {email: (error code, message)} for those
    whose call failed)."""
    accepted: set[str] = set()
    refused: dict[str, str] = {}
    failed: dict[str, tuple[str, str]] = {}
    call = "PUT /api/1/list/optout"
    for start in range(0, len(emails), UPLOAD_BATCH):
        batch = emails[start : start + UPLOAD_BATCH]
        try:
            response = client.opt_out(batch)
        except ApiError as e:
            failed.update({email: (e.code or f"HTTP_{e.status}", e.message) for email in batch})
            continue
        count = answers.whole_number(response, ACTON, call, "rejectedRecords")
        url = str(response.get("rejectedRecordsUrl") or "")
        filename = (parse_qs(urlparse(url).query).get("filename") or [""])[0]
        batch_refused = refused_rows(client, call, count, filename, 0, set(batch))
        refused.update(batch_refused)
        accepted.update(e for e in batch if e not in batch_refused)
    return accepted, refused, failed


def _sent_value(row: Mapping[str, Any]) -> str:
    """An opt-out as sent, for its reject: the consent event it carries (a newer one is sent again)."""
    return f"{row['source_event']} at {as_text(row['event_at'])}"


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
    already = ledgered_emails(conn, run_id, ACTON)
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
        elif not survives_csv(email):
            reason = (
                "the email would not survive the CSV upload unchanged (Act-On would read another address)"
            )
            invalid.append(Reject(ACTON, OPTOUT_LIST, None, r["email"], reason))
        elif email not in already:
            events.setdefault(email, r)
    # an email Act-On refused for the consent event it still rests on would be refused again: held until it changes
    held = rejected_as_sent(conn, ACTON, OPTOUT_LIST, {e: _sent_value(r) for e, r in events.items()})
    events = {e: r for e, r in events.items() if e not in held}
    summary = WritebackSummary(
        rows_sent=len(events), rejected=len(invalid), skipped=len(held), dry_run=dry_run
    )
    record_rejects(conn, run_id, invalid)

    def result(email: str, status: str, error: tuple[str, str] | None = None) -> ResultRow:
        code, message = error or (None, None)
        return ResultRow(ACTON, OPTOUT_LIST, email, OPTED_OUT, False, True, status, code, message)

    if dry_run:
        record_results(conn, run_id, [result(email, "dry_run") for email in events])
        return summary
    intents = {
        e: Intent(
            LedgerEntry(e, ACTON, False, True, r["source_event"], r["event_at"]), OPTOUT_LIST, e, OPTED_OUT
        )
        for e, r in events.items()
    }
    record_intents(conn, run_id, intents.values())
    accepted, refused, failed = _upload_optouts(client, list(events))
    summary.succeeded, summary.failed = len(accepted), len(failed)
    summary.rejected += len(refused)
    record_results(
        conn,
        run_id,
        [result(e, "success") for e in events if e in accepted]
        + [result(e, "failed", error) for e, error in failed.items()],
    )
    record_rejects(
        conn,
        run_id,
        [
            Reject(ACTON, OPTOUT_LIST, None, events[e]["email"], reason, _sent_value(events[e]))
            for e, reason in refused.items()
        ],
    )
    # Act-On said which it refused: those intents are settled now, with no ledger row
    record_not_applied(conn, [intents[e] for e in refused])
    settled = [intents[e] for e in events if e in accepted]
    record_accepted(conn, run_id, settled, _new_ledger_entries(settled, already))
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
    """Both sides under the configured direction: push writes Salesforce, pull writes Act-On, off neither.
    First the intents earlier runs left open are settled, whatever the direction now."""
    settle_intents(conn)
    direction = config.optouts.direction
    summary = WritebackSummary(dry_run=config.writeback.dry_run)
    if direction in ("push", "both"):
        summary += push_salesforce_optouts(conn, salesforce, config, run_id, chunk_rows=chunk_rows)
    if direction in ("pull", "both"):
        summary += push_acton_optouts(conn, acton, config, run_id, chunk_rows=chunk_rows)
    return summary
