"""The sandboxes spell response header names as Salesforce and Act-On do, on the wire: a client that copies the
headers into a plain dict (Airbyte's source-salesforce looks up ``Content-Type`` so) finds them. Read from the raw
bytes of the status line and header block over TLS, never through a case-insensitive header mapping."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox


def raw_header_names(base_url: str, path: str, token: str, ca: str) -> tuple[str, list[str]]:
    """(status line, header names exactly as sent) of one GET, read off a TLS socket."""
    url = urlsplit(base_url)
    context = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection((url.hostname, url.port), timeout=30) as plain,
        context.wrap_socket(plain, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        block = b""
        while b"\r\n\r\n" not in block:
            chunk = tls.recv(4096)
            assert chunk, f"the connection closed before the header block ended: {block!r}"
            block += chunk
    status, *lines = block.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return status, [line.split(":", 1)[0] for line in lines]


@pytest.fixture
def clients(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[SalesforceClient, ActOnClient]]:
    env = {**sandbox.env, "TOKEN_CACHE_PATH": str(tmp_path / "tokens.json")}
    sf, acton = SalesforceClient.from_env(env), ActOnClient.from_env(env)
    yield sf, acton
    sf.session.close()
    acton.session.close()


def test_salesforce_headers_arrive_in_salesforce_casing(
    sandbox: Sandbox, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    sf, _ = clients
    ca, token, base = sandbox.env["REQUESTS_CA_BUNDLE"], sf.token["access_token"], sf.instance_url
    api = urlsplit(sf.url("query")).path.rsplit("/", 1)[0]

    status, names = raw_header_names(
        base, f"{api}/query?{urlencode({'q': 'SELECT Id FROM Lead LIMIT 2'})}", token, ca
    )
    assert status == "HTTP/1.1 200 OK"
    assert {"Content-Type", "Content-Length", "Sforce-Limit-Info", "Date"} <= set(names)

    job = sf.json("POST", "jobs/query", json={"operation": "query", "query": "SELECT Id FROM Lead"})
    deadline = time.monotonic() + 60
    while sf.json("GET", f"jobs/query/{job['id']}")["state"] != "JobComplete":
        assert time.monotonic() < deadline, "the bulk query job did not complete in 60 s"
        time.sleep(0.5)
    status, names = raw_header_names(base, f"{api}/jobs/query/{job['id']}/results?maxRecords=5", token, ca)
    assert status == "HTTP/1.1 200 OK"
    assert {"Content-Type", "Sforce-Locator", "Sforce-NumberOfRecords"} <= set(names)
    # every name as the APIs spell them: none lowercase, whatever Starlette or uvicorn added
    assert [n for n in names if n[0].islower()] == []


def test_acton_headers_arrive_in_canonical_casing(
    clean_faults: Sandbox, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    _, acton = clients
    ca, base, token = (
        clean_faults.env["REQUESTS_CA_BUNDLE"],
        clean_faults.env["ACTON_BASE_URL"],
        acton._access_token(),
    )
    status, names = raw_header_names(base, "/api/1/list?count=1", token, ca)
    assert status == "HTTP/1.1 200 OK"
    assert {"Content-Type", "Content-Length", "Date"} <= set(names)
    assert [n for n in names if n[0].islower()] == []
    # an error answer, and one the fault middleware builds, alike
    status, names = raw_header_names(base, "/api/1/list/l-9999", token, ca)
    assert status.startswith("HTTP/1.1 400") and "Content-Type" in names
    clean_faults.faults("acton", [{"path": "/api/1/list", "kind": "status", "status": 429, "times": 1}])
    status, names = raw_header_names(base, "/api/1/list", token, ca)
    assert status.startswith("HTTP/1.1 429") and {"Retry-After", "Content-Type"} <= set(names)
    assert [n for n in names if n[0].islower()] == []
