"""The Act-On Starlette app: routes, and the wrapper every data call goes through (limits, bearer, body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.acton import consent, contacts_v2, engagement, lists, optouts, records
from sandbox.acton.auth import Auth, RateLimiter
from sandbox.acton.calls import ActOnError, Call, Ctx, gateway_error
from sandbox.acton.tables import ensure_tables
from sandbox.acton.values import ACCOUNT_ID
from sandbox.admin.control import Control

Handler = Callable[[Ctx, Call], Response]
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def account(ctx: Ctx, call: Call) -> Response:
    user = ctx.store.get_meta("acton_credentials")["username"]
    return JSONResponse(
        {
            "account_id": ACCOUNT_ID,
            "cname": "marketing.sandbox.example.com",
            "user_name": "Marketing API",
            "user_email": user,
            "account_name": "Sandbox Marketing",
            "user_type": "Marketing",
            "isAdmin": True,
            "login": user,
            "time_zone": "US/Pacific",
        }
    )


async def _read(request: Request, max_bytes: int) -> Call | Response:
    """Read the whole request (form fields, uploaded files, raw body) so the handler can run in a thread."""
    too_big = gateway_error(413, f"Uploaded file exceeds {max_bytes} bytes")
    if int(request.headers.get("content-length") or 0) > max_bytes:
        return too_big
    call = Call(
        request.method,
        request.url.path,
        dict(request.path_params),
        request.query_params,
        str(request.base_url),
    )
    call.body = await request.body()
    if len(call.body) > max_bytes:
        return too_big
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                call.files[key] = await value.read()
            else:
                call.form[key] = value
        await form.close()
    return call


def _endpoint(
    ctx: Ctx, handler: Handler, auth: Auth | None, limiter: RateLimiter | None
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        if limiter is not None and (refused := limiter.refuse()) is not None:
            return refused
        if auth is not None and not await run_in_threadpool(
            auth.authorised, request.headers.get("authorization")
        ):
            return gateway_error(401)
        call = await _read(request, ctx.control.limits.acton_upload_max_bytes)
        if isinstance(call, Response):
            return call
        try:
            return await run_in_threadpool(handler, ctx, call)
        except ActOnError as e:
            return e.response()

    return run


# (method, path, handler); specific paths before the {listid} patterns they would otherwise match.
DATA_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/api/1/account", account),
    ("GET", "/api/1/list", lists.get_lists),
    ("POST", "/api/1/list", lists.create_list),
    ("GET", "/api/1/list/optout", optouts.suppression_page("optout")),
    ("PUT", "/api/1/list/optout", optouts.upload(consent.opt_out)),
    ("PUT", "/api/1/list/optin", optouts.upload(consent.opt_in)),
    ("GET", "/api/1/list/hardbounce", optouts.suppression_page("hardbounce")),
    ("GET", "/api/1/list/spamcomplaint", optouts.suppression_page("spamcomplaint")),
    ("GET", "/api/1/list/rejectedUploadRecords", lists.rejected_records),
    ("GET", "/api/1/list/lookup/{listid}", records.lookup),
    ("GET", "/api/1/list/{jobid}/status", lists.job_status),
    ("GET", "/api/1/list/{listid}", lists.download_list),
    ("PUT", "/api/1/list/{listid}", lists.merge_list),
    ("DELETE", "/api/1/list/{listid}", lists.delete_list),
    ("POST", "/api/1/list/{listid}/record", records.add_record),
    ("PUT", "/api/1/list/{listid}/record", records.upsert_record),
    ("DELETE", "/api/1/list/{listid}/record", records.delete_records),
    ("GET", "/api/1/list/{listid}/record/{recordid}/facts", records.facts),
    ("GET", "/api/1/list/{listid}/record/{recordid}", records.get_record),
    ("PUT", "/api/1/list/{listid}/record/{recordid}", records.update_record),
    ("DELETE", "/api/1/list/{listid}/record/{recordid}", records.delete_record),
    ("GET", "/api/1/message", engagement.list_messages),
    ("GET", "/api/1/message/{id}/report", engagement.report),
    ("GET", "/api/1/message/{id}/report/{drilldown}", engagement.drilldown),
    ("GET", "/ucl/v2/{accountId}/schema/", contacts_v2.schema),
    ("GET", "/ucl/v2/{accountId}/contact/", contacts_v2.contacts),
]


def create_app(control: Control) -> Starlette:
    ctx = Ctx(control.store, control)
    ensure_tables(ctx.store)
    auth, limiter = Auth(ctx), RateLimiter(ctx)
    routes = [
        Route("/token", _endpoint(ctx, lambda _ctx, call: auth.token(call), None, None), methods=["POST"])
    ]
    routes += [Route(path, _endpoint(ctx, h, auth, limiter), methods=[m]) for m, path, h in DATA_ROUTES]
    return Starlette(routes=routes)
