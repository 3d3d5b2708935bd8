"""Salesforce's error shapes: request-level JSON lists, per-record errors, OAuth errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"


def dumps(data: Any) -> bytes:
    """Compact JSON, as Salesforce sends it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, media_type=JSON_TYPE, headers=headers)


class SfError(Exception):
    """A request Salesforce refuses as a whole: ``[{"message", "errorCode", ("fields")}]``.

    ``fields`` is only sent by record writes; Bulk API and routing errors put ``errorCode`` first.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        *,
        code_first: bool = False,
    ):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.fields, self.code_first = (
            status,
            code,
            message,
            fields,
            code_first,
        )

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = (
            {"errorCode": self.code, "message": self.message}
            if self.code_first
            else {"message": self.message, "errorCode": self.code}
        )
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return json_response(self.body(), self.status, headers)


def not_found() -> SfError:
    return SfError(404, "NOT_FOUND", "The requested resource does not exist", code_first=True)


def invalid_session() -> SfError:
    return SfError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def bulk_error(status: int, code: str, message: str) -> SfError:
    return SfError(status, code, message, code_first=True)


# Messages Salesforce attaches to the per-row error codes the fault rules can ask for.
FAULT_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "Record failed a validation rule",
    "INVALID_EMAIL_ADDRESS": "Email: invalid email address",
    "STRING_TOO_LONG": "data value too large",
    "ENTITY_IS_DELETED": "entity is deleted",
    "INVALID_CROSS_REFERENCE_KEY": "invalid cross reference id",
    "REQUIRED_FIELD_MISSING": "Required fields are missing",
}
ROLLED_BACK_MESSAGE = (
    "Record rolled back because not all records were valid and the request was using AllOrNone header"
)


class RowError(Exception):
    """Why one record of a write failed; rendered three ways by the three write APIs."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.fields = code, message, fields or []

    @classmethod
    def fault(cls, code: str) -> RowError:
        return cls(code, FAULT_MESSAGES.get(code, code.replace("_", " ").lower()))

    @classmethod
    def not_writable(cls, fields: list[str]) -> RowError:
        """A field the record's object has but this user may not set (read-only, or no edit access)."""
        return cls(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(fields)}. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.",
            fields,
        )

    @classmethod
    def rolled_back(cls) -> RowError:
        return cls("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MESSAGE)

    def collection_entry(self) -> dict[str, Any]:
        """sObject Collections use ``statusCode``."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def rest_error(self, status: int = 400) -> SfError:
        return SfError(status, self.code, self.message, self.fields)

    def bulk_text(self) -> str:
        """Bulk ingest's sf__Error cell: ``CODE:message:fields --``."""
        fields = ",".join(self.fields)
        return f"{self.code}:{self.message}:{fields + ' ' if fields else ''}--"


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)
