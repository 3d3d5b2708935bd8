"""benchmarks/profiling.py on a real (short) pyinstrument session and on dagster-dbt-shaped target directories."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import tenacity

from benchmarks import profiling

THIS = "tests/benchmarks/test_bench_profile.py"


def _spin() -> int:
    total, end = 0, time.perf_counter() + 0.2
    while time.perf_counter() < end:
        total += 1
    return total


def _wait_in_library() -> None:
    # two attempts, tenacity sleeping between them: a stdlib sleep reached through a library
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_fixed(0.2), reraise=True
    )
    for attempt in retrying:
        with attempt:
            if attempt.retry_state.attempt_number == 1:
                raise ValueError("first attempt fails")


def _work() -> str:
    _spin()
    _wait_in_library()
    time.sleep(0.2)
    return "done"


def _label(fn: Callable[..., object]) -> str:
    return f"{fn.__name__} {THIS}:{fn.__code__.co_firstlineno}"


def test_hot_frames_and_reports(tmp_path: Path) -> None:
    result, session = profiling.profile_call(_work)
    assert result == "done"

    report = profiling.write_report(session, "cycle", tmp_path)
    hot = report["hot_frames"]
    cumulative = {e["frame"] for e in hot["cumulative"]}
    assert {_label(_work), _label(_spin), _label(_wait_in_library)} <= cumulative
    self_time = {(e["frame"].split()[0], e["called_from"], e["via"]) for e in hot["self"]}
    assert ("sleep", _label(_work), None) in self_time
    assert ("sleep", _label(_wait_in_library), "tenacity") in self_time
    assert all(e["seconds"] > 0 for e in hot["self"])

    text = (tmp_path / "cycle.txt").read_text()
    assert text.startswith("Self time outside dagster's packages")
    assert f"_spin  {THIS}" in text  # the call tree, after the hot frames
    assert len(text.splitlines()) <= profiling.TEXT_MAX_LINES + 1
    assert "<html" in (tmp_path / "cycle.html").read_text().lower()
    assert report["text"] == str(tmp_path / "cycle.txt")


def _invocation(target: Path, name: str, times: dict[str, float], mtime: float) -> Path:
    path = target / name / "run_results.json"
    path.parent.mkdir(parents=True)
    results = [{"unique_id": k, "status": "success", "execution_time": v} for k, v in times.items()]
    path.write_text(json.dumps({"results": results, "elapsed_time": sum(times.values())}))
    os.utime(path, (mtime, mtime))
    return path


def test_dbt_slowest_reads_the_runs_newest_invocation(tmp_path: Path) -> None:
    now = time.time()
    run_id = "abc1234ffff"
    _invocation(tmp_path, "dbt_models-abc1234-0000001", {"model.old": 9.0}, now - 100)  # before the cycle
    _invocation(tmp_path, "dbt_models-abc1234-0000002", {"model.a": 0.5, "model.b": 2.0, "test.c": 1.0}, now)
    _invocation(tmp_path, "dbt_models-fff9999-0000003", {"model.other_run": 5.0}, now + 1)

    found = profiling.dbt_slowest(run_id, since=now - 10, target=tmp_path, top=2)

    assert found is not None
    assert found["run_results"] == str(tmp_path / "dbt_models-abc1234-0000002" / "run_results.json")
    assert [n["node"] for n in found["slowest_nodes"]] == ["model.b", "test.c"]
    assert found["elapsed_s"] == 3.5
    assert profiling.dbt_slowest("0000000", since=now - 10, target=tmp_path) is None
