"""The one HTTP session factory of the clients: timeouts, retries with backoff, TLS, call counting.

Every attempt on the wire (first tries, retries, redirects) passes ``before_attempt``: that is where calls are
counted per system and where Act-On's rate limiter waits, so a retry storm can neither hide from the budget
nor break the rate limit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ingest.clients.errors import ApiError, AuthError, MalformedResponse, RateLimited
from ingest.clients.redact import RedactingFilter, redact

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

# Statuses by which a server says it did not process the request: safe to repeat whatever the method.
_REFUSED = frozenset({429, 503})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Methods whose repetition cannot double an effect (PATCH here sets fields to given values).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
DEFAULT_TIMEOUT = (10.0, 300.0)


class CallCounter:
    """Thread-safe count of HTTP attempts per system."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, system: str, n: int = 1) -> None:
        with self._lock:
            self._counts[system] += n

    def get(self, system: str) -> int:
        with self._lock:
            return self._counts[system]


class _CountingRetry(Retry):
    """urllib3's Retry that calls ``before_attempt`` before each repeated attempt (after its backoff sleep)."""

    def __init__(self, *args: Any, before_attempt: Callable[[], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.before_attempt = before_attempt

    def new(self, **kw: Any) -> _CountingRetry:
        retry = super().new(**kw)
        retry.before_attempt = self.before_attempt
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return (status_code in _REFUSED and bool(self.total)) or super().is_retry(
            method, status_code, has_retry_after
        )

    def sleep(self, response: Any = None) -> None:
        super().sleep(response)
        if self.before_attempt is not None:
            self.before_attempt()


class _Adapter(HTTPAdapter):
    """HTTPAdapter with a default timeout and the first attempt of each request passed to ``before_attempt``."""

    def __init__(self, retry: _CountingRetry, timeout: tuple[float, float]):
        super().__init__(max_retries=retry, pool_connections=4, pool_maxsize=8)
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        before = self.max_retries.before_attempt  # type: ignore[attr-defined]
        if before is not None:
            before()
        return super().send(request, **kwargs)


@dataclass
class ServerClock:
    """The server's time (its ``Date`` header: UTC, whole seconds rounded down) in the first response after the
    clock was made: when a read began by the server's clock, which is where an extract's next window starts.
    Never this machine's clock, which may differ from the server's by more than the window's overlap."""

    at: datetime | None = None


class ApiSession(requests.Session):
    """A Session that also repeats idempotent calls whose body broke off mid-transfer.

    urllib3 retries what fails before the response headers; a connection cut while the body streams surfaces
    later, in requests, as ChunkedEncodingError. ``idempotent=True`` marks a POST that is safe to repeat (a read
    such as a query job or a Composite of describes): it is also repeated on the 5xx answers urllib3 repeats only
    for the idempotent methods.
    """

    def __init__(self, system: str, body_retries: int, backoff: float):
        super().__init__()
        self.system = system
        self._body_retries = body_retries
        self._backoff = backoff
        self._clocks: list[ServerClock] = []
        self.hooks["response"].append(self._read_server_time)

    def server_clock(self) -> ServerClock:
        """A clock that the next response sets to the server's time."""
        clock = ServerClock()
        self._clocks.append(clock)
        return clock

    def _read_server_time(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not self._clocks:
            return
        with contextlib.suppress(KeyError, TypeError, ValueError):  # no or a bad Date: the next response's
            at = parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
            for clock in self._clocks:
                clock.at = at
            self._clocks.clear()

    def request(self, method: str, url: str, *args: Any, idempotent: bool | None = None, **kwargs: Any):  # type: ignore[override]
        urllib3_repeats = method.upper() in IDEMPOTENT
        if idempotent is None:
            idempotent = urllib3_repeats
        # requests lets REQUESTS_CA_BUNDLE from os.environ override session.verify; a pinned CA must win.
        kwargs.setdefault("verify", self.verify)
        if not idempotent:
            return super().request(method, url, *args, **kwargs)
        failed_status = _RETRY_STATUSES - _REFUSED  # urllib3 has already repeated the refusals for any method
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(
                (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
            )
            | tenacity.retry_if_result(lambda r: not urllib3_repeats and r.status_code in failed_status),
            stop=tenacity.stop_after_attempt(self._body_retries + 1),
            wait=tenacity.wait_exponential_jitter(initial=self._backoff, max=30),
            before_sleep=lambda rs: log.warning(
                "%s %s %s: %s, repeating",
                self.system,
                method,
                urlsplit(url).path,
                _outcome(rs.outcome),
            ),
            # out of attempts: the last response (the caller reads its error) or the last exception
            retry_error_callback=lambda rs: rs.outcome.result() if rs.outcome else None,
        )
        return retrying(super().request, method, url, *args, **kwargs)


def _outcome(outcome: Any) -> str:
    if outcome is None:
        return ""
    if outcome.failed:
        return f"body broke off ({outcome.exception()})"
    return f"HTTP {outcome.result().status_code}"


def new_session(
    system: str,
    *,
    counter: CallCounter | None = None,
    before_attempt: Callable[[], None] | None = None,
    ca_bundle: str | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = 6,
    backoff: float = 0.5,
) -> ApiSession:
    """A session for one system. ``ca_bundle`` pins the trusted CAs (else REQUESTS_CA_BUNDLE / certifi apply)."""

    def attempt() -> None:
        if counter is not None:
            counter.add(system)
        if before_attempt is not None:
            before_attempt()

    retry = _CountingRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff,
        backoff_max=60,
        backoff_jitter=backoff,
        status_forcelist=_RETRY_STATUSES,
        allowed_methods=IDEMPOTENT,
        respect_retry_after_header=True,
        raise_on_status=False,
        before_attempt=attempt,
    )
    session = ApiSession(system, body_retries=retries, backoff=backoff)
    adapter = _Adapter(retry, timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if ca_bundle:
        session.verify = ca_bundle
    return session


# -- response validation --------------------------------------------------------------------------------
def describe_call(response: requests.Response) -> str:
    """``METHOD /path`` of the response's request, without the query string (it may carry secrets)."""
    method = response.request.method if response.request is not None else "?"
    return f"{method} {urlsplit(response.url).path}"


def error_fields(body: Any) -> tuple[str | None, str]:
    """The API's own error code and message from the error body shapes of Salesforce and Act-On."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return None, str(body)[:300]
    code = body.get("errorCode", body.get("error", body.get("statusCode", body.get("httpCode"))))
    message = body.get("message", body.get("error_description", body.get("httpMessage", "")))
    if body.get("moreInformation"):
        message = f"{message}: {body['moreInformation']}"
    return (str(code) if code is not None else None), str(message)


def raise_for_error(system: str, response: requests.Response) -> None:
    """Raise the typed error for a non-2xx response; do nothing for a success."""
    if response.status_code < 400:
        return
    call = describe_call(response)
    try:
        code, message = error_fields(response.json())
    except ValueError:
        code, message = None, response.text[:300]
    if response.status_code == 429 or code == "REQUEST_LIMIT_EXCEEDED":
        raise RateLimited(system, call, response.status_code, code, message)
    if response.status_code == 401 or code in ("invalid_grant", "invalid_client_id", "invalid_client"):
        raise AuthError(system, call, response.status_code, code, message)
    raise ApiError(system, call, response.status_code, code, message)


def json_or_raise(system: str, response: requests.Response) -> Any:
    """The decoded JSON body of a successful response, else the typed error naming the call."""
    raise_for_error(system, response)
    ctype = response.headers.get("Content-Type", "")
    if "json" not in ctype.lower():
        raise MalformedResponse(
            system,
            describe_call(response),
            response.status_code,
            "content-type",
            f"expected JSON, got {ctype or 'no content type'}: {redact(response.text[:120])!r}",
        )
    try:
        return response.json()
    except ValueError as e:
        raise MalformedResponse(
            system,
            describe_call(response),
            response.status_code,
            "invalid-json",
            f"{e} in a body of {len(response.content)} bytes",
        ) from None
