"""SIGKILL at each write step by name — the list merge upload, the score push, the opt-out upload, the
HasOptedOutOfEmail write through sObject Collections and through Bulk 2.0 — each followed by a run on the same
Dagster instance (the committed config: the one-writer pool, the run guard) and warehouse, on each warehouse
target (the DuckDB file; WAREHOUSE=postgres, where a killed process's open transaction is the server's to roll
back). After the runs settle, judged from the sandbox's own state, never from the warehouse:

- every opt-out Act-On accepted from our uploads, and every Salesforce box the sync changed, is a row of the
  consent ledger (a kill between the call and the ledger write loses none);
- no record whose box was checked is left un-checked unless its email's latest event in Act-On's own consent
  history is an opt-in (the kills re-subscribe nobody).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.reliability.harness import REPO, World, start_world
from tests.test_end_to_end import ON_EACH_WAREHOUSE, OPTOUT, SCORE_FIELD, normalised, warehouse_env

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]

SEED = 41
MERGE = "PUT /api/1/list/{listid}"
OPTOUT_UPLOAD = "PUT /api/1/list/optout"
COLLECTIONS = "PATCH /services/data/vXX.X/composite/sobjects"
BULK_UPLOAD = "PUT /services/data/vXX.X/jobs/ingest/{jobid}/batches"


def calls(world: World, system: str, endpoint: str) -> int:
    return sum(n for key, n in world.stats(system).items() if key.startswith(endpoint.split("{")[0]))


def kill_in_step(world: World, step: str, system: str, endpoints: tuple[str, ...]) -> None:
    """Start a sync and SIGKILL it once a call to one of ``endpoints`` reached the sandbox after ``step``
    started."""
    run = world.start_sync()
    marks: dict[str, int] = {}

    def made() -> int:
        return sum(calls(world, system, endpoint) for endpoint in endpoints)

    def reached() -> bool:
        if step not in marks:
            if not run.saw(f"{step} - STEP_START"):
                return False
            marks[step] = made()
        return made() > marks[step]

    run.kill_when(reached)


def boxes(world: World) -> dict[tuple[str, str], tuple[str, bool]]:
    """(object, Id) -> (normalised email, box) of every live, writable Lead and Contact with an email."""
    out = {}
    for obj, extra in (("Lead", " WHERE IsConverted = false"), ("Contact", "")):
        for page in world.salesforce.query_pages(
            f"SELECT Id, Email, {OPTOUT} FROM {obj}{extra}", include_deleted=False
        ):
            for r in page["records"]:
                if email := normalised(r["Email"]):
                    out[(obj, r["Id"])] = (email, bool(r[OPTOUT]))
    return out


def acton_listed(world: World) -> set[str]:
    with sqlite3.connect(world.sandbox.data_dir / "sandbox.sqlite") as db:
        return {e for (e,) in db.execute("SELECT email_norm FROM acton_suppressions WHERE kind = 'optout'")}


def acton_history(world: World) -> list[tuple[str, str, str]]:
    """(email, event, origin) of Act-On's consent history, oldest first."""
    with sqlite3.connect(world.sandbox.data_dir / "sandbox.sqlite") as db:
        return db.execute(
            "SELECT email_norm, event, origin FROM acton_consent_events ORDER BY ts_ms, rowid"
        ).fetchall()


def human_user(world: World) -> str:
    """A user other than the integration user, to make changes as a person in Salesforce would."""
    (page,) = world.salesforce.query_pages("SELECT Id, Username FROM User ORDER BY Id", include_deleted=False)
    integration = world.env["SALESFORCE_USERNAME"]
    return next(r["Id"] for r in page["records"] if r["Username"] != integration)


def tick(world: World, records: list[tuple[str, str]], user: str) -> None:
    ops = [
        {"op": "set", "object": obj, "id": rid, "fields": {OPTOUT: True, "LastModifiedById": user}}
        for obj, rid in records
    ]
    world.sandbox.admin("salesforce", "POST", "mutate", {"ops": ops})


def acton_opt_out(world: World, emails: list[str]) -> None:
    ops = [{"op": "acton_opt_out", "email": e, "origin": "Preference Center"} for e in emails]
    world.sandbox.admin("acton", "POST", "mutate", {"ops": ops})


@pytest.fixture(params=ON_EACH_WAREHOUSE)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = start_world(tmp_path, seed=SEED, warehouse_env=warehouse_env(request, "consent_kills"))
    # the committed instance: a killed run holding the duckdb pool's slot must not block the next one
    shutil.copy(REPO / ".dagster" / "dagster.yaml", Path(w.env["DAGSTER_HOME"]) / "dagster.yaml")
    yield w
    w.sandbox.stop()


def test_a_kill_at_each_write_step_loses_no_consent_change(world: World) -> None:
    initial = boxes(world)
    user = human_user(world)
    ours: set[tuple[str, str]] = set()  # records a person (the test) changed: not the sync's doing

    def people_tick(n: int) -> Callable[[], None]:
        def change() -> None:
            now = boxes(world)
            picked = [k for k, (_, box) in sorted(now.items()) if not box][:n]
            tick(world, picked, user)
            ours.update(picked)

        return change

    def acton_optouts(n: int) -> Callable[[], None]:
        def change() -> None:
            emails = sorted({email for email, box in boxes(world).values() if not box} - acton_listed(world))[
                :n
            ]
            acton_opt_out(world, emails)

        return change

    def scores_drift() -> None:
        """Five scored Leads carry another score in Salesforce: the score push has rows to send."""
        soql = f"SELECT Id FROM Lead WHERE {SCORE_FIELD} != null AND IsConverted = false ORDER BY Id LIMIT 5"
        (page,) = world.salesforce.query_pages(soql, include_deleted=False)
        ops = [
            {"op": "set", "object": "Lead", "id": r["Id"], "fields": {SCORE_FIELD: 999999}}
            for r in page["records"]
        ]
        assert len(ops) == 5
        world.sandbox.admin("salesforce", "POST", "mutate", {"ops": ops})

    steps: list[tuple[Callable[[], None], str, str, tuple[str, ...]]] = [
        (lambda: None, "acton_list_sync", "acton", (MERGE,)),
        (scores_drift, "salesforce_score_push", "salesforce", (COLLECTIONS, BULK_UPLOAD)),
        (people_tick(3), "optout_sync", "acton", (OPTOUT_UPLOAD,)),
        (acton_optouts(3), "optout_sync", "salesforce", (COLLECTIONS,)),
        (acton_optouts(70), "optout_sync", "salesforce", (BULK_UPLOAD,)),
    ]
    for change, step, system, endpoints in steps:
        change()
        kill_in_step(world, step, system, endpoints)
    runs = world.settle(max_runs=5)
    assert runs[-1].success

    ledger = world.query(
        "SELECT DISTINCT lower(trim(email)), system, new_value FROM sync_state.consent_ledger"
    )
    # every opt-out Act-On accepted from our uploads is in the ledger
    uploaded = {
        e for e, event, origin in acton_history(world) if event == "optout" and "via Act-On API" in origin
    }
    assert uploaded and uploaded <= {e for e, system, new in ledger if system == "acton" and new == "true"}
    # every box the sync changed is in the ledger, with the value it set
    now = boxes(world)
    changed = {
        (email, box)
        for key, (email, box) in now.items()
        if key in initial and key not in ours and initial[key][1] != box
    }
    assert changed and changed <= {(e, new == "true") for e, system, new in ledger if system == "salesforce"}
    # nobody re-subscribed: a box checked before and un-checked now belongs to an email that opted in in Act-On
    latest = {e: event for e, event, _ in acton_history(world)}
    unticked = {
        email
        for key, (email, box) in now.items()
        if not box and (initial.get(key, ("", False))[1] or key in ours)
    }
    assert all(latest.get(email) == "optin" for email in unticked), sorted(
        e for e in unticked if latest.get(e) != "optin"
    )
    # the killed runs show as failed in the instance the next runs used; none is left holding a slot
    instance = dg.DagsterInstance.from_config(world.env["DAGSTER_HOME"])
    try:
        statuses = {r.run_id: r.status for r in instance.get_runs()}
    finally:
        instance.dispose()
    assert dg.DagsterRunStatus.STARTED not in statuses.values()
    assert sum(s == dg.DagsterRunStatus.FAILURE for s in statuses.values()) >= len(steps)
