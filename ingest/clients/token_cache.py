"""Tokens at rest: one JSON file (mode 0600, outside the warehouse), locked across processes.

Act-On's refresh tokens are single-use: two runs refreshing with the same one would lock one of them out.
Every read-refresh-write therefore happens under an exclusive ``flock`` on a sidecar lock file, and a caller
whose token was already replaced by another process picks up the new one instead of refreshing again.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_PATH = "~/.cache/sfacton/tokens.json"

Entry = dict[str, Any]


def token_cache_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("TOKEN_CACHE_PATH") or DEFAULT_PATH).expanduser().absolute()


@contextmanager
def locked_json(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the file's JSON object under an exclusive lock; whatever the caller leaves in it is written back."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            data = {}  # a torn file from a killed process: start over, tokens are recoverable
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            _write_private(path, data)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Atomic replace of a file that is never readable by others, not even for an instant."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class TokenCache:
    """Token entries by key (one per system + account + client + user)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().absolute()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenCache:
        return cls(token_cache_path(env))

    def get(self, key: str) -> Entry | None:
        with locked_json(self.path) as data:
            entry = data.get(key)
            return dict(entry) if entry else None

    def put(self, key: str, entry: Entry) -> None:
        with locked_json(self.path) as data:
            data[key] = entry

    def renew(
        self, key: str, stale_access_token: str | None, obtain: Callable[[Entry | None], Entry]
    ) -> Entry:
        """A fresh entry: another process's newer token if it already replaced ``stale_access_token``,
        else ``obtain(current_entry)`` — all under the lock, so only one process spends the refresh token."""
        with locked_json(self.path) as data:
            current = data.get(key)
            if current and current.get("access_token") and current.get("access_token") != stale_access_token:
                return dict(current)
            fresh = obtain(dict(current) if current else None)
            data[key] = fresh
            return dict(fresh)

    def update_fields(self, key: str, **fields: Any) -> None:
        """Add non-secret facts to an entry (e.g. Act-On's account id) without touching its tokens."""
        with locked_json(self.path) as data:
            data[key] = {**data.get(key, {}), **fields}
