"""One ``sync_job`` run in this process, read back from the Dagster event log: per step its wall time (from
STEP_START to STEP_SUCCESS/FAILURE), rows and API calls (from the materialisation metadata)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
_ROW_KEYS = ("rows_inserted", "rows_updated", "rows_deleted", "rows_sent")


@dataclass
class Step:
    key: str
    start: float = 0.0
    end: float = 0.0
    ok: bool = False
    rows: int = 0
    api_calls: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


@dataclass
class Cycle:
    run_id: str
    ok: bool
    start: float
    end: float
    steps: dict[str, Step]
    failures: list[str]

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def run_sync_job(instance: dg.DagsterInstance) -> Cycle:
    from orchestration.definitions import defs

    job = defs().resolve_job_def("sync_job")
    start = time.time()
    result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    end = time.time()
    steps: dict[str, Step] = {}
    failures: list[str] = []
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        step = steps.setdefault(entry.step_key, Step(entry.step_key))
        kind = event.event_type_value
        if kind == "STEP_START":
            step.start = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            step.end, step.ok = entry.timestamp, kind == "STEP_SUCCESS"
            if kind == "STEP_FAILURE":
                failures.append(f"{entry.step_key}: {event.event_specific_data.error.message.strip()[:500]}")
        elif kind == "ASSET_MATERIALIZATION" and not step.metadata:
            # multi-asset extract steps repeat one metadata dict on each of their tables: count it once
            meta = {k: _value(v) for k, v in event.event_specific_data.materialization.metadata.items()}
            if "api_calls" in meta:
                step.metadata = meta
                step.api_calls = int(meta["api_calls"])
                step.rows = sum(int(meta.get(k) or 0) for k in _ROW_KEYS)
    return Cycle(result.run_id, result.success, start, end, steps, failures)
