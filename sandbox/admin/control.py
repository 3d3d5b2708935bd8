"""What both sandbox servers share: call statistics, fault rules, limits, and the admin API under /__sandbox/.

`Control.middleware(system, app)` wraps a system's Starlette app: it counts API calls by route template and
injects the faults that act on the transport (status, reset, delay, expire_session, body) or change the world
before the call is served (mutate). Faults that act on rows (`row_error`, `bulk_job_failed`) are asked for by the
apps through `row_errors` and `bulk_job_fails`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.admin.mutate import apply_ops, check_names
from sandbox.store import Store
from sandbox.world import simulate as run_simulation

System = Literal["salesforce", "acton"]
ADMIN_PREFIX = "/__sandbox"
# Calls that are not API usage in either system's daily count (authentication, version discovery).
_UNMETERED = ("/services/oauth2/", "/token")


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    salesforce_daily_api_max: int = 100_000
    salesforce_token_lifetime_s: int = 7200
    acton_rate_per_s: float = 5.0
    acton_daily_max: int = 30_000
    acton_password_grants_per_hour: int = 5
    acton_upload_max_bytes: int = 400 * 2**20
    acton_token_lifetime_s: int = 3600
    # Act-On's paged reads return at most 1000 rows; lower, a client meets pages shorter than it asked for.
    acton_page_max: int = Field(default=1000, ge=1)


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = "*"
    path: str = "*"
    kind: Literal[
        "status", "reset", "delay", "expire_session", "row_error", "bulk_job_failed", "body", "mutate"
    ]
    status: int | None = None
    body: Any = None
    content_type: str = "application/json"
    ops: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    fraction: float = 0.1
    probability: float | None = None
    every: int | None = Field(default=None, ge=1)
    times: int | None = Field(default=None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _kind_has_what_it_needs(self) -> FaultRule:
        if self.kind == "body" and self.body is None:
            raise ValueError("a body fault needs a body")
        if self.kind == "mutate":
            if not self.ops:
                raise ValueError("a mutate fault needs ops")
            check_names(self.ops)
        return self


class _ArmedRule:
    """A rule with its own match counter and seeded generator, so a fault sequence is repeatable."""

    def __init__(self, rule: FaultRule):
        self.rule = rule
        self.rng = random.Random(rule.seed)
        self.matched = 0
        self.fired = 0

    def matches(self, method: str, path: str) -> bool:
        r = self.rule
        return (r.method == "*" or r.method.upper() == method) and fnmatch.fnmatchcase(path, r.path)

    def fire(self) -> bool:
        """Called for a matching call: does the fault happen this time?"""
        r = self.rule
        if r.times is not None and self.fired >= r.times:
            return False
        self.matched += 1
        if r.every is not None:
            hit = self.matched % r.every == 0
        else:
            hit = self.rng.random() < (1.0 if r.probability is None else r.probability)
        self.fired += hit
        return hit


def _status_body(system: str, status: int) -> tuple[bytes, str]:
    if system == "salesforce":
        codes = {
            403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            429: ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
            500: (
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1887302941-12345 (-1234567)",
            ),
            503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable"),
        }
        code, msg = codes.get(status, ("UNKNOWN_EXCEPTION", "Unexpected error"))
        return json.dumps([{"message": msg, "errorCode": code}]).encode(), "application/json;charset=UTF-8"
    reasons = {
        429: ("Too Many Requests", "Rate Limit exceeded"),
        500: ("Internal Server Error", ""),
        503: ("Service Unavailable", ""),
    }
    reason, more = reasons.get(status, ("Error", ""))
    body = {"httpCode": str(status), "httpMessage": reason, "moreInformation": more}
    return json.dumps(body).encode(), "application/json"


def _fault_body(rule: FaultRule) -> Response:
    """A body fault's answer: a string is sent as it is under a type other than JSON, anything else as JSON."""
    as_text = isinstance(rule.body, str) and "json" not in rule.content_type
    raw = rule.body if as_text else json.dumps(rule.body)
    return Response(raw, status_code=rule.status or 200, media_type=rule.content_type)


def route_template(app: Starlette, scope: Scope) -> str | None:
    """The matched route's path template, e.g. ``/services/data/v{version}/query``."""
    routes = app.router.routes
    prefix = ""
    while True:
        for route in routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                if isinstance(route, Mount):
                    prefix += route.path
                    scope = {**scope, **child}
                    routes = route.routes
                    break
                if isinstance(route, Route):
                    return prefix + route.path
        else:
            return None


class Control:
    def __init__(self, store: Store, data_dir: Path):
        self.store = store
        self.data_dir = data_dir
        self.limits = Limits(**store.get_meta("limits", {}))
        self._lock = threading.Lock()
        self._rules: dict[str, list[_ArmedRule]] = {"salesforce": [], "acton": []}
        self._stats: dict[str, Counter[str]] = {"salesforce": Counter(), "acton": Counter()}
        self._daily: dict[str, int] = store.get_meta("calls_today", {})
        self._expirers: dict[str, Callable[[], None]] = {}
        # Simulated hours are numbered; two at once would reuse an hour's seed.
        self._simulate_lock = threading.Lock()
        if store.get_meta("admin_token") is None:
            store.set_meta("admin_token", f"sbx_{random.SystemRandom().getrandbits(128):032x}")
        self.admin_token: str = store.get_meta("admin_token")

    # -- what the apps call -------------------------------------------------------------------------
    def register_expirer(self, system: str, fn: Callable[[], None]) -> None:
        self._expirers[system] = fn

    def calls_today(self, system: str) -> int:
        with self._lock:
            return self._daily.get(f"{system}:{datetime.now(UTC).date()}", 0)

    def count_call(self, system: str, key: str, path: str) -> None:
        metered = not path.startswith(_UNMETERED) and path != "/services/data/"
        with self._lock:
            self._stats[system][key] += 1
            if not metered:
                return
            today = str(datetime.now(UTC).date())
            day_key = f"{system}:{today}"
            # Only today's counts are kept: a new UTC day starts every system's budget afresh.
            self._daily = {k: v for k, v in self._daily.items() if k.endswith(today)}
            self._daily[day_key] = self._daily.get(day_key, 0) + 1
            snapshot = dict(self._daily)
        self.store.set_meta("calls_today", snapshot)

    def _firing(self, system: str, kinds: tuple[str, ...], method: str, path: str) -> list[FaultRule]:
        with self._lock:
            return [
                a.rule
                for a in self._rules[system]
                if a.rule.kind in kinds and a.matches(method, path) and a.fire()
            ]

    def row_errors(self, system: str, method: str, path: str, n: int) -> dict[int, str]:
        """Rows of an n-row write that a matching ``row_error`` rule fails: {row index: error code}."""
        out: dict[int, str] = {}
        with self._lock:
            for a in self._rules[system]:
                r = a.rule
                if r.kind == "row_error" and a.matches(method, path) and a.fire():
                    for i in range(n):
                        if a.rng.random() < r.fraction:
                            out.setdefault(i, r.error or "UNABLE_TO_LOCK_ROW")
        return out

    def bulk_job_fails(self, system: str, method: str, path: str) -> bool:
        return bool(self._firing(system, ("bulk_job_failed",), method, path))

    # -- the transport middleware ---------------------------------------------------------------------
    def middleware(self, system: System, app: Starlette, admin: Starlette) -> ASGIApp:
        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            path: str = scope["path"]
            if path.startswith(ADMIN_PREFIX + "/") or path == ADMIN_PREFIX:
                await admin(scope, receive, send)
                return
            method: str = scope["method"]
            template = route_template(app, scope) or path
            self.count_call(system, f"{method} {template.replace('v{version}', 'vXX.X')}", path)
            kinds = ("status", "reset", "delay", "expire_session", "body", "mutate")
            for rule in self._firing(system, kinds, method, path):
                if rule.kind == "delay":
                    await asyncio.sleep(rule.seconds)
                elif rule.kind == "expire_session" and system in self._expirers:
                    await asyncio.to_thread(self._expirers[system])
                elif rule.kind == "mutate" and (failed := await self._mutate(rule)) is not None:
                    await failed(scope, receive, send)
                    return
                elif rule.kind == "body":
                    await _fault_body(rule)(scope, receive, send)
                    return
                elif rule.kind == "status":
                    body, ctype = _status_body(system, rule.status or 503)
                    headers = {"Retry-After": "1"} if rule.status == 429 else None
                    await Response(body, status_code=rule.status or 503, media_type=ctype, headers=headers)(
                        scope, receive, send
                    )
                    return
                elif rule.kind == "reset":
                    await app(scope, receive, _cut_after_half(send))
                    return
            await app(scope, receive, send)

        return asgi

    async def _mutate(self, rule: FaultRule) -> Response | None:
        """Apply a mutate fault's ops before the call is served; an error answer when one no longer applies
        (its record deleted since the rule was set, say), so the test sees why rather than a bare 500."""
        try:
            await asyncio.to_thread(apply_ops, self.store, rule.ops)
        except (ValueError, KeyError, TypeError) as e:
            return JSONResponse({"error": f"sandbox mutate fault: {e}"}, status_code=500)
        return None

    # -- the admin API ------------------------------------------------------------------------------
    def admin_app(self, system: System) -> Starlette:
        def authorised(request: Request) -> bool:
            return request.headers.get("authorization", "") == f"Bearer {self.admin_token}"

        def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> Response:
                if not authorised(request):
                    return JSONResponse({"error": "admin bearer token required"}, status_code=401)
                try:
                    return await handler(request)
                except (ValidationError, ValueError, KeyError, TypeError) as e:
                    return JSONResponse({"error": str(e)}, status_code=400)

            return endpoint

        async def stats(request: Request) -> Response:
            with self._lock:
                if request.method == "DELETE":
                    self._stats[system].clear()
                by = dict(sorted(self._stats[system].items()))
            return JSONResponse({"calls": {"total": sum(by.values()), "by_endpoint": by}})

        async def faults(request: Request) -> Response:
            with self._lock:
                if request.method == "POST":
                    body = await request.json()
                    rules = [_ArmedRule(FaultRule(**r)) for r in body.get("rules", [])]
                    self._rules[system].extend(rules)
                elif request.method == "DELETE":
                    self._rules[system].clear()
                listed = [{**a.rule.model_dump(), "fired": a.fired} for a in self._rules[system]]
            return JSONResponse({"rules": listed})

        async def limits(request: Request) -> Response:
            if request.method == "POST":
                self.limits = Limits(**{**self.limits.model_dump(), **await request.json()})
                self.store.set_meta("limits", self.limits.model_dump())
            return JSONResponse(self.limits.model_dump())

        async def simulate(request: Request) -> Response:
            body = await request.json()
            hours = int(body.get("hours", 1))
            churn = body.get("churn")
            kwargs = {"churn": float(churn)} if churn is not None else {}

            def run() -> dict:
                with self._simulate_lock:
                    return run_simulation(self.store, hours, **kwargs)

            result = await asyncio.to_thread(run)
            return JSONResponse({"hours": hours, "changes": result})

        async def mutate(request: Request) -> Response:
            body = await request.json()
            applied = await asyncio.to_thread(apply_ops, self.store, body.get("ops", []))
            return JSONResponse({"applied": applied})

        return Starlette(
            routes=[
                Route(f"{ADMIN_PREFIX}/stats", guarded(stats), methods=["GET", "DELETE"]),
                Route(f"{ADMIN_PREFIX}/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
                Route(f"{ADMIN_PREFIX}/limits", guarded(limits), methods=["GET", "POST"]),
                Route(f"{ADMIN_PREFIX}/simulate", guarded(simulate), methods=["POST"]),
                Route(f"{ADMIN_PREFIX}/mutate", guarded(mutate), methods=["POST"]),
            ]
        )


class _ConnectionCut(Exception):
    """Raised inside the ASGI send chain so the server drops the connection mid-body."""


def _cut_after_half(send: Send) -> Send:
    """Let the response start, deliver half of its first body chunk, then drop the connection."""

    async def cutting(message: dict) -> None:
        if message["type"] == "http.response.start":
            await send(message)
        elif message["type"] == "http.response.body":
            body: bytes = message.get("body", b"")
            await send(
                {"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True}
            )
            raise _ConnectionCut("sandbox fault: connection reset mid-body")

    return cutting
