"""Salesforce Contacts and Leads into their Act-On marketing lists (setup guide steps 1, 2 and 4).

Each list whose direction pulls from Salesforce is created when it first has rows to receive (with the
configured column headings and a "Salesforce Id" column), receives its rows of ``sync.acton_list_upserts`` as
merge uploads (UPSERT on EMAIL), one per chunk of ``CHUNK_ROWS`` rows — its Lead Score column carrying the
behavioural score, which is the list-maintenance step — and loses the records of ``sync.acton_list_removals``.
Each chunk is sent and recorded before the next is read, so memory does not grow with the model; a cycle with
nothing to send makes no call. A list with direction ``push`` is not re-imported and one with ``off`` is left
alone. Per-row outcomes go to ``sync_state.writeback_results``; rows Act-On rejected also go to
``sync_state.rejects`` with Act-On's reason, and are not sent again until their values change. A list that
already exists under the configured name is adopted only with every heading.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

import duckdb
import polars as pl

from common.sync_config import EMAIL_HEADING, SALESFORCE_ID_HEADING, ListConfig, SyncConfig
from common.warehouse import LIST_MEMBER_FIELD, LIST_REMOVE_FIELD
from ingest.clients.acton_client import DELETE_BATCH, ActOnClient
from ingest.clients.answers import UnexpectedAnswer, agree, required, rows, whole_number
from ingest.clients.errors import ApiError
from writeback.acton_rejects import refused_rows
from writeback.emails import normalise_email
from writeback.state import (
    CHUNK_ROWS,
    Reject,
    ResultRow,
    WritebackSummary,
    already_succeeded,
    record_rejects,
    record_result_frame,
    record_results,
    rejected_as_sent,
    sync_row_chunks,
)

SYSTEM = "acton"
IMPORTING = ("pull", "both")
# The headings with a column of their own in acton_list_upserts; every other one is a key of its field_values.
MEMBER_COLUMNS = {EMAIL_HEADING: "email", SALESFORCE_ID_HEADING: "salesforce_id"}
# Headings Act-On knows get their column type.
COLUMN_TYPES = {"Email": "EMAIL", "First Name": "FIRSTNAME", "Last Name": "LASTNAME", "Company": "COMPANY"}
# The column of a chunk's rows holding their key in the list: the normalised email, or the record id.
KEY = "_key"
# Where a finished job names its rejected-records file. Act-On says the status answer names it when rows failed
# (GET /api/1/list/rejectedUploadRecords) but documents no key: this is the sandbox's, and the documented
# counts decide whether the file is needed.
REJECTED_FILE_KEY = "rejectedRecordsFileName"


def list_headings(lst: ListConfig) -> list[str]:
    """The configured headings (Email first) plus the Salesforce Id the list records link back by."""
    headings = [EMAIL_HEADING, *(h for h in lst.fields if h != EMAIL_HEADING)]
    return [*headings, SALESFORCE_ID_HEADING]


def upload_specs(headings: Sequence[str]) -> list[dict[str, Any]]:
    specs = []
    for i, heading in enumerate(headings):
        spec: dict[str, Any] = {"columnHeading": heading, "columnIndex": i, "ignoreColumn": "N"}
        if heading in COLUMN_TYPES:
            spec["columnType"] = COLUMN_TYPES[heading]
        specs.append(spec)
    return specs


def existing_lists(client: ActOnClient) -> dict[str, str]:
    """Act-On list name -> id (the first list of a name, as the sync models pick it)."""
    found: dict[str, str] = {}
    call = "GET /api/1/list"
    for page in client.lists():
        # a page without its lists would read as "no such list" and create a second one of the name
        for entry in rows(page, SYSTEM, call, "result"):
            found.setdefault(
                required(entry, SYSTEM, call, "name", str), str(required(entry, SYSTEM, call, "id"))
            )
    return found


class ListHeadingsMissing(ValueError):
    """A list of the configured name exists in Act-On without every heading the mapping writes."""


def check_adoptable(client: ActOnClient, config: SyncConfig, lst: ListConfig, list_id: str) -> None:
    """An existing list of ``lst``'s name is adopted only if it has every heading the mapping writes (compared
    as the extract reads them, case-insensitively): records merged into another list of the name would land in
    columns the sync never reads back."""
    call = f"GET /api/1/list/{list_id}"
    page = client.json("GET", f"/api/1/list/{list_id}", params={"count": 1, "offset": 0})
    have = {str(h).strip().lower() for h in rows(page, SYSTEM, call, "headers")}
    missing = [h for h in list_headings(lst) if h.lower() not in have]
    if missing:
        key = f"lists[{config.lists.index(lst)}]"
        raise ListHeadingsMissing(
            f"the Act-On list {lst.name!r} ({list_id}) already exists without the headings {missing} that "
            f"sync.yaml's {key}.fields maps (with {SALESFORCE_ID_HEADING!r}, which the sync links records "
            f"by); fix: add those columns to the list in Act-On, or set {key}.name to a list that does not "
            "exist yet, which the sync creates with every heading"
        )


def create_list(client: ActOnClient, lst: ListConfig) -> str:
    """An empty list with typed column headings (Act-On requires the EMAIL column to be typed)."""
    return client.create_list(lst.name, upload_specs(list_headings(lst)))


def member_texts(headings: Sequence[str], members: pl.DataFrame) -> pl.DataFrame:
    """The members' values as the list carries them: a text column per heading, the model's text as it is.

    Built column-wise because a list sync sends every member of a 1.4M-record list on its first run."""
    configured = [h for h in headings if h not in MEMBER_COLUMNS]
    values = members["field_values"].str.json_decode(pl.Struct({h: pl.String for h in configured}))
    return pl.DataFrame(
        [
            (members[MEMBER_COLUMNS[h]] if h in MEMBER_COLUMNS else values.struct.field(h)).alias(h)
            for h in headings
        ]
    )


def _member_csv(texts: pl.DataFrame) -> bytes:
    return texts.write_csv(line_terminator="\r\n", null_value="").encode()


def _upload_failed(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    lst: ListConfig,
    members: pl.DataFrame,
    texts: pl.DataFrame,
    summary: WritebackSummary,
    message: str,
) -> WritebackSummary:
    summary.failed = members.height
    record_result_frame(conn, run_id, _member_results(lst, members, texts, "failed", "JOB_FAILED", message))
    return summary


def _sent_values(texts: pl.DataFrame) -> pl.Expr:
    """Each row as sent, as one JSON text: the results' new value, and a reject's ``sent_value``."""
    return pl.struct(texts.columns).struct.json_encode()


def _member_results(
    lst: ListConfig,
    members: pl.DataFrame,
    texts: pl.DataFrame,
    status: str | pl.Expr,
    code: str | pl.Expr | None = None,
    message: str | pl.Expr | None = None,
) -> pl.DataFrame:
    """Keyed by the merge key (the email); old value: the record it updates; new value: the row as sent."""

    def text(value: str | pl.Expr | None) -> pl.Expr:
        return value if isinstance(value, pl.Expr) else pl.lit(value, pl.String)

    return pl.concat([members, texts.select(sent=_sent_values(texts))], how="horizontal").select(
        system=pl.lit(SYSTEM),
        object=pl.lit(lst.name),
        record_id=pl.col(KEY),
        field=pl.lit(LIST_MEMBER_FIELD),
        old_value=pl.col("record_id").cast(pl.String),
        new_value=pl.col("sent"),
        status=text(status),
        error_code=text(code),
        message=text(message),
    )


def upsert_members(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    lst: ListConfig,
    list_id: str | None,
    members: pl.DataFrame,
    run_id: str,
    dry_run: bool,
) -> WritebackSummary:
    """One merge upload (UPSERT on EMAIL) of a chunk of the list's members (keyed, as ``_unsent`` returns them),
    polled to its outcome."""
    headings = list_headings(lst)
    if members.is_empty():
        return WritebackSummary(dry_run=dry_run)
    texts = member_texts(headings, members)
    # a row Act-On rejected before exactly as it is now would be rejected again: held until its data changes
    members = members.with_columns(_sent=texts.select(sent=_sent_values(texts))["sent"])
    held = rejected_as_sent(conn, SYSTEM, lst.name, dict(zip(members[KEY], members["_sent"], strict=True)))
    sending = ~members[KEY].is_in(list(held))
    members, texts = members.filter(sending), texts.filter(sending)
    summary = WritebackSummary(rows_sent=members.height, skipped=len(held), dry_run=dry_run)
    if members.is_empty():
        return summary
    if dry_run:
        record_result_frame(conn, run_id, _member_results(lst, members, texts, "dry_run"))
        return summary
    assert list_id is not None  # created before any upload outside a dry run
    try:
        job_id = client.merge_upload(list_id, _member_csv(texts), upload_specs(headings))
        status = client.wait_for_job(job_id)
    except UnexpectedAnswer:
        raise  # Act-On answered, but not whether the rows went in: nothing is recorded either way
    except ApiError as e:
        return _upload_failed(conn, run_id, lst, members, texts, summary, str(e))
    call = f"GET /api/1/list/{job_id}/status"
    if required(status, SYSTEM, call, "status", str) != "success":
        message = str(status.get("message") or "list upload job failed")
        return _upload_failed(conn, run_id, lst, members, texts, summary, message)

    # a success that does not say what it did is not believed: its members would be recorded as in the list
    details = required(status, SYSTEM, call, "details", dict)
    appended = whole_number(details, SYSTEM, call, "appendCount")
    updated = whole_number(details, SYSTEM, call, "updateCount")
    refused = whole_number(details, SYSTEM, call, "failedCount") + whole_number(
        details, SYSTEM, call, "rejectedCount"
    )
    rejected = refused_rows(
        client,
        call,
        refused,
        details.get(REJECTED_FILE_KEY),
        headings.index(EMAIL_HEADING),
        set(members[KEY]),
    )
    agree(
        SYSTEM,
        call,
        "rows appended, updated, failed and rejected",
        appended + updated + refused,
        members.height,
    )
    members = members.with_columns(
        reason=pl.col(KEY).replace_strict(rejected, default=None, return_dtype=pl.String)
    )
    outcome = pl.when(pl.col("reason").is_null())
    results = _member_results(
        lst,
        members,
        texts,
        status=outcome.then(pl.lit("success")).otherwise(pl.lit("failed")),
        code=outcome.then(None).otherwise(pl.lit("REJECTED")),
        message=pl.col("reason"),
    )
    rejects = [
        Reject(SYSTEM, lst.name, m["salesforce_id"], m["email"], m["reason"], m["_sent"])
        for m in members.filter(pl.col("reason").is_not_null()).iter_rows(named=True)
    ]
    summary.rejected = len(rejects)
    summary.succeeded = members.height - len(rejects)
    summary.appended, summary.updated = appended, updated
    record_result_frame(conn, run_id, results)
    record_rejects(conn, run_id, rejects)
    return summary


def remove_records(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    lst: ListConfig,
    list_id: str | None,
    removals: Sequence[Mapping[str, Any]],
    run_id: str,
    dry_run: bool,
) -> WritebackSummary:
    """Bulk delete, 100 record ids per call; each failed id is recorded with Act-On's reason. An answer must
    list the failures (``failedList``, empty when there are none) and count as deleted the ids it does not
    list (``success_count``): one that does not would record deletes as done that may not be."""
    summary = WritebackSummary(rows_sent=len(removals), removed=len(removals), dry_run=dry_run)

    def result(
        r: Mapping[str, Any], status: str, code: str | None = None, message: str | None = None
    ) -> ResultRow:
        # old value: the email the record held; message: why it left (or why the delete failed)
        why = message if code else r.get("reason")
        return ResultRow(
            SYSTEM, lst.name, r["record_id"], LIST_REMOVE_FIELD, r.get("email"), None, status, code, why
        )

    if dry_run:
        record_results(conn, run_id, [result(r, "dry_run") for r in removals])
        return summary
    assert list_id is not None
    for start in range(0, len(removals), DELETE_BATCH):
        batch = removals[start : start + DELETE_BATCH]
        try:
            (body,) = client.delete_records(list_id, [r["record_id"] for r in batch])
        except UnexpectedAnswer:
            raise  # as for an upload: an answer that does not say what was deleted records nothing
        except ApiError as e:
            failures = {r["record_id"]: (e.code or f"HTTP_{e.status}", e.message) for r in batch}
        else:
            failures = _delete_failures(list_id, batch, body)
        outcomes = [
            result(r, "failed", *failures[r["record_id"]])
            if r["record_id"] in failures
            else result(r, "success")
            for r in batch
        ]
        summary.failed += sum(1 for r in batch if r["record_id"] in failures)
        summary.succeeded += sum(1 for r in batch if r["record_id"] not in failures)
        record_results(conn, run_id, outcomes)
    return summary


def _delete_failures(
    list_id: str, batch: Sequence[Mapping[str, Any]], body: Any
) -> dict[str, tuple[str, str | None]]:
    """Record id -> (code, Act-On's reason) of each delete of ``batch`` that failed, from a checked answer."""
    call = f"DELETE /api/1/list/{list_id}/record"
    failures = {
        str(required(f, SYSTEM, call, "id")): ("DELETE_FAILED", f.get("reason"))
        for f in rows(body, SYSTEM, call, "failedList")
    }
    deleted = sum(1 for r in batch if r["record_id"] not in failures)
    agree(SYSTEM, call, "success_count", whole_number(body, SYSTEM, call, "success_count"), deleted)
    return failures


def _unsent(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    rows: pl.DataFrame,
    list_name: str,
    key: str,
    field: str,
) -> pl.DataFrame:
    """A chunk of the list's rows, once per key (in column ``KEY``), without those this run already wrote."""
    keys = (
        pl.col(key).map_elements(normalise_email, return_dtype=pl.String) if key == "email" else pl.col(key)
    )
    keyed = rows.with_columns(keys.alias(KEY)).unique(KEY, keep="first", maintain_order=True)
    done = already_succeeded(conn, run_id, SYSTEM, [(list_name, k, field) for k in keyed[KEY]])
    return keyed.filter(~pl.col(KEY).is_in([k for _, k, _ in done]))


def sync_acton_lists(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    config: SyncConfig,
    run_id: str,
    *,
    names: Collection[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> WritebackSummary:
    """Create missing lists, upsert members with their Lead Score, remove the records that left: of the lists
    ``names`` (a list's own schedule syncs that list), or of every list."""
    lists = [
        lst for lst in config.lists if lst.direction in IMPORTING and (names is None or lst.name in names)
    ]
    dry_run = config.writeback.dry_run
    summary = WritebackSummary(dry_run=dry_run)
    if not lists:
        return summary

    def chunks(model: str, lst: ListConfig) -> Iterator[pl.DataFrame] | None:
        """The list's rows of the model, chunk by chunk; None when it has none."""
        # a row per key (list_name|email, record_id: the models' unique keys), so a member is in one chunk
        chunked = sync_row_chunks(
            conn, model, where="list_name = ?", params=[lst.name], chunk_rows=chunk_rows
        )
        first = next(chunked, None)
        return None if first is None else chain([first], chunked)

    # Read before the first call (one chunk of each list, the rest one list after the other): a missing model
    # fails before anything is sent, and a cycle with nothing to send makes no call (a list is created with its
    # first member).
    members = {lst.name: chunks("acton_list_upserts", lst) for lst in lists}
    removals = {lst.name: chunks("acton_list_removals", lst) for lst in lists}
    lists = [lst for lst in lists if members[lst.name] or removals[lst.name]]
    if not lists:
        return summary
    calls_before = client.calls
    ids = existing_lists(client)
    for lst in lists:  # every list judged before anything is sent to any
        if lst.name in ids:
            check_adoptable(client, config, lst, ids[lst.name])
    for lst in lists:
        if lst.name not in ids and not dry_run:
            ids[lst.name] = create_list(client, lst)
        list_id = ids.get(lst.name)
        for chunk in members[lst.name] or ():
            unsent = _unsent(conn, run_id, chunk, lst.name, "email", LIST_MEMBER_FIELD)
            summary += upsert_members(conn, client, lst, list_id, unsent, run_id, dry_run)
        for chunk in removals[lst.name] or ():
            unsent = _unsent(conn, run_id, chunk, lst.name, "record_id", LIST_REMOVE_FIELD)
            summary += remove_records(conn, client, lst, list_id, unsent.to_dicts(), run_id, dry_run)
    summary.api_calls = client.calls - calls_before
    return summary
