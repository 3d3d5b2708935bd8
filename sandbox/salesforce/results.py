"""Snapshots of query results in a database of their own (DIR/salesforce_results.sqlite).

A REST query cursor and a Bulk query job page through a result frozen when it was created, as Salesforce's
do; copying the rows into their own table (rowid = position) makes every page, and every retry of a page,
consistent however the org changes meanwhile. The store is read through a separate connection, so
copying and paging never hold the store's lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sandbox.store import salesforce_id

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters (prefix TEXT PRIMARY KEY, n INTEGER)",
    "CREATE TABLE IF NOT EXISTS cursors (id TEXT PRIMARY KEY, info TEXT, accessed REAL)",
    "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT, created REAL, info TEXT)",
    "CREATE TABLE IF NOT EXISTS blobs (job_id TEXT, kind TEXT, seq INTEGER, data BLOB)",
)


class Results:
    def __init__(self, data_dir: Path, store_path: Path):
        self.path = data_dir / "salesforce_results.sqlite"
        self.store_path = store_path
        self.lock = threading.RLock()  # serialises read-modify-write of job and cursor rows
        with closing(self.connect()) as c:
            c.execute("PRAGMA journal_mode=WAL")
            for ddl in _SCHEMA:
                c.execute(ddl)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=OFF")  # snapshots are re-creatable; durability buys nothing
        return conn

    @contextmanager
    def store_reader(self) -> Iterator[sqlite3.Connection]:
        """A connection whose main schema is the store (so compiled SOQL resolves) with results attached."""
        conn = sqlite3.connect(self.store_path, timeout=60, isolation_level=None)
        try:
            conn.execute("ATTACH DATABASE ? AS res", (str(self.path),))
            conn.execute("PRAGMA res.synchronous=OFF")
            yield conn
        finally:
            conn.close()

    def next_id(self, prefix: str) -> str:
        with self.lock, closing(self.connect()) as c:
            c.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (prefix,))
            c.execute("UPDATE counters SET n = n + 1 WHERE prefix = ?", (prefix,))
            (n,) = c.execute("SELECT n FROM counters WHERE prefix = ?", (prefix,)).fetchone()
        return salesforce_id(prefix, n)

    def snapshot(self, table: str, sql: str, params: list[Any], width: int) -> int:
        """Copy the rows of ``sql`` (run against the store) into ``table`` in order; returns their count."""
        cols = ", ".join(f"c{i}" for i in range(width))
        with self.store_reader() as conn:
            conn.execute(f'CREATE TABLE res."{table}" ({cols})')
            conn.execute("BEGIN")
            n = conn.execute(f'INSERT INTO res."{table}" {sql}', params).rowcount
            conn.execute("COMMIT")
        return n

    def drop(self, table: str) -> None:
        with closing(self.connect()) as c:
            c.execute(f'DROP TABLE IF EXISTS "{table}"')

    # -- small JSON records (cursors, jobs) -----------------------------------------------------------
    def put(self, table: str, key: str, info: dict[str, Any], **cols: Any) -> None:
        names = ["id", "info", *cols]
        with closing(self.connect()) as c:
            c.execute(
                f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [key, json.dumps(info), *cols.values()],
            )

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        with closing(self.connect()) as c:
            row = c.execute(f"SELECT info FROM {table} WHERE id = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None
