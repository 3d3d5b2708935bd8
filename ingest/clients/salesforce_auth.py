"""Salesforce OAuth: which grant the environment asks for, and the token request for each."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests

from ingest.clients.errors import ApiError, AuthError
from ingest.clients.http import json_or_raise

SYSTEM = "salesforce"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "59.0"


@dataclass(frozen=True, repr=False)
class SalesforceConfig:
    login_url: str
    client_id: str
    client_secret: str = ""
    username: str = ""
    password: str = ""
    security_token: str = ""
    jwt_key_file: str = ""
    refresh_token: str = ""
    api_version: str = DEFAULT_API_VERSION
    ca_bundle: str | None = None

    def __repr__(self) -> str:  # the dataclass repr would print the secrets
        return f"SalesforceConfig(login_url={self.login_url!r}, grant={self.grant!r}, username={self.username!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SalesforceConfig:
        env = os.environ if env is None else env
        return cls(
            login_url=(env.get("SALESFORCE_LOGIN_URL") or DEFAULT_LOGIN_URL).rstrip("/"),
            client_id=env.get("SALESFORCE_CLIENT_ID", ""),
            client_secret=env.get("SALESFORCE_CLIENT_SECRET", ""),
            username=env.get("SALESFORCE_USERNAME", ""),
            password=env.get("SALESFORCE_PASSWORD", ""),
            security_token=env.get("SALESFORCE_SECURITY_TOKEN", ""),
            jwt_key_file=env.get("SALESFORCE_JWT_KEY_FILE", ""),
            refresh_token=env.get("SALESFORCE_REFRESH_TOKEN", ""),
            api_version=env.get("SALESFORCE_API_VERSION") or DEFAULT_API_VERSION,
            ca_bundle=env.get("REQUESTS_CA_BUNDLE") or None,
        )

    @property
    def grant(self) -> str:
        """The grant the set variables call for: JWT, then password, then refresh token, then client credentials."""
        if self.jwt_key_file and self.username:
            return "jwt"
        if self.username and self.password:
            return "password"
        if self.refresh_token:
            return "refresh_token"
        if self.client_id and self.client_secret:
            return "client_credentials"
        raise AuthError(SYSTEM, "configuration", None, "no_credentials", "set SALESFORCE_* credentials")

    @property
    def cache_key(self) -> str:
        return f"salesforce|{self.login_url}|{self.client_id}|{self.username}"


def _grant_body(config: SalesforceConfig, grant: str, refresh_token: str | None) -> dict[str, str]:
    if grant == "refresh_token":
        return {
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": refresh_token or config.refresh_token,
        }
    if grant == "password":
        return {
            "grant_type": "password",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": config.password + config.security_token,
        }
    if grant == "jwt":
        claims = {
            "iss": config.client_id,
            "sub": config.username,
            "aud": config.login_url,
            "exp": int(time.time()) + 180,
        }
        key = Path(config.jwt_key_file).expanduser().read_text()
        return {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode(claims, key, algorithm="RS256"),
        }
    return {
        "grant_type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }


def obtain_token(
    config: SalesforceConfig, session: requests.Session, current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A new token entry; a cached refresh token is used first, the configured grant if it is refused."""
    refresh = (current or {}).get("refresh_token")
    grants = (["refresh_token"] if refresh else []) + [config.grant]
    last_error: AuthError | None = None
    for grant in dict.fromkeys(grants):
        response = session.post(
            f"{config.login_url}/services/oauth2/token",
            data=_grant_body(config, grant, refresh),
            # a refresh token may rotate; the other grants are safe to repeat after a lost answer
            idempotent=grant != "refresh_token",
        )
        try:
            body = json_or_raise(SYSTEM, response)
        except AuthError as e:
            last_error = e
            continue
        except ApiError as e:
            if response.status_code in (400, 401, 403):
                raise AuthError(SYSTEM, e.call, e.status, e.code, e.message) from None
            raise
        return {
            "access_token": body["access_token"],
            "instance_url": body["instance_url"].rstrip("/"),
            "refresh_token": body.get("refresh_token") or refresh,
            "issued_at": body.get("issued_at"),
            "grant": grant,
        }
    assert last_error is not None
    raise last_error
