"""What every Act-On endpoint shares: the parsed request, the error bodies, paging and time parameters."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response

from sandbox.admin.control import Control
from sandbox.store import Store

# Act-On's documented /api/1 error codes and their messages (reference/acton-api.md and the OpenAPI examples).
ERRORS = {
    10003: "Input file missing",
    10004: "Invalid or missing list",
    10008: "Invalid contact",
    10010: "Invalid Column Specified",
    10017: "Invalid or expired Job Id",
    10025: "Invalid or missing merge destination list",
    10030: "Invalid or deleted message",
    10088: "At least one specified merge column is missing from the uploaded file",
    10089: "Invalid drill-down verb",
    10160: "Invalid date period",
}
_GATEWAY = {401: "Unauthorized", 413: "Payload Too Large", 429: "Too Many Requests"}


class ActOnError(Exception):
    """An /api/1 error: ``{"errorCode": code, "message": ...}``; 10010 is documented with a string code."""

    def __init__(self, code: int, status: int = 400, message: str | None = None):
        super().__init__(message or ERRORS[code])
        self.code, self.status = code, status

    def response(self) -> Response:
        code: int | str = str(self.code) if self.code == 10010 else self.code
        return JSONResponse({"errorCode": code, "message": str(self)}, status_code=self.status)


def gateway_error(status: int, more: str = "", headers: dict[str, str] | None = None) -> Response:
    """The API gateway's body, used for authentication and limits."""
    body = {"httpCode": str(status), "httpMessage": _GATEWAY[status], "moreInformation": more}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Ctx:
    store: Store
    control: Control


@dataclass
class Call:
    """A request read in full, so that handlers are plain functions run in the threadpool."""

    method: str
    path: str
    params: dict[str, str]
    query: QueryParams
    base_url: str
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    body: bytes = b""

    def json_body(self) -> Any:
        """The JSON payload of a record call: the raw body, or a readme-style RAW_BODY form field."""
        raw = self.form.get("RAW_BODY") or self.body.decode("utf-8", "replace")
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ActOnError(10010, message="Invalid JSON body") from None


def int_param(query: QueryParams, name: str, default: int, maximum: int | None = None) -> int:
    try:
        value = max(0, int(query.get(name, default)))
    except ValueError:
        value = default
    return min(value, maximum) if maximum is not None else value


def page_size(ctx: Ctx, query: QueryParams, name: str = "count", default: int | None = None) -> int:
    """The rows a paged read returns: what ``name`` asks for (else ``default``, else the most), capped by the
    live ``acton_page_max`` limit, so a test can make Act-On answer fewer rows than a client asked for."""
    cap = ctx.control.limits.acton_page_max
    return int_param(query, name, cap if default is None else default, cap)


def time_filter(query: QueryParams, names: dict[str, str]) -> tuple[str, list[int]]:
    """SQL conditions for time parameters given as integers; names maps parameter to ``"col >="``/``"col <"``."""
    conds, args = [], []
    for name, cond in names.items():
        raw = query.get(name)
        if raw in (None, ""):
            continue
        try:
            args.append(int(raw))
        except ValueError:
            raise ActOnError(10160) from None
        conds.append(f"{cond} ?")
    return (" AND ".join(conds) or "1"), args


def csv_response(headers: list[str], rows: list[list[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv")
