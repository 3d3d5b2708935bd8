"""What every write-back shares: reading the rows a ``sync.*`` model says to send, and recording in
``sync_state`` what was sent and what came of it (per-row results, consent intents and the consent ledger,
rejects)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from datetime import date, datetime
from itertools import count
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from common.dbt_manifest import SYNC_SCHEMA
from common.warehouse import is_postgres, registered, temp_name, transaction, utc_now
from writeback.emails import NORMALISED_EMAIL_SQL

RESULT_COLUMNS = (
    "run_id", "system", "object", "record_id", "field", "old_value", "new_value", "status", "error_code",
    "message", "written_at",
)  # fmt: skip
# Rows of a sync model held as Python objects at once (with what a chunk's send builds from them, about
# 0.3 GiB): the bound on a write-back's memory whatever the model's size. At 1M Leads a model of 1.3M rows
# read whole took 4 GiB.
CHUNK_ROWS = 100_000


class SyncModelMissing(RuntimeError):
    """A ``sync.*`` model the write-back reads has not been built (dbt has not run against this warehouse)."""


@dataclass
class WritebackSummary:
    """Counts one write-back step reports (the Dagster assets turn them into materialisation metadata)."""

    rows_sent: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    rejected: int = 0
    appended: int = 0  # Act-On list uploads: the job's own append / update counts
    updated: int = 0
    removed: int = 0  # Act-On list records sent for removal (bulk deletes, 100 a call)
    # rows held back this run: guarded un-ticks, and rows the target rejected before exactly as they are now
    skipped: int = 0
    api_calls: int = 0
    dry_run: bool = False

    def __iadd__(self, other: WritebackSummary) -> WritebackSummary:
        for f in fields(self):
            if f.name != "dry_run":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.dry_run = self.dry_run or other.dry_run
        return self


@dataclass(frozen=True)
class ResultRow:
    """One row of ``sync_state.writeback_results`` (run id and time are added when recorded)."""

    system: str
    object: str
    record_id: str | None
    field: str
    old_value: Any
    new_value: Any
    status: str  # success | failed | retried | dry_run | skipped
    error_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """One consent change that the target system accepted."""

    email: str
    system: str
    old_value: Any
    new_value: Any
    source_event: str | None
    event_at: datetime | None


@dataclass(frozen=True)
class Intent:
    """A consent change about to be sent, as a row of ``sync_state.consent_intents``: committed before the call,
    so that a process dying between the call and its outcome leaves something the next run settles."""

    change: LedgerEntry
    object: str
    record_id: str
    field: str
    intent_id: str = dataclass_field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Reject:
    source: str
    object: str
    record_id: str | None
    email: str | None
    reason: str
    # what was sent, as text (``sent_values``): the same row is not sent again until this changes
    sent_value: str | None = None


def as_text(value: Any) -> str | None:
    """A value as the results tables (VARCHAR) and CSV uploads carry it: booleans ``true``/``false``, whole
    numbers without ``.0``, datetimes ISO 8601 UTC with milliseconds and ``Z`` (warehouse datetimes are naive UTC)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def sync_row_chunks(
    conn: duckdb.DuckDBPyConnection,
    model: str,
    *,
    where: str = "true",
    params: Sequence[Any] = (),
    chunk_rows: int = CHUNK_ROWS,
    key: str | None = None,
) -> Iterator[pl.DataFrame]:
    """The rows of ``sync.<model>`` matching ``where``, ``chunk_rows`` at a time in table order, each chunk a frame;
    with ``key``, the rows of ``chunk_rows`` key values at a time, chunk after chunk in key order, so rows sharing
    a key are never split between chunks.

    Whether the model exists is checked at the call, so a missing model fails before anything is sent; the rows
    are read only as the chunks are taken."""
    exists = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [SYNC_SCHEMA, model],
    ).fetchone()
    if not exists:
        raise SyncModelMissing(
            f"{SYNC_SCHEMA}.{model} does not exist in the warehouse; fix: run the dbt build "
            f"(`dbt build --select {model}+` or materialise the sync assets) before the write-back"
        )
    if key is not None:
        return _key_chunks(conn, model, where, params, chunk_rows, key)
    return _chunks(conn, model, where, params, chunk_rows)


def _chunks(
    conn: duckdb.DuckDBPyConnection, model: str, where: str, params: Sequence[Any], chunk_rows: int
) -> Iterator[pl.DataFrame]:
    if is_postgres(conn):
        # a Postgres table has no rowid: its matching rows are read once into a numbered table of this connection
        yield from _numbered_chunks(conn, model, where, params, chunk_rows)
        return
    # Each chunk is a query of its own that resumes after the last rowid read. A read left open across chunks (a
    # streaming cursor on a second connection) holds a lock that the automatic checkpoint of the caller's next
    # result commit waits for, in this same thread: a deadlock (duckdb/duckdb#14303).
    sql = f"SELECT rowid, * FROM {SYNC_SCHEMA}.{model} WHERE ({where}) AND rowid > ? ORDER BY rowid LIMIT ?"
    after = -1
    while True:
        frame = conn.execute(sql, [*params, after, chunk_rows]).pl()
        if frame.height:
            after = frame["rowid"][-1]
            yield frame.drop("rowid")
        if frame.height < chunk_rows:
            return


def _numbered_chunks(
    conn: duckdb.DuckDBPyConnection, model: str, where: str, params: Sequence[Any], chunk_rows: int
) -> Iterator[pl.DataFrame]:
    snapshot = temp_name()
    conn.execute(
        f"CREATE TEMP TABLE {snapshot} AS "
        f"SELECT row_number() OVER () AS _row, * FROM {SYNC_SCHEMA}.{model} WHERE ({where})",
        list(params),
    )
    try:
        for start in count(0, chunk_rows):
            frame = conn.execute(
                f"SELECT * EXCLUDE (_row) FROM {snapshot} WHERE _row > ? AND _row <= ? ORDER BY _row",
                [start, start + chunk_rows],
            ).pl()
            if frame.height:
                yield frame
            if frame.height < chunk_rows:
                return
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {snapshot}")


def _key_chunks(
    conn: duckdb.DuckDBPyConnection, model: str, where: str, params: Sequence[Any], chunk_rows: int, key: str
) -> Iterator[pl.DataFrame]:
    # The key values that end each chunk, found in one sort; each chunk is then a plain scan for the keys after the
    # previous end up to its own. (Sorting the rows of every chunk by key instead cost three times the CPU of the
    # rowid chunks at 1.3M rows; this costs about the same.) As in _chunks, a query of its own per chunk.
    table = f"{SYNC_SCHEMA}.{model}"
    found = conn.execute(
        f"SELECT {key} FROM (SELECT DISTINCT {key} FROM {table} WHERE ({where}) AND {key} IS NOT NULL) "
        f"QUALIFY row_number() OVER (ORDER BY {key}) % ? = 0 ORDER BY {key}",
        [*params, chunk_rows],
    ).fetchall()
    ends = [end for (end,) in found]
    for after, upto in zip([None, *ends], [*ends, None], strict=True):
        bounds, args = ["true"], []
        if after is not None:
            # a row with a null key (the models' tests forbid it) goes in the last chunk, not nowhere
            bounds.append(f"({key} > ? OR {key} IS NULL)" if upto is None else f"{key} > ?")
            args.append(after)
        if upto is not None:
            bounds.append(f"{key} <= ?")
            args.append(upto)
        frame = conn.execute(
            f"SELECT * FROM {table} WHERE ({where}) AND {' AND '.join(bounds)}", [*params, *args]
        ).pl()
        if frame.height:
            yield frame


def already_succeeded(
    conn: duckdb.DuckDBPyConnection, run_id: str, system: str, keys: Collection[tuple[str, str | None, str]]
) -> set[tuple[str, str, str]]:
    """Those of ``keys`` (object, record_id, field) this run already wrote successfully: a re-executed step must
    not send them again (no row is written twice in one run). Asked per chunk, so the answer is bounded by the
    chunk, not by all the run wrote."""
    if not keys:
        return set()
    frame = pa.table(
        {
            name: pa.array([k[i] for k in keys], pa.string())
            for i, name in enumerate(("object", "record_id", "field"))
        }
    )
    with registered(conn, frame) as asked:
        rows = conn.execute(
            "SELECT DISTINCT r.object, r.record_id, r.field FROM sync_state.writeback_results r "
            f"JOIN {asked} k ON r.object = k.object AND r.record_id = k.record_id AND r.field = k.field "
            "WHERE r.run_id = ? AND r.system = ? AND r.status = 'success'",
            [run_id, system],
        ).fetchall()
    return {(o, r, f) for o, r, f in rows}


def _rows_frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    return pa.table({c: list(values) for c, values in zip(columns, zip(*rows, strict=True), strict=True)})


def _append(
    conn: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Append rows in one statement: DuckDB's executemany runs one INSERT per row (about 500 rows/s), which
    made the bookkeeping, not the APIs, the slowest part of a large write-back."""
    _append_frame(conn, table, _rows_frame(columns, rows))


def _append_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pa.Table) -> None:
    with transaction(conn):
        _insert_frame(conn, table, frame)


def _insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pa.Table) -> None:
    """In the caller's transaction."""
    with registered(conn, frame) as appended:
        names = ", ".join(frame.column_names)
        conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {appended}")


def record_results(conn: duckdb.DuckDBPyConnection, run_id: str, rows: Sequence[ResultRow]) -> None:
    if not rows:
        return
    now = utc_now()
    _append(
        conn,
        "sync_state.writeback_results",
        RESULT_COLUMNS,
        [
            [
                run_id,
                r.system,
                r.object,
                r.record_id,
                r.field,
                as_text(r.old_value),
                as_text(r.new_value),
                r.status,
                r.error_code,
                r.message,
                now,
            ]
            for r in rows
        ],
    )


def record_result_frame(conn: duckdb.DuckDBPyConnection, run_id: str, results: pl.DataFrame) -> None:
    """``record_results`` for results built column-wise: a frame of ResultRow's columns, values already text."""
    if results.is_empty():
        return
    stamped = results.with_columns(run_id=pl.lit(run_id), written_at=pl.lit(utc_now()))
    _append_frame(conn, "sync_state.writeback_results", stamped.select(RESULT_COLUMNS).to_arrow())


LEDGER_COLUMNS = (
    "email", "system", "old_value", "new_value", "source_event", "event_at", "run_id", "written_at",
)  # fmt: skip
INTENT_COLUMNS = (
    "run_id", "intent_id", "system", "email", "object", "record_id", "field", "old_value", "new_value",
    "source_event", "event_at", "intended_at",
)  # fmt: skip


def record_intents(conn: duckdb.DuckDBPyConnection, run_id: str, intents: Iterable[Intent]) -> None:
    """Committed when this returns: the caller sends only after."""
    now = utc_now()
    rows = [
        [
            run_id,
            i.intent_id,
            i.change.system,
            i.change.email,
            i.object,
            i.record_id,
            i.field,
            as_text(i.change.old_value),
            as_text(i.change.new_value),
            i.change.source_event,
            i.change.event_at,
            now,
        ]
        for i in intents
    ]
    if rows:
        _append(conn, "sync_state.consent_intents", INTENT_COLUMNS, rows)


def record_accepted(
    conn: duckdb.DuckDBPyConnection, run_id: str, accepted: Sequence[Intent], ledger: Sequence[LedgerEntry]
) -> None:
    """The intents the target accepted settled, and ``ledger``'s rows written, in one transaction: a crash
    leaves either both or neither (and then the next run settles the intents)."""
    if not accepted:
        return
    now = utc_now()
    with transaction(conn):
        _settle(conn, accepted, "accepted", now)
        if ledger:
            rows = [
                [
                    e.email,
                    e.system,
                    as_text(e.old_value),
                    as_text(e.new_value),
                    e.source_event,
                    e.event_at,
                    run_id,
                    now,
                ]
                for e in ledger
            ]
            _insert_frame(conn, "sync_state.consent_ledger", _rows_frame(LEDGER_COLUMNS, rows))


def record_not_applied(conn: duckdb.DuckDBPyConnection, refused: Sequence[Intent]) -> None:
    """The intents the target refused (it answered which), settled ``not_applied`` at once: no ledger row, and
    nothing left for the next run to settle."""
    if refused:
        with transaction(conn):
            _settle(conn, refused, "not_applied", utc_now())


def _settle(conn: duckdb.DuckDBPyConnection, intents: Sequence[Intent], outcome: str, now: datetime) -> None:
    """In the caller's transaction."""
    ids = pa.table({"intent_id": pa.array([i.intent_id for i in intents], pa.string())})
    with registered(conn, ids) as settled:
        conn.execute(
            "UPDATE sync_state.consent_intents SET outcome = ?, settled_at = ? "
            f"WHERE intent_id IN (SELECT intent_id FROM {settled})",
            [outcome, now],
        )


def ledgered_emails(conn: duckdb.DuckDBPyConnection, run_id: str, system: str) -> set[str]:
    """The emails with a ledger row of this run and system: a re-executed step writes no second one."""
    rows = conn.execute(
        "SELECT DISTINCT email FROM sync_state.consent_ledger WHERE run_id = ? AND system = ?",
        [run_id, system],
    ).fetchall()
    return {email for (email,) in rows}


_JUDGE_OPEN_INTENTS = """
CREATE OR REPLACE TEMP TABLE _judged AS
SELECT i.*, (
    EXISTS (
        SELECT 1 FROM sync_state.writeback_results r
        WHERE r.run_id = i.run_id AND r.system = i.system AND r.object = i.object AND r.record_id = i.record_id
            AND r.field = i.field AND r.new_value = i.new_value AND r.status = 'success'
            AND r.written_at >= i.intended_at
    )
    OR EXISTS (
        SELECT 1 FROM ({held}) h
        WHERE h.system = i.system AND h.object = i.object AND h.record_id = i.record_id AND h.value = i.new_value
    )
) AS accepted
FROM sync_state.consent_intents i
WHERE i.outcome IS NULL
"""
# written_at is the intent's time: the write landed between it and the next extract, which is where the dbt
# echo logic (int_consent_events_unioned) looks for our own writes
_LEDGER_SETTLED = """
INSERT INTO sync_state.consent_ledger (email, system, old_value, new_value, source_event, event_at, run_id, written_at)
SELECT DISTINCT ON (run_id, system, email)
    email, system, old_value, new_value, source_event, event_at, run_id, intended_at
FROM _judged j
WHERE accepted AND NOT EXISTS (
    SELECT 1 FROM sync_state.consent_ledger l WHERE l.run_id = j.run_id AND l.system = j.system AND l.email = j.email
)
ORDER BY run_id, system, email, intended_at
"""
_SETTLE = """
UPDATE sync_state.consent_intents
SET outcome = CASE WHEN j.accepted THEN 'accepted' ELSE 'not_applied' END, settled_at = ?
FROM _judged j
WHERE consent_intents.intent_id = j.intent_id
"""


@dataclass(frozen=True)
class Settled:
    accepted: int
    not_applied: int


def settle_open_intents(conn: duckdb.DuckDBPyConnection, held: str) -> Settled:
    """Every intent without an outcome, of any earlier run, settled: ``accepted`` (with its ledger row, one per
    email, run and system) when its run recorded the target's success or the target holds its value as last
    extracted, else ``not_applied`` (a change still needed is in the sync model's diff again).

    ``held``: SQL of (system, object, record_id, value) rows, each a value a target holds as last extracted."""
    if conn.execute("SELECT count(*) FROM sync_state.consent_intents WHERE outcome IS NULL").fetchone() == (
        0,
    ):
        return Settled(0, 0)
    with transaction(conn):
        conn.execute(_JUDGE_OPEN_INTENTS.format(held=held))
        conn.execute(_LEDGER_SETTLED)
        conn.execute(_SETTLE, [utc_now()])
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE accepted), count(*) FILTER (WHERE NOT accepted) FROM _judged"
        )
        accepted, not_applied = counts.fetchone() or (0, 0)
        conn.execute("DROP TABLE _judged")
    return Settled(int(accepted), int(not_applied))


REJECT_COLUMNS = (
    "run_id", "source", "object", "record_id", "email", "reason", "sent_value", "rejected_at",
)  # fmt: skip


def record_rejects(conn: duckdb.DuckDBPyConnection, run_id: str, rejects: Iterable[Reject]) -> int:
    now = utc_now()
    rows = [[run_id, r.source, r.object, r.record_id, r.email, r.reason, r.sent_value, now] for r in rejects]
    if rows:
        _append(conn, "sync_state.rejects", REJECT_COLUMNS, rows)
    return len(rows)


def rejected_as_sent(
    conn: duckdb.DuckDBPyConnection, source: str, object_: str, sent: Mapping[str, str]
) -> set[str]:
    """Of ``sent`` (normalised email -> the value about to be sent, as ``Reject.sent_value``), the emails whose
    latest reject by ``source`` in ``object_`` was of this very value: the target refused it as it is, and would
    again, so it is not sent until its data changes (an Act-On reject is never retried forever)."""
    if not sent:
        return set()
    frame = pa.table(
        {"email": pa.array(list(sent), pa.string()), "sent_value": pa.array(list(sent.values()), pa.string())}
    )
    with registered(conn, frame) as asked:
        rows = conn.execute(
            f"WITH latest AS (SELECT {NORMALISED_EMAIL_SQL} AS email, sent_value FROM sync_state.rejects"
            "  WHERE source = ? AND object = ? AND sent_value IS NOT NULL"
            f"  QUALIFY row_number() OVER (PARTITION BY {NORMALISED_EMAIL_SQL} ORDER BY rejected_at DESC) = 1"
            f") SELECT a.email FROM {asked} a JOIN latest l ON l.email = a.email AND l.sent_value = a.sent_value",
            [source, object_],
        ).fetchall()
    return {email for (email,) in rows}
