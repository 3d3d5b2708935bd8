"""Act-On rejects are never successes, nor retried forever. Through a sandbox of each test's own (real HTTP):
rows a merge job or an opt-out upload refused land in ``sync_state.rejects`` with Act-On's reason and are not sent
again until their data changes; a count of refused rows the answer cannot name stops the step; an existing list
without the configured headings is not adopted. Judged from the sandbox's own state (the list's records, the
opt-out list, the call counts) and from Act-On's OpenAPI file."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.clients.acton_client import ActOnClient
from ingest.clients.answers import UnexpectedAnswer
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox
from tests.writeback.test_writeback import (
    config,
    list_names,
    list_records,
    member_rows,
    people,
    results,
    set_sync_rows,
)
from writeback.acton_lists import ListHeadingsMissing, sync_acton_lists
from writeback.optouts import push_acton_optouts

CONTACTS, LEADS = "SFDC Master Contacts", "SFDC Master Leads"
MERGE, OPTOUT_UPLOAD = "PUT /api/1/list/{listid}", "PUT /api/1/list/optout"
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "reference" / "acton-openapi" / "act-on-api-1.json"
LOCKED = "Record locked by another import"


def calls(sb: Sandbox, endpoint: str) -> int:
    return sb.stats("acton")["by_endpoint"].get(endpoint, 0)


def rejects(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(conn.execute("SELECT lower(email), reason FROM sync_state.rejects").fetchall())


def documented_status() -> tuple[set[str], set[str]]:
    """The keys Act-On's OpenAPI file gives a finished list upload job's status answer, and its ``details``."""
    spec = json.loads(OPENAPI.read_text())
    schema = spec["paths"]["/api/1/list/{jobid}/status"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    done = next(s for s in schema["schema"]["oneOf"] if s["title"] == "Successful Response")
    return set(done["properties"]), set(done["properties"]["details"]["properties"])


def test_a_job_status_answers_the_documented_fields_and_names_a_file_only_for_refused_rows(
    clients: tuple[SalesforceClient, ActOnClient],
) -> None:
    _, acton = clients
    answer, details = documented_status()
    specs = [{"columnHeading": "Email", "columnIndex": 0, "columnType": "EMAIL", "ignoreColumn": "N"}]
    list_id = acton.create_list("Documented", specs)
    clean = acton.wait_for_job(acton.merge_upload(list_id, b"Email\r\nann@example.com\r\n", specs))
    assert (set(clean), set(clean["details"])) == (answer, details)
    assert json.loads(clean["jobDetails"]) == clean["details"]
    refused = acton.wait_for_job(acton.merge_upload(list_id, b"Email\r\nnot an email\r\n", specs))
    assert set(refused["details"]) - details == {"rejectedRecordsFileName"}
    assert refused["details"]["rejectedCount"] == 1


def test_rows_a_merge_refused_land_in_rejects_and_are_sent_again_only_changed(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    sf, acton = clients
    rows = member_rows(CONTACTS, "Contact", people(sf, "Contact", 10))
    set_sync_rows(wh, "acton_list_upserts", rows)
    fresh_sandbox.faults(
        "acton",
        [{"kind": "row_error", "method": "PUT", "path": "/api/1/list/l-*", "error": LOCKED, "fraction": 0.4}],
    )
    first = sync_acton_lists(wh, acton, config(), "run-1")

    sent = {r["email"].lower() for r in rows}
    refused = sent - {r["Email"].lower() for r in list_records(acton, CONTACTS)}
    assert 0 < len(refused) < len(sent)  # the seeded fault refused some rows, not all
    assert rejects(wh) == dict.fromkeys(refused, LOCKED)
    outcome = {r["record_id"]: (r["status"], r["error_code"]) for r in results(wh, "field = 'member'")}
    assert outcome == {e: ("failed", "REJECTED") if e in refused else ("success", None) for e in sent}
    assert (first.succeeded, first.rejected) == (len(sent) - len(refused), len(refused))

    # the next run's diff holds the refused rows, unchanged: none is sent
    fresh_sandbox.clear_faults()
    again = [r for r in rows if r["email"].lower() in refused]
    set_sync_rows(wh, "acton_list_upserts", again)
    uploads = calls(fresh_sandbox, MERGE)
    second = sync_acton_lists(wh, acton, config(), "run-2")
    assert calls(fresh_sandbox, MERGE) == uploads
    assert (second.rows_sent, second.skipped) == (0, len(refused))

    # one of them changed: that one is sent, and goes in
    changed = {
        **again[0],
        "field_values": json.dumps({**json.loads(again[0]["field_values"]), "Lead Score": "99"}),
    }
    set_sync_rows(wh, "acton_list_upserts", [changed, *again[1:]])
    third = sync_acton_lists(wh, acton, config(), "run-3")
    assert (third.rows_sent, third.succeeded, third.skipped) == (1, 1, len(refused) - 1)
    in_list = {r["Email"].lower(): r for r in list_records(acton, CONTACTS)}
    assert in_list[changed["email"].lower()]["Lead Score"] == "99"
    assert refused - set(in_list) == refused - {changed["email"].lower()}


def test_a_count_of_refused_rows_the_answer_cannot_name_stops_the_step(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    """Read as "no rows refused", two members would be recorded as in the list that may not be."""
    sf, acton = clients
    set_sync_rows(wh, "acton_list_upserts", member_rows(CONTACTS, "Contact", people(sf, "Contact", 3)))
    details = {"status": "ok", "listId": "l-0001", "appendCount": 1, "updateCount": 0, "failedCount": 0}
    details["rejectedCount"] = 2
    status = {"status": "success", "jobDetails": json.dumps(details), "details": details}
    fresh_sandbox.faults(
        "acton", [{"kind": "body", "method": "GET", "path": "/api/1/list/*/status", "body": status}]
    )
    with pytest.raises(UnexpectedAnswer) as e:
        sync_acton_lists(wh, acton, config(), "run-1")
    assert re.match(r"acton GET /api/1/list/\d+/status -> ", str(e.value)), str(e.value)
    assert "2 rows refused" in str(e.value)
    assert results(wh) == [] and rejects(wh) == {}


def optout_rows(emails: list[str], event: datetime) -> list[dict[str, Any]]:
    return [{"email": e, "source_event": "salesforce_optout", "event_at": event} for e in emails]


def test_an_optout_upload_reject_lands_in_rejects_and_is_not_sent_again_until_its_event_changes(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    _, acton = clients
    emails = [f"refusable.{i}@example.com" for i in range(8)]
    event = datetime(2026, 3, 4, 5, 6, 7)
    set_sync_rows(wh, "acton_optout_additions", optout_rows(emails, event))
    fault = {
        "kind": "row_error",
        "method": "PUT",
        "path": "/api/1/list/optout",
        "error": LOCKED,
        "fraction": 0.4,
    }
    fresh_sandbox.faults("acton", [fault])
    first = push_acton_optouts(wh, acton, config(), "run-1")

    def on_list() -> set[str]:
        return {r["email"].lower() for page in acton.optout_pages() for r in page["result"]}

    refused = set(emails) - on_list()
    assert 0 < len(refused) < len(emails)
    assert rejects(wh) == dict.fromkeys(refused, LOCKED)
    assert (first.succeeded, first.rejected, first.failed) == (len(emails) - len(refused), len(refused), 0)
    # not a failure to retry, nor a success: no result row, no ledger row, its intent settled as not applied
    assert {r["record_id"] for r in results(wh)} == set(emails) - refused
    assert {r["status"] for r in results(wh)} == {"success"}
    ledger = {e for (e,) in wh.execute("SELECT email FROM sync_state.consent_ledger").fetchall()}
    assert ledger == set(emails) - refused
    intents = dict(wh.execute("SELECT email, outcome FROM sync_state.consent_intents").fetchall())
    assert intents == {e: "not_applied" if e in refused else "accepted" for e in emails}

    # the next run's diff still holds them, for the same consent event: nothing is uploaded
    fresh_sandbox.clear_faults()
    set_sync_rows(wh, "acton_optout_additions", optout_rows(sorted(refused), event))
    uploads = calls(fresh_sandbox, OPTOUT_UPLOAD)
    second = push_acton_optouts(wh, acton, config(), "run-2")
    assert calls(fresh_sandbox, OPTOUT_UPLOAD) == uploads
    assert (second.rows_sent, second.skipped) == (0, len(refused))
    assert refused.isdisjoint(on_list())

    # a newer opt-out of one of them is sent again, and taken
    newer, *unchanged = sorted(refused)
    set_sync_rows(
        wh,
        "acton_optout_additions",
        optout_rows([newer], event + timedelta(days=1)) + optout_rows(unchanged, event),
    )
    third = push_acton_optouts(wh, acton, config(), "run-3")
    assert (third.rows_sent, third.succeeded, third.skipped) == (1, 1, len(unchanged))
    assert newer in on_list()
    runs = wh.execute("SELECT run_id FROM sync_state.consent_ledger WHERE email = ?", [newer]).fetchall()
    assert runs == [("run-3",)]


def headings_specs(headings: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "columnHeading": h,
            "columnIndex": i,
            "ignoreColumn": "N",
            **({"columnType": "EMAIL"} if i == 0 else {}),
        }
        for i, h in enumerate(headings)
    ]


def test_an_existing_list_is_adopted_only_with_every_configured_heading(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, clients: tuple[SalesforceClient, ActOnClient]
) -> None:
    sf, acton = clients
    lists = {lst.name: lst for lst in config().lists}
    # the configured headings, and the Salesforce Id the sync links records back by
    wanted = {name: [*lst.fields, "Salesforce Id"] for name, lst in lists.items()}
    acton.create_list(CONTACTS, headings_specs(["Email", "First Name", "Last Name"]))
    set_sync_rows(
        wh,
        "acton_list_upserts",
        member_rows(CONTACTS, "Contact", people(sf, "Contact", 2))
        + member_rows(LEADS, "Lead", people(sf, "Lead", 2)),
    )
    with pytest.raises(ListHeadingsMissing) as e:
        sync_acton_lists(wh, acton, config(), "run-1")
    missing = [h for h in wanted[CONTACTS] if h not in ("Email", "First Name", "Last Name")]
    message = str(e.value)
    assert f"'{CONTACTS}'" in message and str(missing) in message and "fix:" in message
    assert "lists[0]" in message
    # judged before anything is sent: the Leads list is not created, nothing merged
    assert list_names(acton) & set(lists) == {CONTACTS}
    assert calls(fresh_sandbox, MERGE) == 0 and results(wh) == []

    # a list with every heading (in another case: Act-On and the extract match headings so) is adopted
    acton.create_list(LEADS, headings_specs([h.lower() for h in wanted[LEADS]]))
    summary = sync_acton_lists(wh, acton, config(), "run-2", names=[LEADS])
    assert summary.succeeded == 2
    names = [e["name"] for page in acton.lists() for e in page["result"]]
    assert names.count(LEADS) == 1 and len(list_records(acton, LEADS)) == 2
