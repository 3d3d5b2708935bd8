"""Typed errors of the API clients; their text names the call but never carries a secret."""

from __future__ import annotations

from ingest.clients.redact import redact


class IngestError(Exception):
    """Base of every error the ingest clients raise."""


class ApiError(IngestError):
    """An API answered with an error: which system, which call, the HTTP status, and the API's own code."""

    def __init__(
        self,
        system: str,
        call: str,
        status: int | None,
        code: str | None = None,
        message: str = "",
    ):
        self.system = system
        self.call = redact(call)
        self.status = status
        self.code = code
        self.message = redact(message)
        super().__init__(
            f"{system} {self.call} -> HTTP {status} {code or ''}: {self.message}".replace("  ", " ")
        )


class AuthError(ApiError):
    """Authentication failed (bad credentials, revoked refresh token, or a session that cannot be renewed)."""


class RateLimited(ApiError):
    """The API refused the call for its rate or daily limit, after the retries were spent."""


class MalformedResponse(ApiError):
    """The body is not what the call promises: truncated JSON, an HTML error page, a wrong content type."""


class BulkJobFailed(ApiError):
    """A Salesforce Bulk 2.0 job ended Failed or Aborted."""
