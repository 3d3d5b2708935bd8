"""The rows an Act-On upload refused (a list merge job, an opt-out upload), named from its rejected-records file.

Act-On's answer counts the refused rows (a job's ``failedCount`` and ``rejectedCount``, an opt-out upload's
``rejectedRecords``) and names a file that holds them, each row as sent plus Act-On's reason
(``GET /api/1/list/rejectedUploadRecords``). The count decides: rows it says were refused that the file does
not name cannot be told apart from the rows that went in, so they stop the step rather than be recorded as
successes, and a file naming more rows, or rows never sent, is not believed either.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection

from ingest.clients.acton_client import ActOnClient
from ingest.clients.answers import UnexpectedAnswer, agree
from writeback.emails import normalise_email

SYSTEM = "acton"
FILE_CALL = "GET /api/1/list/rejectedUploadRecords"


def refused_rows(
    client: ActOnClient,
    call: str,
    count: int,
    filename: str | None,
    email_index: int,
    sent: Collection[str],
) -> dict[str, str]:
    """Normalised email -> Act-On's reason, for the ``count`` rows the answer of ``call`` says it refused, read
    from ``filename`` (the email at ``email_index`` of each row, the reason last); ``sent``: the normalised
    emails the upload carried."""
    if count == 0:
        return {}
    if not filename:
        raise UnexpectedAnswer(
            SYSTEM, call, f"{count} rows refused, but the answer names no rejected-records file to tell which"
        )
    data = client.rejected_records(filename).decode("utf-8", "replace")
    refused: dict[str, str] = {}
    for n, row in enumerate(csv.reader(io.StringIO(data)), 1):
        if not row:
            continue
        if len(row) <= email_index + 1:  # the row's values up to the email, and the reason after them
            raise UnexpectedAnswer(SYSTEM, FILE_CALL, f"row {n} has no email and reason: {row}")
        email = normalise_email(row[email_index])
        if email not in sent:
            raise UnexpectedAnswer(
                SYSTEM, FILE_CALL, f"row {n} names {email!r}, which the upload did not carry"
            )
        refused[email] = row[-1]
    agree(SYSTEM, call, "rows refused (named in the rejected-records file)", count, len(refused))
    return refused
