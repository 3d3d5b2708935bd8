"""What actually changed in the sandbox org, read straight from its SQLite file (read-only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ingest.extract.salesforce import CURSOR_FIELDS

Marks = dict[str, str | None]  # object -> largest cursor value


class SandboxTruth:
    def __init__(self, data_dir: Path, objects: Sequence[str]):
        self.path = data_dir / "sandbox.sqlite"
        self.objects = list(objects)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)

    def _cursor(self, conn: sqlite3.Connection, obj: str) -> str | None:
        names = {r[1] for r in conn.execute(f'PRAGMA table_info("{obj}")')}
        return next((c for c in CURSOR_FIELDS if c in names), None)

    def marks(self) -> Marks:
        """Each object's largest cursor value now: rows above it later are rows changed since."""
        with self._connect() as conn:
            out: Marks = {}
            for obj in self.objects:
                cursor = self._cursor(conn, obj)
                out[obj] = (
                    conn.execute(f'SELECT max("{cursor}") FROM "{obj}"').fetchone()[0] if cursor else None
                )
            return out

    def changed_since(self, marks: Marks | None) -> dict[str, int]:
        """Rows per object whose cursor is above ``marks`` (every row when ``marks`` is None)."""
        with self._connect() as conn:
            out: dict[str, int] = {}
            for obj in self.objects:
                cursor = self._cursor(conn, obj)
                mark = marks.get(obj) if marks else None
                if mark is None or cursor is None:
                    (out[obj],) = conn.execute(f'SELECT count(*) FROM "{obj}"').fetchone()
                else:
                    (out[obj],) = conn.execute(
                        f'SELECT count(*) FROM "{obj}" WHERE "{cursor}" > ?', [mark]
                    ).fetchone()
            return out

    def acton_contacts(self) -> list[tuple[str, str]]:
        with self._connect() as conn:
            return conn.execute("SELECT id, email FROM acton_contacts ORDER BY rowid").fetchall()
