"""Keep secrets out of logs and exception text: bearer tokens, passwords, client secrets, refresh tokens."""

from __future__ import annotations

import logging
import re

_SECRET_KEYS = (
    "access_token",
    "refresh_token",
    "password",
    "client_secret",
    "assertion",
    "security_token",
    "session_id",
    "sessionid",
    "sid",
)
_KEYS = "|".join(_SECRET_KEYS)
_PATTERNS = [
    # Authorization headers, in any rendering (dict repr, raw header line)
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic|oauth)\s+[^\s'\",}]+"), r"\1\2 ***"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=!\-]{8,}"), r"\1 ***"),
    # form bodies and query strings: key=value
    (re.compile(rf"(?i)\b({_KEYS})=([^&\s'\"]+)"), r"\1=***"),
    # JSON bodies and dict reprs: "key": "value"
    (re.compile(rf"(?i)(['\"](?:{_KEYS})['\"]\s*:\s*)(['\"])(?:\\.|(?!\2).)*\2"), r"\1\2***\2"),
]


def redact(text: str) -> str:
    """The text with every recognisable secret replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and drops args so nothing unredacted remains)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install(*targets: logging.Logger | logging.Handler) -> None:
    """Attach the filter to handlers or loggers; by default to the root logger's handlers.

    Why handlers: a logger's own filters never see records propagated from its children
    (``urllib3.connectionpool`` logs below ``urllib3``), a handler's filters see them all.
    """
    for target in targets or tuple(logging.getLogger().handlers):
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
