"""Act-On OAuth: refresh-token rotation through the token cache; the password grant only as a last resort.

Act-On allows 5 password grants per hour and its refresh tokens are single-use, so a normal run refreshes
(under the cache lock) and only a missing or refused refresh token falls back to the password grant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from ingest.clients.config import ClientConfig, env_field, without_trailing_slash
from ingest.clients.errors import ApiError, AuthError
from ingest.clients.http import json_or_raise
from ingest.clients.redact import RedactingFilter

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

SYSTEM = "acton"
DEFAULT_BASE_URL = "https://api.actonsoftware.com"


@dataclass(frozen=True, repr=False)
class ActOnConfig(ClientConfig):
    env_prefix = "ACTON"
    base_url: str = env_field("ACTON_BASE_URL", DEFAULT_BASE_URL, without_trailing_slash)
    rate_per_s: float = env_field("ACTON_RATE_PER_S", 5.0, float)

    def __repr__(self) -> str:  # the dataclass repr would print the secrets
        return f"ActOnConfig(base_url={self.base_url!r}, username={self.username!r})"

    @property
    def cache_key(self) -> str:
        return f"acton|{self.base_url}|{self.client_id}|{self.username}"


def _token_entry(body: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        **(previous or {}),
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token"),
        "expires_at": time.time() + float(body.get("expires_in") or 3600),
    }


def obtain_token(
    config: ActOnConfig, session: requests.Session, current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Refresh with the cached refresh token; the password grant only when there is none or it is refused."""
    url = f"{config.base_url}/token"
    client = {"client_id": config.client_id, "client_secret": config.client_secret}
    refresh = (current or {}).get("refresh_token")
    if refresh:
        # Not repeated after a lost answer: the server may already have spent the single-use token.
        response = session.post(url, data={"grant_type": "refresh_token", "refresh_token": refresh, **client})
        try:
            return _token_entry(json_or_raise(SYSTEM, response), current)
        except ApiError as e:
            if response.status_code not in (400, 401, 403):
                raise
            log.warning("act-on refresh token refused (%s); falling back to the password grant", e.code)
    if not (config.username and config.password):
        raise AuthError(
            SYSTEM, "POST /token", None, "no_credentials", "no refresh token and no ACTON_USERNAME/PASSWORD"
        )
    response = session.post(
        url,
        data={"grant_type": "password", "username": config.username, "password": config.password, **client},
    )
    try:
        return _token_entry(json_or_raise(SYSTEM, response), current)
    except ApiError as e:
        if isinstance(e, AuthError) or response.status_code not in (400, 401, 403):
            raise
        raise AuthError(SYSTEM, e.call, e.status, e.code, e.message) from None
