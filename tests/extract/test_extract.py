"""Integration: the extract against the sandboxes equals the sandbox's own store, field for field."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from common import warehouse
from common.sync_config import ListConfig
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.acton import (
    ActOnExtractSettings,
    ensure_tables,
    extract_contacts,
    extract_list_records,
    extract_lists,
    extract_optouts,
)
from ingest.extract.acton import extract_all as extract_acton
from ingest.extract.results import ExtractResult
from ingest.extract.salesforce import OBJECTS, SalesforceExtractSettings, extract_all, extract_object
from sandbox.launcher import Sandbox
from sandbox.store import Store, parse_sf_datetime
from writeback.acton_lists import remove_records


def _env(sandbox: Sandbox, tmp: Path) -> dict[str, str]:
    return {**sandbox.env, "TOKEN_CACHE_PATH": str(tmp / "tokens.json")}


@contextmanager
def every_fault_fires(sb: Sandbox, system: str, faults: list[dict[str, Any]]) -> Iterator[None]:
    """Sets ``faults`` on ``system`` for the block, then asserts each fired: the block went through all of them."""
    sb.faults(system, faults)
    yield
    fired = [(r["kind"], r["path"], r["fired"]) for r in sb.admin(system, "GET", "faults")["rules"]]
    assert all(n > 0 for *_, n in fired), fired


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = warehouse.connect(tmp_path / "warehouse.duckdb")
    yield conn
    conn.close()


def _source_value(ftype: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if ftype == "datetime":
        return parse_sf_datetime(value).replace(tzinfo=None)
    if ftype == "date":
        return date.fromisoformat(value)
    if ftype == "boolean":
        return bool(value)
    if ftype in ("double", "currency", "percent"):
        return float(value)
    return value


def source_rows(store: Store, obj: str) -> dict[str, dict[str, Any]]:
    store._fields.pop(obj, None)  # the server process may have changed the schema: read it afresh
    types = {f.name: f.type for f in store.fields(obj)}
    with store.lock:
        cur = store.conn.execute(f'SELECT * FROM "{obj}"')
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return {
        row[names.index("Id")]: {n: _source_value(types[n], v) for n, v in zip(names, row, strict=True)}
        for row in rows
    }


def warehouse_rows(conn: duckdb.DuckDBPyConnection, obj: str, names: list[str]) -> dict[str, dict[str, Any]]:
    cols = ", ".join(f'"{n}"' for n in names)
    rows = conn.execute(f"SELECT {cols} FROM raw_salesforce.{obj.lower()}").fetchall()
    return {r[names.index("Id")]: dict(zip(names, r, strict=True)) for r in rows}


def assert_same_as_source(conn: duckdb.DuckDBPyConnection, store: Store, obj: str) -> None:
    """Every source row equal field for field; warehouse rows the source no longer has are flagged deleted."""
    source = source_rows(store, obj)
    names = list(next(iter(source.values())).keys())
    kept = warehouse_rows(conn, obj, names)
    assert set(source) <= set(kept), f"{obj}: rows missing from the warehouse"
    for record_id, row in source.items():
        assert kept[record_id] == row, f"{obj} {record_id} differs"
    for record_id in set(kept) - set(source):
        assert kept[record_id]["IsDeleted"] is True, f"{obj} {record_id} hard-deleted but not flagged"


@pytest.mark.timeout(180)  # a Bulk job that never completes must fail the test, not hang the suite
def test_full_extract_equals_the_sandbox_rest_and_bulk(sandbox: Sandbox, tmp_path: Path) -> None:
    store = Store(sandbox.data_dir / "sandbox.sqlite")
    client = SalesforceClient.from_env(_env(sandbox, tmp_path))
    rest = warehouse.connect(tmp_path / "rest.duckdb")
    results = extract_all(rest, client)
    assert {r.mode for r in results} == {"rest"}
    bulk = warehouse.connect(tmp_path / "bulk.duckdb")
    results = extract_all(bulk, client, settings=SalesforceExtractSettings(bulk_threshold=0))
    assert {r.mode for r in results} == {"bulk"}
    for obj in OBJECTS:
        assert_same_as_source(rest, store, obj)
        assert_same_as_source(bulk, store, obj)
    lead = next(r for r in results if r.entity == "Lead")
    assert lead.rows_inserted == len(source_rows(store, "Lead")) and lead.watermark_after
    assert lead.budget_remaining is not None and lead.budget_remaining > 0


def test_nothing_changed_costs_at_most_two_calls_per_object(sandbox: Sandbox, tmp_path: Path, wh) -> None:
    client = SalesforceClient.from_env(_env(sandbox, tmp_path))
    extract_all(wh, client)
    before = sandbox.stats("salesforce")["total"]
    again = extract_all(wh, client)
    assert all(r.api_calls <= 2 for r in again), [(r.entity, r.api_calls) for r in again]
    assert sandbox.stats("salesforce")["total"] - before <= 2 * len(OBJECTS)
    assert all(r.rows_inserted == 0 and r.rows_deleted == 0 for r in again)


def test_incremental_after_simulation_carries_changes_and_deletes(
    fresh_sandbox: Sandbox, tmp_path: Path, wh
) -> None:
    sb = fresh_sandbox
    store = Store(sb.data_dir / "sandbox.sqlite")
    client = SalesforceClient.from_env(_env(sb, tmp_path))
    extract_all(wh, client)
    sb.simulate(hours=1)
    members = sorted(source_rows(store, "CampaignMember"))[:3]
    lead = next(i for i, r in source_rows(store, "Lead").items() if not r["IsDeleted"])
    sb.mutate(
        "salesforce",
        [
            {"op": "hard_delete", "object": "CampaignMember", "ids": members},
            {"op": "set", "object": "Lead", "id": lead, "fields": {"Title": "Chief 'Quote' \\ Officer"}},
        ],
    )
    # a soft delete through the API, as a user would do it
    client.request("DELETE", f"sobjects/Lead/{lead}")
    results = {r.entity: r for r in extract_all(wh, client)}
    results["CampaignMember"] = extract_object(wh, client, "CampaignMember", reconcile=True)
    for obj in OBJECTS:
        assert_same_as_source(wh, store, obj)
    assert results["CampaignMember"].rows_deleted >= 3
    assert results["Lead"].rows_deleted >= 1
    assert results["Lead"].watermark_after >= results["Lead"].watermark_before  # in whole seconds


# A short lookback stands for the 5 minutes, so that the test can wait it out.
LOOKBACK = timedelta(seconds=2)


def test_our_own_write_is_read_back_once_not_again(fresh_sandbox: Sandbox, tmp_path: Path, wh) -> None:
    """The next window starts at the server's time of the last read minus the lookback, not at the newest row
    minus it: a write-back read by one run is not read again by the next, a lookback later."""
    sb = fresh_sandbox
    settings = SalesforceExtractSettings(lookback=LOOKBACK)
    client = SalesforceClient.from_env(_env(sb, tmp_path))
    extract_object(wh, client, "Lead", settings)
    ids = [
        i
        for (i,) in wh.execute(
            'SELECT "Id" FROM raw_salesforce.lead WHERE NOT "IsDeleted" LIMIT 25'
        ).fetchall()
    ]
    client.update_records("Lead", [{"id": i, "Title": "Written by the sync"} for i in ids])
    time.sleep(2 * LOOKBACK.total_seconds())  # the next run begins a lookback after the write
    read_back = extract_object(wh, client, "Lead", settings, reconcile=False)
    assert (read_back.rows_inserted, read_back.rows_updated) == (0, len(ids))
    # the watermark is the server's Date header: whole seconds, refreshed once a second, so up to 2 s early
    time.sleep(2 * LOOKBACK.total_seconds() + 2)
    again = extract_object(wh, client, "Lead", settings, reconcile=False)
    assert (again.rows_inserted, again.rows_updated) == (0, 0)
    assert_same_as_source(wh, Store(sb.data_dir / "sandbox.sqlite"), "Lead")


TEST_LIST_SPECS = [
    {"columnHeading": "E-mail Address", "columnIndex": 0, "columnType": "EMAIL", "ignoreColumn": "N"},
    {"columnHeading": "First Name", "columnIndex": 1, "columnType": "FIRSTNAME", "ignoreColumn": "N"},
]


def _read_test_list(
    client: ActOnClient, wh: duckdb.DuckDBPyConnection, settings: ActOnExtractSettings, people: int
) -> tuple[str, ExtractResult]:
    """A new list of ``people`` records (p<i>@x.com, P<i>) in Act-On, read once into the warehouse."""
    list_id = client.create_list("SFDC Test Leads", TEST_LIST_SPECS)
    rows = "".join(f"p{i}@x.com,P{i}\n" for i in range(people))
    upload = f"E-mail Address,First Name\n{rows}".encode()
    client.wait_for_job(client.merge_upload(list_id, upload, TEST_LIST_SPECS))
    time.sleep(2 * LOOKBACK.total_seconds())
    ensure_tables(wh)
    extract_lists(wh, client)
    (first,) = extract_list_records(wh, client, ["SFDC Test Leads"], settings)
    return list_id, first


def test_our_own_list_upload_is_read_back_once_not_again(fresh_sandbox: Sandbox, tmp_path: Path, wh) -> None:
    client = ActOnClient.from_env(_env(fresh_sandbox, tmp_path))
    settings = ActOnExtractSettings(lookback=LOOKBACK)
    list_id, _ = _read_test_list(client, wh, settings, 60)
    # our write-back: a few records change
    changed = "E-mail Address,First Name\np1@x.com,Changed\np2@x.com,Changed\n"
    client.wait_for_job(client.merge_upload(list_id, changed.encode(), TEST_LIST_SPECS))
    time.sleep(2 * LOOKBACK.total_seconds())
    (read_back,) = extract_list_records(wh, client, ["SFDC Test Leads"], settings)
    assert (read_back.rows_inserted, read_back.rows_updated) == (0, 2)
    time.sleep(2 * LOOKBACK.total_seconds())
    (again,) = extract_list_records(wh, client, ["SFDC Test Leads"], settings)
    assert (again.rows_inserted, again.rows_updated) == (0, 0)
    names = wh.execute(
        "SELECT f.value FROM (SELECT email, unnest(fields) AS f FROM raw_acton.list_records) "
        "WHERE email IN ('p1@x.com', 'p2@x.com') AND f.heading = 'First Name'"
    ).fetchall()
    assert names == [("Changed",), ("Changed",)]


def test_records_our_list_sync_removed_are_not_a_reason_to_read_the_whole_list(
    fresh_sandbox: Sandbox, tmp_path: Path, wh
) -> None:
    client = ActOnClient.from_env(_env(fresh_sandbox, tmp_path))
    settings = ActOnExtractSettings(lookback=LOOKBACK)
    list_id, first = _read_test_list(client, wh, settings, 30)
    assert first.mode == "whole list"
    ids = dict(wh.execute("SELECT email, record_id FROM raw_acton.list_records").fetchall())
    lst = ListConfig(name="SFDC Test Leads", object="Lead", fields={"Email": "Email"})

    def read_back() -> ExtractResult:
        time.sleep(2 * LOOKBACK.total_seconds())
        extract_lists(wh, client)
        (result,) = extract_list_records(wh, client, ["SFDC Test Leads"], settings)
        return result

    def live() -> set[str]:
        return {
            e
            for (e,) in wh.execute("SELECT email FROM raw_acton.list_records WHERE NOT is_deleted").fetchall()
        }

    # our list sync removes two records: the read-back finds them in its ledger, one page, no whole read
    ours = [{"record_id": ids[e], "email": e, "reason": "deleted"} for e in ("p1@x.com", "p2@x.com")]
    assert remove_records(wh, client, lst, list_id, ours, "run-1", dry_run=False).succeeded == 2
    ours_read = read_back()
    assert (ours_read.mode, ours_read.rows_deleted, ours_read.api_calls) == ("modified after", 2, 1)
    assert live() == {f"p{i}@x.com" for i in range(30)} - {"p1@x.com", "p2@x.com"}

    # a removal made by hand in Act-On is in no ledger: the list is read whole, and both removals show
    client.delete_records(list_id, [ids["p3@x.com"]])
    assert remove_records(
        wh, client, lst, list_id, [{**ours[0], "record_id": ids["p4@x.com"]}], "run-2", False
    ).succeeded
    by_hand = read_back()
    assert (by_hand.mode, by_hand.rows_deleted) == ("whole list", 2)
    assert live() == {f"p{i}@x.com" for i in range(30)} - {f"p{i}@x.com" for i in range(1, 5)}


def test_new_custom_field_arrives_as_a_column(fresh_sandbox: Sandbox, tmp_path: Path, wh) -> None:
    sb = fresh_sandbox
    store = Store(sb.data_dir / "sandbox.sqlite")
    client = SalesforceClient.from_env(_env(sb, tmp_path))
    extract_all(wh, client, objects=["Contact"])
    contact = sorted(source_rows(store, "Contact"))[0]
    sb.mutate(
        "salesforce",
        [
            {
                "op": "add_field",
                "object": "Contact",
                "field": "Region__c",
                "type": "string",
                "length": 40,
            },
            {
                "op": "set",
                "object": "Contact",
                "id": contact,
                "fields": {"Region__c": "EMEA"},
                "touch": False,
            },
        ],
    )
    client = SalesforceClient.from_env(_env(sb, tmp_path))  # the next run: describes are cached per run
    extract_all(wh, client, objects=["Contact"])
    row = wh.execute('SELECT "Region__c" FROM raw_salesforce.contact WHERE "Id" = ?', [contact]).fetchone()
    assert row == ("EMEA",)  # a new column triggers a full read: the value set without a modstamp arrives too
    assert_same_as_source(wh, store, "Contact")


@pytest.mark.parametrize("bulk_threshold", [10_000, 0], ids=["rest", "bulk"])
def test_reconciliation_catches_a_change_that_did_not_move_systemmodstamp(
    fresh_sandbox: Sandbox, tmp_path: Path, wh, bulk_threshold: int
) -> None:
    sb = fresh_sandbox
    store = Store(sb.data_dir / "sandbox.sqlite")
    settings = SalesforceExtractSettings(bulk_threshold=bulk_threshold)
    client = SalesforceClient.from_env(_env(sb, tmp_path))
    extract_object(wh, client, "Lead", settings)
    overlap = extract_object(wh, client, "Lead", settings).rows_updated  # the lookback window's rows, re-read
    quiet = extract_object(wh, client, "Lead", settings, reconcile=True)
    assert (quiet.rows_inserted, quiet.rows_updated, quiet.rows_deleted) == (
        0,
        overlap,
        0,
    )  # equal rows are equal

    rows = source_rows(store, "Lead")
    lead = min((r["SystemModstamp"], i) for i, r in rows.items() if not r["IsDeleted"])[
        1
    ]  # far behind the window
    formula = {
        "op": "set",
        "object": "Lead",
        "id": lead,
        "fields": {"Title": "Set by a formula"},
        "touch": False,
    }
    sb.admin("salesforce", "POST", "mutate", {"ops": [formula]})
    extract_object(
        wh, client, "Lead", settings
    )  # the incremental window cannot see it: SystemModstamp did not move
    title = 'SELECT "Title" FROM raw_salesforce.lead WHERE "Id" = ?'
    assert wh.execute(title, [lead]).fetchone() != ("Set by a formula",)

    before = sb.stats("salesforce")
    result = extract_object(wh, client, "Lead", settings, reconcile=True)
    assert wh.execute(title, [lead]).fetchone() == ("Set by a formula",)
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (0, overlap + 1, 0)
    assert_same_as_source(wh, store, "Lead")
    # REST: an incremental page plus one full read. Bulk: the window's page (the window is empty: it starts at
    # the last read, a lookback back), then the full read's job: create, its status polls, one result page. The
    # sandbox answers a poll when the job ends or after a second: one poll, or more on a loaded machine.
    after = sb.stats("salesforce")
    status = "GET /services/data/vXX.X/jobs/query/{job_id}"
    polls = after["by_endpoint"].get(status, 0) - before["by_endpoint"].get(status, 0)
    assert after["total"] - before["total"] - polls == (2 if bulk_threshold else 3)
    assert (polls == 0) if bulk_threshold else (polls >= 1)


@pytest.mark.reliability
@pytest.mark.timeout(180)
def test_extract_completes_through_faults(clean_faults: Sandbox, tmp_path: Path, wh) -> None:
    sb = clean_faults
    store = Store(sb.data_dir / "sandbox.sqlite")
    faults = [
        {"kind": "status", "status": 429, "path": "*/query*", "every": 3, "times": 2},
        {"kind": "status", "status": 503, "every": 4, "times": 3},
        {"kind": "reset", "path": "*/jobs/query/*/results", "every": 1, "times": 1},
        {"kind": "reset", "path": "*/queryAll*", "every": 2, "times": 2},
        {"kind": "expire_session", "path": "*/composite", "every": 1, "times": 1},
    ]
    with every_fault_fires(sb, "salesforce", faults):
        client = SalesforceClient.from_env(_env(sb, tmp_path))
        extract_all(wh, client, objects=["Lead", "Contact", "CampaignMember"])
        extract_object(wh, client, "Account", SalesforceExtractSettings(bulk_threshold=0))
    for obj in ("Lead", "Contact", "CampaignMember", "Account"):
        assert_same_as_source(wh, store, obj)


# -- Act-On --------------------------------------------------------------------------------------------------
def _acton_source(store: Store, sql: str) -> list[tuple]:
    with store.lock:
        return store.conn.execute(sql).fetchall()


def column(heading: str, value: str | None) -> dict[str, str | None]:
    """An entry of raw_acton.list_records.fields."""
    return {"heading": heading, "value": value}


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def test_acton_extract_equals_the_sandbox(fresh_sandbox: Sandbox, tmp_path: Path, wh) -> None:
    sb = fresh_sandbox
    store = Store(sb.data_dir / "sandbox.sqlite")
    client = ActOnClient.from_env(_env(sb, tmp_path))
    # the pipeline creates its lists; make one with a few records to extract
    specs = [
        {"columnHeading": "E-mail Address", "columnIndex": 0, "columnType": "EMAIL", "ignoreColumn": "N"},
        {"columnHeading": "First Name", "columnIndex": 1, "columnType": "FIRSTNAME", "ignoreColumn": "N"},
        {"columnHeading": "Salesforce Id", "columnIndex": 2, "ignoreColumn": "N"},
        {"columnHeading": "Lead Score", "columnIndex": 3, "ignoreColumn": "N"},
    ]
    list_id = client.create_list("SFDC Test Leads", specs)
    upload = 'E-mail Address,First Name,Salesforce Id,Lead Score\na@x.com,Ann,00Q1,12\nb@x.com,"O\'Neil, B",00Q2,\n'
    client.wait_for_job(client.merge_upload(list_id, upload.encode(), specs))
    results = {r.entity: r for r in extract_acton(wh, client, ["SFDC Test Leads"])}
    assert results[f"list_records:{list_id}"].rows_inserted == 2

    records = wh.execute(
        "SELECT email, salesforce_id, fields, is_deleted FROM raw_acton.list_records ORDER BY email"
    ).fetchall()
    # every column but the key ones, under its heading; a blank is null
    assert records == [
        ("a@x.com", "00Q1", [column("First Name", "Ann"), column("Lead Score", "12")], False),
        ("b@x.com", "00Q2", [column("First Name", "O'Neil, B"), column("Lead Score", None)], False),
    ]

    contacts = dict(wh.execute("SELECT contact_id, score FROM raw_acton.contacts").fetchall())
    assert contacts == {i: float(s) for i, s in _acton_source(store, "SELECT id, score FROM acton_contacts")}
    optouts = sorted(wh.execute("SELECT email, opted_out_at FROM raw_acton.optouts").fetchall())
    source = _acton_source(store, "SELECT email, ts_ms FROM acton_suppressions WHERE kind = 'optout'")
    assert optouts == sorted((e, _ms(t)) for e, t in source)
    bounces = wh.execute("SELECT count(*) FROM raw_acton.hard_bounces").fetchone()
    assert (
        bounces
        == _acton_source(store, "SELECT count(*) FROM acton_suppressions WHERE kind = 'hardbounce'")[0]
    )
    messages = wh.execute("SELECT count(*) FROM raw_acton.messages").fetchone()
    assert messages == _acton_source(store, "SELECT count(*) FROM acton_messages")[0]
    events = wh.execute("SELECT count(*) FROM raw_acton.message_events").fetchone()
    assert events is not None and events[0] > 0

    # nothing changed: no drill-down is read again, the list needs one call
    calls = client.calls
    again = {r.entity: r for r in extract_acton(wh, client, ["SFDC Test Leads"])}
    assert again["message_events"].rows_inserted == 0
    assert again[f"list_records:{list_id}"].api_calls == 1
    assert client.calls - calls <= 12 + len(_acton_source(store, "SELECT id FROM acton_messages"))

    # opt-outs: a read asks only for those created since the last one; an opt-in (the email leaves the list)
    # shows in the next whole read, due once the last whole read is `whole_every` old
    no_lookback = ActOnExtractSettings(lookback=timedelta(0))
    opted_in, added = optouts[0][0], "new.optout@example.com"
    client.opt_in([opted_in])
    client.opt_out([added])

    def state(email: str) -> tuple[int, datetime | None]:
        on_list = wh.execute("SELECT count(*) FROM raw_acton.optouts WHERE email = ?", [email]).fetchone()
        history = wh.execute("SELECT removed_at FROM raw_acton.optout_history WHERE email = ?", [email])
        return on_list[0], history.fetchone()[0]  # type: ignore[index]

    read = extract_optouts(wh, client, timedelta(hours=4), no_lookback)
    # the page with the new opt-out, then one that adds nothing: a short page alone never ends a read
    assert (read.mode, read.rows_inserted, read.rows_updated, read.api_calls) == ("created after", 1, 0, 2)
    assert state(added) == (1, None) and state(opted_in) == (1, None)
    # an opt-in is inferred only when whole reads of two different runs lack the email (the same run's step
    # executed again does not count)
    for run_id in ("run-1", "run-1"):
        read = extract_optouts(wh, client, timedelta(0), no_lookback, run_id=run_id)
        assert (read.mode, read.rows_deleted) == ("whole list", 0)
        assert state(opted_in) == (0, None)
    # a missed email makes the next run read the whole list whatever the cadence
    read = extract_optouts(wh, client, timedelta(hours=4), no_lookback, run_id="run-2")
    assert (read.mode, read.rows_deleted) == ("whole list", 1)
    on_list, removed_at = state(opted_in)
    assert on_list == 0 and removed_at is not None
    assert state(added) == (1, None)
    read = extract_optouts(wh, client, timedelta(hours=4), no_lookback, run_id="run-3")
    assert read.mode == "created after"
    assert json.loads(wh.execute("SELECT fields FROM raw_acton.contacts LIMIT 1").fetchone()[0])


@pytest.mark.reliability
def test_acton_extract_completes_through_faults(clean_faults: Sandbox, tmp_path: Path, wh) -> None:
    sb = clean_faults
    store = Store(sb.data_dir / "sandbox.sqlite")
    faults = [
        {"kind": "status", "status": 429, "path": "/api/1/list/optout", "every": 1, "times": 2},
        {"kind": "status", "status": 503, "path": "/ucl/*", "every": 1, "times": 1},
        {"kind": "reset", "path": "/ucl/*", "every": 2, "times": 1},
        {"kind": "expire_session", "path": "/api/1/*", "every": 2, "times": 1},
    ]
    with every_fault_fires(sb, "acton", faults):
        client = ActOnClient.from_env(_env(sb, tmp_path))
        ensure_tables(wh)
        extract_optouts(wh, client)
        extract_contacts(wh, client)
    assert (
        wh.execute("SELECT count(*) FROM raw_acton.optouts").fetchone()
        == _acton_source(store, "SELECT count(*) FROM acton_suppressions WHERE kind = 'optout'")[0]
    )
    assert (
        wh.execute("SELECT count(*) FROM raw_acton.contacts").fetchone()
        == _acton_source(store, "SELECT count(*) FROM acton_contacts")[0]
    )
