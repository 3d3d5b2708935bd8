"""Run bookkeeping on a Dagster instance: which process runs which run, one sync at a time, and dead runs ended.

A run killed outright (SIGKILL, OOM killer, reboot) writes no end event: the instance keeps it STARTED and the
concurrency slot its step held stays taken, so every later run waits on the ``duckdb`` pool forever. Dagster's own
monitoring does not help here (the default run launcher cannot tell that a run's process died, nothing watches a
``dagster job execute`` run's process, and ``free_slots_after_run_end_seconds`` frees only runs already marked
finished). So each run records its process on itself (host, pid, start time: a reused pid is not taken for it),
and :func:`clean_up_runs` ends the runs whose process is gone or that outlived the bound, and frees their slots. :class:`SyncLock` is an ``flock`` on a file of the instance: ``dagster job execute`` bypasses the run queue,
and the OS drops the lock of a process that dies, so a killed holder never blocks the next run.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

HOST_TAG = "sfacton/host"
PID_TAG = "sfacton/pid"
PROCESS_START_TAG = "sfacton/process_start"
# The bound when the instance sets none (run_monitoring.max_runtime_seconds in .dagster/dagster.yaml sets it).
DEFAULT_MAX_RUNTIME_S = 3 * 3600
# How long a stopped run gets to end itself (Dagster stops dbt and records the failure) before SIGKILL.
STOP_GRACE_S = 30.0
# Statuses in which a run holds a worker and its concurrency slots.
ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
_PROC = Path("/proc")

Log = Callable[[str], None]


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (boot id and clock ticks since boot, /proc/<pid>/stat field 22), or None when
    there is no such process (or only its zombie). Without /proc (macOS) only the pid's existence is known: ""
    when it exists."""
    if not _PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the name (field 2) may hold spaces and parentheses: count the fields after its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # exited, waiting for its parent to read its status
        return None
    ticks = fields[19]
    boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    return f"{boot}:{ticks}"


@dataclass(frozen=True)
class Process:
    host: str
    pid: int
    start: str

    @classmethod
    def current(cls) -> Process:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid) or "")

    @classmethod
    def of_run(cls, run: dg.DagsterRun) -> Process | None:
        """The process a run recorded, None when it recorded none (killed before it could, or not our job)."""
        tags = run.tags
        if PID_TAG not in tags:
            return None
        return cls(tags[HOST_TAG], int(tags[PID_TAG]), tags[PROCESS_START_TAG])

    def tags(self) -> dict[str, str]:
        return {HOST_TAG: self.host, PID_TAG: str(self.pid), PROCESS_START_TAG: self.start}

    @property
    def here(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        return process_start(self.pid) == self.start

    def stop(self) -> None:
        """SIGTERM (a Dagster run then records its end and stops dbt), SIGKILL if it outlives the grace period."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive():
                return
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + STOP_GRACE_S
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.2)

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def max_runtime_s(instance: dg.DagsterInstance) -> int:
    return instance.run_monitoring_max_runtime_seconds or DEFAULT_MAX_RUNTIME_S


def record_process(instance: dg.DagsterInstance, run_id: str) -> None:
    """Tag the run with the process running it, so that another process can tell whether it still runs."""
    instance.add_run_tags(run_id, Process.current().tags())


def clean_up_runs(instance: dg.DagsterInstance, log: Log, skip_run_id: str | None = None) -> list[str]:
    """End the runs that cannot end themselves; returns their ids.

    - an active run whose process on this host is gone is marked failed;
    - an active run older than the bound is stopped (if its process is on this host) and marked failed;
    - a finished run still holding or awaiting a concurrency slot has its process stopped: the daemon's max
      runtime marks a ``dagster job execute`` run failed but cannot stop it.
    Each of them has its concurrency slots freed. Runs on another host are judged by their age alone."""
    bound = max_runtime_s(instance)
    now = time.time()
    ended = []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE))
    for record in records:
        run = record.dagster_run
        if run.run_id == skip_run_id:
            continue
        process = Process.of_run(run)
        if process and process.here and not process.alive():
            reason = f"its process ({process}) is gone"
        # a run not yet started (STARTING) is timed from when it entered that status, not from its time queued
        elif now - (record.start_time or record.update_timestamp.timestamp()) > bound:
            reason = f"it ran longer than the bound of {bound} s"
            if process and process.here:
                process.stop()
        else:
            continue
        _end(instance, run.run_id, reason, log)
        ended.append(run.run_id)

    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        active = {r.dagster_run.run_id for r in records}
        for run_id in storage.get_concurrency_run_ids() - active - {skip_run_id}:
            run = instance.get_run_by_id(run_id)
            if run is None or not run.is_finished:
                continue
            process = Process.of_run(run)
            if process and process.here and process.alive():
                process.stop()
            _end(instance, run_id, "it ended but still held a concurrency slot", log)
            ended.append(run_id)
    return ended


def _end(instance: dg.DagsterInstance, run_id: str, reason: str, log: Log) -> None:
    # read again: a run may have recorded its own end since it was listed, and then it stays as it ended
    run = instance.get_run_by_id(run_id)
    failed = False
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, f"Marked failed by the run guard: {reason}.")
        failed = True
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    log(f"run {run_id}: {reason}; {'marked failed, ' if failed else ''}its concurrency slots freed")


class SyncLock:
    """An exclusive ``flock`` on ``sync.lock`` in the instance's directory, naming its holder inside the file.

    The lock belongs to an open file, so the OS releases it when the holding process dies, however it dies."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.path = Path(instance.root_directory) / "sync.lock"
        self._fd: int | None = None

    def holder(self) -> dict[str, object]:
        """Who holds the lock, as its holder wrote it ({} before it has)."""
        try:
            return json.loads(self.path.read_text() or "{}")
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def acquire(
        self, run_id: str, log: Log, timeout_s: float, while_waiting: Callable[[], None], poll_s: float = 2.0
    ) -> None:
        """Take the lock for ``run_id``, waiting at most ``timeout_s``; ``while_waiting`` runs between tries
        (the clean-up, which stops a holder that outlived the bound)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout_s
        announced: dict[str, object] = {}
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self.holder()
                if holder and holder != announced:
                    log(
                        f"waiting for the sync run {holder.get('run_id')} (pid {holder.get('pid')} on "
                        f"{holder.get('host')}) to finish: one sync at a time"
                    )
                    announced = holder
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TimeoutError(
                        f"the sync run {holder.get('run_id')} (pid {holder.get('pid')}) still holds {self.path} "
                        f"after {timeout_s:.0f} s"
                    ) from None
                while_waiting()
                time.sleep(poll_s)
        process = Process.current()
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"run_id": run_id, "pid": process.pid, "host": process.host}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the file releases the flock
            self._fd = None
