"""A Dagster instance opened by several processes at once stays sound: its databases carry one schema version
each, so the webserver, the daemon and the next sync can open it (a doubly stamped one refuses them all)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from tests.demo_world import ROOT, Demo

OPEN = (sys.executable, "-m", "orchestration.instance")  # as `make dev` creates it


def schema_versions(home: Path) -> dict[str, int]:
    """How many schema versions each of the instance's SQLite databases is stamped with."""
    counts = {}
    for db in home.rglob("*.db"):
        with closing(sqlite3.connect(db)) as conn:
            (stamped,) = conn.execute(
                "select count(*) from sqlite_master where name = 'alembic_version'"
            ).fetchone()
            if stamped:
                counts[str(db.relative_to(home))] = conn.execute(
                    "select count(*) from alembic_version"
                ).fetchone()[0]
    return counts


def assert_sound(home: Path) -> None:
    versions = schema_versions(home)
    assert {"history/runs.db", "schedules/schedules.db"} <= versions.keys(), versions
    assert set(versions.values()) == {1}, versions
    reopened = subprocess.run([*OPEN, str(home)], cwd=ROOT, capture_output=True, text=True)
    assert reopened.returncode == 0, reopened.stderr[-3000:]


def test_three_processes_creating_one_instance_at_once(tmp_path: Path) -> None:
    # without the lock, three at once stamp at least one database twice in most tries on two cores
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        openers = [
            subprocess.Popen([*OPEN, str(home)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        errors = [opener.communicate()[1] for opener in openers]
        assert [opener.returncode for opener in openers] == [0, 0, 0], errors
        assert_sound(home)


def test_the_demos_instance_is_sound(demo: Demo) -> None:
    """`make demo` follows its run from a second process; the instance both opened stays openable."""
    assert_sound(Path(demo.env["DAGSTER_HOME"]))
