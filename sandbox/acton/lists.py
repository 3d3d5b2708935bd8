"""Marketing lists (v1): listing, create, download, merge uploads as asynchronous jobs, delete."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import JSONResponse, Response

from sandbox.acton.calls import ActOnError, Call, Ctx, csv_response, int_param, page_size, time_filter
from sandbox.acton.merge import ListMerger, MergeResult, email_heading, json_form, merge_spec, parse_upload
from sandbox.acton.values import from_ms, list_id, now_ms, record_id

ACCOUNT_TZ = ZoneInfo("America/Los_Angeles")
JOB_ID_BASE = 15_959_700
JOB_EXPIRY_MS = 7 * 86_400_000
# A job reports pending, then running, then its outcome: one step per poll, or all at once after a while.
_JOB_STEPS = ("The job is pending", "The job is running")
_JOB_SETTLES_MS = 30_000


def list_row(ctx: Ctx, ident: str) -> tuple[str, list[dict[str, Any]]]:
    """(name, columns) of a list, or the 10004 error."""
    with ctx.store.lock:
        row = ctx.store.conn.execute(
            "SELECT name, columns FROM acton_lists WHERE id = ?", (ident,)
        ).fetchone()
    if row is None:
        raise ActOnError(10004)
    return row[0], json.loads(row[1])


def _describe(row: tuple, size: int) -> dict[str, Any]:
    ident, name, folder, description, modified = row
    flags = {
        f"bIs{k}": False for k in ("Singleton", "Sforce", "SforceReport", "MSDyn", "Sugar", "SL", "Nsuite")
    }
    flags.update({f"bIs{k}Available": True for k in ("Sforce", "MSDyn", "Sugar", "SL", "Nsuite")})
    return {
        "id": ident,
        "name": name,
        "folderName": folder,
        "sourceId": ident,
        "baseId": ident,
        "description": description,
        "sourceSize": str(size),
        "sourceName": name,
        "tsLastModified": modified,
        "tsLastCounted": modified,
        "tsSource": modified,
        "sourceTS": from_ms(modified).astimezone(ACCOUNT_TZ).strftime("%b %d %Y %-I:%M %p %Z"),
        **flags,
        "bIsList": True,
    }


def get_lists(ctx: Ctx, call: Call) -> Response:
    count = page_size(ctx, call.query)
    offset = int_param(call.query, "offset", 0)
    if call.query.get("listingtype", "CONTACT_LIST").upper() != "CONTACT_LIST":
        return JSONResponse({"offset": offset, "count": 0, "totalCount": 0, "result": []})
    with ctx.store.lock:
        c = ctx.store.conn
        total = c.execute("SELECT COUNT(*) FROM acton_lists").fetchone()[0]
        rows = c.execute(
            "SELECT id, name, folder, description, modified_ms FROM acton_lists ORDER BY n LIMIT ? OFFSET ?",
            (count, offset),
        ).fetchall()
        sizes = dict(
            c.execute(
                "SELECT list_id, COUNT(*) FROM acton_records WHERE list_id IN (SELECT value FROM json_each(?)) "
                "GROUP BY list_id",
                (json.dumps([r[0] for r in rows]),),
            ).fetchall()
        )
    result = [_describe(r, sizes.get(r[0], 0)) for r in rows]
    return JSONResponse({"offset": offset, "count": len(result), "totalCount": total, "result": result})


def _submit_job(ctx: Ctx, call: Call, dst: str, apply: Any) -> Response:
    """Run ``apply(conn) -> MergeResult`` now (unless a bulk_job_failed fault fires); the job reveals it."""
    failed = ctx.control.bulk_job_fails("acton", call.method, call.path)
    with ctx.store.transaction() as c:
        (n,) = c.execute(
            "INSERT INTO acton_jobs (list_id, created_ms, failed, details) VALUES (?, ?, ?, '{}') RETURNING n",
            (dst, now_ms(), int(failed)),
        ).fetchone()
        job = str(JOB_ID_BASE + n)
        details: dict[str, Any] = {"status": "error", "listId": dst, "message": "List upload failed"}
        if not failed:
            result: MergeResult = apply(c)
            details = {
                "status": "ok",
                "listId": dst,
                **{k: v for k, v in vars(result).items() if k != "rejects"},
            }
            if result.rejects:
                filename = f"rejected_{job}.csv"
                out = io.StringIO()
                csv.writer(out, lineterminator="\r\n").writerows(result.rejects)
                c.execute("INSERT INTO acton_rejects VALUES (?, ?, ?)", (filename, out.getvalue(), now_ms()))
                # Act-On's status answer names the file only when rows failed (the filename parameter of
                # rejectedUploadRecords says so) and documents no key for it: this key is the sandbox's own
                details["rejectedRecordsFileName"] = filename
        c.execute("UPDATE acton_jobs SET details = ? WHERE n = ?", (json.dumps(details), n))
    return JSONResponse({"status": "success", "message": "Upload completed", "jobId": job})


def _merge_job(ctx: Ctx, call: Call, dst: str, spec: dict[str, Any]) -> Response:
    upload = parse_upload(call)
    row_errors = ctx.control.row_errors("acton", call.method, call.path, len(upload.rows))
    put_empty = call.form.get("putEmptyValues", "N").upper() == "Y"

    def apply(c: Any) -> MergeResult:
        return ListMerger(c, dst, now_ms()).merge(upload, spec, put_empty, row_errors)

    return _submit_job(ctx, call, dst, apply)


def create_list(ctx: Ctx, call: Call) -> Response:
    name = call.form.get("listname", "").strip()
    if not name:
        raise ActOnError(10004, message="Missing listname")
    specs = json_form(call, "uploadspecs")
    if not isinstance(specs, list):
        raise ActOnError(10010, message="Missing or invalid uploadspecs")
    columns = [
        {"heading": s.get("columnHeading") or f"Column {i + 1}", "type": s.get("columnType") or None}
        for i, s in enumerate(specs)
        if str(s.get("ignoreColumn", "N")).upper() != "Y"
    ]
    if not any((c["type"] or "").upper() == "EMAIL" for c in columns):
        raise ActOnError(10010, message="An EMAIL column is required")
    now = now_ms()
    with ctx.store.transaction() as c:
        (n,) = c.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM acton_lists").fetchone()
        ident = list_id(n)
        c.execute(
            "INSERT INTO acton_lists (n, id, name, folder, description, columns, created_ms, modified_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                n,
                ident,
                name,
                call.form.get("foldername") or "Default Folder",
                "Uploaded Marketing List",
                json.dumps(columns),
                now,
                now,
            ),
        )
    if "file" not in call.files:
        return JSONResponse({"listId": ident, "status": "success", "message": "List created"})
    return _merge_job(ctx, call, ident, {"dst": ident, "mode": "APPEND", "key": "EMAIL", "map": {}})


def merge_list(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    list_row(ctx, ident)
    if "file" not in call.files:
        raise ActOnError(10003)
    spec = merge_spec(call, ident)
    try:
        list_row(ctx, spec["dst"])
    except ActOnError:
        raise ActOnError(10025) from None
    return _merge_job(ctx, call, spec["dst"], spec)


def job_status(ctx: Ctx, call: Call) -> Response:
    raw = call.params["jobid"]
    n = int(raw) - JOB_ID_BASE if raw.isdigit() else -1
    with ctx.store.transaction() as c:
        row = c.execute("SELECT polls, created_ms, details FROM acton_jobs WHERE n = ?", (n,)).fetchone()
        if row is None or now_ms() - row[1] > JOB_EXPIRY_MS:
            raise ActOnError(10017)
        c.execute("UPDATE acton_jobs SET polls = polls + 1 WHERE n = ?", (n,))
    polls, created, details = row
    if polls < len(_JOB_STEPS) and now_ms() - created < _JOB_SETTLES_MS:
        return JSONResponse({"status": _JOB_STEPS[polls]})
    parsed = json.loads(details)
    if parsed["status"] != "ok":
        return JSONResponse({"status": "failed", "message": parsed["message"], "details": parsed})
    return JSONResponse({"status": "success", "jobDetails": details, "details": parsed})


def rejected_records(ctx: Ctx, call: Call) -> Response:
    with ctx.store.lock:
        row = ctx.store.conn.execute(
            "SELECT csv FROM acton_rejects WHERE filename = ?", (call.query.get("filename", ""),)
        ).fetchone()
    if row is None:
        raise ActOnError(10003, message="Rejected records file not found")
    return Response(row[0], media_type="text/csv")


def download_list(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    _, columns = list_row(ctx, ident)
    headings = [c["heading"] for c in columns]
    if fields := call.query.get("fields"):
        by_lower = {h.lower(): h for h in headings}
        wanted = [f.strip() for f in fields.split(";") if f.strip()]
        if any(w.lower() not in by_lower for w in wanted):
            raise ActOnError(10010)
        headings = [by_lower[w.lower()] for w in wanted]
    where, args = time_filter(
        call.query,
        {
            "modafter": "modified_ms >=",
            "modbefore": "modified_ms <",
            "createdafter": "created_ms >=",
            "createdbefore": "created_ms <",
        },
    )
    as_csv = call.query.get("responseformat", "JSON").upper() == "CSV"
    count = page_size(ctx, call.query)
    offset = 0 if as_csv else int_param(call.query, "offset", 0)
    page = "" if as_csv else f" LIMIT {count} OFFSET {offset}"
    dates = call.query.get("datequalifiers", "").lower() == "true"
    with ctx.store.lock:
        c = ctx.store.conn
        total = c.execute(
            f"SELECT COUNT(*) FROM acton_records WHERE list_id = ? AND {where}", [ident, *args]
        ).fetchone()[0]
        rows = c.execute(
            f"SELECT rec, data, created_ms, modified_ms FROM acton_records WHERE list_id = ? AND {where} ORDER BY rec{page}",
            [ident, *args],
        ).fetchall()
    headers = ["_contact_id_", *headings, *(("_created_date_", "_modified_date_") if dates else ())]
    data = []
    for rec, raw, created, modified in rows:
        values = json.loads(raw)
        out = [record_id(ident, rec), *(str(values.get(h) or "") for h in headings)]
        data.append(out + ([str(created), str(modified)] if dates else []))
    if as_csv:
        return csv_response(headers, data)
    email = next((i for i, h in enumerate(headers) if h == email_heading(columns)), -1)
    return JSONResponse(
        {
            "listId": ident,
            "offset": offset,
            "count": len(data),
            "totalCount": total,
            "emailColumn": email,
            "headers": headers,
            "data": data,
        }
    )


def delete_list(ctx: Ctx, call: Call) -> Response:
    ident = call.params["listid"]
    list_row(ctx, ident)
    with ctx.store.transaction() as c:
        c.execute("DELETE FROM acton_records WHERE list_id = ?", (ident,))
        c.execute("DELETE FROM acton_lists WHERE id = ?", (ident,))
    return JSONResponse({"status": "success", "message": "List deleted"})
