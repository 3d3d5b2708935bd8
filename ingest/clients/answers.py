"""Checking an API answer before believing it (fail closed).

Every decision the pipeline takes rests on what an API answered. An answer that lacks what a decision needs (a
missing rows key, a count that disagrees with the rows read, a field of the wrong type) is never read as "no
rows": it raises ``UnexpectedAnswer`` naming the call and what was missing, and the step stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.clients.errors import MalformedResponse


class UnexpectedAnswer(MalformedResponse):
    """A successful answer whose shape or counts do not fit what the call promises."""

    def __init__(self, system: str, call: str, what: str):
        super().__init__(system, call, 200, "unexpected-answer", what)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def required(body: Any, system: str, call: str, key: str, kind: type | tuple[type, ...] = object) -> Any:
    """``body[key]``, which must be present (not null) and of ``kind``."""
    if not isinstance(body, Mapping):
        raise UnexpectedAnswer(system, call, f"expected a JSON object, got {type(body).__name__}")
    if key not in body or body[key] is None:
        keys = ", ".join(sorted(map(str, body))[:12]) or "none"
        raise UnexpectedAnswer(system, call, f"the answer has no {key!r} (keys: {keys})")
    value = body[key]
    # bool is an int in Python; a count given as true/false is not a count
    if kind is not object and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise UnexpectedAnswer(
            system, call, f"{key!r} is {type(value).__name__}, expected {_type_name(kind)}"
        )
    return value


def present(row: Any, system: str, call: str, key: str) -> Any:
    """A row's field a decision rests on: present and not empty."""
    value = row.get(key) if isinstance(row, Mapping) else None
    if value in (None, ""):
        raise UnexpectedAnswer(system, call, f"a row without {key!r}: {str(row)[:200]}")
    return value


def rows(body: Any, system: str, call: str, key: str) -> list[Any]:
    """The list of rows under ``key``: present and a list, else the call stops."""
    return required(body, system, call, key, list)


def whole_number(body: Any, system: str, call: str, key: str) -> int:
    """A count under ``key``: an integer, or a string of one (Act-On sends some counts as text)."""
    value = required(body, system, call, key, (int, str))
    if isinstance(value, bool) or (isinstance(value, str) and not value.strip().lstrip("-").isdigit()):
        raise UnexpectedAnswer(system, call, f"{key!r} is {value!r}, expected a whole number")
    return int(value)


def agree(system: str, call: str, what: str, told: int, read: int) -> None:
    """An exact count the API gave (``told``) must equal the rows read."""
    if told != read:
        raise UnexpectedAnswer(system, call, f"{what}: the answer says {told}, {read} were read")
