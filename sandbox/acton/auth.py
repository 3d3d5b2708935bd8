"""OAuth token endpoint, bearer checks and Act-On's own call limits (5/s, 30,000/day, 5 password grants/hour)."""

from __future__ import annotations

import math
import secrets
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta

from starlette.responses import JSONResponse, Response

from sandbox.acton.calls import Call, Ctx, gateway_error

REFRESH_LIFETIME_S = 30 * 86400
_BAD_CLIENT = ({"error": "access_denied", "error_description": "Unauthorized"}, 401)
_BAD_USER = ({"error": "invalid_grant", "error_description": "Wrong email or password."}, 403)
_BAD_REFRESH = ({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}, 403)


def _json(pair: tuple[dict, int]) -> Response:
    return JSONResponse(pair[0], status_code=pair[1])


def credentials(ctx: Ctx) -> dict[str, str]:
    """The account's API credentials, created with random secrets the first time the sandbox starts."""
    creds = ctx.store.get_meta("acton_credentials")
    if creds is None:
        creds = {
            "client_id": f"sbx-acton-{secrets.token_hex(8)}",
            "client_secret": secrets.token_urlsafe(24),
            "username": "marketing-api@sandbox.example.com",
            "password": secrets.token_urlsafe(18),
        }
        ctx.store.set_meta("acton_credentials", creds)
    return creds


class Auth:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.creds = credentials(ctx)
        self._lock = threading.Lock()
        self._password_grants: dict[str, deque[float]] = {}
        ctx.control.register_expirer("acton", self.expire_access_tokens)

    def token(self, call: Call) -> Response:
        form = call.form
        if (form.get("client_id"), form.get("client_secret")) != (
            self.creds["client_id"],
            self.creds["client_secret"],
        ):
            return _json(_BAD_CLIENT)
        grant = form.get("grant_type") or call.query.get("grant_type")
        if grant == "password":
            username = form.get("username", "")
            if (retry := self._spend_password_grant(username)) is not None:
                return gateway_error(
                    429, "Password authentication limit exceeded", {"Retry-After": str(retry)}
                )
            if (username, form.get("password")) != (self.creds["username"], self.creds["password"]):
                return _json(_BAD_USER)
            return self._issue(username)
        if grant == "refresh_token":
            with self.ctx.store.lock:
                row = self.ctx.store.conn.execute(
                    "SELECT username FROM acton_tokens WHERE token = ? AND kind = 'refresh' AND revoked = 0 "
                    "AND expires > ?",
                    (form.get("refresh_token", ""), time.time()),
                ).fetchone()
            return _json(_BAD_REFRESH) if row is None else self._issue(row[0])
        return JSONResponse(
            {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}, 400
        )

    def _spend_password_grant(self, username: str) -> int | None:
        """Count a password attempt; when over the hourly limit, the seconds until one is free again."""
        now = time.monotonic()
        with self._lock:
            recent = self._password_grants.setdefault(username, deque())
            while recent and recent[0] <= now - 3600:
                recent.popleft()
            if len(recent) >= self.ctx.control.limits.acton_password_grants_per_hour:
                return math.ceil(recent[0] + 3600 - now) if recent else 3600
            recent.append(now)
        return None

    def _issue(self, username: str) -> Response:
        lifetime = self.ctx.control.limits.acton_token_lifetime_s
        access, refresh, now = str(uuid.uuid4()), str(uuid.uuid4()), time.time()
        with self.ctx.store.transaction() as c:
            # A newer token kills every earlier refresh token of the user (and spends the one just used).
            c.execute(
                "UPDATE acton_tokens SET revoked = 1 WHERE kind = 'refresh' AND username = ?", (username,)
            )
            c.execute("DELETE FROM acton_tokens WHERE expires < ?", (now - 86400,))
            c.executemany(
                "INSERT INTO acton_tokens (token, kind, username, expires) VALUES (?, ?, ?, ?)",
                [
                    (access, "access", username, now + lifetime),
                    (refresh, "refresh", username, now + REFRESH_LIFETIME_S),
                ],
            )
        body = {
            "access_token": access,
            "refresh_token": refresh,
            "scope": "offline-access",
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def authorised(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self.ctx.store.lock:
            row = self.ctx.store.conn.execute(
                "SELECT 1 FROM acton_tokens WHERE token = ? AND kind = 'access' AND revoked = 0 AND expires > ?",
                (token.strip(), time.time()),
            ).fetchone()
        return row is not None

    def expire_access_tokens(self) -> None:
        """The expire_session fault: every access token stops working; refresh tokens still do."""
        with self.ctx.store.lock:
            self.ctx.store.conn.execute("UPDATE acton_tokens SET revoked = 1 WHERE kind = 'access'")


class RateLimiter:
    """Act-On's per-account limits: a token bucket of acton_rate_per_s calls per second, and the daily cap."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._last = time.monotonic()

    def refuse(self) -> Response | None:
        limits = self.ctx.control.limits
        if self.ctx.control.calls_today("acton") > limits.acton_daily_max:
            now = datetime.now(UTC)
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
            return self._too_many(math.ceil((midnight - now).total_seconds()))
        rate = limits.acton_rate_per_s
        with self._lock:
            now_m = time.monotonic()
            capacity = max(1.0, rate)
            tokens = capacity if self._tokens is None else self._tokens + (now_m - self._last) * rate
            self._tokens, self._last = min(capacity, tokens), now_m
            if self._tokens < 1:
                return self._too_many(math.ceil((1 - self._tokens) / rate))
            self._tokens -= 1
        return None

    @staticmethod
    def _too_many(retry_after: int) -> Response:
        return gateway_error(429, "Rate Limit exceeded", {"Retry-After": str(max(1, retry_after))})
