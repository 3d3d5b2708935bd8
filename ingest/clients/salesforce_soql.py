"""SOQL literals: every value a program puts into SOQL goes through here."""

from __future__ import annotations

from datetime import UTC, datetime

# Salesforce's documented escape sequences inside single-quoted SOQL strings.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def escape(value: str) -> str:
    """The value with backslash escapes for use inside ``'...'``."""
    return "".join(_ESCAPES.get(c, c) for c in value)


def quote(value: str) -> str:
    """A single-quoted SOQL string literal."""
    return f"'{escape(value)}'"


def datetime_literal(value: datetime) -> str:
    """An unquoted SOQL datetime literal in UTC with milliseconds, e.g. ``2024-01-05T03:41:05.000Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
