"""Unit tests of the ingest HTTP layer and clients against a tiny local HTTPS server (no mocks of requests)."""

from __future__ import annotations

import gzip
import json
import logging
import multiprocessing
import ssl
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

from ingest.clients import salesforce_soql
from ingest.clients.acton_client import ActOnClient
from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.errors import ApiError, AuthError, MalformedResponse, RateLimited
from ingest.clients.http import CallCounter, json_or_raise, new_session
from ingest.clients.redact import RedactingFilter, redact
from ingest.clients.salesforce_client import SalesforceClient
from ingest.clients.token_cache import TokenCache

SECRET = "s3cr3t-T0ken-value-123"


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # announce the full length, send this many bytes, drop the connection


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Reply]


class FakeServer:
    """HTTPS server whose routes are functions of the request; every request is recorded in ``seen``."""

    def __init__(self, tmp: Path):
        self.routes: dict[tuple[str, str], Handler] = {}
        self.seen: list[Seen] = []
        ca = trustme.CA()
        self.ca_path = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(ctx)
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                outer.seen.append(seen)
                handler = outer.routes.get((self.command, parts.path))
                reply = handler(seen) if handler else Reply(404, {"error": "no route"})
                body = reply.body
                ctype = reply.headers.get("Content-Type")
                if not isinstance(body, bytes | str):
                    body, ctype = json.dumps(body), ctype or "application/json"
                data = body.encode() if isinstance(body, str) else body
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                self.send_header("Content-Type", ctype or "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if reply.cut_after is not None:
                    self.wfile.write(data[: reply.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, handler: Handler | Reply | list[Reply]) -> None:
        if isinstance(handler, Reply):
            fixed = handler
            handler = lambda _seen: fixed  # noqa: E731
        elif isinstance(handler, list):
            queue = list(handler)
            handler = lambda _seen: queue.pop(0) if len(queue) > 1 else queue[0]  # noqa: E731
        self.routes[(method, path)] = handler

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeServer]:
    srv = FakeServer(tmp_path)
    yield srv
    srv.stop()


def session_for(server: FakeServer, counter: CallCounter | None = None, retries: int = 3):
    return new_session("test", counter=counter, ca_bundle=str(server.ca_path), retries=retries, backoff=0.01)


# -- session: retries, counting, validation -------------------------------------------------------------
def test_retries_5xx_and_counts_every_attempt(server: FakeServer) -> None:
    server.route("GET", "/x", [Reply(503, {"m": 1}), Reply(502, "bad gateway"), Reply(200, {"ok": True})])
    counter = CallCounter()
    r = session_for(server, counter).get(f"{server.url}/x")
    assert json_or_raise("test", r) == {"ok": True}
    assert len(server.calls("GET", "/x")) == 3
    assert counter.get("test") == 3


def test_post_is_retried_on_429_with_retry_after_but_not_on_500(server: FakeServer) -> None:
    server.route(
        "POST", "/refused", [Reply(429, {"httpCode": "429"}, {"Retry-After": "0"}), Reply(200, {"ok": 1})]
    )
    server.route("POST", "/failed", Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]))
    s = session_for(server)
    assert json_or_raise("test", s.post(f"{server.url}/refused")) == {"ok": 1}
    assert len(server.calls("POST", "/refused")) == 2
    with pytest.raises(ApiError) as e:
        json_or_raise("test", s.post(f"{server.url}/failed"))
    assert len(server.calls("POST", "/failed")) == 1
    assert (e.value.status, e.value.code, e.value.call) == (500, "UNKNOWN_EXCEPTION", "POST /failed")


def test_a_post_marked_idempotent_is_retried_on_500_until_the_attempts_run_out(server: FakeServer) -> None:
    boom = Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}])
    server.route("POST", "/read", [boom, Reply(200, {"ok": 1})])
    server.route("POST", "/down", boom)
    s = session_for(server, retries=2)
    assert json_or_raise("test", s.post(f"{server.url}/read", idempotent=True)) == {"ok": 1}
    assert len(server.calls("POST", "/read")) == 2
    with pytest.raises(ApiError) as e:
        json_or_raise("test", s.post(f"{server.url}/down", idempotent=True))
    assert (len(server.calls("POST", "/down")), e.value.status) == (3, 500)


def test_exhausted_429_is_rate_limited_with_the_api_code(server: FakeServer) -> None:
    body = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
    server.route("GET", "/q", Reply(429, body, {"Retry-After": "0"}))
    counter = CallCounter()
    with pytest.raises(RateLimited) as e:
        json_or_raise("test", session_for(server, counter, retries=2).get(f"{server.url}/q"))
    assert e.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert counter.get("test") == 3


def test_body_cut_mid_transfer_is_repeated_for_get(server: FakeServer) -> None:
    payload = json.dumps({"rows": list(range(200))})
    server.route(
        "GET",
        "/big",
        [
            Reply(200, payload, {"Content-Type": "application/json"}, cut_after=40),
            Reply(200, payload, {"Content-Type": "application/json"}),
        ],
    )
    counter = CallCounter()
    assert json_or_raise("test", session_for(server, counter).get(f"{server.url}/big"))["rows"][-1] == 199
    assert counter.get("test") == 2


def test_malformed_bodies_name_the_call(server: FakeServer) -> None:
    server.route("GET", "/html", Reply(200, "<html>maintenance</html>", {"Content-Type": "text/html"}))
    server.route("GET", "/trunc", Reply(200, '{"records": [1, 2', {"Content-Type": "application/json"}))
    s = session_for(server)
    with pytest.raises(MalformedResponse, match="GET /html"):
        json_or_raise("test", s.get(f"{server.url}/html?access_token={SECRET}"))
    with pytest.raises(MalformedResponse) as e:
        json_or_raise("test", s.get(f"{server.url}/trunc"))
    assert e.value.call == "GET /trunc" and e.value.code == "invalid-json"


def test_tls_is_verified(server: FakeServer) -> None:
    import requests

    with pytest.raises(requests.exceptions.SSLError):
        new_session("test", retries=0).get(f"{server.url}/x")


# -- redaction --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        f"headers={{'Authorization': 'Bearer {SECRET}'}}",
        f"Authorization: Bearer {SECRET}",
        f"POST /token grant_type=refresh_token&refresh_token={SECRET}&client_id=abc",
        f'{{"access_token": "{SECRET}", "instance_url": "https://x"}}',
        f"https://h/services?password={SECRET}&user=a",
        f"{{'client_secret': '{SECRET}'}}",
    ],
)
def test_redact_removes_secrets(text: str) -> None:
    out = redact(text)
    assert SECRET not in out and "***" in out


def test_logging_filter_and_error_text_carry_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("sending %s", {"Authorization": f"Bearer {SECRET}"})
    assert SECRET not in caplog.text and "Bearer ***" in caplog.text
    err = ApiError("acton", f"POST /token?refresh_token={SECRET}", 403, "invalid_grant", f"password={SECRET}")
    assert SECRET not in str(err)


# -- token cache --------------------------------------------------------------------------------------------
def _race_renew(path: str, counter_path: str) -> None:
    import time

    def obtain(current: dict | None) -> dict:
        with open(counter_path, "a") as f:
            f.write("x")
        time.sleep(0.3)  # widen the window in which a second process could race
        return {"access_token": "new", "refresh_token": "r2"}

    TokenCache(path).renew("k", "old", obtain)


def test_token_cache_is_private_and_one_process_renews(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "tokens.json"
    cache = TokenCache(path)
    cache.put("k", {"access_token": "old", "refresh_token": "r1"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    counter = tmp_path / "obtained"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_race_renew, args=(str(path), str(counter))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert counter.read_text() == "x"  # the others found the new token and did not spend the refresh token
    assert cache.get("k") == {"access_token": "new", "refresh_token": "r2"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- SOQL literals ------------------------------------------------------------------------------------------
def test_soql_quote_escapes() -> None:
    assert salesforce_soql.quote("O'Brien \\ x\ny") == "'O\\'Brien \\\\ x\\ny'"


# -- Salesforce client ----------------------------------------------------------------------------------------
def client_env(server: FakeServer, tmp: Path, system: str, url_variable: str) -> dict[str, str]:
    """``system``'s variables (SALESFORCE or ACTON) for a client of ``server``: its URL under ``url_variable``,
    made-up credentials but for the password, its CA and a token cache of the test's own."""
    return {
        f"{system}_{url_variable}": server.url,
        **{
            f"{system}_{name}": f"{system}-{name}".lower()
            for name in ("CLIENT_ID", "CLIENT_SECRET", "USERNAME")
        },
        f"{system}_PASSWORD": SECRET,
        "REQUESTS_CA_BUNDLE": str(server.ca_path),
        "TOKEN_CACHE_PATH": str(tmp / "tokens.json"),
    }


def sf_env(server: FakeServer, tmp: Path) -> dict[str, str]:
    return client_env(server, tmp, "SALESFORCE", "LOGIN_URL")


def _sf_token_server(server: FakeServer) -> list[str]:
    issued: list[str] = []

    def token(seen: Seen) -> Reply:
        form = parse_qs(seen.body.decode())
        assert form["grant_type"] == ["password"] and form["password"] == [SECRET]
        issued.append(f"tok{len(issued)}")
        identity = f"{server.url}/id/00D000000000001AAA/005000000000001AAA"
        body = {
            "access_token": issued[-1],
            "instance_url": server.url,
            "id": identity,
            "token_type": "Bearer",
        }
        return Reply(200, body)

    server.route("POST", "/services/oauth2/token", token)
    return issued


def test_salesforce_expired_session_is_renewed_once_and_usage_read(
    server: FakeServer, tmp_path: Path
) -> None:
    issued = _sf_token_server(server)
    base = "/services/data/v59.0"

    def query(seen: Seen) -> Reply:
        if seen.headers["authorization"] == "Bearer tok0":
            return Reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        assert seen.headers["sforce-query-options"] == "batchSize=2000"
        assert seen.query["q"] == ["SELECT Id FROM Lead"]
        page = {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": f"{base}/query/01g-2",
            "records": [{"Id": "a"}, {"Id": "b"}],
        }
        return Reply(200, page, {"Sforce-Limit-Info": "api-usage=18/15000"})

    server.route("GET", f"{base}/queryAll/", query)
    server.route(
        "GET",
        f"{base}/query/01g-2",
        Reply(
            200,
            {"totalSize": 3, "done": True, "records": [{"Id": "c"}]},
            {"Sforce-Limit-Info": "api-usage=19/15000"},
        ),
    )
    client = SalesforceClient.from_env(sf_env(server, tmp_path))
    pages = list(client.query_pages("SELECT Id FROM Lead"))
    assert [r["Id"] for p in pages for r in p["records"]] == ["a", "b", "c"]
    assert issued == ["tok0", "tok1"]
    assert client.api_usage is not None and (client.api_usage.used, client.api_usage.remaining) == (19, 14981)
    assert client.calls == 5  # token, 401, token, page 1, page 2
    # a new client (a new run) reuses the cached token: no login
    again = SalesforceClient.from_env(sf_env(server, tmp_path))
    list(again.query_pages("SELECT Id FROM Lead"))
    assert issued == ["tok0", "tok1"]


def test_salesforce_errors_are_typed(server: FakeServer, tmp_path: Path) -> None:
    _sf_token_server(server)
    missing = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    server.route(  # describes go through Composite: the subrequest's error is the one raised
        "POST",
        "/services/data/v59.0/composite",
        Reply(
            200,
            {
                "compositeResponse": [
                    {"body": missing, "httpHeaders": {}, "httpStatusCode": 404, "referenceId": "d0"},
                    {"body": missing, "httpHeaders": {}, "httpStatusCode": 404, "referenceId": "d1"},
                ]
            },
        ),
    )
    client = SalesforceClient.from_env(sf_env(server, tmp_path))
    with pytest.raises(ApiError) as e:
        client.describe("Nope")
    assert (e.value.status, e.value.code) == (404, "NOT_FOUND")
    assert SECRET not in str(e.value)


def test_salesforce_bad_password_is_auth_error(server: FakeServer, tmp_path: Path) -> None:
    server.route(
        "POST",
        "/services/oauth2/token",
        Reply(400, {"error": "invalid_grant", "error_description": "authentication failure"}),
    )
    with pytest.raises(AuthError) as e:
        SalesforceClient.from_env(sf_env(server, tmp_path)).limits()
    assert e.value.code == "invalid_grant" and SECRET not in str(e.value)


def test_bulk_query_streams_pages_by_locator(server: FakeServer, tmp_path: Path) -> None:
    _sf_token_server(server)
    base = "/services/data/v59.0/jobs/query"
    server.route("POST", base, Reply(200, {"id": "750J", "state": "UploadComplete"}))
    server.route(
        "GET",
        f"{base}/750J",
        [
            Reply(200, {"id": "750J", "state": "InProgress"}),
            Reply(200, {"id": "750J", "state": "JobComplete", "numberRecordsProcessed": 2}),
        ],
    )

    def results(seen: Seen) -> Reply:
        locator = seen.query.get("locator", [None])[0]
        if locator is None:
            return Reply(
                200,
                gzip.compress(b'"Id"\n"a"\n'),
                {
                    "Content-Type": "text/csv",
                    "Content-Encoding": "gzip",
                    "Sforce-Locator": "L2",
                    "Sforce-NumberOfRecords": "1",
                },
            )
        return Reply(
            200,
            '"Id"\n"b"\n',
            {"Content-Type": "text/csv", "Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
        )

    server.route("GET", f"{base}/750J/results", results)
    client = SalesforceClient.from_env(sf_env(server, tmp_path))
    pages = [page.data for page in client.bulk_query_pages("SELECT Id FROM Lead")]
    assert pages == [b'"Id"\n"a"\n', b'"Id"\n"b"\n']
    job = json.loads(server.calls("POST", base)[0].body)
    assert job["operation"] == "queryAll" and job["query"] == "SELECT Id FROM Lead"


def test_collections_update_chunks_by_200(server: FakeServer, tmp_path: Path) -> None:
    _sf_token_server(server)

    def collections(seen: Seen) -> Reply:
        body = json.loads(seen.body)
        assert body["allOrNone"] is False and len(body["records"]) <= 200
        return Reply(200, [{"id": r["id"], "success": True, "errors": []} for r in body["records"]])

    server.route("PATCH", "/services/data/v59.0/composite/sobjects", collections)
    client = SalesforceClient.from_env(sf_env(server, tmp_path))
    results = client.update_records("Lead", [{"id": f"00Q{i}", "ActOn_Lead_Score__c": i} for i in range(450)])
    assert len(results) == 450 and results[449]["id"] == "00Q449"
    assert len(server.calls("PATCH", "/services/data/v59.0/composite/sobjects")) == 3


# -- Act-On client ---------------------------------------------------------------------------------------------
def acton_env(server: FakeServer, tmp: Path) -> dict[str, str]:
    return {**client_env(server, tmp, "ACTON", "BASE_URL"), "ACTON_RATE_PER_S": "1000"}


class ActOnTokens:
    """A token endpoint with single-use refresh tokens, recording the grants it saw."""

    def __init__(self) -> None:
        self.grants: list[str] = []
        self.valid_refresh: str | None = None
        self.valid_access: set[str] = set()

    def __call__(self, seen: Seen) -> Reply:
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        self.grants.append(form["grant_type"])
        if form["grant_type"] == "refresh_token" and form.get("refresh_token") != self.valid_refresh:
            return Reply(
                403, {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
            )
        n = len(self.grants)
        self.valid_refresh = f"refresh{n}"
        self.valid_access = {f"access{n}"}
        return Reply(
            200, {"access_token": f"access{n}", "refresh_token": self.valid_refresh, "expires_in": 3600}
        )

    def authorised(self, seen: Seen) -> bool:
        return seen.headers.get("authorization", "").removeprefix("Bearer ") in self.valid_access


def test_acton_rotates_refresh_tokens_and_never_regrants_password(server: FakeServer, tmp_path: Path) -> None:
    tokens = ActOnTokens()
    server.route("POST", "/token", tokens)

    def account(seen: Seen) -> Reply:
        if not tokens.authorised(seen):
            return Reply(401, {"httpCode": "401", "httpMessage": "Unauthorized", "moreInformation": ""})
        return Reply(200, {"account_id": 12345})

    server.route("GET", "/api/1/account", account)
    env = acton_env(server, tmp_path)
    assert ActOnClient.from_env(env).json("GET", "/api/1/account") == {"account_id": 12345}
    tokens.valid_access = set()  # the server revokes every access token: the next call gets a 401
    second = ActOnClient.from_env(env)
    assert second.json("GET", "/api/1/account") == {"account_id": 12345}
    assert tokens.grants == ["password", "refresh_token"]
    tokens.valid_access = set()
    ActOnClient.from_env(env).json("GET", "/api/1/account")
    assert tokens.grants == ["password", "refresh_token", "refresh_token"]
    cache = json.loads((tmp_path / "tokens.json").read_text())
    assert SECRET not in json.dumps(cache)
    assert second.spent_today() == 8  # 3 token calls; account: 1, then (401 + repeat) twice


def test_acton_paginators(server: FakeServer, tmp_path: Path) -> None:
    tokens = ActOnTokens()
    server.route("POST", "/token", tokens)
    optouts = [{"email": f"p{i}@x.com", "timestamp": 1000 + i, "origin": "api"} for i in range(5)]

    def optout(seen: Seen) -> Reply:
        off, cnt = int(seen.query["offset"][0]), int(seen.query["count"][0])
        rows = optouts[off : off + cnt]
        return Reply(200, {"offset": off, "count": len(rows), "totalCount": -1, "result": rows})

    lists = [{"id": f"l-{i:04d}", "name": f"L{i}"} for i in range(4)]

    def listing(seen: Seen) -> Reply:
        off, cnt = int(seen.query["offset"][0]), int(seen.query["count"][0])
        return Reply(200, {"offset": off, "count": cnt, "totalCount": 4, "result": lists[off : off + cnt]})

    server.route("GET", "/api/1/list/optout", optout)
    server.route("GET", "/api/1/list", listing)
    server.route("GET", "/api/1/account", Reply(200, {"account_id": 77}))
    contacts = [{"id": f"c{i}", "email": f"c{i}@x.com", "fields": {}, "updatedAt": 5} for i in range(5)]

    def ucl(seen: Seen) -> Reply:
        page, size = int(seen.query["page"][0]), int(seen.query["pageSize"][0])
        assert seen.query["updatedAfter"] == ["1700000000"]
        return Reply(
            200,
            {
                "page": page,
                "pageSize": size,
                "totalCount": 5,
                "contacts": contacts[page * size : (page + 1) * size],
            },
        )

    server.route("GET", "/ucl/v2/77/contact/", ucl)
    client = ActOnClient.from_env(acton_env(server, tmp_path))
    pages = list(client.offset_pages("/api/1/list/optout", count=2))
    # totalCount -1: each page re-reads the last row of the one before, and a page that adds nothing ends it
    assert [len(p["result"]) for p in pages] == [2, 1, 1, 1]
    assert len(server.calls("GET", "/api/1/list/optout")) == 5
    pages = list(client.offset_pages("/api/1/list", count=2))
    assert [len(p["result"]) for p in pages] == [2, 1, 1]  # totalCount known: no call after the last row
    pages = list(client.v2_pages("/ucl/v2/77/contact/", {"updatedAfter": 1_700_000_000}, page_size=2))
    assert [c["id"] for p in pages for c in p["contacts"]] == [c["id"] for c in contacts]
    assert client.account_id() == "77"


def _changing_optout_list(
    server: FakeServer, rows: list[dict[str, Any]], cap: int, remove_at_call: int
) -> None:
    """An opt-out list served at most ``cap`` rows a page, whose first row leaves it (an opt-in) just before
    the ``remove_at_call``-th read."""
    served = {"calls": 0}

    def optout(seen: Seen) -> Reply:
        served["calls"] += 1
        if served["calls"] == remove_at_call:
            rows.pop(0)
        off, cnt = int(seen.query["offset"][0]), min(int(seen.query["count"][0]), cap)
        page = rows[off : off + cnt]
        return Reply(200, {"offset": off, "count": len(page), "totalCount": -1, "result": page})

    server.route("GET", "/api/1/list/optout", optout)


def test_acton_paging_misses_no_row_of_a_list_changing_under_short_pages(
    server: FakeServer, tmp_path: Path
) -> None:
    """Pages capped below the count asked for and a row leaving the list between two pages: every row that
    stayed on the list throughout is read (offset paging alone skips the row the removal shifted into an
    offset already read, and ends at the first short page)."""
    server.route("POST", "/token", ActOnTokens())
    rows = [{"email": f"p{i:02d}@x.com", "timestamp": 1000 + i, "origin": "api"} for i in range(40)]
    stayed = {r["email"] for r in rows[1:]}
    _changing_optout_list(server, rows, cap=7, remove_at_call=3)
    client = ActOnClient.from_env(acton_env(server, tmp_path))
    read = [r["email"] for page in client.offset_pages("/api/1/list/optout") for r in page["result"]]
    assert stayed <= set(read) and len(read) == len(set(read))


def test_acton_rowless_or_unexpected_answers_stop_the_read(server: FakeServer, tmp_path: Path) -> None:
    server.route("POST", "/token", ActOnTokens())
    server.route("GET", "/api/1/list/optout", Reply(200, {"status": "failure"}))
    server.route(
        "GET",
        "/api/1/list",
        lambda seen: Reply(
            200, {"totalCount": 3, "result": [{"id": "l-1"}] if seen.query["offset"] == ["0"] else []}
        ),
    )
    client = ActOnClient.from_env(acton_env(server, tmp_path))
    with pytest.raises(UnexpectedAnswer, match=r"GET /api/1/list/optout .*no 'result'"):
        list(client.optout_pages())
    # an exact count the rows read do not reach
    with pytest.raises(UnexpectedAnswer, match="totalCount: the answer says 3, 1 were read"):
        list(client.lists())


def test_acton_merge_upload_is_multipart_with_specs(server: FakeServer, tmp_path: Path) -> None:
    server.route("POST", "/token", ActOnTokens())
    server.route(
        "PUT",
        "/api/1/list/l-0001",
        Reply(200, {"status": "success", "message": "Upload completed", "jobId": "99"}),
    )
    server.route(
        "GET",
        "/api/1/list/99/status",
        [
            Reply(200, {"status": "The job is running"}),
            Reply(200, {"status": "success", "details": {"appendCount": 1}}),
        ],
    )
    client = ActOnClient.from_env(acton_env(server, tmp_path))
    specs = [{"columnHeading": "EMAIL", "columnIndex": 0, "columnType": "EMAIL", "ignoreColumn": "N"}]
    job = client.merge_upload("l-0001", b"EMAIL\na@x.com\n", specs)
    assert client.wait_for_job(job)["details"]["appendCount"] == 1
    seen = server.calls("PUT", "/api/1/list/l-0001")[0]
    assert seen.headers["content-type"].startswith("multipart/form-data")
    assert b'"mergeMode": "UPSERT"' in seen.body and b"a@x.com" in seen.body
