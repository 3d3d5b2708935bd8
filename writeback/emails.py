"""The email rule on the Python side: how an address is normalised and when it is valid.

Exactly the dbt macro's rule (``dbt_project/macros/email.sql``), so that the write-back and dbt never disagree
about who a person is or whether an address can be sent.
"""

from __future__ import annotations

import re

# The macro's rule as DuckDB computes it: surrounding ASCII whitespace goes (RE2's [:space:]), and lower() maps one
# character to one (so U+0130 becomes "i", where Python's full mapping adds a combining dot).
_WHITESPACE = " \t\n\v\f\r"
_SIMPLE_LOWER = {0x130: "i"}
_NOT_AT_OR_SPACE = "[^@ \t\n\v\f\r]+"
_VALID_EMAIL = re.compile(rf"{_NOT_AT_OR_SPACE}@{_NOT_AT_OR_SPACE}\.{_NOT_AT_OR_SPACE}")
# normalise_email as a DuckDB expression over a column ``email``, for the write-back's own queries
NORMALISED_EMAIL_SQL = "lower(regexp_replace(email, '^[[:space:]]+|[[:space:]]+$', '', 'g'))"


def normalise_email(email: str | None) -> str:
    return (email or "").strip(_WHITESPACE).translate(_SIMPLE_LOWER).lower()


def is_valid_email(email: str | None) -> bool:
    return bool(_VALID_EMAIL.fullmatch(normalise_email(email)))
