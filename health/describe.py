"""Salesforce field metadata, described once per object per check run (names matched case-insensitively)."""

from __future__ import annotations

from typing import Any

from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.errors import ApiError
from ingest.clients.salesforce_client import SalesforceClient


class FieldCatalog:
    def __init__(self, client: SalesforceClient):
        self.client = client
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}

    def field(self, obj: str, name: str) -> dict[str, Any] | None:
        if obj not in self._fields:
            try:
                described = self.client.describe(obj)["fields"]  # checked by the client as it arrived
            except UnexpectedAnswer:
                raise  # a describe that answered without its fields is not an object that has none
            except ApiError:
                described = []
            self._fields[obj] = {f["name"].lower(): f for f in described}
        return self._fields[obj].get(name.lower())

    def writable(self, obj: str, name: str) -> bool:
        meta = self.field(obj, name)
        return bool(meta and meta.get("updateable"))
