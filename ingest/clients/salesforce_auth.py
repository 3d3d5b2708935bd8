"""Salesforce OAuth: which grant the environment asks for, and the token request for each."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests

from ingest.clients import answers
from ingest.clients.config import ClientConfig, env_field, without_trailing_slash
from ingest.clients.errors import ApiError, AuthError
from ingest.clients.http import json_or_raise

SYSTEM = "salesforce"
PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL = "https://login.salesforce.com", "https://test.salesforce.com"
DEFAULT_LOGIN_URL = PRODUCTION_LOGIN_URL
DEFAULT_API_VERSION = "59.0"
_API_VERSION = re.compile(r"[1-9][0-9]*\.0")
TOKEN_CALL = "POST oauth2/token"
# the identity URL of a token answer: <login host>/id/<18-character org Id>/<18-character user Id>
_IDENTITY = re.compile(
    r"/id/(00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)/(005[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)/?$"
)
_FLOWS = (
    "set SALESFORCE_CLIENT_ID (the connected app's consumer key) and one login flow's variables: "
    "SALESFORCE_JWT_KEY_FILE + SALESFORCE_USERNAME (JWT bearer), SALESFORCE_USERNAME + SALESFORCE_PASSWORD + "
    "SALESFORCE_CLIENT_SECRET (password), SALESFORCE_REFRESH_TOKEN (refresh token) or SALESFORCE_CLIENT_SECRET "
    "alone (client credentials)"
)


def _config_error(code: str, message: str) -> AuthError:
    return AuthError(SYSTEM, "configuration", None, code, message)


def _api_version(version: str) -> str:
    if not _API_VERSION.fullmatch(version):
        raise _config_error(
            "bad_api_version",
            f"SALESFORCE_API_VERSION={version!r} is not an API version: set it as the org's "
            f"/services/data/ lists them, e.g. {DEFAULT_API_VERSION} (no leading v), or leave it unset",
        )
    return version


@dataclass(frozen=True, repr=False)
class SalesforceConfig(ClientConfig):
    env_prefix = "SALESFORCE"
    login_url: str = env_field("SALESFORCE_LOGIN_URL", DEFAULT_LOGIN_URL, without_trailing_slash)
    security_token: str = env_field("SALESFORCE_SECURITY_TOKEN")
    jwt_key_file: str = env_field("SALESFORCE_JWT_KEY_FILE")
    refresh_token: str = env_field("SALESFORCE_REFRESH_TOKEN")
    jwt_audience: str = env_field("SALESFORCE_JWT_AUDIENCE", parse=without_trailing_slash)
    api_version: str = env_field("SALESFORCE_API_VERSION", DEFAULT_API_VERSION, _api_version)

    def __repr__(self) -> str:  # the dataclass repr would print the secrets
        try:
            grant = self.grant
        except AuthError as e:
            grant = f"none ({e.code})"
        return f"SalesforceConfig(login_url={self.login_url!r}, grant={grant!r}, username={self.username!r})"

    @property
    def grant(self) -> str:
        """The grant the set variables call for: JWT, then password, then refresh token, then client credentials."""
        if not self.client_id:
            raise _config_error("no_client_id", f"SALESFORCE_CLIENT_ID is not set: {_FLOWS}")
        if self.jwt_key_file and self.username:
            return "jwt"
        if self.username and self.password:
            return "password"
        if self.refresh_token:
            return "refresh_token"
        if self.client_secret:
            if self.login_url in (PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL):
                # Salesforce answers invalid_grant "request not supported on this domain"
                raise _config_error(
                    "my_domain_required",
                    f"the client credentials flow is served only on the org's My Domain, not {self.login_url}: "
                    "set SALESFORCE_LOGIN_URL to it (https://<MyDomain>.my.salesforce.com, or "
                    "https://<MyDomain>--<sandbox>.sandbox.my.salesforce.com for a sandbox)",
                )
            return "client_credentials"
        raise _config_error("no_credentials", _FLOWS)

    @property
    def audience(self) -> str:
        """The JWT's ``aud``: the URL the assertion is posted to — https://login.salesforce.com for production,
        https://test.salesforce.com for a sandbox, the My Domain URL when logging in through it, which Salesforce
        accepts too — unless SALESFORCE_JWT_AUDIENCE names another (the public URL of the org's kind, for a
        My Domain login that the org does not take as audience)."""
        return self.jwt_audience or self.login_url

    @property
    def cache_key(self) -> str:
        # one entry per flow: a token of another flow may act as another user (client credentials' run-as user)
        return f"salesforce|{self.login_url}|{self.client_id}|{self.grant}|{self.username}"


def identity_user_id(identity: str) -> str:
    """The Id of the user a token acts as: the last segment of its identity URL (``.../id/<orgId>/<userId>``)."""
    match = _IDENTITY.search(identity)
    if match is None:
        raise answers.UnexpectedAnswer(
            SYSTEM, TOKEN_CALL, f"'id' is not an identity URL /id/<orgId>/<userId>: {identity!r}"
        )
    return match.group(2)


def _grant_body(config: SalesforceConfig, grant: str, refresh_token: str | None) -> dict[str, str]:
    if grant == "refresh_token":
        body = {
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "refresh_token": refresh_token or config.refresh_token,
        }
        # a connected app may not require the secret for refreshes; one that is sent must be right
        return {**body, "client_secret": config.client_secret} if config.client_secret else body
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
            "aud": config.audience,
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


def _with_remedy(config: SalesforceConfig, grant: str, error: AuthError) -> AuthError:
    """Salesforce's refusal, with what to change when its reason is a setting of ours."""
    if grant == "jwt" and "audience" in error.message:
        return AuthError(
            SYSTEM,
            error.call,
            error.status,
            error.code,
            f"{error.message}: the org does not accept {config.audience} as the JWT audience; set "
            f"SALESFORCE_JWT_AUDIENCE to {SANDBOX_LOGIN_URL} for a sandbox org, {PRODUCTION_LOGIN_URL} for "
            "production, or the org's My Domain URL",
        )
    return error


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
            last_error = _with_remedy(config, grant, e)
            continue
        except ApiError as e:
            if response.status_code in (400, 401, 403):
                raise AuthError(SYSTEM, e.call, e.status, e.code, e.message) from None
            raise
        return {
            "access_token": answers.required(body, SYSTEM, TOKEN_CALL, "access_token", str),
            "instance_url": answers.required(body, SYSTEM, TOKEN_CALL, "instance_url", str).rstrip("/"),
            "refresh_token": body.get("refresh_token") or refresh,
            "issued_at": body.get("issued_at"),
            "grant": grant,
            # whose writes are the sync's own: the token's user, whatever the flow (no username under some)
            "user_id": identity_user_id(answers.required(body, SYSTEM, TOKEN_CALL, "id", str)),
        }
    assert last_error is not None
    raise last_error
