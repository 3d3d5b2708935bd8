"""Resident memory of this process tree (pipeline, dbt subprocesses) and of the sandbox, sampled from /proc."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path


def _rss_kib(pid: int | str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def hwm_kib(pid: int) -> int:
    """The kernel's own peak RSS (VmHWM) of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def tree_rss_kib(pid: int, exclude: set[int]) -> int:
    """RSS of ``pid`` and its descendants, skipping the subtrees rooted at ``exclude``."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        if p in exclude:
            continue
        total += _rss_kib(p)
        stack += _children(p)
    return total


def maxrss_mib() -> dict[str, float]:
    """getrusage peaks: this process, and its waited-for children (dbt; the sandbox once it was stopped)."""
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


class Sampler:
    """Samples the pipeline tree's RSS (the sandbox excluded) and the sandbox's RSS every ``interval`` s, so the
    peak inside any time window (a Dagster step) can be read back afterwards."""

    def __init__(self, pid: int, sandbox_pid: int | None, interval: float = 0.2):
        self.pid, self.sandbox_pid, self.interval = pid, sandbox_pid, interval
        self.samples: list[tuple[float, int, int]] = []  # (wall time, pipeline KiB, sandbox KiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        exclude = {self.sandbox_pid} if self.sandbox_pid else set()
        while not self._stop.is_set():
            sandbox = _rss_kib(self.sandbox_pid) if self.sandbox_pid else 0
            self.samples.append((time.time(), tree_rss_kib(self.pid, exclude), sandbox))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mib(self, start: float = 0.0, end: float = float("inf")) -> dict[str, float]:
        inside = [s for s in self.samples if start <= s[0] <= end] or self.samples[-1:]
        return {
            "pipeline": max((s[1] for s in inside), default=0) / 1024,
            "sandbox": max((s[2] for s in inside), default=0) / 1024,
        }
