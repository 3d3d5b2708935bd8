"""One `make demo` run (python -m orchestration.demo) shared by the tests that judge what it leaves behind: the
analysts' queries, the HTML report, the lineage in the Dagster UI. None of them changes it. Under xdist the
first worker to need it runs it and the others wait for it and reuse it, as a whole demo takes minutes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
SCALE = 300
DONE = "demo.out"  # the demo's output, written once it succeeded: the mark that the data dir is ready


@dataclass
class Demo:
    data_dir: Path
    output: str

    @property
    def env(self) -> dict[str, str]:
        """Where the demo's run kept its state: warehouse, analysts' copy, token cache, Dagster instance (the
        sandboxes' coordinates went with them when the demo stopped them)."""
        return {
            "WAREHOUSE_PATH": str(self.data_dir / "warehouse.duckdb"),
            "ANALYTICS_PATH": str(self.data_dir / "warehouse_analytics.duckdb"),
            "TOKEN_CACHE_PATH": str(self.data_dir / "tokens.json"),
            "DAGSTER_HOME": str(self.data_dir / "dagster_home"),
        }

    def sql(self, query: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "analytics.sql",
                "--data-dir",
                str(self.data_dir),
                "--",
                "-json",
                "-c",
                query,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and "Error" not in done.stderr, done.stderr
        # one JSON array per statement that returns rows; `set variable` returns none
        return json.loads(done.stdout.strip() or "[]")

    def sandbox(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        store = self.data_dir / "sandbox" / "sandbox.sqlite"
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return db.execute(sql, params).fetchall()


def run_demo(data_dir: Path) -> Demo:
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.demo", "--data-dir", str(data_dir), "--scale", str(SCALE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (data_dir / DONE).write_text(done.stdout)
    return Demo(data_dir, done.stdout)


def shared_demo(root: Path) -> Demo:
    """The demo under ``root`` (shared by the session's workers), run by whoever gets there first."""
    data_dir = root / "demo"
    with FileLock(str(root / "demo.lock")):
        if (data_dir / DONE).exists():
            return Demo(data_dir, (data_dir / DONE).read_text())
        return run_demo(data_dir)
