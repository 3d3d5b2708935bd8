"""Convergence under faults: a world of the baseline's seed, synced with every fault of the issue injected at
once through the sandboxes' admin API, reaches the baseline's business state — every Salesforce field the sync
writes, every Act-On list's members and columns, the opt-out list, the marts — within a bounded number of runs
(each world is compared at its fixed point, a run with nothing left to send), and its consent ledger holds every
opt-out the fault-free run recorded.

The faults are grouped into one world to fit the CI budget: the run-stopping ones (a daily-limit 403, a failed
Bulk query job) fire once, early, so the first attempt fails cheaply in its extract; the rest are spread over the
remaining attempts by seeded rules, each bounded by ``times`` so that the sequence is repeatable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.reliability.harness import Baseline, World, differences, start_world

# several syncs per test (the first also pays for the shared baseline): minutes, more on a loaded machine
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]

SF = "/services/data/*"
SALESFORCE_FAULTS = [
    # rate limits: concurrent-request 429s in bursts (retried), and the daily limit's 403 once (fails a run)
    {
        "method": "GET",
        "path": f"{SF}/query*",
        "kind": "status",
        "status": 429,
        "probability": 0.2,
        "seed": 1,
        "times": 6,
    },
    {"method": "GET", "path": f"{SF}/queryAll*", "kind": "status", "status": 403, "every": 4, "times": 1},
    # the run's describes (one Composite request)
    {"method": "POST", "path": f"{SF}/composite", "kind": "status", "status": 500, "every": 2, "times": 2},
    {"path": f"{SF}*", "kind": "status", "status": 503, "probability": 0.05, "seed": 2, "times": 6},
    # the connection cut in the middle of a response body, on reads and on a write that already happened
    {"method": "GET", "path": f"{SF}*", "kind": "reset", "probability": 0.05, "seed": 3, "times": 5},
    {"method": "PATCH", "path": f"{SF}/composite/sobjects", "kind": "reset", "times": 1},
    {"method": "GET", "path": f"{SF}/jobs/query/*/results", "kind": "reset", "times": 1},
    # every access token revoked in the middle of the run
    {"path": f"{SF}*", "kind": "expire_session", "every": 40, "times": 3},
    # Bulk jobs that fail, and rows locked by someone else
    {"method": "POST", "path": f"{SF}/jobs/query", "kind": "bulk_job_failed", "times": 1},
    {"method": "PATCH", "path": f"{SF}/jobs/ingest/*", "kind": "bulk_job_failed", "times": 1},
    {
        "method": "PATCH",
        "path": f"{SF}/composite/sobjects",
        "kind": "row_error",
        "error": "UNABLE_TO_LOCK_ROW",
        "fraction": 0.3,
        "seed": 4,
        "times": 4,
    },
    {
        "method": "PATCH",
        "path": f"{SF}/jobs/ingest/*",
        "kind": "row_error",
        "error": "UNABLE_TO_LOCK_ROW",
        "fraction": 0.3,
        "seed": 5,
        "times": 2,
    },
]
ACTON_FAULTS = [
    {"path": "/api/*", "kind": "status", "status": 429, "probability": 0.1, "seed": 6, "times": 5},
    {"path": "/ucl/*", "kind": "status", "status": 429, "times": 1},
    {"path": "/api/*", "kind": "status", "status": 503, "every": 9, "times": 3},
    {"method": "GET", "path": "/api/*", "kind": "status", "status": 500, "every": 13, "times": 2},
    {"method": "GET", "path": "/api/1/list/l-*", "kind": "reset", "every": 2, "times": 2},
    {"method": "PUT", "path": "/api/1/list/optout", "kind": "reset", "times": 1},
    {"kind": "expire_session", "every": 30, "times": 2},
    # the second list upload's job fails (rows Act-On refuses are not retried but held until their data
    # changes, so they are no fault to converge from: tests/writeback/test_acton_rejects.py)
    {"method": "PUT", "path": "/api/1/list/l-*", "kind": "bulk_job_failed", "every": 2, "times": 1},
]


Fired = dict[tuple[str, str, str, str], int]


def _fired(world: World, system: str) -> Fired:
    fired: Fired = {}
    for r in world.sandbox.admin(system, "GET", "faults")["rules"]:
        key = (system, r["method"], r["path"], r["kind"])
        fired[key] = fired.get(key, 0) + r["fired"]
    return fired


@dataclass
class Converged:
    world: World
    fired: Fired  # how often each rule fired


@pytest.fixture(scope="module")
def converged(fault_free: Baseline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Converged]:
    world = start_world(tmp_path_factory.mktemp("faults"))
    world.sandbox.faults("salesforce", SALESFORCE_FAULTS)
    world.sandbox.faults("acton", ACTON_FAULTS)
    try:
        world.settle(max_runs=5)
        fired = {**_fired(world, "salesforce"), **_fired(world, "acton")}
        world.sandbox.clear_faults()  # the state is read back without faults
        yield Converged(world, fired)
    finally:
        world.sandbox.stop()


def test_runs_under_faults_converge_to_the_fault_free_state(
    fault_free: Baseline, converged: Converged
) -> None:
    runs = converged.world.runs
    assert len(runs) >= 2 and runs[0].success is False, (
        "the run-stopping faults should have failed the first run"
    )
    diff = differences(fault_free.facts, converged.world.facts())
    assert not diff, "business state differs from the fault-free run:\n" + "\n".join(diff)


def test_consent_ledger_holds_every_opt_out(fault_free: Baseline, converged: Converged) -> None:
    expected = fault_free.world.ledger_optouts()
    assert expected, "the fault-free run should have changed some consent"
    assert converged.world.ledger_optouts() == expected


def test_every_fault_fired(converged: Converged) -> None:
    silent = sorted(k for k, n in converged.fired.items() if n == 0)
    assert not silent, f"faults that never fired (the test would prove nothing about them): {silent}"


def test_transient_row_errors_were_retried(converged: Converged) -> None:
    """Locked rows were retried within their run or by the next, and a failed Act-On merge job's rows were sent
    again by the next run."""
    codes = dict(
        converged.world.query(
            "SELECT error_code, count(*) FROM sync_state.writeback_results WHERE error_code IS NOT NULL GROUP BY 1"
        )
    )
    assert codes.get("UNABLE_TO_LOCK_ROW", 0) > 0
    assert codes.get("JOB_FAILED", 0) > 0
