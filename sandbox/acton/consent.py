"""Consent on Act-On's side: an email joining the account's opt-out list, or leaving it by an opt-in, each kept
as a consent event. The API's uploads, the synthetic world and the admin API's ``mutate`` all change consent
through here."""

from __future__ import annotations

import sqlite3

from sandbox.acton.values import normalise_email


def opt_out(conn: sqlite3.Connection, email: str, ts_ms: int, origin: str) -> bool:
    """Add to the opt-out list (keeping the first opt-out's time); False when already there."""
    added = conn.execute(
        "INSERT OR IGNORE INTO acton_suppressions (kind, email_norm, email, ts_ms, origin) VALUES ('optout', ?, ?, ?, ?)",
        (normalise_email(email), email.strip(), ts_ms, origin),
    ).rowcount
    if added:
        conn.execute(
            "INSERT INTO acton_consent_events VALUES (?, ?, 'optout', ?, ?)",
            (normalise_email(email), email.strip(), ts_ms, origin),
        )
    return bool(added)


def opt_in(conn: sqlite3.Connection, email: str, ts_ms: int, origin: str) -> bool:
    """Remove from the opt-out list, recording the opt-in; False when the email was not opted out."""
    removed = conn.execute(
        "DELETE FROM acton_suppressions WHERE kind = 'optout' AND email_norm = ?", (normalise_email(email),)
    ).rowcount
    if removed:
        conn.execute(
            "INSERT INTO acton_consent_events VALUES (?, ?, 'optin', ?, ?)",
            (normalise_email(email), email.strip(), ts_ms, origin),
        )
    return bool(removed)
