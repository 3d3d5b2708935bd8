"""The sandbox's SQLite store: one table per Salesforce object, the live field metadata, and world metadata.

Value encoding (what every module reading or writing the tables relies on):
- datetime: text ``YYYY-MM-DDTHH:MM:SS.mmm+0000`` (UTC, so text order is time order)
- date: text ``YYYY-MM-DD``; boolean: integer 0/1; int: integer; double/currency/percent: real
- everything else: text; a missing value is NULL.
The Act-On side keeps its own tables in the same file (see ``sandbox/acton``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.salesforce.schema import HARD_DELETE_OBJECTS, OBJECTS, FieldDef

_SQL_TYPES = {"boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL"}
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sf_datetime(dt: datetime) -> str:
    """Format as Salesforce does in JSON and as the store keeps it."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_sf_datetime(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def wall_clock() -> str:
    return sf_datetime(datetime.now(UTC))


def salesforce_id(prefix: str, n: int) -> str:
    """An 18-character id: 15 case-sensitive characters plus the case-safe checksum Salesforce appends."""
    body = ""
    while n:
        n, r = divmod(n, 62)
        body = _B62[r] + body
    id15 = prefix + body.rjust(12, "0")
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if c.isupper())
        suffix += _SUFFIX[bits]
    return id15 + suffix


def sql_type(f: FieldDef) -> str:
    # a checkbox is never null in Salesforce: rows written without it (the generated world) hold false
    return "INTEGER DEFAULT 0" if f.type == "boolean" else _SQL_TYPES.get(f.type, "TEXT")


class Store:
    """Thread-safe access to the sandbox database; every method takes the store's lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.lock = threading.RLock()
        self._fields: dict[str, list[FieldDef]] = {}
        self._init_schema()

    # -- schema ---------------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        with self.transaction() as c:
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            c.execute(
                "CREATE TABLE IF NOT EXISTS sf_fields (object TEXT, position INTEGER, name TEXT, def TEXT, "
                "PRIMARY KEY (object, name))"
            )
            c.execute("CREATE TABLE IF NOT EXISTS sf_objects (name TEXT PRIMARY KEY, key_prefix TEXT)")
            c.execute("CREATE TABLE IF NOT EXISTS sf_counters (object TEXT PRIMARY KEY, n INTEGER)")
            if c.execute("SELECT COUNT(*) FROM sf_objects").fetchone()[0] == 0:
                for obj, (prefix, fields) in OBJECTS.items():
                    c.execute("INSERT INTO sf_objects VALUES (?, ?)", (obj, prefix))
                    c.execute("INSERT INTO sf_counters VALUES (?, 0)", (obj,))
                    for i, f in enumerate(fields):
                        c.execute(
                            "INSERT INTO sf_fields VALUES (?, ?, ?, ?)",
                            (obj, i, f.name, json.dumps(asdict(f))),
                        )
                    cols = ", ".join(f'"{f.name}" {sql_type(f)}' for f in fields)
                    c.execute(f'CREATE TABLE "{obj}" ({cols}, PRIMARY KEY ("Id")) WITHOUT ROWID')
                    names = {f.name for f in fields}
                    if "SystemModstamp" in names:
                        c.execute(f'CREATE INDEX "ix_{obj}_modstamp" ON "{obj}" ("SystemModstamp")')
                    if "CreatedDate" in names:
                        # Salesforce indexes CreatedDate: COUNT() of the rows created up to a moment (the
                        # completeness check), with or without the deleted ones, reads only this index.
                        created = '"CreatedDate", "IsDeleted"' if "IsDeleted" in names else '"CreatedDate"'
                        c.execute(f'CREATE INDEX "ix_{obj}_created" ON "{obj}" ({created})')

    def objects(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM sf_objects ORDER BY name")]

    def key_prefix(self, obj: str) -> str:
        with self.lock:
            return self.conn.execute("SELECT key_prefix FROM sf_objects WHERE name = ?", (obj,)).fetchone()[0]

    def canonical_object(self, name: str) -> str | None:
        """The object's API name for a case-insensitive name, or None."""
        return next((o for o in self.objects() if o.lower() == name.lower()), None)

    def fields(self, obj: str) -> list[FieldDef]:
        with self.lock:
            if obj not in self._fields:
                rows = self.conn.execute(
                    "SELECT def FROM sf_fields WHERE object = ? ORDER BY position", (obj,)
                ).fetchall()
                defs = []
                for (d,) in rows:
                    raw = json.loads(d)
                    raw["reference_to"] = tuple(raw["reference_to"])
                    raw["picklist_values"] = tuple(raw["picklist_values"])
                    defs.append(FieldDef(**raw))
                self._fields[obj] = defs
            return self._fields[obj]

    def field(self, obj: str, name: str) -> FieldDef | None:
        """Case-insensitive field lookup, as SOQL and the REST API resolve names."""
        lname = name.lower()
        return next((f for f in self.fields(obj) if f.name.lower() == lname), None)

    def add_field(self, obj: str, f: FieldDef) -> None:
        with self.transaction() as c:
            pos = c.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM sf_fields WHERE object = ?", (obj,))
            c.execute(
                "INSERT INTO sf_fields VALUES (?, ?, ?, ?)",
                (obj, pos.fetchone()[0], f.name, json.dumps(asdict(f))),
            )
            c.execute(f'ALTER TABLE "{obj}" ADD COLUMN "{f.name}" {sql_type(f)}')
            self._fields.pop(obj, None)

    def rename_field(self, obj: str, old: str, new: str) -> None:
        f = self.field(obj, old)
        if f is None:
            raise KeyError(f"No such column '{old}' on entity '{obj}'")
        with self.transaction() as c:
            d = {**asdict(f), "name": new}
            c.execute(
                "UPDATE sf_fields SET name = ?, def = ? WHERE object = ? AND name = ?",
                (new, json.dumps(d), obj, f.name),
            )
            c.execute(f'ALTER TABLE "{obj}" RENAME COLUMN "{f.name}" TO "{new}"')
            self._fields.pop(obj, None)

    def drop_field(self, obj: str, name: str) -> None:
        f = self.field(obj, name)
        if f is None:
            raise KeyError(f"No such column '{name}' on entity '{obj}'")
        with self.transaction() as c:
            c.execute("DELETE FROM sf_fields WHERE object = ? AND name = ?", (obj, f.name))
            c.execute(f'ALTER TABLE "{obj}" DROP COLUMN "{f.name}"')
            self._fields.pop(obj, None)

    # -- transactions and metadata ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- records --------------------------------------------------------------------------------------
    def new_ids(self, obj: str, count: int) -> list[str]:
        """Reserve ``count`` fresh ids for ``obj`` (deterministic: ids are sequential per object)."""
        with self.transaction() as c:
            (n,) = c.execute("SELECT n FROM sf_counters WHERE object = ?", (obj,)).fetchone()
            c.execute("UPDATE sf_counters SET n = ? WHERE object = ?", (n + count, obj))
        prefix = self.key_prefix(obj)
        return [salesforce_id(prefix, i) for i in range(n + 1, n + count + 1)]

    def insert(
        self, obj: str, rows: list[dict[str, Any]], *, now: str | None = None, user_id: str | None = None
    ) -> list[str]:
        """Insert rows (already in store encoding), filling Id and audit fields; returns the ids."""
        now = now or wall_clock()
        ids = self.new_ids(obj, sum(1 for r in rows if not r.get("Id")))
        it = iter(ids)
        names = {f.name for f in self.fields(obj)}
        out = []
        with self.transaction() as c:
            for r in rows:
                rec = {"Id": r.get("Id") or next(it), **{k: v for k, v in r.items() if k != "Id"}}
                for audit, value in (
                    ("IsDeleted", 0),
                    ("CreatedDate", now),
                    ("LastModifiedDate", now),
                    ("SystemModstamp", now),
                    ("CreatedById", user_id),
                    ("LastModifiedById", user_id),
                ):
                    if audit in names:
                        rec.setdefault(audit, value)
                cols = ", ".join(f'"{k}"' for k in rec)
                c.execute(
                    f'INSERT INTO "{obj}" ({cols}) VALUES ({", ".join("?" * len(rec))})', list(rec.values())
                )
                out.append(rec["Id"])
        return out

    def update(
        self, obj: str, record_id: str, values: dict[str, Any], *, touch: bool = True, now: str | None = None
    ) -> None:
        """Change fields; ``touch`` moves LastModifiedDate and SystemModstamp as every API write does."""
        values = dict(values)
        if touch:
            now = now or wall_clock()
            names = {f.name for f in self.fields(obj)}
            values.update({k: now for k in ("LastModifiedDate", "SystemModstamp") if k in names})
        if not values:
            return
        sets = ", ".join(f'"{k}" = ?' for k in values)
        with self.lock:
            self.conn.execute(f'UPDATE "{obj}" SET {sets} WHERE "Id" = ?', [*values.values(), record_id])

    def delete(self, obj: str, record_id: str, *, hard: bool = False) -> None:
        """Soft delete (IsDeleted, visible to queryAll) unless the object is hard-deleted or ``hard``."""
        with self.lock:
            if hard or obj in HARD_DELETE_OBJECTS:
                self.conn.execute(f'DELETE FROM "{obj}" WHERE "Id" = ?', (record_id,))
            else:
                self.update(obj, record_id, {"IsDeleted": 1})

    def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            cur = self.conn.execute(f'SELECT * FROM "{obj}" WHERE "Id" = ?', (record_id,))
            row = cur.fetchone()
            return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None
