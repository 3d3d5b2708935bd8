"""Response header names on the wire as Salesforce and Act-On spell them (``Content-Type``, ``Sforce-Locator``).

Starlette lowercases every header name it builds, and uvicorn adds its own ``date`` and ``server`` in lower case.
Real clients can tell: Airbyte's source-salesforce copies the headers into a plain dict and looks names up in
one spelling. This ASGI middleware rewrites the names of each ``http.response.start`` to their canonical
casing and adds the ``Date`` header itself. It needs a server that writes names as given: uvicorn's h11
protocol does (httptools lowercases them again), and the server turns uvicorn's own headers off.
"""

from __future__ import annotations

from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Names whose canonical form is not each hyphen-separated word capitalised.
_IRREGULAR = {b"sforce-numberofrecords": b"Sforce-NumberOfRecords"}


def canonical(name: bytes) -> bytes:
    """``content-type`` -> ``Content-Type``; the irregular names as the APIs send them."""
    lower = name.lower()
    return _IRREGULAR.get(lower) or b"-".join(part.capitalize() for part in lower.split(b"-"))


def canonical_headers(app: ASGIApp) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def spelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(canonical(name), value) for name, value in message.get("headers", [])]
                headers.insert(0, (b"Date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, spelled)

    return asgi
