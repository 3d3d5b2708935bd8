"""Bulk API 2.0 job records (query and ingest), kept as JSON in the results database."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

from sandbox.salesforce.errors import SfError, bulk_error
from sandbox.salesforce.results import Results
from sandbox.store import wall_clock

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")
# The job info keys the create and abort answers of both kinds of job show (``Jobs.public``'s keys; ingest jobs
# add their own).
CREATE_KEYS = (
    "id",
    "operation",
    "object",
    "createdById",
    "createdDate",
    "systemModstamp",
    "state",
    "concurrencyMode",
    "contentType",
    "apiVersion",
    "lineEnding",
    "columnDelimiter",
)
# A status request for a job still running waits up to this long for it to end, so a client polling a
# small job sees it finished on its first poll (a real org answers status calls in about that time anyway).
STATUS_HOLD_S = 1.0


def job_not_found() -> SfError:
    return bulk_error(404, "NOT_FOUND", "The requested resource does not exist")


def csv_format(body: dict[str, Any]) -> tuple[str, str]:
    """The job's (columnDelimiter, lineEnding) after checking them."""
    delimiter, ending = body.get("columnDelimiter") or "COMMA", body.get("lineEnding") or "LF"
    if (
        delimiter not in DELIMITERS
        or ending not in LINE_ENDINGS
        or (body.get("contentType") or "CSV") != "CSV"
    ):
        raise bulk_error(400, "INVALIDJOB", "Invalid contentType, columnDelimiter or lineEnding")
    return delimiter, ending


def quoted_csv(rows: list[list[Any]], delimiter: str, ending: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=ending, quoting=csv.QUOTE_ALL).writerows(rows)
    return out.getvalue()


class Jobs:
    """Job info is public except keys starting with ``_`` (the compiled query, the fault decision, ...)."""

    def __init__(self, results: Results):
        self.results = results
        self._running: dict[str, threading.Event] = {}

    def run_in_background(self, job_id: str, work: Callable[..., None], *args: Any) -> None:
        """Run ``work(job_id, *args)`` on a thread of its own; ``status`` waits for it."""
        done = self._running[job_id] = threading.Event()

        def run() -> None:
            try:
                work(job_id, *args)
            finally:
                done.set()
                self._running.pop(job_id, None)

        threading.Thread(target=run, daemon=True).start()

    def status(self, kind: str, job_id: str) -> dict[str, Any]:
        """The job's info, once its background work has ended or ``STATUS_HOLD_S`` has passed."""
        info = self.get(kind, job_id)
        if info["state"] not in TERMINAL_STATES and (running := self._running.get(job_id)):
            running.wait(STATUS_HOLD_S)
            info = self.get(kind, job_id)
        return info

    def create(self, kind: str, info: dict[str, Any]) -> dict[str, Any]:
        job_id = self.results.next_id("750")
        now = wall_clock()
        info = {"id": job_id, **info, "createdDate": now, "systemModstamp": now}
        self.results.put("jobs", job_id, info, kind=kind, created=time.time())
        return info

    def get(self, kind: str, job_id: str) -> dict[str, Any]:
        with closing(self.results.connect()) as c:
            row = c.execute("SELECT info FROM jobs WHERE id = ? AND kind = ?", (job_id, kind)).fetchone()
        if row is None:
            raise job_not_found()
        return json.loads(row[0])

    def update(self, kind: str, job_id: str, **changes: Any) -> dict[str, Any]:
        with self.results.lock:
            info = {**self.get(kind, job_id), **changes, "systemModstamp": wall_clock()}
            with closing(self.results.connect()) as c:
                c.execute("UPDATE jobs SET info = ? WHERE id = ?", (json.dumps(info), job_id))
        return info

    def transition(
        self, kind: str, job_id: str, allowed: tuple[str, ...], **changes: Any
    ) -> dict[str, Any] | None:
        """Apply ``changes`` only if the job is in one of ``allowed`` states; None otherwise."""
        with self.results.lock:
            if self.get(kind, job_id)["state"] not in allowed:
                return None
            return self.update(kind, job_id, **changes)

    def all(self, kind: str) -> list[dict[str, Any]]:
        with closing(self.results.connect()) as c:
            rows = c.execute("SELECT info FROM jobs WHERE kind = ? ORDER BY created", (kind,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def created_today(self, kind: str) -> int:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        with closing(self.results.connect()) as c:
            (n,) = c.execute(
                "SELECT COUNT(*) FROM jobs WHERE kind = ? AND created >= ?", (kind, midnight)
            ).fetchone()
        return n

    def delete(self, job_id: str) -> None:
        with closing(self.results.connect()) as c:
            c.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            c.execute("DELETE FROM blobs WHERE job_id = ?", (job_id,))

    @staticmethod
    def public(info: dict[str, Any], keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        return {k: v for k, v in info.items() if not k.startswith("_") and (keys is None or k in keys)}
