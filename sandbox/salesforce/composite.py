"""Composite (``POST /composite``): up to 25 subrequests in one request, later ones able to use earlier results
through ``@{referenceId.path}``. Salesforce bills the whole series as one API call, so the middleware counts only
the outer request; subrequests run their handlers directly, as the authenticated user of the outer call."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.routing import Match, Route

from sandbox.salesforce.calls import Call, Handler
from sandbox.salesforce.errors import SfError, json_response

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
_HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same transaction failed.",
    }
]


def _resolve(reference: re.Match[str], results: dict[str, Any]) -> Any:
    ref, path = reference.group(1), reference.group(2)
    if ref not in results:
        raise SfError(400, "INVALID_REFERENCE", f"Invalid reference specified. No value for {ref} found.")
    value = results[ref]
    for field, index in _PATH_STEP.findall(path):
        try:
            value = value[int(index)] if index else value[field]
        except (KeyError, IndexError, TypeError):
            raise SfError(
                400,
                "INVALID_REFERENCE",
                f"Invalid reference specified. No value for {reference.group(0)[2:-1]}",
            ) from None
    return value


def _substitute(text: str, results: dict[str, Any]) -> str:
    return _REFERENCE.sub(lambda m: str(_resolve(m, results)), text)


class Composite:
    def __init__(self, routes: Sequence[tuple[Route, Handler]]):
        self.routes = routes

    def _dispatch(
        self, outer: Call, method: str, url: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any]:
        parts = urlsplit(url)
        scope = {"type": "http", "method": method, "path": parts.path}
        for route, handler in self.routes:
            match, child = route.matches(scope)
            if match is not Match.FULL:
                continue
            params = dict(child["path_params"])
            call = replace(
                outer,
                method=method,
                path=parts.path,
                version=params.pop("version", outer.version),
                params=params,
                query=QueryParams(parts.query),
                headers=Headers({**dict(outer.headers), **{k.lower(): v for k, v in headers.items()}}),
                body=b"" if body is None else json.dumps(body).encode(),
            )
            try:
                response = handler(call)
            except SfError as e:
                return e.status, e.body()
            content = bytes(response.body)
            return response.status_code, json.loads(content) if content else None
        return 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

    def __call__(self, call: Call) -> Response:
        data = call.json()
        subrequests = data.get("compositeRequest") if isinstance(data, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise SfError(
                400, "JSON_PARSER_ERROR", "compositeRequest is required and must be a non-empty list"
            )
        if len(subrequests) > MAX_SUBREQUESTS:
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Limit Exceeded. Maximum number of subrequests allowed is {MAX_SUBREQUESTS}.",
            )
        queries = sum(1 for s in subrequests if "/query" in str(s.get("url", "")))
        if queries > MAX_QUERIES:
            raise SfError(
                400,
                "LIMIT_EXCEEDED",
                f"Limit Exceeded. Maximum number of query subrequests allowed is {MAX_QUERIES}.",
            )
        all_or_none = bool(data.get("allOrNone"))
        results: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        failed = False
        for sub in subrequests:
            ref = str(sub.get("referenceId", ""))
            if failed and all_or_none:
                status, body = 400, _HALTED
            else:
                try:
                    url = _substitute(str(sub["url"]), results)
                    payload = sub.get("body")
                    if payload is not None:
                        payload = json.loads(_substitute(json.dumps(payload), results))
                    status, body = self._dispatch(
                        call,
                        str(sub.get("method", "GET")).upper(),
                        url,
                        payload,
                        sub.get("httpHeaders") or {},
                    )
                except SfError as e:
                    status, body = e.status, e.body()
            failed = failed or status >= 400
            if status < 400:
                results[ref] = body
            out.append({"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref})
        return json_response({"compositeResponse": out})
