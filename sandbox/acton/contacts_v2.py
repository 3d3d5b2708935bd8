"""v2 unified contacts ("Act-On Contacts"): the schema and the paged contact listing with the score."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from sandbox.acton.calls import Call, Ctx, int_param, page_size, time_filter
from sandbox.acton.values import ACCOUNT_ID

SCORE_FIELD = "Act-On Primary Score"
# (field name, type, standardFieldMapping, acton_contacts column); ids and indexes as in Act-On's example.
FIELDS = (
    (SCORE_FIELD, "SCORE", "ACTON_PRIMARY_SCORE", "score", 1116, 6),
    ("First Name", "TEXT", "FIRST_NAME", "first_name", 1117, 7),
    ("Last Name", "TEXT", "LAST_NAME", "last_name", 1118, 8),
    ("Company", "TEXT", "COMPANY", "company", 1119, 9),
    ("Email", "EMAIL", "EMAIL", "email", 1121, 11),
    ("Title", "TEXT", "TITLE", "title", 1122, 12),
    ("Lead Source", "TEXT", "LEAD_SOURCE", "lead_source", 10795, 96),
)
DEFAULT_PAGE_SIZE = 50


def _wrong_account(call: Call) -> Response | None:
    if call.params["accountId"] != str(ACCOUNT_ID):
        return JSONResponse(
            {"message": "Access denied for account " + call.params["accountId"]}, status_code=403
        )
    return None


def schema(ctx: Ctx, call: Call) -> Response:
    if refused := _wrong_account(call):
        return refused
    columns = [
        {
            "fieldId": field_id,
            "columnIndex": index,
            "name": name,
            "type": ftype,
            "standardFieldMapping": mapping,
            "required": name in (SCORE_FIELD, "Email"),
            "readonly": name == SCORE_FIELD,
            "hidden": False,
        }
        for name, ftype, mapping, _, field_id, index in FIELDS
    ]
    return JSONResponse({"accountId": str(ACCOUNT_ID), "columns": columns})


def contacts(ctx: Ctx, call: Call) -> Response:
    if refused := _wrong_account(call):
        return refused
    page = int_param(call.query, "page", 0)
    size = max(1, page_size(ctx, call.query, "pageSize", DEFAULT_PAGE_SIZE))
    # v2 time filters are Unix seconds (v1's are milliseconds).
    where, args = time_filter(
        call.query,
        {
            "updatedAfter": "updated_at >=",
            "updatedBefore": "updated_at <",
            "createdAfter": "created_at >=",
            "createdBefore": "created_at <",
        },
    )
    columns = ", ".join(col for *_, col, _, _ in FIELDS)
    with ctx.store.lock:
        c = ctx.store.conn
        total = c.execute(f"SELECT COUNT(*) FROM acton_contacts WHERE {where}", args).fetchone()[0]
        rows = c.execute(
            f"SELECT id, {columns}, created_at, updated_at FROM acton_contacts WHERE {where} "
            "ORDER BY rowid LIMIT ? OFFSET ?",
            [*args, size, page * size],
        ).fetchall()
    out = []
    for ident, *values, created, updated in rows:
        fields = {f[0]: v for f, v in zip(FIELDS, values, strict=True)}
        out.append(
            {
                "id": ident,
                "email": fields["Email"],
                "fields": fields,
                "updatedAt": updated,
                "createdAt": created,
            }
        )
    return JSONResponse({"page": page, "pageSize": size, "totalCount": total, "contacts": out})
