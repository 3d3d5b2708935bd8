"""A list maps any Salesforce field (and Account.X / Owner.X) to any Act-On heading.

Unit: the text form a list carries (README, "Values in a list") from each Salesforce type, through the real
dbt macro. Config: a heading mapped twice (YAML duplicate key, or one differing in case) and an unknown field (the
preflight against the sandbox's describe) are errors naming the key. End to end: a real ``sync_job`` on a small
world with a date, a datetime, a boolean, a number and a lookup mapped on the Contacts list; what reaches Act-On is
read back from the sandbox's own list and compared with values worked out here from Salesforce's API; a second run
sends nothing; one changed Salesforce value sends exactly that record.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from common import warehouse
from common.sync_config import SyncConfigError, load_sync_config, parse_sync_config
from health.preflight import PreflightError, preflight
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.acton import _record_frame, ensure_tables, extract_list_records, extract_lists
from sandbox.launcher import start
from tests.raw_fixtures import WAREHOUSE_TARGETS, empty_warehouse, postgres_type
from tests.test_end_to_end import SYNC_YAML, Pipeline, calls, calls_since, normalised

pytestmark = pytest.mark.timeout(1800)

CONTACTS = "SFDC Master Contacts"
# the Contacts list of the shipped sync.yaml, plus one column of each kind
EXTRA = {
    "Birthday": "Birthdate",  # date
    "Contact Created": "CreatedDate",  # datetime
    "Do Not Call": "DoNotCall",  # boolean
    "Industry": "Account.Industry",  # picklist, through the Account lookup
    "Account Revenue": "Account.AnnualRevenue",  # currency, through the lookup
}
MERGE = "PUT /api/1/list/{listid}"


# -- unit: the text of each Salesforce type --------------------------------------------------------------------
@pytest.mark.parametrize("target", WAREHOUSE_TARGETS)
def test_values_take_the_list_text_of_their_salesforce_type(
    target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The macro a list column goes through, compiled by dbt, applied on each warehouse target to the raw column
    types the extract writes (docs/warehouse.md); the answers are written out by hand."""
    typed = empty_warehouse(request, target, tmp_path)
    compiled = typed.run_dbt("compile", "--inline", "select {{ list_value('v') }} as text from typed")
    sql = compiled.result.results[0].node.compiled_code
    cases: list[tuple[str, Any, str | None]] = [
        ("BOOLEAN", True, "true"),
        ("BOOLEAN", False, "false"),
        ("DATE", date(1980, 2, 29), "1980-02-29"),
        ("TIMESTAMP", datetime(2024, 3, 1, 9, 5, 7, 250000), "2024-03-01T09:05:07Z"),
        ("DOUBLE", 1234567.5, "1234567.5"),
        ("DOUBLE", 250000.0, "250000"),
        ("DOUBLE", 1e20, "100000000000000000000"),
        ("DOUBLE", 0.0000125, "0.0000125"),
        ("DOUBLE", -3.0, "-3"),
        ("BIGINT", 42, "42"),
        ("VARCHAR", "Technology", "Technology"),
        ("VARCHAR", "Webinar;Trade Show", "Webinar;Trade Show"),  # a multi-picklist as Salesforce sends it
        ("VARCHAR", "  padded\t", "padded"),  # Act-On trims what it is sent
        ("VARCHAR", "", None),  # a blank is no value: the list keeps what it has
        ("DOUBLE", None, None),
    ]
    spell = postgres_type if typed.server else str
    for kind, value, expected in cases:
        # the value as text cast to the column's type: Python's text of each of these reads back as the same value
        literal = "null" if value is None else "'" + str(value).replace("'", "''") + "'"
        typed.execute("drop table if exists typed")
        typed.execute(f"create table typed as select cast({literal} as {spell(kind)}) as v")
        assert typed.rows(sql) == [(expected,)], (kind, value)
    typed.close()


def test_the_extract_keeps_every_column_of_a_list_under_its_heading() -> None:
    """Whatever sync.yaml maps, the list records keep every column but the key ones (record id, email, Salesforce
    Id, Act-On's dates), a blank as null; of two headings equal but for case (one column to Act-On) the first."""
    headers = [
        "_contact_id_",
        "E-mail Address",
        "Birthday",
        "Salesforce Id",
        "Do Not Call",
        "BIRTHDAY",
        "_modified_date_",
    ]
    data = pl.DataFrame(
        [["l-1:1", "a@x.com", "1980-02-29", "003A", "true", "ignored", "1700000000000"],
         ["l-1:2", "b@x.com", "", "003B", "false", "", "1700000000000"]],
        orient="row",
    )  # fmt: skip
    frame = _record_frame("l-1", headers, data)
    assert frame.select("record_id", "email", "salesforce_id", "fields").rows() == [
        ("l-1:1", "a@x.com", "003A", [column("Birthday", "1980-02-29"), column("Do Not Call", "true")]),
        ("l-1:2", "b@x.com", "003B", [column("Birthday", None), column("Do Not Call", "false")]),
    ]


def column(heading: str, value: str | None) -> dict[str, str | None]:
    return {"heading": heading, "value": value}


# -- config errors ---------------------------------------------------------------------------------------------
def contacts_fields(**extra: str) -> dict[str, Any]:
    data = yaml.safe_load(SYNC_YAML.read_text())
    data["lists"][0]["fields"].update(extra)
    return data


def test_a_heading_mapped_twice_is_refused_naming_it(tmp_path: Path) -> None:
    shipped = SYNC_YAML.read_text()
    twice = shipped.replace(
        "      Company: Account.Name\n", "      Company: Account.Name\n      Company: Account.Industry\n", 1
    )
    assert twice != shipped
    path = tmp_path / "sync.yaml"
    path.write_text(twice)
    with pytest.raises(SyncConfigError) as duplicate_key:
        load_sync_config(path)
    line = twice.splitlines().index("      Company: Account.Industry") + 1
    assert f"{path}: line {line}: lists[0].fields.Company is given twice" in str(duplicate_key.value)
    assert "fix: remove one of them" in str(duplicate_key.value)

    # Act-On's headings ignore case: "company" is the Company column again
    with pytest.raises(SyncConfigError) as other_case:
        parse_sync_config(contacts_fields(company="Account.Industry"))
    assert "lists[0]: fields.company: the heading is mapped twice" in str(other_case.value)
    assert "'Company'" in str(other_case.value) and "fix:" in str(other_case.value)

    # the list sync's own Salesforce Id column is not the configuration's to map
    with pytest.raises(
        SyncConfigError, match=r"lists\[0\]: fields.SALESFORCE ID: .*fix: remove this mapping"
    ):
        parse_sync_config(contacts_fields(**{"SALESFORCE ID": "Id"}))
    # nor is a field path that is not one
    with pytest.raises(SyncConfigError, match=r"fields.Region = 'Account.Owner.Name' is not a Contact field"):
        parse_sync_config(contacts_fields(Region="Account.Owner.Name"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A small world of its own: the end-to-end runs change it."""
    home = tmp_path_factory.mktemp("list_fields")
    sb = start(home / "sandbox", scale=60, seed=23)
    pipeline = Pipeline(sb, home)
    pipeline.config["lists"][0]["fields"].update(EXTRA)
    yield pipeline
    pipeline.close()
    sb.stop()


def test_an_unknown_field_stops_the_run_at_preflight_naming_the_key(world: Pipeline) -> None:
    config = parse_sync_config(contacts_fields(Birthday="Birth_Date__c", Region="Account.Region__c"))
    with pytest.raises(PreflightError) as info:
        preflight(world.sf, config, "sync.yaml")
    message = str(info.value)
    assert "sync.yaml: lists[0].fields.Birthday: Contact.Birth_Date__c does not exist" in message
    assert "sync.yaml: lists[0].fields.Region: Account.Region__c does not exist" in message
    assert message.count("fix: set lists[0].fields.") == 2
    # the fields the end-to-end run maps all exist
    preflight(world.sf, parse_sync_config(world.config), "sync.yaml")


def test_records_read_before_fields_existed_are_read_again_whole(world: Pipeline, tmp_path: Path) -> None:
    """A warehouse from before ``fields`` gets the column empty: its lists are read whole once more, rather than
    the diff finding every column missing and uploading every member."""
    specs = [
        {"columnHeading": "Email", "columnIndex": 0, "columnType": "EMAIL", "ignoreColumn": "N"},
        {"columnHeading": "Birthday", "columnIndex": 1, "ignoreColumn": "N"},
    ]
    name = "Upgraded List"
    list_id = world.acton.create_list(name, specs)
    world.acton.wait_for_job(
        world.acton.merge_upload(list_id, b"Email,Birthday\na@x.com,1980-02-29\n", specs)
    )
    conn = warehouse.connect(tmp_path / "warehouse.duckdb")
    ensure_tables(conn)
    extract_lists(conn, world.acton)
    assert extract_list_records(conn, world.acton, [name])[0].mode == "whole list"
    conn.execute("UPDATE raw_acton.list_records SET fields = NULL")

    (again,) = extract_list_records(conn, world.acton, [name])
    assert again.mode == "whole list"
    assert conn.execute("SELECT fields FROM raw_acton.list_records").fetchall() == [
        ([column("Birthday", "1980-02-29")],)
    ]
    assert extract_list_records(conn, world.acton, [name])[0].mode == "modified after"
    conn.close()


# -- end to end ------------------------------------------------------------------------------------------------
def sf_contacts(sf: SalesforceClient) -> list[dict[str, Any]]:
    soql = (
        "SELECT Id, Email, Birthdate, CreatedDate, DoNotCall, Account.Industry, Account.AnnualRevenue "
        "FROM Contact"
    )
    return [r for page in sf.query_pages(soql, include_deleted=False) for r in page["records"]]


def number_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else repr(value)


def expected_columns(contact: dict[str, Any]) -> dict[str, str]:
    """What the Contacts list carries for a contact, worked out from Salesforce's JSON by the README's rules."""
    account = contact.get("Account") or {}
    created = datetime.strptime(contact["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    return {
        "Birthday": contact["Birthdate"] or "",
        "Contact Created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Do Not Call": "true" if contact["DoNotCall"] else "false",
        "Industry": account.get("Industry") or "",
        "Account Revenue": number_text(account.get("AnnualRevenue")),
    }


def list_rows(world: Pipeline) -> dict[str, dict[str, str]]:
    """The Contacts list as the sandbox holds it (its CSV download), by normalised email."""
    ids = {e["name"]: str(e["id"]) for page in world.acton.lists() for e in page["result"]}
    rows = csv.DictReader(io.StringIO(world.acton.list_csv(ids[CONTACTS]).decode()))
    return {normalised(r["Email"]) or r["Email"]: r for r in rows}


def unambiguous(contacts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Email -> contact, for the valid emails exactly one live contact has (no primary record to choose)."""
    counts = Counter(normalised(c["Email"]) for c in contacts)
    return {e: c for c in contacts if (e := normalised(c["Email"])) and counts[e] == 1}


def set_contact(world: Pipeline, contact_id: str, **fields: Any) -> None:
    op = {"op": "set", "object": "Contact", "id": contact_id, "fields": fields}
    world.sandbox.admin("salesforce", "POST", "mutate", {"ops": [op]})


def test_configured_fields_reach_the_list_typed_once_and_only_when_changed(world: Pipeline) -> None:
    people = sorted(unambiguous(sf_contacts(world.sf)).values(), key=lambda c: c["Id"])
    assert len(people) >= 6
    # the generated world has no birthdays and nobody on do-not-call: give a few of each
    for n, c in enumerate(people[:4]):
        set_contact(world, c["Id"], Birthdate=f"19{70 + n}-0{n + 1}-1{n}", DoNotCall=n % 2 == 0)

    first = world.run("sync_job")
    assert first.success, first.failures()
    contacts = unambiguous(sf_contacts(world.sf))
    rows = list_rows(world)
    assert set(contacts) <= set(rows)
    for email, contact in contacts.items():
        got = {heading: rows[email][heading] for heading in EXTRA}
        assert got == expected_columns(contact), email
    # the set values arrived in their text form
    assert rows[normalised(people[0]["Email"])]["Birthday"] == "1970-01-10"
    assert rows[normalised(people[0]["Email"])]["Do Not Call"] == "true"
    assert rows[normalised(people[1]["Email"])]["Do Not Call"] == "false"
    assert any(re.fullmatch(r"\d+(\.\d+)?", r["Account Revenue"]) for r in rows.values())
    assert any(r["Industry"] for r in rows.values())

    # nothing changed: nothing is sent
    before = calls(world.sandbox)
    second = world.run("sync_job")
    assert second.success, second.failures()
    assert second.sent("acton_list_sync") == 0
    assert MERGE not in calls_since(world.sandbox, before)["acton"]
    assert second.meta("acton_list_sync")["api_calls"] == 0  # not even to look the lists up

    # one Salesforce value changes: exactly that record is sent, and only it changes in the list
    changed = people[2]
    set_contact(world, changed["Id"], Birthdate="1991-12-31")
    stamps = {e: r["_modified_date_"] for e, r in list_rows(world).items()}
    before = calls(world.sandbox)
    third = world.run("sync_job")
    assert third.success, third.failures()
    assert third.sent("acton_list_sync") == 1
    assert calls_since(world.sandbox, before)["acton"].get(MERGE) == 1
    after = list_rows(world)
    email = normalised(changed["Email"])
    assert after[email]["Birthday"] == "1991-12-31"
    assert {e for e, r in after.items() if r["_modified_date_"] != stamps.get(e)} == {email}
