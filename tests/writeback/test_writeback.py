"""Integration: the write-back against a fresh sandbox, checked the way a user would — in Act-On's lists, on
the Salesforce records, in Act-On's opt-out list and in sync_state. The sync.* input tables are created
directly (tests/writeback_support.py, columns as the dbt models have them), so these tests do not depend on a dbt
run."""

from __future__ import annotations

import csv
import gc
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests
import yaml

from common import warehouse
from common.sync_config import SyncConfig, parse_sync_config
from health.preflight import PreflightError, preflight
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from orchestration.defs.resources import (
    ActOnResource,
    SalesforceResource,
    SyncConfigResource,
    WarehouseResource,
)
from orchestration.defs.writeback import acton_list_sync, salesforce_score_push
from sandbox.launcher import Sandbox
from tests.writeback_support import env, set_sync_rows
from writeback.acton_lists import sync_acton_lists
from writeback.optouts import sync_optouts
from writeback.salesforce_fields import push_field_updates
from writeback.state import sync_row_chunks

push_scores = partial(push_field_updates, model="salesforce_score_updates")
SYNC_YAML = Path(__file__).resolve().parents[2] / "sync.yaml"
SCORE_FIELD = "ActOn_Lead_Score__c"
COMPOSITE = "PATCH /services/data/vXX.X/composite/sobjects"
BULK_INGEST = "POST /services/data/vXX.X/jobs/ingest"
BULK_RESULTS = "GET /services/data/vXX.X/jobs/ingest/{{job_id}}/{}"
ACTON_MERGE = "PUT /api/1/list/{listid}"
ACTON_DELETE = "DELETE /api/1/list/{listid}/record"


# -- helpers ---------------------------------------------------------------------------------------------------
def config_with(**sections: dict[str, Any]) -> SyncConfig:
    """The shipped sync.yaml with these keys of its sections changed."""
    data = yaml.safe_load(SYNC_YAML.read_text())
    for name, values in sections.items():
        data[name].update(values)
    return parse_sync_config(data)


def config(**writeback: Any) -> SyncConfig:
    return config_with(writeback=writeback)


def records(sf: SalesforceClient, soql: str) -> list[dict[str, Any]]:
    return [r for page in sf.query_pages(soql, include_deleted=False) for r in page["records"]]


def people(sf: SalesforceClient, obj: str, n: int) -> list[dict[str, Any]]:
    """Live records with an email (no converted leads: Salesforce refuses writes to them), the first ``n`` by Id:
    without an ORDER BY the rows a LIMIT keeps depend on the index the server reads."""
    where = "Email != null" + (" AND IsConverted = false" if obj == "Lead" else "")
    return records(
        sf,
        f"SELECT Id, Email, FirstName, LastName, HasOptedOutOfEmail, {SCORE_FIELD} FROM {obj} WHERE {where} "
        f"ORDER BY Id LIMIT {n}",
    )


def score_rows(obj: str, recs: Sequence[Mapping[str, Any]], base: float = 10) -> list[dict[str, Any]]:
    return [
        {
            "salesforce_id": r["Id"],
            "salesforce_object": obj,
            "email": r["Email"],
            "field": SCORE_FIELD,
            "old_value": r[SCORE_FIELD],
            "new_value": base + i,
        }
        for i, r in enumerate(recs)
    ]


def values_in_salesforce(
    sf: SalesforceClient, obj: str, ids: Sequence[str], field: str = SCORE_FIELD
) -> dict[str, Any]:
    quoted = ", ".join(f"'{i}'" for i in ids)
    return {r["Id"]: r[field] for r in records(sf, f"SELECT Id, {field} FROM {obj} WHERE Id IN ({quoted})")}


def leads_to_score(
    sf: SalesforceClient, wh: duckdb.DuckDBPyConnection, n: int, base: float = 10
) -> list[dict[str, Any]]:
    """``people``'s first ``n`` Leads, each with a score to push in ``sync.salesforce_score_updates``: ``base`` plus
    its index."""
    leads = people(sf, "Lead", n)
    set_sync_rows(wh, "salesforce_score_updates", score_rows("Lead", leads, base))
    return leads


def results(conn: duckdb.DuckDBPyConnection, where: str = "true") -> list[dict[str, Any]]:
    cur = conn.execute(f"SELECT * FROM sync_state.writeback_results WHERE {where} ORDER BY written_at")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def list_records(acton: ActOnClient, name: str) -> list[dict[str, str]]:
    list_id = next(e["id"] for page in acton.lists() for e in page["result"] if e["name"] == name)
    return list(csv.DictReader(io.StringIO(acton.list_csv(list_id).decode())))


def list_names(acton: ActOnClient) -> set[str]:
    return {e["name"] for page in acton.lists() for e in page["result"]}


@pytest.fixture
def asset_resources(
    fresh_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The resources as the definitions build them, pointed at the sandbox (grants and CA from os.environ).
    Afterwards the clients the assets built are collected: their keep-alive connections would otherwise hold
    up the sandbox's graceful shutdown."""
    for key, value in env(fresh_sandbox, tmp_path).items():
        monkeypatch.setenv(key, value)
    sb = fresh_sandbox
    yield {
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "salesforce": SalesforceResource(
            login_url=sb.env["SALESFORCE_LOGIN_URL"], client_id=sb.env["SALESFORCE_CLIENT_ID"]
        ),
        "acton": ActOnResource(base_url=sb.env["ACTON_BASE_URL"], client_id=sb.env["ACTON_CLIENT_ID"]),
        "sync_config": SyncConfigResource(path=str(SYNC_YAML)),
    }
    gc.collect()


def member_rows(
    list_name: str, obj: str, recs: Sequence[Mapping[str, Any]], score: int | None = None
) -> list[dict[str, Any]]:
    """acton_list_upserts rows of ``recs``; Lead Score ``score``, else 20, 21, ..."""
    return [
        {
            "list_member_id": f"{list_name}|{r['Email'].lower()}",
            "list_name": list_name,
            "change_type": "insert",
            "email": r["Email"],
            "salesforce_object": obj,
            "salesforce_id": r["Id"],
            "field_values": json.dumps(
                {
                    "First Name": r["FirstName"],
                    "Last Name": r["LastName"],
                    "Company": 'Acme, "Quoted" Inc.',
                    "Salesforce Owner": "Owner Name",
                    "Lead Score": str(20 + i if score is None else score),
                }
            ),
        }
        for i, r in enumerate(recs)
    ]


# -- Act-On lists ---------------------------------------------------------------------------------------------
def test_lists_are_created_filled_with_the_lead_score_and_pruned(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    contacts, leads = people(sf, "Contact", 6), people(sf, "Lead", 5)
    invalid = {
        **member_rows("SFDC Master Leads", "Lead", leads[:1])[0],
        "email": "not an email",
        "list_member_id": "x",
    }
    set_sync_rows(
        wh,
        "acton_list_upserts",
        member_rows("SFDC Master Contacts", "Contact", contacts)
        + member_rows("SFDC Master Leads", "Lead", leads)
        + [invalid],
    )
    summary = sync_acton_lists(wh, acton, config(), "run-1")

    assert {"SFDC Master Contacts", "SFDC Master Leads"} <= list_names(acton)
    in_list = {r["Email"].lower(): r for r in list_records(acton, "SFDC Master Contacts")}
    assert set(in_list) == {c["Email"].lower() for c in contacts}
    first = in_list[contacts[0]["Email"].lower()]
    assert (first["Lead Score"], first["Salesforce Id"], first["Company"]) == (
        "20",
        contacts[0]["Id"],
        'Acme, "Quoted" Inc.',
    )
    assert len(list_records(acton, "SFDC Master Leads")) == len(leads)
    assert (summary.rows_sent, summary.succeeded, summary.rejected, summary.appended) == (12, 11, 1, 11)
    rejects = wh.execute("SELECT object, email, reason FROM sync_state.rejects").fetchall()
    assert rejects == [("SFDC Master Leads", "not an email", "Invalid email address")]
    assert {r["status"] for r in results(wh, "field = 'member'")} == {"success", "failed"}

    # next run: the maintenance step moves one score, one record leaves; the rest is not in the diff
    records_by_email = {r["Email"].lower(): r for r in list_records(acton, "SFDC Master Contacts")}
    kept, gone = contacts[0], contacts[1]
    update = {**member_rows("SFDC Master Contacts", "Contact", [kept], score=77)[0], "change_type": "update"}
    set_sync_rows(wh, "acton_list_upserts", [update])
    removal = {
        "record_id": records_by_email[gone["Email"].lower()]["_contact_id_"],
        "list_name": "SFDC Master Contacts",
        "email": gone["Email"],
        "salesforce_id": gone["Id"],
        "reason": "deleted",
    }
    set_sync_rows(wh, "acton_list_removals", [removal])
    summary = sync_acton_lists(wh, acton, config(), "run-2")
    after = {r["Email"].lower(): r for r in list_records(acton, "SFDC Master Contacts")}
    assert gone["Email"].lower() not in after
    assert after[kept["Email"].lower()]["Lead Score"] == "77"
    assert (summary.updated, summary.succeeded, summary.failed) == (1, 2, 0)

    # the same run again sends nothing (no row written twice in one run)
    calls = fresh_sandbox.stats("acton")["total"]
    again = sync_acton_lists(wh, acton, config(), "run-2")
    assert again.rows_sent == 0
    # the list lookup and the headings of the one list the models still have rows for (the Leads list has none)
    assert fresh_sandbox.stats("acton")["total"] - calls == 2


def test_push_and_off_lists_are_not_imported(
    wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    data = yaml.safe_load(SYNC_YAML.read_text())
    data["lists"][0]["direction"], data["lists"][1]["direction"] = "push", "off"
    set_sync_rows(
        wh,
        "acton_list_upserts",
        member_rows("SFDC Master Contacts", "Contact", people(sf, "Contact", 3)),
    )
    summary = sync_acton_lists(wh, acton, parse_sync_config(data), "run-1")
    assert summary.rows_sent == 0
    assert not {"SFDC Master Contacts", "SFDC Master Leads"} & list_names(acton)


# -- Salesforce field writes ----------------------------------------------------------------------------------
def test_scores_retry_locked_rows_and_succeed_in_the_same_run(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads, contacts = people(sf, "Lead", 15), people(sf, "Contact", 15)
    set_sync_rows(
        wh, "salesforce_score_updates", score_rows("Lead", leads) + score_rows("Contact", contacts, 50)
    )
    fresh_sandbox.faults(
        "salesforce",
        [
            {
                "path": "/services/data/*/composite/sobjects",
                "kind": "row_error",
                "error": "UNABLE_TO_LOCK_ROW",
                "fraction": 0.3,
                "seed": 1,
                "times": 1,
            }
        ],
    )
    summary = push_scores(wh, sf, config(), "run-1")

    assert values_in_salesforce(sf, "Lead", [r["Id"] for r in leads]) == {
        r["Id"]: 10.0 + i for i, r in enumerate(leads)
    }
    assert values_in_salesforce(sf, "Contact", [r["Id"] for r in contacts]) == {
        r["Id"]: 50.0 + i for i, r in enumerate(contacts)
    }
    retried = results(wh, "status = 'retried'")
    assert retried and {r["error_code"] for r in retried} == {"UNABLE_TO_LOCK_ROW"}
    final = {r["record_id"]: r["status"] for r in results(wh, "status <> 'retried'")}
    assert len(final) == 30 and set(final.values()) == {"success"}
    assert {r["record_id"] for r in retried} <= set(final)
    assert (summary.rows_sent, summary.succeeded, summary.failed, summary.retried) == (
        30,
        30,
        0,
        len(retried),
    )
    row = results(wh, f"record_id = '{leads[1]['Id']}' AND status = 'success'")[0]
    assert (row["system"], row["object"], row["field"], row["new_value"]) == (
        "salesforce",
        "Lead",
        SCORE_FIELD,
        "11",
    )


def test_permanent_row_errors_are_recorded_not_retried(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads = leads_to_score(sf, wh, 20)
    rule = {"path": "/services/data/*/composite/sobjects", "kind": "row_error", "fraction": 0.3, "seed": 2}
    fresh_sandbox.faults("salesforce", [{**rule, "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "times": 1}])
    summary = push_scores(wh, sf, config(), "run-1")

    failed = results(wh, "status = 'failed'")
    assert failed and {r["error_code"] for r in failed} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert failed[0]["message"] == "Record failed a validation rule"
    assert not results(wh, "status = 'retried'")
    assert fresh_sandbox.stats("salesforce")["by_endpoint"][COMPOSITE] == 1
    now = values_in_salesforce(sf, "Lead", [r["Id"] for r in leads])
    old = {r["Id"]: r[SCORE_FIELD] for r in leads}
    assert all(now[r["record_id"]] == old[r["record_id"]] for r in failed)
    assert (summary.succeeded, summary.failed) == (20 - len(failed), len(failed))


def test_bulk_api_at_the_threshold_and_dry_run_sends_nothing(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads = leads_to_score(sf, wh, 8, 30)

    dry = push_scores(wh, sf, config(dry_run=True), "run-dry")
    assert dry.dry_run and dry.rows_sent == 8 and dry.api_calls == 0
    assert {r["status"] for r in results(wh)} == {"dry_run"}
    assert values_in_salesforce(sf, "Lead", [r["Id"] for r in leads]) == {
        r["Id"]: r[SCORE_FIELD] for r in leads
    }

    summary = push_scores(wh, sf, config(bulk_threshold=8), "run-1")
    calls = fresh_sandbox.stats("salesforce")["by_endpoint"]
    assert calls.get(BULK_INGEST) == 1 and COMPOSITE not in calls
    assert summary.succeeded == 8
    assert values_in_salesforce(sf, "Lead", [r["Id"] for r in leads]) == {
        r["Id"]: 30.0 + i for i, r in enumerate(leads)
    }


def test_a_bulk_job_that_processed_every_row_is_not_read_back_beyond_its_failures(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads = leads_to_score(sf, wh, 20, 40)
    ids = [r["Id"] for r in leads]
    rule = {"path": "*/jobs/ingest/*", "kind": "row_error", "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    fresh_sandbox.faults("salesforce", [{**rule, "fraction": 0.3, "seed": 4, "times": 1}])

    first = push_scores(wh, sf, config(bulk_threshold=2), "run-1")
    failed = {r["record_id"] for r in results(wh, "status = 'failed'")}
    succeeded = {r["record_id"] for r in results(wh, "status = 'success'")}
    assert failed and failed | succeeded == set(ids) and not failed & succeeded
    assert {r["error_code"] for r in results(wh, "status = 'failed'")} == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    }
    now = values_in_salesforce(sf, "Lead", ids)
    assert {i for i in ids if now[i] == 40.0 + ids.index(i)} == succeeded  # what Salesforce holds, row by row
    assert (first.succeeded, first.failed) == (len(succeeded), len(failed))
    reads = {k: n for k, n in fresh_sandbox.stats("salesforce")["by_endpoint"].items() if k.startswith("GET")}
    assert reads.get(BULK_RESULTS.format("failedResults")) == 1
    assert BULK_RESULTS.format("successfulResults") not in reads
    assert BULK_RESULTS.format("unprocessedrecords") not in reads

    # the next run's diff holds the failed rows: a job without failures reads no result file at all
    retry = [r for r in score_rows("Lead", leads, 40) if r["salesforce_id"] in failed]
    set_sync_rows(wh, "salesforce_score_updates", retry)
    second = push_scores(wh, sf, config(bulk_threshold=2), "run-2")
    assert (second.succeeded, second.failed) == (len(failed), 0)
    assert values_in_salesforce(sf, "Lead", ids) == {r["Id"]: 40.0 + i for i, r in enumerate(leads)}
    reads = {k: n for k, n in fresh_sandbox.stats("salesforce")["by_endpoint"].items() if k.startswith("GET")}
    assert reads.get(BULK_RESULTS.format("failedResults")) == 1
    assert successes_per_field(wh, "salesforce") == {(i, SCORE_FIELD): 1 for i in ids}


def field_rows(obj: str, rec: Mapping[str, Any], values: Mapping[str, str]) -> list[dict[str, Any]]:
    """One record's rows of a field-update model (salesforce_bounce_updates, salesforce_prospect_updates)."""
    return [
        {
            "salesforce_id": rec["Id"],
            "salesforce_object": obj,
            "email": rec["Email"],
            "field": f,
            "new_value": v,
        }
        for f, v in values.items()
    ]


def test_bounces_send_each_records_fields_together_one_chunk_of_records_at_a_time(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads = people(sf, "Lead", 2)
    bounced = {
        "EmailBouncedReason": "Act-On hard bounce: mailbox full",
        "EmailBouncedDate": "2026-03-04T05:06:07.890Z",
    }
    set_sync_rows(
        wh, "salesforce_bounce_updates", [row for r in leads for row in field_rows("Lead", r, bounced)]
    )
    # opt-outs that do not push to Salesforce write no bounce either, whatever the model holds
    off = push_field_updates(
        wh, sf, config_with(optouts={"direction": "pull"}), "run-0", "salesforce_bounce_updates"
    )
    assert off.rows_sent == 0 and COMPOSITE not in fresh_sandbox.stats("salesforce")["by_endpoint"]

    summary = push_field_updates(wh, sf, config(), "run-1", "salesforce_bounce_updates", chunk_rows=1)
    # a chunk is one record with both its fields: one request each, never one per field
    assert fresh_sandbox.stats("salesforce")["by_endpoint"][COMPOSITE] == 2
    assert (summary.rows_sent, summary.succeeded, summary.api_calls) == (4, 4, 2)
    got = records(
        sf,
        f"SELECT Id, EmailBouncedReason, EmailBouncedDate FROM Lead WHERE Id IN ('{leads[0]['Id']}', "
        f"'{leads[1]['Id']}')",
    )
    assert {(r["EmailBouncedReason"], r["EmailBouncedDate"]) for r in got} == {
        ("Act-On hard bounce: mailbox full", "2026-03-04T05:06:07.890+0000")
    }
    assert sorted((r["record_id"], r["field"], r["new_value"], r["status"]) for r in results(wh)) == sorted(
        (r["Id"], f, v, "success") for r in leads for f, v in bounced.items()
    )


def test_prospect_fields_through_bulk_and_a_field_set_to_null_is_not_sent(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    high, last = "ActOn_High_Intent__c", "ActOn_Last_Engagement__c"
    one, two = people(sf, "Contact", 2)
    set_sync_rows(
        wh,
        "salesforce_prospect_updates",
        [
            *field_rows("Contact", one, {high: "true", last: "2026-03-04T05:06:07.890Z"}),
            *field_rows("Contact", two, {last: "2026-03-05T00:00:00.000Z"}),
        ],
    )
    summary = push_field_updates(
        wh, sf, config(bulk_threshold=2), "run-1", "salesforce_prospect_updates", objects=["Contact"]
    )
    calls = fresh_sandbox.stats("salesforce")["by_endpoint"]
    assert calls.get(BULK_INGEST) == 1 and COMPOSITE not in calls
    assert (summary.rows_sent, summary.succeeded) == (3, 3)
    assert values_in_salesforce(sf, "Contact", [one["Id"], two["Id"]], high) == {
        one["Id"]: True,
        two["Id"]: False,
    }
    assert values_in_salesforce(sf, "Contact", [one["Id"], two["Id"]], last) == {
        one["Id"]: "2026-03-04T05:06:07.890+0000",
        two["Id"]: "2026-03-05T00:00:00.000+0000",
    }

    # high intent set to null in sync.yaml: a model built before still naming it sends only last engagement
    set_sync_rows(
        wh,
        "salesforce_prospect_updates",
        field_rows("Contact", two, {high: "true", last: "2026-03-06T00:00:00.000Z"}),
    )
    off = config_with(sales_prospects={"high_intent_field": None})
    summary = push_field_updates(wh, sf, off, "run-2", "salesforce_prospect_updates")
    assert (summary.rows_sent, summary.succeeded) == (1, 1)
    assert values_in_salesforce(sf, "Contact", [two["Id"]], high) == {two["Id"]: False}
    assert values_in_salesforce(sf, "Contact", [two["Id"]], last) == {
        two["Id"]: "2026-03-06T00:00:00.000+0000"
    }
    assert [r["field"] for r in results(wh, "run_id = 'run-2'")] == [last]


# -- chunked reads: memory bounded by the chunk, not the model ---------------------------------------------------
def test_key_chunks_never_split_a_records_fields(wh: duckdb.DuckDBPyConnection) -> None:
    rows = [
        {"salesforce_id": rid, "salesforce_object": "Lead", "field": f, "new_value": "x"}
        for rid, fields in (("00Q3", "ab"), ("00Q1", "abc"), (None, "a"), ("00Q2", "a"))
        for f in fields
    ]
    set_sync_rows(wh, "salesforce_prospect_updates", rows)

    def chunks(n: int) -> list[list[tuple[str | None, str]]]:
        return [
            sorted(zip(c["salesforce_id"], c["field"], strict=True), key=str)
            for c in sync_row_chunks(wh, "salesforce_prospect_updates", chunk_rows=n, key="salesforce_id")
        ]

    # two records a chunk, in Id order, each with all its rows; the row without an Id is in the last, not lost
    assert chunks(2) == [
        [("00Q1", "a"), ("00Q1", "b"), ("00Q1", "c"), ("00Q2", "a")],
        [("00Q3", "a"), ("00Q3", "b"), (None, "a")],
    ]
    assert [len(c) for c in chunks(1)] == [3, 1, 2, 1] and [len(c) for c in chunks(10)] == [7]


def successes_per_field(conn: duckdb.DuckDBPyConnection, system: str) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        "SELECT record_id, field, count(*) FROM sync_state.writeback_results "
        "WHERE system = ? AND status = 'success' GROUP BY ALL",
        [system],
    ).fetchall()
    return {(record_id, field): n for record_id, field, n in rows}


def modstamps(sf: SalesforceClient, obj: str, ids: Sequence[str]) -> dict[str, str]:
    return values_in_salesforce(sf, obj, ids, "SystemModstamp")


@pytest.mark.timeout(120, method="thread")  # a read held open across chunks hangs (in C) at a checkpoint
def test_score_push_sends_every_row_one_chunk_after_the_other(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads = leads_to_score(sf, wh, 12, 40)
    wh.execute("SET checkpoint_threshold = '1KB'")  # every commit of results checkpoints, as large ones do
    summary = push_scores(wh, sf, config(), "run-1", chunk_rows=5)

    assert fresh_sandbox.stats("salesforce")["by_endpoint"][COMPOSITE] == 3  # chunks of 5, 5 and 2 rows
    assert values_in_salesforce(sf, "Lead", [r["Id"] for r in leads]) == {
        r["Id"]: 40.0 + i for i, r in enumerate(leads)
    }
    assert successes_per_field(wh, "salesforce") == {(r["Id"], SCORE_FIELD): 1 for r in leads}
    assert (summary.rows_sent, summary.succeeded, summary.failed, summary.api_calls) == (12, 12, 0, 3)


def test_list_sync_merges_one_upload_per_chunk_and_sums_the_counts(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    name = "SFDC Master Contacts"
    contacts = people(sf, "Contact", 7)
    invalid = {**member_rows(name, "Contact", contacts[:1])[0], "email": "no email", "list_member_id": "x"}
    set_sync_rows(wh, "acton_list_upserts", [*member_rows(name, "Contact", contacts), invalid])
    first = sync_acton_lists(wh, acton, config(), "run-1", chunk_rows=3)

    assert fresh_sandbox.stats("acton")["by_endpoint"][ACTON_MERGE] == 3  # 8 rows: chunks of 3, 3 and 2
    in_list = {r["Email"].lower(): r["Lead Score"] for r in list_records(acton, name)}
    assert in_list == {c["Email"].lower(): str(20 + i) for i, c in enumerate(contacts)}
    assert (first.rows_sent, first.succeeded, first.rejected, first.appended, first.updated) == (
        8,
        7,
        1,
        7,
        0,
    )

    # next run: three scores move (one upload), four records leave (two delete calls of one chunk each)
    ids = {r["Email"].lower(): r["_contact_id_"] for r in list_records(acton, name)}
    kept, gone = contacts[:3], contacts[3:]
    moved = [{**m, "change_type": "update"} for m in member_rows(name, "Contact", kept, score=90)]
    set_sync_rows(wh, "acton_list_upserts", moved)
    removals = [
        {"record_id": ids[c["Email"].lower()], "list_name": name, "email": c["Email"], "reason": "deleted"}
        for c in gone
    ]
    set_sync_rows(wh, "acton_list_removals", removals)
    before = fresh_sandbox.stats("acton")["by_endpoint"]
    second = sync_acton_lists(wh, acton, config(), "run-2", chunk_rows=3)

    after = fresh_sandbox.stats("acton")["by_endpoint"]
    assert (after[ACTON_MERGE] - before[ACTON_MERGE], after[ACTON_DELETE]) == (1, 2)
    assert {r["Email"].lower(): r["Lead Score"] for r in list_records(acton, name)} == {
        c["Email"].lower(): "90" for c in kept
    }
    assert (second.rows_sent, second.succeeded, second.failed, second.updated, second.removed) == (
        7,
        7,
        0,
        3,
        4,
    )
    assert successes_per_field(wh, "acton") == {
        **{(c["Email"].lower(), "member"): 2 for c in kept},  # one per run
        **{(c["Email"].lower(), "member"): 1 for c in gone},
        **{(r["record_id"], "removed"): 1 for r in removals},
    }


def test_a_push_that_crashed_after_its_first_chunk_sends_only_the_rest_when_re_executed(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient
) -> None:
    leads = leads_to_score(sf, wh, 12, 70)
    ids = [r["Id"] for r in leads]
    # the connection drops while the second Bulk job's creation is answered: the step dies there
    fresh_sandbox.faults(
        "salesforce",
        [{"kind": "reset", "method": "POST", "path": "*/jobs/ingest", "every": 2, "times": 1}],
    )
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        push_scores(wh, sf, config(bulk_threshold=2), "run-1", chunk_rows=5)
    written = {record_id for record_id, _ in successes_per_field(wh, "salesforce")}
    assert len(written) == 5  # the first chunk, recorded before the second was read
    stamps = modstamps(sf, "Lead", sorted(written))

    again = push_scores(wh, sf, config(bulk_threshold=2), "run-1", chunk_rows=5)
    assert (again.rows_sent, again.succeeded, again.failed) == (7, 7, 0)
    assert (
        modstamps(sf, "Lead", sorted(written)) == stamps
    )  # the first chunk's records were not written again
    assert values_in_salesforce(sf, "Lead", ids) == {r["Id"]: 70.0 + i for i, r in enumerate(leads)}
    assert successes_per_field(wh, "salesforce") == {(i, SCORE_FIELD): 1 for i in ids}


def test_a_list_upload_that_failed_mid_way_is_all_a_re_executed_step_sends(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    name = "SFDC Master Leads"
    leads = people(sf, "Lead", 5)
    set_sync_rows(wh, "acton_list_upserts", member_rows(name, "Lead", leads))
    fresh_sandbox.faults(
        "acton",
        [{"kind": "bulk_job_failed", "method": "PUT", "path": "/api/1/list/*", "every": 2, "times": 1}],
    )
    first = sync_acton_lists(wh, acton, config(), "run-1", chunk_rows=2)
    assert (first.rows_sent, first.succeeded, first.failed) == (5, 3, 2)
    assert len(list_records(acton, name)) == 3

    uploads = fresh_sandbox.stats("acton")["by_endpoint"][ACTON_MERGE]
    again = sync_acton_lists(wh, acton, config(), "run-1", chunk_rows=2)
    assert fresh_sandbox.stats("acton")["by_endpoint"][ACTON_MERGE] - uploads == 1
    assert (again.rows_sent, again.succeeded, again.appended) == (2, 2, 2)
    assert {r["Email"].lower() for r in list_records(acton, name)} == {r["Email"].lower() for r in leads}


# -- opt-outs ----------------------------------------------------------------------------------------------------
def test_optouts_reach_both_sides_with_ledger_rows_and_a_failed_one_is_kept(
    fresh_sandbox: Sandbox, wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    recs = [r for r in people(sf, "Lead", 30) if not r["HasOptedOutOfEmail"]][:3]
    event = datetime(2026, 1, 2, 3, 4, 5)
    set_sync_rows(
        wh,
        "salesforce_optout_updates",
        [
            {
                "salesforce_id": r["Id"],
                "salesforce_object": "Lead",
                "email": r["Email"].lower(),
                "field": "HasOptedOutOfEmail",
                "old_value": False,
                "new_value": True,
                "source_event": "acton_optout",
                "event_at": event,
            }
            for r in recs
        ],
    )
    # a byte-order mark leads the last valid one: Act-On's CSV reader would drop it and opt out another address
    acton_emails = [
        "fresh.optout.1@example.com",
        "Fresh.Optout.2@Example.com",
        "not-an-email",
        "\ufeffbom.optout@example.com",
    ]
    set_sync_rows(
        wh,
        "acton_optout_additions",
        [{"email": e, "source_event": "salesforce_optout", "event_at": event} for e in acton_emails],
    )
    # every Salesforce row fails once, permanently: no Salesforce ledger row until a later run succeeds
    fresh_sandbox.faults(
        "salesforce",
        [
            {
                "path": "*/composite/sobjects",
                "kind": "row_error",
                "error": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "fraction": 1.0,
                "times": 1,
            }
        ],
    )
    first = sync_optouts(wh, sf, acton, config(), "run-1")
    assert (first.succeeded, first.failed, first.rejected) == (2, 3, 2)
    on_list = {r["email"].lower() for page in acton.optout_pages() for r in page["result"]}
    assert {"fresh.optout.1@example.com", "fresh.optout.2@example.com"} <= on_list
    assert "bom.optout@example.com" not in on_list
    (reason,) = wh.execute("SELECT reason FROM sync_state.rejects WHERE email LIKE '%bom.optout%'").fetchone()
    assert "would not survive the CSV upload" in reason
    ledger = wh.execute(
        "SELECT email, system, old_value, new_value, source_event, event_at FROM sync_state.consent_ledger"
    ).fetchall()
    assert sorted(ledger) == [
        ("fresh.optout.1@example.com", "acton", "false", "true", "salesforce_optout", event),
        ("fresh.optout.2@example.com", "acton", "false", "true", "salesforce_optout", event),
    ]
    ids = [r["Id"] for r in recs]
    assert set(values_in_salesforce(sf, "Lead", ids, "HasOptedOutOfEmail").values()) == {False}

    # the failed rows are still in the diff: the next run writes them and their ledger rows
    set_sync_rows(wh, "acton_optout_additions", [])
    second = sync_optouts(wh, sf, acton, config(), "run-2")
    assert (second.succeeded, second.failed) == (3, 0)
    assert set(values_in_salesforce(sf, "Lead", ids, "HasOptedOutOfEmail").values()) == {True}
    sf_ledger = wh.execute(
        "SELECT email, old_value, new_value, run_id FROM sync_state.consent_ledger WHERE system = 'salesforce' ORDER BY email"
    ).fetchall()
    assert sf_ledger == sorted((r["Email"].lower(), "false", "true", "run-2") for r in recs)


def test_optouts_in_chunks_keep_one_ledger_row_per_email(
    wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient
) -> None:
    lead, other = [r for r in people(sf, "Lead", 30) if not r["HasOptedOutOfEmail"]][:2]
    contact = next(r for r in people(sf, "Contact", 30) if not r["HasOptedOutOfEmail"])
    shared = lead["Email"].lower()  # the Lead and the Contact are one person: one ledger row
    event = datetime(2026, 1, 2, 3, 4, 5)
    set_sync_rows(
        wh,
        "salesforce_optout_updates",
        [
            {
                "salesforce_id": r["Id"],
                "salesforce_object": obj,
                "email": email,
                "field": "HasOptedOutOfEmail",
                "old_value": False,
                "new_value": True,
                "source_event": "acton_optout",
                "event_at": event,
            }
            for obj, r, email in (
                ("Lead", lead, shared),
                ("Contact", contact, shared),
                ("Lead", other, other["Email"].lower()),
            )
        ],
    )
    summary = sync_optouts(wh, sf, acton, config(), "run-1", chunk_rows=1)

    assert (summary.rows_sent, summary.succeeded, summary.api_calls) == (3, 3, 3)  # one call per chunk
    assert values_in_salesforce(sf, "Contact", [contact["Id"]], "HasOptedOutOfEmail") == {contact["Id"]: True}
    ledger = wh.execute(
        "SELECT email, system, event_at FROM sync_state.consent_ledger ORDER BY email"
    ).fetchall()
    assert ledger == sorted((e, "salesforce", event) for e in (shared, other["Email"].lower()))


# -- preflight and the Dagster assets -------------------------------------------------------------------------
def test_preflight_names_the_renamed_field_and_the_assets_write_nothing(
    fresh_sandbox: Sandbox,
    wh: duckdb.DuckDBPyConnection,
    sf: SalesforceClient,
    tmp_path: Path,
    asset_resources: dict[str, Any],
) -> None:
    preflight(sf, config(), SYNC_YAML)  # the default configuration (IsWon mapped, read-only) matches the org
    data = yaml.safe_load(SYNC_YAML.read_text())
    data["sales_prospects"]["high_intent_field"] = "IsDeleted"
    data["lists"][0]["fields"]["Salesforce Owner"] = "Owner.Nickname__c"
    with pytest.raises(PreflightError) as raised:
        preflight(sf, parse_sync_config(data), "other.yaml")
    assert "other.yaml: sales_prospects.high_intent_field: Lead.IsDeleted is not updateable; fix:" in str(
        raised.value
    )
    assert "other.yaml: lists[0].fields.Salesforce Owner: User.Nickname__c does not exist" in str(
        raised.value
    )
    leads = leads_to_score(sf, wh, 3)
    set_sync_rows(wh, "acton_list_upserts", member_rows("SFDC Master Leads", "Lead", leads))
    wh.close()
    fresh_sandbox.mutate(
        "salesforce",
        [{"op": "rename_field", "object": "Lead", "field": SCORE_FIELD, "new_name": "Score_Renamed__c"}],
    )
    next_run = SalesforceClient.from_env(env(fresh_sandbox, tmp_path))  # describes are cached per run
    with pytest.raises(PreflightError) as raised:
        preflight(next_run, config(), SYNC_YAML)
    next_run.session.close()
    message = str(raised.value)
    assert f"{SYNC_YAML}: scores.salesforce_field: Lead.{SCORE_FIELD} does not exist; fix: create" in message
    assert f"{SYNC_YAML}: lists[1].fields.Lead Score: Lead.{SCORE_FIELD} does not exist" in message
    assert "Contact." not in message

    before = fresh_sandbox.stats("acton")["total"]
    outcome = dg.materialize(
        [acton_list_sync, salesforce_score_push],
        resources=asset_resources,
        raise_on_error=False,
    )
    assert not outcome.success
    failure = next(e for e in outcome.all_events if e.is_step_failure)
    assert "scores.salesforce_field" in str(failure.event_specific_data.error)
    calls = fresh_sandbox.stats("salesforce")["by_endpoint"]
    assert not [k for k in calls if k.startswith(("PATCH", "POST /services/data/vXX.X/jobs"))]
    assert fresh_sandbox.stats("acton")["total"] == before
    with warehouse.connect(tmp_path / "warehouse.duckdb") as conn:
        assert conn.execute("SELECT count(*) FROM sync_state.writeback_results").fetchone() == (0,)


def test_assets_materialise_in_graph_order_with_metadata(
    wh: duckdb.DuckDBPyConnection, sf: SalesforceClient, acton: ActOnClient, asset_resources: dict[str, Any]
) -> None:
    leads = leads_to_score(sf, wh, 4, 60)
    set_sync_rows(wh, "acton_list_upserts", member_rows("SFDC Master Leads", "Lead", leads))
    wh.close()
    outcome = dg.materialize([salesforce_score_push, acton_list_sync], resources=asset_resources)
    order = [e.asset_key.path[-1] for e in outcome.get_asset_materialization_events() if e.asset_key]
    assert order == ["acton_list_sync", "salesforce_score_push"]
    meta = outcome.asset_materializations_for_node("salesforce_score_push")[0].metadata
    assert (
        meta["rows_sent"].value,
        meta["succeeded"].value,
        meta["failed"].value,
        meta["dry_run"].value,
    ) == (4, 4, 0, False)
    assert meta["api_calls"].value >= 1
    assert len(list_records(acton, "SFDC Master Leads")) == 4
