"""Consent safety through the whole ``sync_job``: answers real services give — a 200 that says failure, a rowless
page, pages shorter than asked, an opt-in between two pages of a read — never un-check anyone whose latest real
consent event is an opt-out. Judged from the sandbox's own state (Salesforce's boxes and Act-On's consent history
read through their APIs and store), never from the warehouse the run computed.

One world, synced to rest first with the whole opt-out list read every run; each test then runs the sync under
its fault and compares the boxes with those taken before.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import yaml

from sandbox.launcher import start
from tests.test_end_to_end import OPTOUT, SYNC_YAML, Pipeline, acton_optouts, fast_acton, normalised

pytestmark = pytest.mark.timeout(900)

SCALE = 400
OPTOUT_LIST = "/api/1/list/optout"
HOLD_CHECK = "optout_hold"


def config() -> dict[str, Any]:
    data = yaml.safe_load(SYNC_YAML.read_text())
    data["optouts"]["whole_list_every_hours"] = 0
    return data


def ticked(p: Pipeline) -> dict[tuple[str, str], str]:
    """(object, Id) -> normalised email of every live, writable Salesforce record whose box is checked."""
    out = {}
    for obj, extra in (("Lead", " AND IsConverted = false"), ("Contact", "")):
        soql = f"SELECT Id, Email FROM {obj} WHERE {OPTOUT} = true{extra}"
        for page in p.sf.query_pages(soql, include_deleted=False):
            for r in page["records"]:
                if email := normalised(r["Email"]):
                    out[(obj, r["Id"])] = email
    return out


def latest_acton_event(p: Pipeline, email: str) -> str | None:
    """The kind ('optout' or 'optin') of the latest consent event of ``email`` in Act-On's own history."""
    with sqlite3.connect(p.sandbox.data_dir / "sandbox.sqlite") as db:
        row = db.execute(
            "SELECT event FROM acton_consent_events WHERE email_norm = ? ORDER BY ts_ms DESC LIMIT 1", [email]
        ).fetchone()
    return row[0] if row else None


def ledger(p: Pipeline) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(p.warehouse), read_only=True) as conn:
        return conn.execute(
            "SELECT email, system, old_value, new_value FROM sync_state.consent_ledger ORDER BY ALL"
        ).fetchall()


def check_outcome(run: Any, name: str) -> Any:
    (evaluation,) = [
        e.event_specific_data
        for e in run.result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name
    ]
    return evaluation


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    home = tmp_path_factory.mktemp("consent")
    sb = fast_acton(start(home / "sandbox", scale=SCALE, seed=31))
    p = Pipeline(sb, home, config())
    for _ in range(2):  # the second run finds nothing the first did not settle
        run = p.run("sync_job")
        assert run.success, run.failures()
    yield p
    p.close()
    sb.stop()


def test_a_failed_answer_or_rowless_reads_of_the_optout_list_untick_nobody(world: Pipeline) -> None:
    p, sb = world, world.sandbox
    before = ticked(p)
    with sqlite3.connect(sb.data_dir / "sandbox.sqlite") as db:
        (listed_before,) = db.execute(
            "SELECT count(*) FROM acton_suppressions WHERE kind = 'optout'"
        ).fetchone()
    assert listed_before > 30

    # a 200 whose body says failure: the read stops, naming the call
    sb.faults(
        "acton", [{"method": "GET", "path": OPTOUT_LIST, "kind": "body", "body": {"status": "failure"}}]
    )
    run = p.run("sync_job")
    sb.clear_faults()
    assert not run.success
    assert any(f"GET {OPTOUT_LIST}" in error and "'result'" in error for error in run.failures().values())
    assert ticked(p) == before

    # rowless pages, read by two runs: every opted-out email is missing twice, far more than the guard allows;
    # the read is held, nobody is un-checked, and the rest of the sync still goes through: a new Salesforce
    # opt-out reaches Act-On
    fresh = next(
        (obj, rid, email)
        for obj, rid, email in (
            (o, r["Id"], normalised(r["Email"]))
            for o in ("Lead", "Contact")
            for page in p.sf.query_pages(
                f"SELECT Id, Email FROM {o} WHERE {OPTOUT} = false AND Email != null"
                + (" AND IsConverted = false" if o == "Lead" else ""),
                include_deleted=False,
            )
            for r in page["records"]
        )
        if email and email not in set(before.values())
    )
    rowless = {"offset": 0, "count": 0, "totalCount": -1, "result": []}
    sb.faults("acton", [{"method": "GET", "path": OPTOUT_LIST, "kind": "body", "body": rowless}])
    first = p.run("sync_job")
    assert first.success, first.failures()
    (result,) = p.sf.update_records(fresh[0], [{"id": fresh[1], OPTOUT: True}])
    assert result["success"]
    held = p.run("sync_job")
    sb.clear_faults()
    assert ticked(p) == {**before, (fresh[0], fresh[1]): fresh[2]}
    evaluation = check_outcome(held, HOLD_CHECK)
    assert not evaluation.passed
    known = listed_before
    assert f"would infer {known} opt-ins of {known} known opt-outs" in evaluation.description
    assert fresh[2] in acton_optouts(p.acton), "a new opt-out did not sync while the read was held"
    assert not [row for row in ledger(p) if row[3] == "false"], "an opt-in was recorded"

    # a read that sees the list again ends the hold
    after = p.run("sync_job")
    assert after.success, after.failures()
    assert check_outcome(after, HOLD_CHECK).passed
    assert ticked(p) == {**before, (fresh[0], fresh[1]): fresh[2]}


def test_an_optin_between_two_short_pages_is_the_only_untick(world: Pipeline) -> None:
    """Pages capped at 7 rows while the read asks for 1,000, and one email opted in inside Act-On between the
    second and third page: that email's records alone are un-checked, once two runs' whole reads lack it."""
    p, sb = world, world.sandbox
    before = ticked(p)
    # the list's last row that is checked in Salesforce: the opt-in takes it off the list before the read
    # reaches it, and shifts every row after the third page's offset left by one
    with sqlite3.connect(sb.data_dir / "sandbox.sqlite") as db:
        order = [
            e
            for (e,) in db.execute(
                "SELECT email_norm FROM acton_suppressions WHERE kind = 'optout' ORDER BY ts_ms, email_norm"
            )
        ]
    listed = [e for e in order if e in set(before.values())]
    leaving = listed[-1]
    assert order.index(leaving) > 3 * 7
    sb.admin("acton", "POST", "limits", {"acton_page_max": 7})
    sb.faults(
        "acton",
        [
            {
                "method": "GET",
                "path": OPTOUT_LIST,
                "kind": "mutate",
                "every": 3,
                "times": 1,
                "ops": [{"op": "acton_opt_in", "email": leaving}],
            }
        ],
    )
    try:
        for _ in range(2):
            run = p.run("sync_job")
            assert run.success, run.failures()
    finally:
        sb.clear_faults()
        sb.admin("acton", "POST", "limits", {"acton_page_max": 1000})
    unticked = {key: email for key, email in before.items() if key not in ticked(p)}
    assert set(unticked.values()) == {leaving}
    assert latest_acton_event(p, leaving) == "optin"
    assert all(
        latest_acton_event(p, e) == "optout" for e in set(ticked(p).values()) - {leaving} if e in listed
    )
    assert {(e, s, o, n) for e, s, o, n in ledger(p) if n == "false"} == {
        (leaving, "salesforce", "true", "false")
    }


@pytest.mark.parametrize("email", ['"john"@example.com', "a,b@example.com"])
def test_an_optout_with_csv_specials_reaches_acton_as_itself(world: Pipeline, email: str) -> None:
    """The opt-out upload is real CSV: the email Act-On records is the one Salesforce holds, not what a naive
    join of lines would make of it (john@example.com, or a)."""
    p = world
    leads = [
        r["Id"]
        for page in p.sf.query_pages(
            f"SELECT Id FROM Lead WHERE {OPTOUT} = false AND IsConverted = false AND Email != null "
            "ORDER BY Id DESC LIMIT 1",
            include_deleted=False,
        )
        for r in page["records"]
    ]
    (result,) = p.sf.update_records("Lead", [{"id": leads[0], "Email": email, OPTOUT: True}])
    assert result["success"]
    run = p.run("sync_job")
    assert run.success, run.failures()
    on_list = acton_optouts(p.acton)
    assert email in on_list
    misread = email.replace('"', "") if email.startswith('"') else email.split(",")[0]
    assert misread not in on_list


def test_a_held_read_of_real_optins_is_applied_once_released(world: Pipeline) -> None:
    """Thirty people really opt back in inside Act-On: more than the guard allows, so the read is held and
    nobody is un-checked; an operator releases that read, and the next run un-checks exactly their records."""
    p, sb = world, world.sandbox
    before = ticked(p)
    # people the list has shown in a whole read (not the ones the CSV tests added a run ago)
    plain = (
        e for e in acton_optouts(p.acton) & set(before.values()) if re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+", e)
    )
    leaving = sorted(plain)[:30]
    assert len(leaving) == 30
    sb.admin("acton", "POST", "mutate", {"ops": [{"op": "acton_opt_in", "email": e} for e in leaving]})
    for _ in range(2):
        run = p.run("sync_job")
    assert not check_outcome(run, HOLD_CHECK).passed
    assert ticked(p) == before

    env = {**os.environ, **p.env()}
    listed = subprocess.run(
        [sys.executable, "-m", "ingest.extract.optout_holds", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (hold_id,) = re.findall(r"^(hold-\S+)\s+held\s", listed, re.MULTILINE)
    assert "30 inferred opt-ins" in listed
    released = subprocess.run(
        [sys.executable, "-m", "ingest.extract.optout_holds", "release", hold_id],
        env=env,
        capture_output=True,
        text=True,
    )
    assert released.returncode == 0, released.stderr
    again = subprocess.run(
        [sys.executable, "-m", "ingest.extract.optout_holds", "release", hold_id],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "released" in again.stderr  # once

    run = p.run("sync_job")
    assert run.success, run.failures()
    unticked = {key: email for key, email in before.items() if key not in ticked(p)}
    assert set(unticked.values()) == set(leaving)
    assert all(latest_acton_event(p, e) == "optin" for e in leaving)
    with duckdb.connect(str(p.warehouse), read_only=True) as conn:
        assert conn.execute(
            "SELECT status, released_by IS NOT NULL FROM sync_state.optout_holds WHERE hold_id = ?", [hold_id]
        ).fetchall() == [("applied", True)]
