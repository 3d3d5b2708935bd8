"""`make sync` and `make demo` on a terminal: one line per step (what, rows, seconds), failed checks, the outcome.

The job runs exactly as `dagster job execute` runs it, in a child process whose own output (Dagster's DEBUG events,
dbt's log lines) goes to a log file; the lines here are read from the run's event log in the Dagster instance, which
keeps every event whatever the terminal shows. `--verbose` (or SFACTON_VERBOSE=1) lets the child print everything.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import dagster as dg

from orchestration.instance import open_instance

DAGSTER = Path(sys.executable).parent / "dagster"
VERBOSE_ENV = "SFACTON_VERBOSE"
TAG = "sfacton/progress"
# What a step reports as rows written, by its assets' metadata (extracts, write-backs, the analysts' copy); an
# extract's rows_deleted are rows it also counts as updated.
ROW_KEYS = ("rows_inserted", "rows_updated", "rows_sent", "rows")
FOLLOWED = {
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}
POLL_SECONDS = 0.5


@dataclass
class _Step:
    assets: int = 0
    rows: int = 0


@dataclass
class Progress:
    """Turns a run's events into the terminal's lines."""

    out: TextIO
    steps: dict[str, _Step] = field(default_factory=dict)

    def entry(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is not None:
            if event.event_type in FOLLOWED:
                self.event(event)
        # what the code logs: warnings, and what the run's own resources say outside any step (the run guard
        # waiting for another sync, or cleaning up a dead one)
        elif entry.level >= logging.WARNING or (entry.level >= logging.INFO and entry.step_key is None):
            first = entry.user_message.strip().splitlines()[0] if entry.user_message.strip() else ""
            self._line(f"  {logging.getLevelName(entry.level).lower()}: {first}")

    def event(self, event: dg.DagsterEvent) -> None:
        step = self.steps.setdefault(event.step_key or "run", _Step())
        data = event.event_specific_data
        kind = event.event_type
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            step.assets += 1
            step.rows += sum(_int(data.materialization.metadata.get(k)) for k in ROW_KEYS)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not data.passed:
            key = data.asset_key.to_user_string()
            self._line(f"  check {data.check_name} on {key}: FAILED ({data.severity.value})")
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            rows = f"{step.rows:>10,} rows" if step.rows else " " * 15
            self._line(f"  {event.step_key:<44} {rows} {data.duration_ms / 1000:>7.1f} s")
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            message = data.error.message.strip().splitlines()[0] if data.error else "no error recorded"
            self._line(f"  {event.step_key:<44} FAILED: {message}")
        elif kind == dg.DagsterEventType.STEP_SKIPPED:
            self._line(f"  {event.step_key:<44} skipped (an upstream step did not succeed)")

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _int(value: object) -> int:
    return int(value.value) if isinstance(value, dg.IntMetadataValue) and value.value is not None else 0


def _entries(
    instance: dg.DagsterInstance, run_id: str, cursor: str | None
) -> tuple[list[dg.EventLogEntry], str | None]:
    page = instance.get_records_for_run(run_id, cursor=cursor)
    return [r.event_log_entry for r in page.records], page.cursor if page.records else cursor


def _run_id(instance: dg.DagsterInstance, marker: str) -> str | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TAG: marker}), limit=1)
    return runs[0].run_id if runs else None


def follow(
    child: subprocess.Popen[bytes], instance: dg.DagsterInstance, marker: str, out: TextIO
) -> str | None:
    """Print the run's lines while the child runs it; returns the run's id (None: it never started)."""
    progress, run_id, cursor = Progress(out), None, None
    while True:
        finished = child.poll() is not None  # read once more after the child ends: its last events are stored
        run_id = run_id or _run_id(instance, marker)
        if run_id:
            entries, cursor = _entries(instance, run_id, cursor)
            for entry in entries:
                progress.entry(entry)
        if finished:
            break
        time.sleep(POLL_SECONDS)
    return run_id


def run_job(job: str, log_file: Path, env: Mapping[str, str], out: TextIO, verbose: bool = False) -> int:
    """Run ``job`` as `dagster job execute` does, with the environment ``env``; returns its exit code."""
    marker = uuid.uuid4().hex
    command = [str(DAGSTER), "job", "execute", "-m", "orchestration.definitions", "-j", job]
    command += ["--tags", json.dumps({TAG: marker})]
    started = time.monotonic()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        sink = None if verbose else log
        # the instance exists before the child opens it (orchestration/instance.py says why)
        with open_instance(env["DAGSTER_HOME"]) as instance:
            child = subprocess.Popen(
                command, env=dict(env), stdout=sink, stderr=sink, stdin=subprocess.DEVNULL
            )
            run_id = follow(child, instance, marker, out)
            run = instance.get_run_by_id(run_id) if run_id else None
            status = run.status.value if run else "NOT STARTED"
    code = child.wait()
    seconds = time.monotonic() - started
    where = "" if verbose else f"; everything it printed: {log_file}"
    named = f"run {run_id} " if run_id else ""
    print(f"{job}: {named}{status} in {seconds:.0f} s{where}", file=out, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.progress", description=__doc__.splitlines()[0]
    )
    parser.add_argument("job", nargs="?", default="sync_job")
    parser.add_argument("--verbose", action="store_true", default=bool(os.environ.get(VERBOSE_ENV)))
    args = parser.parse_args(argv)
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        parser.error("DAGSTER_HOME is not set: the run is recorded in that Dagster instance")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_file = Path(home) / "logs" / f"{args.job}-{stamp}.log"
    return run_job(args.job, log_file, os.environ, sys.stdout, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
