"""Calls spent per UTC day, persisted in a small JSON file so every process adds to one daily count."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ingest.clients.token_cache import locked_json

_KEEP_DAYS = 31


class DailyCallLog:
    def __init__(self, path: str | Path, key: str):
        self.path = Path(path)
        self.key = key

    @staticmethod
    def today() -> str:
        return datetime.now(UTC).date().isoformat()

    def add(self, n: int = 1) -> None:
        with locked_json(self.path) as data:
            days = data.setdefault(self.key, {})
            days[self.today()] = days.get(self.today(), 0) + n
            for old in sorted(days)[:-_KEEP_DAYS]:
                del days[old]

    def spent_today(self) -> int:
        with locked_json(self.path) as data:
            return int(data.get(self.key, {}).get(self.today(), 0))
