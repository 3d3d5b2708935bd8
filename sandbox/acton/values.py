"""Value rules shared by the Act-On app and world: email matching, id formats, time units."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_VALID_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACCOUNT_ID = 12345


def normalise_email(email: str | None) -> str:
    """Act-On matches emails case-insensitively after trimming."""
    return (email or "").strip().lower()


def is_valid_email(email: str | None) -> bool:
    return bool(_VALID_EMAIL.match(normalise_email(email)))


def list_id(n: int) -> str:
    return f"l-{n:04x}"


def record_id(list_ident: str, rec: int) -> str:
    return f"{list_ident}:{rec}"


def message_id(n: int, sent: datetime) -> str:
    return f"s-{n:04x}-{sent:%y%m}"


def now_ms() -> int:
    return int(time.time() * 1000)


def to_ms(when: datetime | str) -> int:
    """Epoch ms of a datetime or of a store datetime string (the world clock's encoding)."""
    dt = datetime.fromisoformat(when) if isinstance(when, str) else when
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
