"""Single records of a marketing list: insert, upsert by email, get, update, delete, lookup, facts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.responses import JSONResponse, Response

from sandbox.acton import score
from sandbox.acton.calls import ActOnError, Call, Ctx
from sandbox.acton.lists import list_row
from sandbox.acton.merge import ListMerger, email_heading
from sandbox.acton.values import is_valid_email, normalise_email, now_ms, record_id, to_ms

MAX_BULK_DELETE = 100
_ACTIVITY_SHOWN = 1000


def _rec(ident: str, raw: str) -> int:
    """The record number of ``l-0001:12`` or ``12``; anything else is an invalid contact."""
    prefix, _, num = raw.rpartition(":")
    if (prefix and prefix != ident) or not num.isdigit():
        raise ActOnError(10008)
    return int(num)


def _values(merger: ListMerger, body: Any) -> dict[str, str]:
    """Body keys are column headings (case-insensitive) or column types such as EMAIL and FIRSTNAME."""
    if not isinstance(body, dict):
        raise ActOnError(10010)
    out = {}
    for key, value in body.items():
        heading = next((c["heading"] for c in merger.columns if c["heading"].lower() == key.lower()), None)
        heading = heading or next(
            (c["heading"] for c in merger.columns if (c.get("type") or "").upper() == key.upper()), None
        )
        if heading is None:
            raise ActOnError(10010)
        out[heading] = "" if value is None else str(value)
    return out


def _data(conn: sqlite3.Connection, ident: str, rec: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT data FROM acton_records WHERE list_id = ? AND rec = ?", (ident, rec)
    ).fetchone()
    if row is None:
        raise ActOnError(10008)
    return json.loads(row[0])


def _written(message: str, ident: str, rec: int) -> Response:
    rid = record_id(ident, rec)
    return JSONResponse({"status": "success", "message": message, "id": rid, "contact_id": rid})


@contextmanager
def _writing_one(ctx: Ctx, call: Call) -> Iterator[tuple[ListMerger, dict[str, str], str]]:
    """A write of one record from the call's body: the list checked, then in one transaction a merger, the body's
    values by heading and the list's email heading (empty when it has none); the merger is saved at the end."""
    ident = call.params["listid"]
    list_row(ctx, ident)
    body = call.json_body()
    with ctx.store.transaction() as c:
        merger = ListMerger(c, ident, now_ms())
        yield merger, _values(merger, body), email_heading(merger.columns) or ""
        merger.save()


def add_record(ctx: Ctx, call: Call) -> Response:
    with _writing_one(ctx, call) as (merger, values, email_col):
        if not is_valid_email(values.get(email_col)):
            raise ActOnError(10008)
        rec = merger.insert(values, email_col)
    return _written("Record inserted", merger.list_id, rec)


def upsert_record(ctx: Ctx, call: Call) -> Response:
    """Updates the first record with the email (list order), or inserts one."""
    with _writing_one(ctx, call) as (merger, values, email_col):
        email = call.query.get("email") or values.get(email_col)
        if not is_valid_email(email):
            raise ActOnError(10008)
        values.setdefault(email_col, (email or "").strip())
        first = merger.conn.execute(
            "SELECT rec FROM acton_records WHERE list_id = ? AND email_norm = ? ORDER BY rec LIMIT 1",
            (merger.list_id, normalise_email(email)),
        ).fetchone()
        if first is None:
            rec, message = merger.insert(values, email_col), "Record inserted"
        else:
            rec, message = first[0], "Record updated"
            merger.update(rec, values, email_col, put_empty=True)
    return _written(message, merger.list_id, rec)


def get_record(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    _, columns = list_row(ctx, ident)
    rec = _rec(ident, call.params["recordid"])
    with ctx.store.lock:
        data = _data(ctx.store.conn, ident, rec)
    return JSONResponse([record_id(ident, rec), *(str(data.get(c["heading"]) or "") for c in columns)])


def update_record(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    list_row(ctx, ident)
    rec = _rec(ident, call.params["recordid"])
    body = call.json_body()
    with ctx.store.transaction() as c:
        _data(c, ident, rec)
        merger = ListMerger(c, ident, now_ms())
        merger.update(rec, _values(merger, body), email_heading(merger.columns) or "", put_empty=True)
        merger.save()
    return JSONResponse({"status": "success", "message": "Record updated"})


def delete_record(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    list_row(ctx, ident)
    rec = _rec(ident, call.params["recordid"])
    with ctx.store.transaction() as c:
        if c.execute("DELETE FROM acton_records WHERE list_id = ? AND rec = ?", (ident, rec)).rowcount == 0:
            raise ActOnError(10008)
        c.execute("UPDATE acton_lists SET modified_ms = ? WHERE id = ?", (now_ms(), ident))
    return JSONResponse({"status": "success", "message": "Record deleted"})


def delete_records(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    list_row(ctx, ident)
    ids = [i.strip() for i in call.query.get("contactids", "").split(",") if i.strip()]
    if not ids or len(ids) > MAX_BULK_DELETE:
        raise ActOnError(10008, message=f"Between 1 and {MAX_BULK_DELETE} contact ids are required")
    failed = []
    with ctx.store.transaction() as c:
        for raw in ids:
            try:
                rec = _rec(ident, raw)
            except ActOnError:
                rec = -1
            if (
                c.execute("DELETE FROM acton_records WHERE list_id = ? AND rec = ?", (ident, rec)).rowcount
                == 0
            ):
                failed.append({"id": raw, "reason": "Invalid contact id"})
        c.execute("UPDATE acton_lists SET modified_ms = ? WHERE id = ?", (now_ms(), ident))
    return JSONResponse(
        {"success_count": len(ids) - len(failed), "fail_count": len(failed), "failedList": failed}
    )


def lookup(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    _, columns = list_row(ctx, ident)
    with ctx.store.lock:
        row = ctx.store.conn.execute(
            "SELECT rec FROM acton_records WHERE list_id = ? AND email_norm = ? ORDER BY rec LIMIT 1",
            (ident, normalise_email(call.query.get("email"))),
        ).fetchone()
        if row is None:
            raise ActOnError(10008)
        data = _data(ctx.store.conn, ident, row[0])
    return JSONResponse(
        {"contactID": record_id(ident, row[0]), **{c["heading"]: data.get(c["heading"], "") for c in columns}}
    )


def facts(ctx: Ctx, call: Call) -> Response:
    """Score and activity of the unified contact with the record's email."""
    ident = call.params["listid"]
    list_row(ctx, ident)
    rec = _rec(ident, call.params["recordid"])
    as_of = to_ms(ctx.store.get_meta("world_clock")) if ctx.store.get_meta("world_clock") else now_ms()
    with ctx.store.lock:
        c = ctx.store.conn
        row = c.execute(
            "SELECT email_norm FROM acton_records WHERE list_id = ? AND rec = ?", (ident, rec)
        ).fetchone()
        if row is None:
            raise ActOnError(10008)
        contact = c.execute(
            "SELECT id, score FROM acton_contacts WHERE email_norm = ? ORDER BY rowid LIMIT 1", (row[0],)
        ).fetchone()
        contact_id, total = contact or ("", 0)
        details = score.breakdown(c, contact_id, as_of)
        events = c.execute(
            "SELECT a.verb, a.ts_ms, COALESCE(a.what, m.name) FROM acton_activity a "
            "LEFT JOIN acton_messages m ON m.id = a.msg_id WHERE a.contact_id = ? AND a.verb != 'su' "
            "UNION ALL SELECT CASE event WHEN 'optin' THEN 'oi' ELSE 'oo' END, ts_ms, origin "
            "FROM acton_consent_events WHERE email_norm = ? ORDER BY 2 DESC LIMIT ?",
            (contact_id, row[0], _ACTIVITY_SHOWN),
        ).fetchall()
    return JSONResponse(
        {
            "activity": {
                "score": total,
                "ScorePeriod": f"{score.PERIOD_DAYS} days",
                "ScoreDetails": details,
                "HasBehaviorScore": bool(details),
            },
            "activitylist": [{"Verb": v, "WhenMillis": ts, "What": what or ""} for v, ts, what in events],
        }
    )
