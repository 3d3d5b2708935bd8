"""The account's opt-out, hard-bounce and spam-complaint lists; opt-out and opt-in uploads."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable
from urllib.parse import quote

from starlette.responses import JSONResponse, Response

from sandbox.acton.calls import ActOnError, Call, Ctx, int_param, page_size, time_filter
from sandbox.acton.values import is_valid_email, now_ms


def api_origin(ctx: Ctx) -> str:
    return f"User: {ctx.store.get_meta('acton_credentials')['username']} via Act-On API"


def suppression_page(kind: str) -> Callable[[Ctx, Call], Response]:
    def handler(ctx: Ctx, call: Call) -> Response:
        count = page_size(ctx, call.query)
        offset = int_param(call.query, "offset", 0)
        where, args = time_filter(
            call.query, {"createdafter": "created_ms >=", "createdbefore": "created_ms <"}
        )
        with ctx.store.lock:
            rows = ctx.store.conn.execute(
                f"SELECT email, ts_ms, origin FROM acton_suppressions WHERE kind = ? AND {where} "
                "ORDER BY ts_ms, email_norm LIMIT ? OFFSET ?",
                [kind, *args, count, offset],
            ).fetchall()
        result = [{"email": e, "timestamp": ts, "origin": origin} for e, ts, origin in rows]
        # Act-On never counts these lists: totalCount is -1 and clients page until a short page.
        return JSONResponse({"offset": offset, "count": len(result), "totalCount": -1, "result": result})

    return handler


def upload_rows(data: bytes) -> list[list[str]]:
    """The rows of an opt-out or opt-in upload as Act-On reads them (a leading byte-order mark dropped)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig", "replace"), newline="")))


def upload(apply: Callable[[sqlite3.Connection, str, int, str], bool]) -> Callable[[Ctx, Call], Response]:
    """A handler for a one-column CSV of emails, each applied with ``opt_out`` or ``opt_in``."""

    def handler(ctx: Ctx, call: Call) -> Response:
        data = call.files.get("file")
        if data is None:
            raise ActOnError(10003)
        rows = upload_rows(data)
        row_errors = ctx.control.row_errors("acton", call.method, call.path, len(rows))
        empty = sum(1 for r in rows if not r or not r[0].strip())
        reasons: dict[int, str] = {}  # refused rows: Act-On's reason
        for n, r in enumerate(rows):
            if r and r[0].strip() and not is_valid_email(r[0]):
                reasons[n] = "Invalid email address"
            elif r and r[0].strip() and n in row_errors:
                reasons[n] = row_errors[n]
        # the rejected-records file: each refused row as sent, plus the reason
        invalid = [[*rows[n], reason] for n, reason in reasons.items()]
        valid = [r[0] for n, r in enumerate(rows) if r and r[0].strip() and n not in reasons]
        origin, now = api_origin(ctx), now_ms()
        with ctx.store.transaction() as c:
            for email in valid:
                apply(c, email, now, origin)
            url = ""
            if invalid:
                filename = f"rejected_optout_{now}.csv"
                out = io.StringIO()
                csv.writer(out, lineterminator="\r\n").writerows(invalid)
                c.execute(
                    "INSERT OR REPLACE INTO acton_rejects VALUES (?, ?, ?)", (filename, out.getvalue(), now)
                )
                url = f"{call.base_url}api/1/list/rejectedUploadRecords?filename={quote(filename)}"
        return JSONResponse(
            {
                "status": "success",
                "message": f"{empty + len(invalid)} invalid or empty records rejected. {len(valid)} valid records processed.",
                "emptyRecords": empty,
                "rejectedRecords": len(invalid),
                "rejectedRecordsUrl": url,
            }
        )

    return handler
