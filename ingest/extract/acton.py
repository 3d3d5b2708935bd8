"""Extract Act-On into ``raw_acton``: lists, records of the named lists, unified contacts with their score,
the opt-out list (whole, with its history), hard bounces, spam complaints, messages and their drill-downs."""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from common import warehouse
from common.sync_config import OptinGuard
from common.warehouse import (
    LIST_REMOVE_FIELD,
    get_watermark,
    mark_reconciled,
    reconciliation_due,
    registered,
    set_watermark,
    transaction,
    upsert,
    utc_now,
)
from ingest.clients.acton_auth import SYSTEM
from ingest.clients.acton_client import DRILLDOWNS, ActOnClient
from ingest.clients.answers import UnexpectedAnswer, present, required
from ingest.extract.optout_holds import hold, mark_applied, released_emails, supersede_held
from ingest.extract.results import ExtractResult

log = logging.getLogger(__name__)

SOURCE = "acton"
SCHEMA = "raw_acton"
TS = "TIMESTAMP"
LIST_FIELDS = "STRUCT(heading VARCHAR, value VARCHAR)[]"
_LIST_FIELDS_POLARS = pl.List(pl.Struct({"heading": pl.String, "value": pl.String}))
TABLES: dict[str, dict[str, str]] = {
    "lists": {
        "list_id": "VARCHAR",
        "name": "VARCHAR",
        "folder_name": "VARCHAR",
        "size": "BIGINT",
        "last_modified_at": TS,
    },
    "list_records": {
        "list_id": "VARCHAR",
        "record_id": "VARCHAR",
        "email": "VARCHAR",
        "salesforce_id": "VARCHAR",
        "created_at": TS,
        "modified_at": TS,
        "is_deleted": "BOOLEAN",
        # every other column of the list as (heading, text), blanks as null: a list rather than JSON because
        # the diff reads every record of a list of a million, and DuckDB would parse each JSON document
        "fields": LIST_FIELDS,
    },
    "contacts": {
        "contact_id": "VARCHAR",
        "email": "VARCHAR",
        "score": "DOUBLE",
        "created_at": TS,
        "updated_at": TS,
        "fields": "JSON",
    },
    "optouts": {"email": "VARCHAR", "opted_out_at": TS, "origin": "VARCHAR"},
    "optout_history": {
        "email": "VARCHAR",
        "opted_out_at": TS,
        "first_seen_at": TS,
        "last_seen_at": TS,
        "removed_at": TS,  # the inferred opt-in recorded: whole reads of two runs lacked the email
        "missed_at": TS,  # the first whole read that lacked it, and its run
        "missed_run": "VARCHAR",
    },
    "hard_bounces": {"email": "VARCHAR", "bounced_at": TS, "origin": "VARCHAR"},
    "spam_complaints": {"email": "VARCHAR", "complained_at": TS, "origin": "VARCHAR"},
    "messages": {"message_id": "VARCHAR", "name": "VARCHAR", "subject": "VARCHAR", "sent_at": TS},
    "message_events": {
        "message_id": "VARCHAR",
        "event_type": "VARCHAR",
        "email": "VARCHAR",
        "contact_id": "VARCHAR",
        "event_at": TS,
    },
}
# Which list column feeds which key column: headings matched case-insensitively. Every other column goes to
# ``fields`` under its heading, so a list can carry any heading sync.yaml maps.
RECORD_HEADINGS: dict[str, tuple[str, ...]] = {
    "email": ("e-mail address", "email", "e-mail", "email address"),
    "salesforce_id": ("salesforce id", "salesforceid", "sfdc id", "salesforce_id"),
    "created_at": ("_created_date_",),
    "modified_at": ("_modified_date_",),
}
# Report figure that equals a drill-down's row count (opened/clicked report [unique, total]).
_REPORT_TOTALS = {
    "SENT": "sent",
    "OPENED": "opened",
    "CLICKED": "clicked",
    "BOUNCED": "bounced",
    "OPT_OUT": "optout",
    "SPAM": "spam",
}


@dataclass(frozen=True)
class ActOnExtractSettings:
    lookback: timedelta = timedelta(minutes=5)
    message_window: timedelta = timedelta(days=30)
    score_field: str = "Act-On Primary Score"


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    warehouse.ensure_tables(
        conn,
        SCHEMA,
        {
            table: {**columns, **({} if table == "optout_history" else {"_extracted_at": TS})}
            for table, columns in TABLES.items()
        },
    )


def _ms(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.utcfromtimestamp(int(value) / 1000)


def _frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {
        name: {
            "VARCHAR": pl.String,
            "BIGINT": pl.Int64,
            "DOUBLE": pl.Float64,
            "BOOLEAN": pl.Boolean,
            TS: pl.Datetime("us"),
            "JSON": pl.String,
            LIST_FIELDS: _LIST_FIELDS_POLARS,
        }[t]
        for name, t in TABLES[table].items()
    }
    frame = (
        pl.DataFrame(rows, schema=schema, strict=False, orient="row") if rows else pl.DataFrame(schema=schema)
    )
    return frame.with_columns(pl.lit(utc_now()).alias("_extracted_at"))


class _Run:
    """One entity's extract: its result, watermark and call accounting."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        client: ActOnClient,
        entity: str,
        units_per_s: int | None = None,
    ):
        """``units_per_s``: for an entity read by a time window, the units of its stamps (1000: epoch ms)."""
        self.conn, self.client = conn, client
        self.result = ExtractResult(SOURCE, entity, watermark_before=get_watermark(conn, SOURCE, entity))
        self.result.watermark_after = self.result.watermark_before
        self._calls = client.calls
        # As for Salesforce: the next window starts at the server's time when this read began, minus the
        # lookback, so that the rows written just before it (our own list upload) are not read twice.
        self._units_per_s = units_per_s
        self._clock = client.session.server_clock()

    def upsert(self, table: str, rows: list[dict[str, Any]] | pl.DataFrame, key: Sequence[str]) -> None:
        counts = upsert(
            self.conn, SCHEMA, table, rows if isinstance(rows, pl.DataFrame) else _frame(table, rows), key
        )
        self.result.rows_inserted += counts.inserted
        self.result.rows_updated += counts.updated

    def advance(self, value: int | None) -> None:
        """Note a newer (integer) watermark; ``done`` stores it once every page is in. Act-On pages come in
        record order, not time order: a watermark stored after page 1 of a run that then broke off would
        skip the older changes of the pages never read."""
        if value is None:
            return
        before = self.result.watermark_after
        if before is None or value > int(before):
            self.result.watermark_after = str(value)

    def since(self, lookback_units: int) -> int | None:
        return int(self.result.watermark_before) - lookback_units if self.result.watermark_before else None

    def done(self) -> ExtractResult:
        if self._units_per_s and self._clock.at is not None:
            # not the newest stamp read: pages come in record order, a row changed mid-read may be on a page
            # read before it changed
            after = int(self._clock.at.timestamp() * self._units_per_s)
            before = self.result.watermark_before
            self.result.watermark_after = str(max(after, int(before)) if before else after)
        after = self.result.watermark_after
        if after is not None and after != self.result.watermark_before:
            with transaction(self.conn):
                set_watermark(self.conn, SOURCE, self.result.entity, after)
        self.result.api_calls = self.client.calls - self._calls
        return self.result


# -- lists and their records ------------------------------------------------------------------------------
def extract_lists(conn: duckdb.DuckDBPyConnection, client: ActOnClient) -> ExtractResult:
    """The contact lists, replaced whole (a deleted list leaves the table)."""
    run = _Run(conn, client, "lists")
    rows = [
        {
            "list_id": present(r, SYSTEM, "GET /api/1/list", "id"),
            "name": r.get("name"),
            "folder_name": r.get("folderName"),
            "size": int(r["sourceSize"]) if r.get("sourceSize") not in (None, "") else None,
            "last_modified_at": _ms(r.get("tsLastModified")),
        }
        for page in client.lists()
        for r in page["result"]
    ]
    with transaction(conn):
        conn.execute(f"DELETE FROM {SCHEMA}.lists")
        run.upsert("lists", rows, ["list_id"])
    return run.done()


def _record_frame(
    list_id: str, headers: Sequence[str], data: pl.DataFrame, email_column: int = -1
) -> pl.DataFrame:
    """list_records rows from a list's records as text columns in heading order (the first is the record id)."""
    lower = [h.strip().lower() for h in headers]
    index = {
        col: next((lower.index(a) for a in aliases if a in lower), None)
        for col, aliases in RECORD_HEADINGS.items()
    }
    if email_column >= 0:
        index["email"] = email_column
    width = len(data.columns)
    if not width:
        return _frame("list_records", [])

    def text(i: int | None) -> pl.Expr:
        if i is None or i >= width:
            return pl.lit(None, dtype=pl.String)
        value = pl.col(data.columns[i])
        return pl.when(value == "").then(None).otherwise(value)

    # the other columns, each heading once (Act-On's headings ignore case: the first one wins)
    keys = {0, *(i for i in index.values() if i is not None)}
    others = {lower[i]: i for i in reversed(range(len(headers))) if i not in keys and lower[i]}
    values = [pl.struct(heading=pl.lit(headers[i].strip()), value=text(i)) for i in sorted(others.values())]
    stamps = {"created_at", "modified_at"}
    frame = data.select(
        pl.lit(list_id).alias("list_id"),
        pl.col(data.columns[0]).alias("record_id"),
        pl.lit(False).alias("is_deleted"),
        *(
            pl.from_epoch(text(i).cast(pl.Int64, strict=False), time_unit="ms").alias(col)
            if col in stamps
            else text(i).alias(col)
            for col, i in index.items()
        ),
        (pl.concat_list(values) if values else pl.lit([], dtype=_LIST_FIELDS_POLARS)).alias("fields"),
        pl.lit(utc_now()).alias("_extracted_at"),
    )
    # the table's columns, in its order and types
    return frame.select(pl.col(c).cast(t, strict=False) for c, t in _frame("list_records", []).schema.items())


def _newest_ms(rows: pl.DataFrame) -> int | None:
    newest = rows["modified_at"].max() if rows.height else None
    return int((newest - datetime(1970, 1, 1)).total_seconds() * 1000) if newest else None


def _full_list(run: _Run, list_id: str) -> None:
    """Whole list by CSV (one call), streamed to a file and read as text columns: upsert every record, flag the
    ones no longer there as deleted."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        run.client.download_list_csv(list_id, out)
        out.flush()
        data = pl.read_csv(out.name, has_header=False, infer_schema=False) if out.tell() else pl.DataFrame()
    headers = list(data.row(0)) if data.height else []
    rows = _record_frame(list_id, headers, data.slice(1)) if headers else _frame("list_records", [])
    with transaction(run.conn):
        run.upsert("list_records", rows, ["list_id", "record_id"])
        with registered(run.conn, rows.select("record_id")) as batch:
            gone = run.conn.execute(
                f"UPDATE {SCHEMA}.list_records SET is_deleted = true, _extracted_at = ? "
                f"WHERE list_id = ? AND NOT is_deleted AND record_id NOT IN (SELECT record_id FROM {batch})",
                [utc_now(), list_id],
            ).fetchone()
        run.result.rows_deleted += int(gone[0]) if gone else 0
        run.advance(_newest_ms(rows))
    run.result.mode = "whole list"


def _cheaper_whole(first_page: Mapping[str, Any], list_size: int | None) -> bool:
    """Whether the whole list by CSV (one call, ~100k rows/s) beats paging the modified-after window (1,000 rows
    a call at 5 calls/s, ~5k rows/s): after a bulk change such as our own merge upload the window is most of it."""
    window = int(first_page.get("totalCount", -1))
    return window > 2 * len(first_page["data"]) and window > (list_size or 0) / 20


def _changed_records(run: _Run, list_id: str, since_ms: int, size: int | None) -> None:
    """JSON pages modified after the watermark, or the whole list when that is cheaper; a whole read also when
    the list's size disagrees with the live rows kept (records were removed)."""
    pages = run.client.list_record_pages(list_id, modified_after_ms=since_ms)
    for page in pages:
        if _cheaper_whole(page, size):
            pages.close()
            _full_list(run, list_id)
            return
        headers, data = required(page, SYSTEM, f"GET /api/1/list/{list_id}", "headers", list), page["data"]
        width = max((len(r) for r in data), default=0)
        text = pl.DataFrame(
            [[*r, *[None] * (width - len(r))] for r in data],
            schema={f"column_{i + 1}": pl.String for i in range(width)},
            orient="row",
            strict=False,
        )
        rows = _record_frame(list_id, headers, text, int(page.get("emailColumn", -1)))
        with transaction(run.conn):
            run.upsert("list_records", rows, ["list_id", "record_id"])
            run.advance(_newest_ms(rows))
    run.result.mode = "modified after"
    live = run.conn.execute(
        f"SELECT count(*) FROM {SCHEMA}.list_records WHERE list_id = ? AND NOT is_deleted", [list_id]
    ).fetchone()
    if live and size is not None and live[0] != size and not _removed_by_us(run, list_id, live[0] - size):
        _full_list(run, list_id)


def _removed_by_us(run: _Run, list_id: str, surplus: int) -> bool:
    """Whether the records our list sync deleted after they were last read are exactly the live rows kept beyond
    the list's size; if so they are flagged deleted. Act-On's modified-after read does not show deletions, so
    without this every hour whose sync removed a record would read the whole list again (35 s at 1.4M records)."""
    removed = (
        f"SELECT lr.record_id FROM {SCHEMA}.list_records AS lr "
        f"JOIN {SCHEMA}.lists AS l ON l.list_id = lr.list_id "
        "JOIN sync_state.writeback_results AS w ON w.system = ? AND w.object = l.name "
        "AND w.record_id = lr.record_id AND w.field = ? AND w.status = 'success' AND w.written_at > lr._extracted_at "
        "WHERE lr.list_id = ? AND NOT lr.is_deleted"
    )
    params = [SYSTEM, LIST_REMOVE_FIELD, list_id]
    with transaction(run.conn):
        (ours,) = run.conn.execute(
            f"SELECT count(DISTINCT record_id) FROM ({removed})", params
        ).fetchone() or (0,)
        if ours != surplus:
            return False
        run.conn.execute(
            f"UPDATE {SCHEMA}.list_records SET is_deleted = true, _extracted_at = ? "
            f"WHERE list_id = ? AND record_id IN ({removed})",
            [utc_now(), list_id, *params],
        )
    run.result.rows_deleted += surplus
    return True


def _read_before_fields(conn: duckdb.DuckDBPyConnection, list_id: str) -> bool:
    """Whether live records were read before ``fields`` was a column: the whole list is read once again, or the
    diff would find each of their columns missing and upload the whole list."""
    row = conn.execute(
        f"SELECT count(*) FROM {SCHEMA}.list_records WHERE list_id = ? AND NOT is_deleted AND fields IS NULL",
        [list_id],
    ).fetchone()
    return bool(row and row[0])


def extract_list_records(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    list_names: Sequence[str],
    settings: ActOnExtractSettings | None = None,
) -> list[ExtractResult]:
    """Records of the named lists (run ``extract_lists`` first): the whole list as CSV on the first run, the
    changed records after that."""
    settings = settings or ActOnExtractSettings()
    wanted = conn.execute(
        f"SELECT list_id, name, size FROM {SCHEMA}.lists WHERE name IN (SELECT unnest(?::VARCHAR[]))",
        [list(list_names)],
    ).fetchall()
    missing = set(list_names) - {name for _, name, _ in wanted}
    if missing:
        log.warning("act-on lists not found: %s", sorted(missing))
    results = []
    for list_id, _, size in wanted:
        run = _Run(conn, client, f"list_records:{list_id}", units_per_s=1000)
        since = run.since(int(settings.lookback.total_seconds() * 1000))
        if since is None or _read_before_fields(conn, list_id):
            _full_list(run, list_id)
        else:
            _changed_records(run, list_id, since, size)
        results.append(run.done())
    return results


# -- unified contacts (v2) ------------------------------------------------------------------------------------
def extract_contacts(
    conn: duckdb.DuckDBPyConnection, client: ActOnClient, settings: ActOnExtractSettings | None = None
) -> ExtractResult:
    """Unified contacts with the behavioural score, updatedAfter the watermark (epoch seconds)."""
    settings = settings or ActOnExtractSettings()
    run = _Run(conn, client, "contacts", units_per_s=1)
    pages = client.contact_pages(updated_after_s=run.since(int(settings.lookback.total_seconds())))
    for page in pages:
        contacts = page["contacts"]
        rows = [_contact_row(c, settings.score_field) for c in contacts]
        with transaction(conn):
            run.upsert("contacts", rows, ["contact_id"])
            run.advance(
                max((int(c["updatedAt"]) for c in contacts if c.get("updatedAt") is not None), default=None)
            )
    return run.done()


def _contact_row(contact: Mapping[str, Any], score_field: str) -> dict[str, Any]:
    """A unified contact as the warehouse keeps it. The v2 answer's shape is not documented: one without the
    fields a score rests on stops the read rather than giving contacts no score."""
    call = "GET /ucl/v2/{accountId}/contact/"
    fields = required(contact, SYSTEM, call, "fields", dict)
    if score_field not in fields:
        raise UnexpectedAnswer(SYSTEM, call, f"a contact's fields have no {score_field!r} (the score source)")
    return {
        "contact_id": present(contact, SYSTEM, call, "id"),
        "email": contact.get("email"),
        "score": fields[score_field],
        "created_at": _ms(int(contact["createdAt"]) * 1000) if contact.get("createdAt") is not None else None,
        "updated_at": _ms(int(required(contact, SYSTEM, call, "updatedAt", (int, str))) * 1000),
        "fields": json.dumps(fields, ensure_ascii=False),
    }


# -- opt-outs, bounces, complaints ------------------------------------------------------------------------------
def extract_optouts(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    whole_every: timedelta = timedelta(0),
    settings: ActOnExtractSettings | None = None,
    *,
    guard: OptinGuard | None = None,
    run_id: str | None = None,
) -> ExtractResult:
    """The opt-outs created since the last read (less the lookback), and the whole list when the last whole read
    is ``whole_every`` or more ago: Act-On filters the list by creation only, so an email that left it (an
    opt-in) shows only in a whole read. The history records when each email was first and last seen on the list,
    and when it was inferred to have left it (``ingest.extract.optout_holds`` has the rules)."""
    settings = settings or ActOnExtractSettings()
    run_id = run_id or f"read-{uuid.uuid4()}"
    run = _Run(conn, client, "optouts", units_per_s=1000)
    whole = (
        run.result.watermark_before is None
        or reconciliation_due(conn, SOURCE, "optouts", whole_every)
        or _whole_read_owed(conn)
    )
    since = None if whole else run.since(int(settings.lookback.total_seconds() * 1000))
    read = _frame(
        "optouts",
        [
            {
                "email": present(r, SYSTEM, "GET /api/1/list/optout", "email"),
                "opted_out_at": _ms(r.get("timestamp")),
                "origin": r.get("origin"),
            }
            for page in client.optout_pages("optout", created_after_ms=since)
            for r in page["result"]
        ],
    )
    with transaction(conn), registered(conn, read.unique("email", keep="last")) as seen:
        if whole:
            conn.execute(f"DELETE FROM {SCHEMA}.optouts")
        run.upsert("optouts", read, ["email"])
        _record_sightings(conn, seen)
        if whole:
            run.result.rows_deleted = _infer_optins(conn, seen, run_id, guard or OptinGuard())
            mark_reconciled(conn, SOURCE, "optouts")
    run.result.mode = "whole list" if whole else "created after"
    return run.done()


_HISTORY = f"{SCHEMA}.optout_history"
_SAME_EMAIL = f"lower(trim(o.email)) = lower(trim({_HISTORY}.email))"


def _whole_read_owed(conn: duckdb.DuckDBPyConnection) -> bool:
    """A whole read is owed now, whatever the cadence, when one read's inference waits for a second run's read
    (an email missing once) or an operator released a held read."""
    (owed,) = conn.execute(
        f"SELECT count(*) FROM {_HISTORY} WHERE removed_at IS NULL AND missed_at IS NOT NULL"
    ).fetchone() or (0,)
    return bool(owed or released_emails(conn))


def _record_sightings(conn: duckdb.DuckDBPyConnection, seen: str) -> None:
    """Emails read on the list are on it now: an entry closed for the same opt-out is reopened (its removal was
    inferred from a read that missed it), an open one is marked seen, and a new one is opened."""
    now = utc_now()
    conn.execute(
        f"UPDATE {_HISTORY} SET removed_at = NULL FROM {seen} o WHERE {_SAME_EMAIL} "
        f"AND {_HISTORY}.removed_at IS NOT NULL AND {_HISTORY}.opted_out_at = o.opted_out_at "
        f"AND NOT EXISTS (SELECT 1 FROM {_HISTORY} h2 WHERE lower(trim(h2.email)) = lower(trim(o.email)) "
        "AND h2.removed_at IS NULL)"
    )
    conn.execute(
        f"UPDATE {_HISTORY} SET last_seen_at = ?, opted_out_at = o.opted_out_at, missed_at = NULL, "
        f"missed_run = NULL FROM {seen} o WHERE {_SAME_EMAIL} AND {_HISTORY}.removed_at IS NULL",
        [now],
    )
    conn.execute(
        f"INSERT INTO {_HISTORY} (email, opted_out_at, first_seen_at, last_seen_at) "
        f"SELECT o.email, o.opted_out_at, ?, ? FROM {seen} o WHERE NOT EXISTS "
        f"(SELECT 1 FROM {_HISTORY} WHERE {_SAME_EMAIL} AND {_HISTORY}.removed_at IS NULL)",
        [now, now],
    )


def _infer_optins(conn: duckdb.DuckDBPyConnection, seen: str, run_id: str, guard: OptinGuard) -> int:
    """After a whole read: an open entry whose email it lacked is missed once; one that a whole read of another
    run also lacked is an inferred opt-in, recorded (``removed_at``) unless the guard holds the read. Returns
    the opt-ins recorded."""
    missing = f"{_HISTORY}.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM {seen} o WHERE {_SAME_EMAIL})"
    (known,) = conn.execute(f"SELECT count(*) FROM {_HISTORY} WHERE removed_at IS NULL").fetchone() or (0,)
    confirmed = dict(
        conn.execute(
            f"SELECT lower(trim(email)), max(last_seen_at) FROM {_HISTORY} "
            f"WHERE {missing} AND missed_at IS NOT NULL AND missed_run <> ? GROUP BY 1",
            [run_id],
        ).fetchall()
    )
    conn.execute(
        f"UPDATE {_HISTORY} SET missed_at = ?, missed_run = ? WHERE {missing} AND missed_at IS NULL",
        [utc_now(), run_id],
    )
    released = released_emails(conn)
    releasable = set().union(*released.values()) & confirmed.keys() if released else set()
    rest = {e: seen_at for e, seen_at in confirmed.items() if e not in releasable}
    allowed = guard.allowed(known)
    supersede_held(conn)
    # a read that lacks every opt-out known (a rowless answer does) is held too, however few they are
    if len(rest) > allowed or (rest and len(rest) == known):
        hold_id = hold(conn, run_id, rest, known, allowed)
        log.warning(
            "opt-out list read held (%s): %d inferred opt-ins of %d known opt-outs, %d allowed",
            hold_id, len(rest), known, allowed,
        )  # fmt: skip
        rest = {}
    applied = releasable | rest.keys()
    if applied:
        conn.execute(
            f"UPDATE {_HISTORY} SET removed_at = ? WHERE removed_at IS NULL "
            "AND lower(trim(email)) IN (SELECT unnest(?::VARCHAR[]))",
            [utc_now(), sorted(applied)],
        )
    mark_applied(conn, list(released))
    return len(applied)


def extract_suppressions(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    kind: str,
    settings: ActOnExtractSettings | None = None,
) -> ExtractResult:
    """``hardbounce`` → hard_bounces, ``spamcomplaint`` → spam_complaints, createdafter the watermark (ms)."""
    settings = settings or ActOnExtractSettings()
    table, stamp = {
        "hardbounce": ("hard_bounces", "bounced_at"),
        "spamcomplaint": ("spam_complaints", "complained_at"),
    }[kind]
    run = _Run(conn, client, table, units_per_s=1000)
    for page in client.optout_pages(
        kind, created_after_ms=run.since(int(settings.lookback.total_seconds() * 1000))
    ):
        result = page["result"]
        rows = [
            {
                "email": present(r, SYSTEM, f"GET /api/1/list/{kind}", "email"),
                stamp: _ms(r.get("timestamp")),
                "origin": r.get("origin"),
            }
            for r in result
        ]
        with transaction(conn):
            run.upsert(table, rows, ["email", stamp])
            run.advance(
                max((int(r["timestamp"]) for r in result if r.get("timestamp") is not None), default=None)
            )
    return run.done()


# -- messages and drill-downs ---------------------------------------------------------------------------------
def _expected_rows(report: Mapping[str, Any], verb: str) -> int | None:
    value = report.get(_REPORT_TOTALS[verb])
    if isinstance(value, list):
        value = value[-1] if value else None
    return int(value) if value is not None else None


def extract_messages(
    conn: duckdb.DuckDBPyConnection, client: ActOnClient, settings: ActOnExtractSettings | None = None
) -> list[ExtractResult]:
    """Sent messages, and for those sent within the window the drill-down events. A message's report (one call)
    tells each drill-down's size, so drill-downs whose events are all kept already are skipped."""
    settings = settings or ActOnExtractSettings()
    run = _Run(conn, client, "messages")
    messages = [m for page in client.message_pages() for m in page["msgresult"]]
    # The window ends at the newest send rather than now: an account that paused sending keeps collecting the
    # late opens and clicks of its last campaigns (and a sandbox world behind the wall clock works the same).
    sent_at = {present(m, SYSTEM, "GET /api/1/message", "msgId"): _ms(m.get("timeStamp")) for m in messages}
    newest = max((t for t in sent_at.values() if t is not None), default=None)
    reports = {}
    for m in messages:
        sent = sent_at[m["msgId"]]
        if sent is not None and newest is not None and sent >= newest - settings.message_window:
            reports[m["msgId"]] = client.message_report(m["msgId"])
    rows = [
        {
            "message_id": m["msgId"],
            "name": m.get("name"),
            "subject": reports.get(m["msgId"], {}).get("subject"),
            "sent_at": _ms(m.get("timeStamp")),
        }
        for m in messages
    ]
    with transaction(conn):
        # keep a subject learnt earlier when the message has left the window
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _subjects AS SELECT message_id, subject FROM raw_acton.messages"
        )
        run.upsert("messages", rows, ["message_id"])
        conn.execute(
            f"UPDATE {SCHEMA}.messages m SET subject = s.subject FROM _subjects s "
            "WHERE s.message_id = m.message_id AND m.subject IS NULL"
        )
        conn.execute("DROP TABLE _subjects")
    done = run.done()  # before the drill-downs start: each result counts only its own calls
    events = _Run(conn, client, "message_events")
    for message_id, report in reports.items():
        for verb in DRILLDOWNS:
            kept = conn.execute(
                f"SELECT count(*) FROM {SCHEMA}.message_events WHERE message_id = ? AND event_type = ?",
                [message_id, verb],
            ).fetchone()
            if _expected_rows(report, verb) == (kept[0] if kept else 0):
                continue
            # one upsert per drill-down, not per page: each upsert joins the whole events table, and a large
            # send's drill-down is a thousand pages. A drill-down read only in part is read again next run
            # (its kept count differs from the report's).
            pages = [
                _frame(
                    "message_events",
                    [
                        {
                            "message_id": message_id,
                            "event_type": verb,
                            "email": r.get("email"),
                            "contact_id": r.get("contactId"),
                            "event_at": _ms(r.get("timestamp")),
                        }
                        for r in page["result"]
                    ],
                )
                for page in client.drilldown_pages(message_id, verb)
            ]
            with transaction(conn):
                events.upsert(
                    "message_events", pl.concat(pages), ["message_id", "event_type", "email", "event_at"]
                )
    return [done, events.done()]


def extract_all(
    conn: duckdb.DuckDBPyConnection,
    client: ActOnClient,
    list_names: Sequence[str] = (),
    settings: ActOnExtractSettings | None = None,
) -> list[ExtractResult]:
    ensure_tables(conn)
    return [
        extract_lists(conn, client),
        *extract_list_records(conn, client, list_names, settings),
        extract_contacts(conn, client, settings),
        extract_optouts(conn, client),
        extract_suppressions(conn, client, "hardbounce", settings),
        extract_suppressions(conn, client, "spamcomplaint", settings),
        *extract_messages(conn, client, settings),
    ]
