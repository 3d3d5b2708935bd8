"""Opening the Dagster instance from a process that starts others on it.

Dagster's SQLite storage stamps its schema version when it first creates a database; two processes that create it
at once stamp it twice, and every later open of that instance (the webserver, the daemon, the next sync) then fails
with "Version table 'alembic_version' has more than one head present". So the first open of an instance is taken
under an ``flock`` in its directory, and before any child process of ours opens it."""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path

import dagster as dg

LOCK_FILE = "instance.lock"


def open_instance(home: str | Path) -> dg.DagsterInstance:
    """The instance in ``home``, its storage created by one process at a time; the caller disposes of it."""
    Path(home).mkdir(parents=True, exist_ok=True)
    with (Path(home) / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return dg.DagsterInstance.from_config(str(home))


if __name__ == "__main__":  # `make dev`: the instance created before the webserver and the daemon start on it
    open_instance(sys.argv[1]).dispose()
