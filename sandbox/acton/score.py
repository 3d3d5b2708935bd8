"""The behavioural score ("Act-On Primary Score"): points per activity, decayed over a 90-day score period.

Rule (also in sandbox/README.md): each activity in the 90 days up to the as-of time earns its verb's points;
activity older than 30 days counts half; the sum is rounded and capped at 100. Scores are recomputed for the
contacts with new activity, and daily for the contacts whose activity crossed the 30- or 90-day line.
SQL is the only implementation, so the stored score and the facts endpoint's breakdown cannot disagree.
"""

from __future__ import annotations

import json
import sqlite3

DAY_MS = 86_400_000
PERIOD_DAYS = 90
FULL_WEIGHT_DAYS = 30
MAX_SCORE = 100
# verb -> (points, the action name the facts endpoint reports)
POINTS: dict[str, tuple[int, str]] = {
    "s": (1, "MESSAGE_SEND"),
    "os": (4, "MESSAGE_OPEN"),
    "r": (10, "MESSAGE_CLICK"),
    "fv": (3, "FORM_VIEW"),
    "fs": (20, "FORM_SUBMIT"),
    "fu": (5, "FORM_UPDATE"),
    "sv": (4, "WEBSITE_VISIT"),
    "l": (3, "LANDING_PAGE_VIEW"),
    "wr": (10, "WEBINAR_REGISTER"),
    "wa": (25, "WEBINAR_ATTEND"),
}
_POINTS_SQL = "CASE verb " + " ".join(f"WHEN '{v}' THEN {p}" for v, (p, _) in POINTS.items()) + " ELSE 0 END"
# parameters: (full-weight boundary, period start, as-of)
_WEIGHTED = f"({_POINTS_SQL}) * (CASE WHEN ts_ms >= ? THEN 1.0 ELSE 0.5 END)"
_WINDOW = "ts_ms >= ? AND ts_ms <= ?"


def _bounds(as_of_ms: int) -> tuple[int, int, int]:
    return as_of_ms - FULL_WEIGHT_DAYS * DAY_MS, as_of_ms - PERIOD_DAYS * DAY_MS, as_of_ms


def rescore(
    conn: sqlite3.Connection, as_of_ms: int, updated_at: int, contact_ids: list[str] | None = None
) -> int:
    """Recompute scores (all contacts, or the given ones); a changed score moves updated_at. Returns changes."""
    target = "1" if contact_ids is None else "c.id IN (SELECT value FROM json_each(?))"
    sql = f"""
        UPDATE acton_contacts SET score = fresh.s, updated_at = ?
        FROM (SELECT c.id AS id, COALESCE((SELECT MIN({MAX_SCORE}, CAST(ROUND(SUM({_WEIGHTED})) AS INTEGER))
                                           FROM acton_activity a WHERE a.contact_id = c.id AND {_WINDOW}), 0) AS s
              FROM acton_contacts c WHERE {target}) AS fresh
        WHERE acton_contacts.id = fresh.id AND acton_contacts.score != fresh.s"""
    args: list[object] = [updated_at, *_bounds(as_of_ms)]
    if contact_ids is not None:
        args.append(json.dumps(contact_ids))
    return conn.execute(sql, args).rowcount


def contacts_crossing_decay(conn: sqlite3.Connection, as_of_ms: int, span_ms: int) -> list[str]:
    """Contacts with activity that passed the 30- or 90-day line in the ``span_ms`` before ``as_of_ms``."""
    full, start, _ = _bounds(as_of_ms)
    rows = conn.execute(
        "SELECT DISTINCT contact_id FROM acton_activity WHERE (ts_ms >= ? AND ts_ms < ?) OR (ts_ms >= ? AND ts_ms < ?)",
        (full - span_ms, full, start - span_ms, start),
    )
    return [r[0] for r in rows]


def breakdown(conn: sqlite3.Connection, contact_id: str, as_of_ms: int) -> list[dict[str, object]]:
    """The facts endpoint's ScoreDetails: points per action in the score period."""
    rows = conn.execute(
        f"SELECT verb, COUNT(*), SUM({_WEIGHTED}) FROM acton_activity WHERE contact_id = ? AND {_WINDOW} "
        "GROUP BY verb ORDER BY verb",
        (_bounds(as_of_ms)[0], contact_id, *_bounds(as_of_ms)[1:]),
    )
    return [
        {"action": POINTS[verb][1], "count": n, "score": round(points)}
        for verb, n, points in rows
        if verb in POINTS
    ]
