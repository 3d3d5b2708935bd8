"""Sent email messages, their reports and the per-recipient drill-downs."""

from __future__ import annotations

import time

from starlette.responses import JSONResponse, Response

from sandbox.acton.calls import ActOnError, Call, Ctx, csv_response, int_param, page_size
from sandbox.acton.lists import ACCOUNT_TZ
from sandbox.acton.values import from_ms

# drill-down verb -> activity verbs; "su" marks a recipient suppressed at send time (opted out or bounced).
DRILLDOWNS = {
    "SENT": ("s",),
    "SUPPRESSED": ("su",),
    "OPENED": ("os",),
    "CLICKED": ("r",),
    "BOUNCED": ("hb", "sb"),
    "OPT_OUT": ("oo",),
    "SPAM": ("sp",),
}
SENDER_ID = "434330"


def list_messages(ctx: Ctx, call: Call) -> Response:
    count = page_size(ctx, call.query)
    offset = int_param(call.query, "offset", 0)
    if call.query.get("type", "SENT").upper() != "SENT":
        return JSONResponse({"count": 0, "totalCount": 0, "offset": offset, "msgresult": [], "id": 0})
    with ctx.store.lock:
        total = ctx.store.conn.execute("SELECT COUNT(*) FROM acton_messages").fetchone()[0]
        rows = ctx.store.conn.execute(
            "SELECT id, name, sent_ms, sender_name, sender_email FROM acton_messages ORDER BY sent_ms DESC, n DESC "
            "LIMIT ? OFFSET ?",
            (count, offset),
        ).fetchall()
    result = [
        {
            "name": name,
            "msgId": ident,
            "msgType": "SENT",
            "timeStamp": str(sent),
            "timeWhen": from_ms(sent).astimezone(ACCOUNT_TZ).strftime("%a %b %-d %-I:%M %p %Z"),
            "senderName": sender,
            "senderId": SENDER_ID,
            "isTextOnly": "false",
            "senderEmail": sender_email,
        }
        for ident, name, sent, sender, sender_email in rows
    ]
    return JSONResponse(
        {"count": len(result), "totalCount": total, "offset": offset, "msgresult": result, "id": 0}
    )


def _message(ctx: Ctx, ident: str, status: int) -> tuple[str, str, str]:
    with ctx.store.lock:
        row = ctx.store.conn.execute(
            "SELECT name, subject, sent_to FROM acton_messages WHERE id = ?", (ident,)
        ).fetchone()
    if row is None:
        raise ActOnError(10030, status=status)
    return row


def _ago(ts: int | None) -> str:
    if ts is None:
        return ""
    hours = max(0, int(time.time() - ts / 1000) // 3600)
    return f"{hours // 24} days ago" if hours >= 24 else f"{hours} hours ago"


def report(ctx: Ctx, call: Call) -> Response:
    ident = call.params["id"]
    name, subject, sent_to = _message(ctx, ident, 400)
    with ctx.store.lock:
        stats = {
            verb: (unique, total, last)
            for verb, unique, total, last in ctx.store.conn.execute(
                "SELECT verb, COUNT(DISTINCT contact_id), COUNT(*), MAX(ts_ms) FROM acton_activity "
                "WHERE msg_id = ? GROUP BY verb",
                (ident,),
            )
        }

    def unique(verb: str) -> int:
        return stats.get(verb, (0, 0, None))[0]

    def pair(verb: str) -> list[int]:
        u, t, _ = stats.get(verb, (0, 0, None))
        return [u, t]

    bounced = unique("hb") + unique("sb")
    last_open, last_click = stats.get("os", (0, 0, None))[2], stats.get("r", (0, 0, None))[2]
    return JSONResponse(
        {
            "status": "ok",
            "sent": unique("s"),
            "delivered": unique("s") - bounced,
            "bounced": bounced,
            "hardBounced": unique("hb"),
            "softBounced": unique("sb"),
            "opened": pair("os"),
            "effectiveopened": pair("os"),
            "clicked": pair("r"),
            "notsent": pair("su"),
            "notopened": max(0, unique("s") - bounced - unique("os")),
            "optout": unique("oo"),
            "spam": unique("sp"),
            "lastOpen": _ago(last_open),
            "lastClick": _ago(last_click),
            "lastOpenTS": last_open or 0,
            "lastClickTS": last_click or 0,
            "rebroadcast": 0,
            "rebroadcastClick": 0,
            "msgId": ident,
            "subject": subject,
            "title": name,
            "sentto": [sent_to],
            "suppressedon": [],
        }
    )


def drilldown(ctx: Ctx, call: Call) -> Response:
    ident, verb = call.params["id"], call.params["drilldown"].upper()
    if verb not in DRILLDOWNS:
        raise ActOnError(10089)
    _message(ctx, ident, 404)
    as_csv = call.query.get("responseformat", "JSON").upper() == "CSV"
    count = page_size(ctx, call.query)
    offset = 0 if as_csv else int_param(call.query, "offset", 0)
    verbs = DRILLDOWNS[verb]
    where = f"a.msg_id = ? AND a.verb IN ({','.join('?' * len(verbs))})"
    page = "" if as_csv else f" LIMIT {count} OFFSET {offset}"
    with ctx.store.lock:
        c = ctx.store.conn
        total = c.execute(f"SELECT COUNT(*) FROM acton_activity a WHERE {where}", (ident, *verbs)).fetchone()[
            0
        ]
        # the page first, then its contacts (never deleted, so the join keeps every row): joining every event of
        # a large send before paging costs a sort of the whole send on every page. The order is the index's own
        # (ix_acton_activity_msg_ts_contact, then rowid): any other tie-break sorts each page's run of the send.
        rows = c.execute(
            "SELECT c.email, p.contact_id, p.ts_ms FROM (SELECT a.contact_id, a.ts_ms, a.rowid AS r "
            f"FROM acton_activity a WHERE {where} ORDER BY a.ts_ms, a.contact_id, a.rowid{page}) AS p "
            "JOIN acton_contacts c ON c.id = p.contact_id ORDER BY p.ts_ms, p.contact_id, p.r",
            (ident, *verbs),
        ).fetchall()
    if as_csv:
        return csv_response(["email", "contactId", "timestamp"], [list(r) for r in rows])
    result = [{"email": e, "contactId": cid, "timestamp": ts} for e, cid, ts in rows]
    return JSONResponse({"offset": offset, "count": len(result), "totalCount": total, "result": result})
