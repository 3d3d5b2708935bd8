"""What every authenticated Salesforce API endpoint shares: bearer check, the daily request limit, the
``Sforce-Limit-Info`` header, error bodies, and running the handler off the event loop."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response

from sandbox.admin.control import Control
from sandbox.salesforce.auth import Auth
from sandbox.salesforce.errors import SfError
from sandbox.store import Store


@dataclass
class Call:
    """One API request, read in full, handed to a handler running in the threadpool."""

    method: str
    path: str
    version: str
    params: dict[str, str]
    query: QueryParams
    headers: Headers
    body: bytes
    user_id: str

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character: {e}") from None

    def prefix(self) -> str:
        return f"/services/data/v{self.version}"


Handler = Callable[[Call], Response]


class Api:
    def __init__(self, control: Control, auth: Auth):
        self.control = control
        self.auth = auth
        self.store: Store = control.store

    def usage_header(self) -> dict[str, str]:
        used, cap = self.control.calls_today("salesforce"), self.control.limits.salesforce_daily_api_max
        return {"Sforce-Limit-Info": f"api-usage={used}/{cap}"}

    def _run(self, request: Request, body: bytes, handler: Handler) -> Response:
        try:
            user_id = self.auth.check(request.headers.get("authorization"))
            # The middleware has already counted this call: the cap-th call is the last one served.
            if self.control.calls_today("salesforce") > self.control.limits.salesforce_daily_api_max:
                raise SfError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            params = dict(request.path_params)
            call = Call(
                method=request.method,
                path=request.url.path,
                version=params.pop("version", "59.0"),
                params=params,
                query=request.query_params,
                headers=request.headers,
                body=body,
                user_id=user_id,
            )
            response = handler(call)
        except SfError as e:
            response = e.response()
        response.headers.update(self.usage_header())
        return response

    def endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            body = await request.body()
            return await run_in_threadpool(self._run, request, body, handler)

        return run
