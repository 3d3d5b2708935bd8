"""The plausibility guard on opt-ins inferred from absence, and its holds.

An email missing from whole reads of Act-On's opt-out list in two different runs is inferred to have opted in.
When one read would infer more of them than ``optouts.max_inferred_optins`` or more than
``optouts.max_inferred_optin_share`` of the known opt-outs (whichever allows more), or would infer that every known
opt-out left the list (what a rowless answer looks like, however short the list), the read is held: none of its
inferred opt-ins is recorded, so nothing is un-checked for them, and the ``optout_hold`` check fails naming both
counts. An operator who has made sure the opt-ins are real releases that one held read
(``python -m ingest.extract.optout_holds release <hold_id>``); the next run's whole read applies the released emails that
are still missing. The release is recorded in ``sync_state.optout_holds``; nothing turns the guard off.

``python -m ingest.extract.optout_holds list`` shows the holds.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from common import warehouse
from common.warehouse import transaction, utc_now

HOLDS = "sync_state.optout_holds"
HOLD_EMAILS = "sync_state.optout_hold_emails"


@dataclass(frozen=True)
class Hold:
    hold_id: str
    run_id: str
    read_at: datetime
    inferred_optins: int
    known_optouts: int
    allowed: int
    status: str


def released_emails(conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Each released hold not applied yet: its id and the (normalised) emails it held."""
    rows = conn.execute(
        f"SELECT h.hold_id, e.email FROM {HOLDS} h JOIN {HOLD_EMAILS} e USING (hold_id) "
        "WHERE h.status = 'released'"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for hold_id, email in rows:
        out.setdefault(hold_id, set()).add(email)
    return out


def hold(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    emails: dict[str, datetime | None],
    known_optouts: int,
    allowed: int,
) -> str:
    """Record a held read (inside the caller's transaction): its inferred opt-ins with when each was last seen."""
    hold_id = f"hold-{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    conn.execute(
        f"INSERT INTO {HOLDS} (hold_id, run_id, read_at, inferred_optins, known_optouts, allowed, status) "
        "VALUES (?, ?, ?, ?, ?, ?, 'held')",
        [hold_id, run_id, utc_now(), len(emails), known_optouts, allowed],
    )
    conn.executemany(
        f"INSERT INTO {HOLD_EMAILS} VALUES (?, ?, ?)", [[hold_id, e, seen] for e, seen in emails.items()]
    )
    return hold_id


def supersede_held(conn: duckdb.DuckDBPyConnection) -> None:
    """A newer whole read decides afresh: a read still held is superseded (the operator releases what the latest
    read found, and a read that no longer lacks the emails ends the hold)."""
    conn.execute(f"UPDATE {HOLDS} SET status = 'superseded' WHERE status = 'held'")


def mark_applied(conn: duckdb.DuckDBPyConnection, hold_ids: Sequence[str]) -> None:
    if hold_ids:
        conn.execute(
            f"UPDATE {HOLDS} SET status = 'applied', applied_at = ? WHERE hold_id IN (SELECT unnest(?))",
            [utc_now(), list(hold_ids)],
        )


def holds(conn: duckdb.DuckDBPyConnection, status: str | None = None) -> list[Hold]:
    rows = conn.execute(
        "SELECT hold_id, run_id, read_at, inferred_optins, known_optouts, allowed, status "
        f"FROM {HOLDS} WHERE ? IS NULL OR status = ? ORDER BY read_at DESC",
        [status, status],
    ).fetchall()
    return [Hold(*r) for r in rows]


class ReleaseRefused(ValueError):
    """The hold named cannot be released (unknown, or not the held read)."""


def release(conn: duckdb.DuckDBPyConnection, hold_id: str, released_by: str) -> Hold:
    """Release one held read: its emails still missing at the next whole read are recorded as opted in."""
    with transaction(conn):
        found = [h for h in holds(conn) if h.hold_id == hold_id]
        if not found:
            raise ReleaseRefused(
                f"no opt-out hold {hold_id!r}; `python -m ingest.extract.optout_holds list` shows them"
            )
        if found[0].status != "held":
            raise ReleaseRefused(
                f"opt-out hold {hold_id} is {found[0].status}; only the read held now can be released"
            )
        conn.execute(
            f"UPDATE {HOLDS} SET status = 'released', released_at = ?, released_by = ? WHERE hold_id = ?",
            [utc_now(), released_by, hold_id],
        )
    return found[0]


def _describe(h: Hold) -> str:
    return (
        f"{h.hold_id}  {h.status:<10}  read {h.read_at:%Y-%m-%d %H:%M} UTC (run {h.run_id}): "
        f"{h.inferred_optins} inferred opt-ins of {h.known_optouts} known opt-outs, {h.allowed} allowed"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.extract.optout_holds", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every held, released and applied read, newest first")
    rel = sub.add_parser("release", help="release one held read (its id from `list`)")
    rel.add_argument("hold_id")
    args = parser.parse_args(argv)
    with warehouse.connect() as conn:
        if args.command == "list":
            for h in holds(conn):
                print(_describe(h))
            return 0
        try:
            released = release(conn, args.hold_id, getpass.getuser())
        except ReleaseRefused as e:
            print(e, file=sys.stderr)
            return 2
    print(f"released: {_describe(released)}; the next run applies the opt-ins still missing from the list")
    return 0


if __name__ == "__main__":
    sys.exit(main())
