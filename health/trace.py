"""`make trace Q=<email or Salesforce Id>`: one person's journey through the warehouse — the raw rows in both
systems, how they were matched, the stage reached, any reject and its reason, the diffs computed for it, every
write-back result and consent-ledger row — so "why did this record not sync" takes one command.

Reads the warehouse only (read-only connection); run it after a sync or `make doctor` for current state."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from common import warehouse
from common.dbt_manifest import MANIFEST_PATH, load_manifest, sync_models
from common.sync_config import load_sync_config
from common.warehouse import q

WIDE = 12  # columns above which a row is printed as one line per column


@dataclass
class Section:
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""  # why there are no rows, when it is not simply "none"


@dataclass
class Person:
    """Who the query names: the normalised email and every Salesforce Id that belongs to it."""

    email: str | None
    ids: list[str]


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()
    )


def _section(
    conn: duckdb.DuckDBPyConnection, title: str, table: str, sql: str, params: Sequence[Any]
) -> Section:
    if not _exists(conn, *table.split(".")):
        return Section(title, note=f"{table} is not built yet: run the sync job or `make doctor`")
    return Section(title, _rows(conn, sql, params))


def _people_records(
    conn: duckdb.DuckDBPyConnection,
    where: str,
    params: Sequence[Any],
    objects: Sequence[str] = ("Lead", "Contact"),
) -> list[dict[str, Any]]:
    """Leads and Contacts matching ``where`` (on their raw columns): object, Id, normalised email, and for a
    lead the contact it was converted into."""
    converted = {"Lead": '"ConvertedContactId"', "Contact": "NULL"}
    parts = [
        f'SELECT \'{obj}\' AS object, "Id", lower(trim("Email")) AS email, {converted[obj]} AS converted_contact_id '
        f"FROM raw_salesforce.{obj.lower()} WHERE {where}"
        for obj in objects
        if _exists(conn, "raw_salesforce", obj.lower())
    ]
    return _rows(conn, " UNION ALL ".join(parts), list(params) * len(parts)) if parts else []


def identify(conn: duckdb.DuckDBPyConnection, query: str) -> Person:
    """The email and Salesforce Ids of the person ``query`` names (an email, or a Lead / Contact Id, 15 or 18
    characters): a converted lead brings its contact, a contact the leads converted into it."""
    query = query.strip()
    records: list[dict[str, Any]] = []
    if "@" in query:
        email: str | None = query.lower()
    else:
        records = _people_records(conn, 'left("Id", 15) = left(?, 15)', [query])
        if not records:
            return Person(None, [query])
        contacts = [r["converted_contact_id"] for r in records if r["converted_contact_id"]]
        if contacts:
            records += _people_records(conn, '"Id" IN (SELECT unnest(?::VARCHAR[]))', [contacts])
        # the contact's email is the person's when a lead was converted (docs/architecture.md: ConvertedContactId)
        email = next((r["email"] for r in reversed(records) if r["email"]), None)
    if email:
        records += _people_records(conn, 'lower(trim("Email")) = ?', [email])
    contact_ids = [r["Id"] for r in records if r["object"] == "Contact"]
    if contact_ids:
        records += _people_records(
            conn, '"ConvertedContactId" IN (SELECT unnest(?::VARCHAR[]))', [contact_ids], objects=["Lead"]
        )
    return Person(email, sorted({r["Id"] for r in records}))


def trace(conn: duckdb.DuckDBPyConnection, query: str) -> tuple[Person, list[Section]]:
    config = load_sync_config()
    person = identify(conn, query)
    email, ids = person.email or "", person.ids
    score = config.scores.salesforce_field
    sections = []
    for obj, extra in (("Lead", '"IsConverted", "ConvertedContactId", '), ("Contact", "")):
        sections.append(
            _section(
                conn,
                f"Salesforce {obj}s",
                f"raw_salesforce.{obj.lower()}",
                f'SELECT "Id", "Email", "FirstName", "LastName", "IsDeleted", {extra}"HasOptedOutOfEmail", '
                f'{q(score)}, "SystemModstamp" FROM raw_salesforce.{obj.lower()} '
                f'WHERE "Id" IN (SELECT unnest(?::VARCHAR[])) OR lower(trim("Email")) = ? ORDER BY "Id"',
                [ids, email],
            )
        )
    sections += [
        _section(
            conn,
            "Act-On contact (behavioural score)",
            "raw_acton.contacts",
            "SELECT contact_id, email, score, created_at, updated_at FROM raw_acton.contacts "
            "WHERE lower(trim(email)) = ? ORDER BY contact_id",
            [email],
        ),
        _section(
            conn,
            "Act-On list records",
            "raw_acton.list_records",
            "SELECT l.name AS list, r.record_id, r.email, r.salesforce_id, r.fields, r.modified_at, "
            "r.is_deleted FROM raw_acton.list_records r LEFT JOIN raw_acton.lists l ON l.list_id = r.list_id "
            "WHERE lower(trim(r.email)) = ? OR r.salesforce_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2",
            [email, ids],
        ),
        _section(
            conn,
            "Act-On opt-out list, bounces and spam complaints",
            "raw_acton.optouts",
            "SELECT 'opt-out' AS kind, opted_out_at AS happened_at, origin FROM raw_acton.optouts WHERE lower(trim(email)) = ? "
            "UNION ALL SELECT 'hard bounce', bounced_at, origin FROM raw_acton.hard_bounces WHERE lower(trim(email)) = ? "
            "UNION ALL SELECT 'spam complaint', complained_at, origin FROM raw_acton.spam_complaints "
            "WHERE lower(trim(email)) = ? ORDER BY happened_at",
            [email, email, email],
        ),
        _section(
            conn,
            "Matching (Salesforce records to the person)",
            "intermediate.int_salesforce_records_unioned",
            "SELECT salesforce_object, salesforce_id, email, person_email, is_valid_email, is_deleted, is_converted "
            "FROM intermediate.int_salesforce_records_unioned "
            "WHERE salesforce_id IN (SELECT unnest(?::VARCHAR[])) OR person_email = ? ORDER BY 1, 2",
            [ids, email],
        ),
        _section(
            conn,
            "Matching (Act-On records to the person)",
            "intermediate.int_acton_records_matched",
            "SELECT acton_source, acton_record_id, person_email, matched_by, behavioural_score "
            "FROM intermediate.int_acton_records_matched WHERE person_email = ? ORDER BY 1, 2",
            [email],
        ),
        _section(
            conn,
            "Person and funnel stage",
            "marts.people",
            "SELECT * FROM marts.people WHERE email = ?",
            [email],
        ),
        _section(
            conn,
            "Rejected (cannot sync)",
            "marts.rejected_records",
            "SELECT source_system, source_object, record_id, email_raw, reason, detail FROM marts.rejected_records "
            "WHERE record_id IN (SELECT unnest(?::VARCHAR[])) OR lower(trim(email_raw)) = ? ORDER BY 1, 2, 3",
            [ids, email],
        ),
        _section(
            conn,
            "Rejected by Act-On (sync_state.rejects)",
            "sync_state.rejects",
            "SELECT run_id, source, object, record_id, email, reason, rejected_at FROM sync_state.rejects "
            "WHERE record_id IN (SELECT unnest(?::VARCHAR[])) OR lower(trim(email)) = ? ORDER BY rejected_at",
            [ids, email],
        ),
    ]
    for model in sync_models(load_manifest()):
        id_match = (
            "salesforce_id IN (SELECT unnest(?::VARCHAR[])) OR " if model != "acton_optout_additions" else ""
        )
        sections.append(
            _section(
                conn,
                f"Diff to send: sync.{model}",
                f"sync.{model}",
                f"SELECT * FROM sync.{model} WHERE {id_match}lower(trim(email)) = ?",
                [ids, email] if id_match else [email],
            )
        )
    sections += [
        _section(
            conn,
            "Write-back results",
            "sync_state.writeback_results",
            "SELECT written_at, run_id, system, object, record_id, field, old_value, new_value, status, error_code, "
            "message FROM sync_state.writeback_results "
            "WHERE record_id IN (SELECT unnest(?::VARCHAR[])) OR lower(record_id) = ? ORDER BY written_at, field",
            [ids, email],
        ),
        _section(
            conn,
            "Consent ledger",
            "sync_state.consent_ledger",
            "SELECT written_at, run_id, system, old_value, new_value, source_event, event_at "
            "FROM sync_state.consent_ledger WHERE lower(email) = ? ORDER BY written_at",
            [email],
        ),
    ]
    return person, sections


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value).replace("\n", "\\n")


def render(person: Person, sections: Sequence[Section]) -> str:
    lines = [f"Trace of {person.email or '(no email)'} — Salesforce Ids: {', '.join(person.ids) or 'none'}"]
    for s in sections:
        lines.append(f"\n== {s.title}")
        if not s.rows:
            lines.append(f"  ({s.note or 'none'})")
            continue
        cols = list(s.rows[0])
        if len(cols) > WIDE:  # one "column: value" line each, or the table runs off the screen
            for r in s.rows:
                lines += [f"  {c}: {_cell(r[c])}" for c in cols if r[c] is not None]
                lines.append("")
            continue
        cells = [[_cell(r[c]) for c in cols] for r in s.rows]
        widths = [min(40, max(len(c), *(len(r[i]) for r in cells))) for i, c in enumerate(cols)]
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        lines += ["  " + "  ".join(v[:40].ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m health.trace", description=__doc__)
    parser.add_argument("query", help="an email address or a Salesforce Lead / Contact Id")
    args = parser.parse_args(argv)
    needed = [(MANIFEST_PATH, "dbt manifest")]
    if warehouse.target() == "duckdb":
        needed.append((warehouse.warehouse_path(), "warehouse"))
    for file, what in needed:
        if not file.exists():
            print(f"no {what} at {file}: run the sync job or `make doctor` first", file=sys.stderr)
            return 2
    with warehouse.connect(read_only=True) as conn:
        person, sections = trace(conn, args.query)
    print(render(person, sections))
    found = any(s.rows for s in sections)
    if not found:
        print(f"\nnothing in the warehouse matches {args.query!r}", file=sys.stderr)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
