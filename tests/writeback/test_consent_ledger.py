"""Consent safety against a fresh sandbox: no change a system accepted is missing from the consent ledger however
the write-back dies, and an un-tick of HasOptedOutOfEmail waits when someone changed the record since the extract.

The warehouse holds what a real extract read (Leads, Contacts, Act-On's opt-out list); the sync models' rows are
set by hand, as in tests/writeback/test_writeback.py, and each outcome is judged by what the sandbox itself holds."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
import requests

from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.acton import ensure_tables, extract_optouts
from ingest.extract.salesforce import extract_object
from sandbox.launcher import Sandbox
from tests.writeback.test_writeback import (
    COMPOSITE,
    SCORE_FIELD,
    config,
    people,
    records,
    set_sync_rows,
    values_in_salesforce,
)
from writeback import optouts as writeback_optouts
from writeback.optouts import OPTOUT_FIELD, sync_optouts
from writeback.state import Intent, LedgerEntry, record_intents

EVENT = datetime(2026, 1, 2, 3, 4, 5)
PATCH_RECORDS = "*/composite/sobjects"
BULK_STATUS = "/services/data/*/jobs/ingest/*"


def extract(wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient) -> None:
    """What a run does before its write-back: the consent state of both systems into the warehouse."""
    for obj in ("Lead", "Contact"):
        extract_object(wh, sf, obj)
    ensure_tables(wh)
    extract_optouts(wh, acton)


def unchecked_leads(sf: SalesforceClient, n: int) -> list[dict[str, Any]]:
    return [r for r in people(sf, "Lead", 40) if not r[OPTOUT_FIELD]][:n]


def optout_rows(recs: Sequence[Mapping[str, Any]], new_value: bool) -> list[dict[str, Any]]:
    """Rows of sync.salesforce_optout_updates setting the Leads' box to ``new_value``."""
    return [
        {
            "salesforce_id": r["Id"],
            "salesforce_object": "Lead",
            "email": r["Email"].lower(),
            "field": OPTOUT_FIELD,
            "old_value": not new_value,
            "new_value": new_value,
            "source_event": "acton_optout" if new_value else "acton_optin",
            "event_at": EVENT,
        }
        for r in recs
    ]


def opted_out(sf: SalesforceClient, recs: Sequence[Mapping[str, Any]]) -> dict[str, bool]:
    """The box of each Lead as Salesforce holds it now."""
    return values_in_salesforce(sf, "Lead", [r["Id"] for r in recs], OPTOUT_FIELD)


def table(wh: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = wh.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def intents(wh: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """The intents by record id (an Act-On intent's record is its email)."""
    return {r["record_id"]: r for r in table(wh, "SELECT * FROM sync_state.consent_intents")}


def ledger(wh: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return wh.execute(
        "SELECT email, system, old_value, new_value, source_event, event_at, run_id, written_at "
        "FROM sync_state.consent_ledger ORDER BY system, email"
    ).fetchall()


def last_results(wh: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, dict[str, Any]]:
    rows = table(
        wh, f"SELECT * FROM sync_state.writeback_results WHERE run_id = '{run_id}' ORDER BY written_at"
    )
    return {r["record_id"]: r for r in rows}


def wait_until_opted_out(sf: SalesforceClient, lead: Mapping[str, Any], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not opted_out(sf, [lead])[lead["Id"]]:
        assert time.monotonic() < deadline, f"{lead['Id']} was not opted out within {timeout_s} s"
        time.sleep(0.2)


def warehouse_time(api_time: str) -> datetime:
    """An API datetime as the warehouse stores it (naive UTC)."""
    return datetime.fromisoformat(api_time).astimezone(UTC).replace(tzinfo=None)


def mutate(sb: Sandbox, *ops: dict[str, Any]) -> None:
    """Change Salesforce behind the API's back, as a person in the org would."""
    sb.admin("salesforce", "POST", "mutate", {"ops": list(ops)})


# -- a ledger that cannot lose an accepted change -----------------------------------------------------------------
def test_changes_both_systems_took_before_the_step_died_are_in_the_ledger_after_the_next_run(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    extract(wh, sf, acton)
    (lead,) = unchecked_leads(sf, 1)
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows([lead], True))
    # Salesforce applies the write and every answer to it (the first send and each repeat) breaks off mid-body:
    # the step dies after the change was made and before it learnt so
    fresh_sandbox.faults(
        "salesforce", [{"kind": "reset", "method": "PATCH", "path": PATCH_RECORDS, "times": 10}]
    )
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sync_optouts(wh, sf, acton, config(), "run-1")
    fresh_sandbox.clear_faults()
    assert opted_out(sf, [lead]) == {lead["Id"]: True}
    assert ledger(wh) == []
    (open_intent,) = intents(wh).values()
    assert (open_intent["run_id"], open_intent["new_value"], open_intent["outcome"]) == (
        "run-1",
        "true",
        None,
    )

    # Act-On: a process that recorded its intent and made the upload, then died before recording anything else
    email = "died.after.upload@example.com"
    change = LedgerEntry(email, "acton", False, True, "salesforce_check", EVENT)
    record_intents(wh, "run-1", [Intent(change, "optout_list", email, "opted_out")])
    acton.opt_out([email])

    # the next run: a fresh extract sees both changes, so the diff asks for neither
    extract(wh, sf, acton)
    set_sync_rows(wh, "salesforce_optout_updates", [])
    summary = sync_optouts(wh, sf, acton, config(), "run-2")
    assert summary.rows_sent == 0
    settled = intents(wh)
    salesforce_at = settled[lead["Id"]]["intended_at"]
    acton_at = settled[email]["intended_at"]
    # written_at is when the change was intended, before the next extract: the dbt echo logic knows it for ours
    assert ledger(wh) == [
        (email, "acton", "false", "true", "salesforce_check", EVENT, "run-1", acton_at),
        (lead["Email"].lower(), "salesforce", "false", "true", "acton_optout", EVENT, "run-1", salesforce_at),
    ]
    assert {(i["outcome"], i["settled_at"] is not None) for i in settled.values()} == {("accepted", True)}

    # settled once: a further run writes no second ledger row
    sync_optouts(wh, sf, acton, config(), "run-3")
    assert len(ledger(wh)) == 2


def test_a_step_killed_before_its_ledger_row_and_re_executed_in_the_same_run_writes_it(
    fresh_sandbox: Sandbox,
    wh: duckdb.DuckDBPyConnection,
    sf: SalesforceClient,
    acton: ActOnClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extract(wh, sf, acton)
    (lead,) = unchecked_leads(sf, 1)
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows([lead], True))

    def killed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    # the last instant a kill can fall on: the write's result recorded, its ledger row not yet
    monkeypatch.setattr(writeback_optouts, "record_accepted", killed)
    with pytest.raises(KeyboardInterrupt):
        sync_optouts(wh, sf, acton, config(), "run-1")
    monkeypatch.undo()
    assert last_results(wh, "run-1")[lead["Id"]]["status"] == "success"
    assert ledger(wh) == []

    # re-executed in the same run, on the same extract (from before the write): the result is the evidence,
    # and the write is not sent again
    patches = fresh_sandbox.stats("salesforce")["by_endpoint"][COMPOSITE]
    assert sync_optouts(wh, sf, acton, config(), "run-1").rows_sent == 0
    assert fresh_sandbox.stats("salesforce")["by_endpoint"][COMPOSITE] == patches
    (intent,) = intents(wh).values()
    assert intent["outcome"] == "accepted"
    assert [(row[0], row[3], row[6], row[7]) for row in ledger(wh)] == [
        (lead["Email"].lower(), "true", "run-1", intent["intended_at"])
    ]


def test_a_write_whose_outcome_was_not_confirmed_is_settled_by_what_salesforce_holds(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    extract(wh, sf, acton)
    refused, lost = unchecked_leads(sf, 2)
    # run-1: Salesforce refuses the write
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows([refused], True))
    fresh_sandbox.faults(
        "salesforce",
        [
            {
                "kind": "row_error",
                "path": PATCH_RECORDS,
                "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "fraction": 1.0,
            }
        ],
    )
    assert sync_optouts(wh, sf, acton, config(), "run-1").failed == 1
    fresh_sandbox.clear_faults()

    # run-2: a Bulk job makes the change, but its status poll is answered with an error, so the write-back
    # counts as failed a change Salesforce made
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows([lost], True))
    fresh_sandbox.faults(
        "salesforce", [{"kind": "status", "status": 400, "method": "GET", "path": BULK_STATUS, "times": 1}]
    )
    assert sync_optouts(wh, sf, acton, config(bulk_threshold=1), "run-2").failed == 1
    fresh_sandbox.clear_faults()
    assert intents(wh)[refused["Id"]]["outcome"] == "not_applied"  # settled at run-2's start, before it sent
    assert intents(wh)[lost["Id"]]["outcome"] is None
    assert ledger(wh) == []
    wait_until_opted_out(sf, lost)  # the job finishes in the sandbox's background

    # run-3: the refused change is in the diff again; the one made unbeknown to run-2 is not
    extract(wh, sf, acton)
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows([refused], True))
    assert sync_optouts(wh, sf, acton, config(), "run-3").succeeded == 1
    by_email = {row[0]: row for row in ledger(wh)}
    lost_intent = intents(wh)[lost["Id"]]
    assert lost_intent["outcome"] == "accepted"
    assert by_email[lost["Email"].lower()][-2:] == ("run-2", lost_intent["intended_at"])
    assert by_email[refused["Email"].lower()][-2] == "run-3"
    assert len(by_email) == 2


# -- guarded un-ticks ------------------------------------------------------------------------------------------
def check_boxes(sf: SalesforceClient, recs: Sequence[Mapping[str, Any]]) -> None:
    """Checked through the API: by the integration user, before the extract."""
    results = sf.update_records("Lead", [{"id": r["Id"], OPTOUT_FIELD: True} for r in recs])
    assert all(r["success"] for r in results), results


def someone_else(sf: SalesforceClient) -> str:
    """The Id of a user who is not the integration user."""
    us = sf.user_id
    return next(r["Id"] for r in records(sf, "SELECT Id FROM User ORDER BY Id") if r["Id"] != us)


def queries(sb: Sandbox) -> int:
    return sb.stats("salesforce")["by_endpoint"].get("GET /services/data/vXX.X/query/", 0)


def test_an_untick_waits_when_someone_else_changed_the_record_since_the_extract(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    rechecked, unchecked, deleted, kept = leads = unchecked_leads(sf, 4)
    check_boxes(sf, leads)
    extract(wh, sf, acton)
    person = someone_else(sf)
    # between the extract and the write-back a person clears and re-checks one box and clears another, and a
    # record is deleted
    mutate(
        fresh_sandbox,
        *(
            {
                "op": "set",
                "object": "Lead",
                "id": rid,
                "fields": {OPTOUT_FIELD: value, "LastModifiedById": person},
            }
            for rid, value in ((rechecked["Id"], False), (rechecked["Id"], True), (unchecked["Id"], False))
        ),
        {"op": "hard_delete", "object": "Lead", "ids": [deleted["Id"]]},
    )
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows(leads, False))
    before = queries(fresh_sandbox)
    summary = sync_optouts(wh, sf, acton, config(), "run-1")

    assert queries(fresh_sandbox) - before == 1  # the four Ids re-read in one query
    assert opted_out(sf, [rechecked, unchecked, kept]) == {
        rechecked["Id"]: True,
        unchecked["Id"]: False,
        kept["Id"]: False,
    }
    results = last_results(wh, "run-1")
    assert {rid: (r["status"], r["error_code"]) for rid, r in results.items()} == {
        rechecked["Id"]: ("skipped", "MODIFIED_SINCE_EXTRACT"),
        unchecked["Id"]: ("skipped", "NOT_CHECKED"),
        deleted["Id"]: ("skipped", "NOT_FOUND"),
        kept["Id"]: ("success", None),
    }
    assert f"modified by {person}" in results[rechecked["Id"]]["message"]
    assert (summary.rows_sent, summary.succeeded, summary.skipped) == (1, 1, 3)
    assert set(intents(wh)) == {kept["Id"]}  # nothing held back was intended
    assert [(row[0], row[3], row[6]) for row in ledger(wh)] == [(kept["Email"].lower(), "false", "run-1")]

    # Nothing of a skip is kept as a decision: the next run decides again. On the same extract the record still
    # differs from it, so the un-tick waits again; on a fresh extract its last change is known (there dbt would
    # no longer ask for the un-tick: the re-check is newer than the opt-in), so an un-tick still asked for goes.
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows([rechecked], False))
    sync_optouts(wh, sf, acton, config(), "run-2")
    assert last_results(wh, "run-2")[rechecked["Id"]]["status"] == "skipped"
    extract(wh, sf, acton)
    sync_optouts(wh, sf, acton, config(), "run-3")
    assert last_results(wh, "run-3")[rechecked["Id"]]["status"] == "success"
    assert opted_out(sf, [rechecked]) == {rechecked["Id"]: False}


def test_an_untick_goes_to_records_only_the_integration_user_changed_since_the_extract(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    ours, untouched = leads = unchecked_leads(sf, 2)
    check_boxes(sf, leads)
    extract(wh, sf, acton)
    # one of our own pushes (a score) writes the record after the extract
    (written,) = sf.update_records("Lead", [{"id": ours["Id"], SCORE_FIELD: 42.0}])
    assert written["success"], written
    (extracted,) = wh.execute(
        'SELECT "SystemModstamp" FROM raw_salesforce.lead WHERE "Id" = ?', [ours["Id"]]
    ).fetchone()
    now = values_in_salesforce(sf, "Lead", [ours["Id"]], "SystemModstamp")[ours["Id"]]
    assert warehouse_time(now) > extracted
    set_sync_rows(wh, "salesforce_optout_updates", optout_rows(leads, False))
    summary = sync_optouts(wh, sf, acton, config(), "run-1")

    assert opted_out(sf, leads) == {ours["Id"]: False, untouched["Id"]: False}
    assert {rid: r["status"] for rid, r in last_results(wh, "run-1").items()} == {
        ours["Id"]: "success",
        untouched["Id"]: "success",
    }
    assert (summary.succeeded, summary.skipped) == (2, 0)
    assert sorted((row[0], row[3]) for row in ledger(wh)) == sorted(
        (r["Email"].lower(), "false") for r in leads
    )
