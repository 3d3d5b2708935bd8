"""Per-stage rows of a benchmark cycle: wall time, rows, rows/s, API calls against their floor, peak RSS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks import floors
from benchmarks.cycle import Cycle, Step
from benchmarks.rss import Sampler
from ingest.extract.salesforce import OBJECTS

# step key -> object, for the extract steps only (each also has an asset-check step, whose key extends it)
SF_EXTRACT_STEPS = {f"raw_salesforce__{obj.lower()}": obj for obj in OBJECTS}
ACTON_PREFIX = "raw_acton_"
SF_WRITES = ("salesforce_score_push", "salesforce_bounce_push", "salesforce_prospect_fields_push")
PREFLIGHT_CALLS = 1  # the describes, in one Composite call


def step_floor(step: Step, changed: Mapping[str, int], lists: int, first_run: bool) -> tuple[int, int]:
    """(fewest API calls, of which Act-On) for what this step had to move."""
    key, rows = step.key, int(step.metadata.get("rows_sent", step.rows))
    if key in SF_EXTRACT_STEPS:
        return floors.sf_query_calls(changed[SF_EXTRACT_STEPS[key]]), 0
    if key == "raw_acton_list_records":  # a whole list is one CSV download, however long
        n = min(floors.acton_read_calls(step.rows), lists)
        return n, n
    if key.startswith(ACTON_PREFIX):
        n = floors.acton_read_calls(step.rows)
        return n, n
    if key == "acton_list_sync":
        n = floors.acton_list_sync_calls(rows, int(step.metadata.get("removed", 0)), lists, create=first_run)
        return n, n
    if key == "optout_sync":
        acton = floors.acton_optout_calls(rows)
        return acton + floors.sf_write_calls(rows), acton
    if key in SF_WRITES:
        return floors.sf_write_calls(rows), 0
    if key.endswith("sync_preflight"):
        return PREFLIGHT_CALLS, 0
    return 0, 0


def _ratio(calls: int | None, floor: int) -> float | None:
    if calls is None:
        return None
    return round(calls / floor, 2) if floor else (1.0 if calls == 0 else None)


def stages(
    cycle: Cycle, changed: Mapping[str, int], sampler: Sampler, lists: int, first_run: bool
) -> list[dict[str, Any]]:
    out = []
    for step in sorted(cycle.steps.values(), key=lambda s: s.start):
        floor, acton_floor = step_floor(step, changed, lists, first_run)
        rows = step.rows
        out.append(
            {
                "step": step.key,
                "ok": step.ok,
                "seconds": round(step.seconds, 2),
                "rows": rows,
                "rows_per_s": round(rows / step.seconds) if step.seconds > 0 and rows else None,
                "api_calls": step.api_calls,
                "api_floor": floor,
                "acton_api_floor": acton_floor,
                "ratio_to_floor": _ratio(step.api_calls, floor),
                "peak_rss_mib": sampler.peak_mib(step.start, step.end),
            }
        )
    return out


def print_stages(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"  {'step':<40}{'s':>8}{'rows':>10}{'rows/s':>10}{'calls':>7}{'floor':>7}{'ratio':>7}{'RSS MiB':>9}"
    )
    for r in rows:
        print(
            f"  {r['step']:<40}{r['seconds']:>8.2f}{r['rows']:>10,}{r['rows_per_s'] or '':>10}"
            f"{'' if r['api_calls'] is None else r['api_calls']:>7}{r['api_floor']:>7}"
            f"{'' if r['ratio_to_floor'] is None else r['ratio_to_floor']:>7}"
            f"{r['peak_rss_mib']['pipeline']:>9.0f}"
        )
