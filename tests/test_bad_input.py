"""Bad input: each messy record of the seeded world ends synced correctly (checked through the APIs) or in a
rejects table with its reason; malformed API responses stop the extract with an error naming the call and
leave no partial write behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.warehouse import connect, get_watermark
from ingest.clients.acton_client import MAX_PAGE, ActOnClient
from ingest.clients.errors import MalformedResponse
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract.acton import ensure_tables, extract_contacts
from ingest.extract.salesforce import extract_object
from tests.clients.test_ingest_http import (
    ActOnTokens,
    FakeServer,
    Reply,
    Seen,
    _sf_token_server,
    acton_env,
    server,
    sf_env,
)
from tests.reliability.harness import (
    Baseline,
    World,
    baseline,
    email_of,
    list_members,
    lists_by_name,
    start_world,
)
from writeback.emails import normalise_email

__all__ = ["server"]  # the fixture, imported for the fake-server tests
# A sync is slow on a loaded machine, and the first test to ask for the shared baseline pays for two.
pytestmark = pytest.mark.timeout(1800)

SCORE_FIELD = "ActOn_Lead_Score__c"
LIST_OF = {"Lead": "SFDC Master Leads", "Contact": "SFDC Master Contacts"}
LIST_COLUMNS = {"FirstName": "First Name", "LastName": "Last Name", "Company": "Company"}


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    synced = baseline(tmp_path_factory)
    yield synced
    synced.world.sandbox.stop()


def record(world: World, obj: str, record_id: str, fields: str) -> dict[str, Any]:
    pages = world.salesforce.query_pages(f"SELECT {fields} FROM {obj} WHERE Id = '{record_id}'")
    (found,) = [r for page in pages for r in page["records"]]
    return found


def members_by_email(world: World, list_name: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for m in list_members(world.acton, lists_by_name(world.acton)[list_name]):
        out.setdefault(normalise_email(email_of(m)), []).append(m)
    return out


def rejected(world: World) -> dict[str, str]:
    """record id -> reason, from dbt's rejects mart and the write-back's rejects table."""
    rows = world.query("SELECT record_id, reason FROM marts.rejected_records")
    rows += world.query("SELECT record_id, reason FROM sync_state.rejects")
    return dict(rows)


# -- each messy record's fate -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("missing_email", "missing email"),
        ("blank_email", "missing email"),
        ("invalid_email", "invalid email"),
        ("double_at_email", "invalid email"),
    ],
)
def test_records_without_a_valid_email_are_rejected_with_the_reason(
    synced: Baseline, label: str, reason: str
) -> None:
    world = synced.world
    messy = world.messy[label]
    assert rejected(world).get(messy.id) == reason
    members = members_by_email(world, LIST_OF[messy.object])
    sent = {m.get("Salesforce Id") for ms in members.values() for m in ms}
    assert messy.id not in sent


@pytest.mark.parametrize(
    "label",
    [
        "mixed_case_email",
        "text_specials",
        "unicode",
        "at_length",
        "over_length",
        "contact_text_specials",
        "contact_at_length",
    ],
)
def test_messy_people_reach_their_list_exactly_once_with_their_values(synced: Baseline, label: str) -> None:
    """Normalised email, every text column byte for byte (quotes, commas, line breaks, unicode, lengths), the
    score the record got."""
    world = synced.world
    messy = world.messy[label]
    sf = record(world, messy.object, messy.id, f"Id, Email, FirstName, LastName, {SCORE_FIELD}")
    email = normalise_email(sf["Email"])
    copies = members_by_email(world, LIST_OF[messy.object]).get(email)
    assert copies is not None and len(copies) == 1, (
        f"{label}: {email!r} is in the list {len(copies or [])} times"
    )
    (member,) = copies
    assert member["Email"] == email
    for field, value in messy.fields.items():
        if field in LIST_COLUMNS:
            assert member[LIST_COLUMNS[field]] == value, field
    if sf[SCORE_FIELD] is not None:
        assert float(member["Lead Score"]) == sf[SCORE_FIELD]


def test_duplicate_emails_are_one_person_with_one_score(synced: Baseline) -> None:
    world = synced.world
    a, b = world.messy["duplicate_email_a"], world.messy["duplicate_email_b"]
    email = normalise_email(a.fields["Email"])
    assert email == normalise_email(b.fields["Email"])
    copies = members_by_email(world, "SFDC Master Leads")[email]
    assert len(copies) == 1
    scores = {record(world, "Lead", m.id, SCORE_FIELD)[SCORE_FIELD] for m in (a, b)}
    assert len(scores) == 1, "a score goes to every record with the email"
    people = world.query("SELECT salesforce_record_count FROM marts.people WHERE email = ?", [email])
    assert people == [(2,)]


def test_lead_and_contact_disagreeing_about_consent_end_opted_out(synced: Baseline) -> None:
    """Opt-out precedence: a Salesforce opt-out on one record opts out the email everywhere, and the ledger
    says so."""
    world = synced.world
    lead, contact = world.messy["optout_conflict_lead"], world.messy["optout_conflict_contact"]
    email = normalise_email(contact.fields["Email"])
    for m in (lead, contact):
        assert record(world, m.object, m.id, "HasOptedOutOfEmail")["HasOptedOutOfEmail"] is True, m.object
    optouts = {normalise_email(r["email"]) for p in world.acton.optout_pages("optout") for r in p["result"]}
    assert email in optouts
    assert email in world.ledger_optouts()


def test_null_amounts_and_dates_and_orphan_accounts_reach_the_marts(synced: Baseline) -> None:
    world = synced.world
    null_opp = world.messy["null_amount_and_date"].id
    orphan_opp = world.messy["orphan_opportunity_account"].id
    rows = dict(
        (r[0], r[1:])
        for r in world.query(
            "SELECT opportunity_id, amount, close_date, account_id FROM marts.opportunities "
            "WHERE opportunity_id IN (?, ?)",
            [null_opp, orphan_opp],
        )
    )
    assert rows[null_opp][:2] == (None, None)
    assert rows[orphan_opp][2] == world.messy["orphan_opportunity_account"].fields["AccountId"]


def test_orphan_references_do_not_stop_the_sync(tmp_path: Path) -> None:
    world = start_world(tmp_path, orphans=True)
    try:
        run = world.sync()
        assert run.success, run.output[-3000:]
        for label, list_name, column in (
            ("orphan_account", "SFDC Master Contacts", "Company"),
            ("orphan_owner", "SFDC Master Leads", "Salesforce Owner"),
        ):
            messy = world.messy[label]
            email = normalise_email(record(world, messy.object, messy.id, "Email")["Email"])
            (member,) = members_by_email(world, list_name)[email]
            assert member[column] == "", label
    finally:
        world.sandbox.stop()


# -- malformed API responses ------------------------------------------------------------------------------------
BASE = "/services/data/v59.0"
MALFORMED = {
    "truncated JSON": Reply(
        200, '{"totalSize": 3, "done": true, "records": [{"Id": "00Q', {"Content-Type": "application/json"}
    ),
    "HTML error page": Reply(
        200, "<html><body>Service maintenance</body></html>", {"Content-Type": "text/html"}
    ),
    "wrong content type": Reply(200, "<?xml version='1.0'?><records/>", {"Content-Type": "application/xml"}),
}
LEAD_DESCRIBE = {
    "name": "Lead",
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "LastName", "type": "string"},
        {"name": "IsDeleted", "type": "boolean"},
        {"name": "SystemModstamp", "type": "datetime"},
    ],
}


def _lead(n: int) -> dict[str, Any]:
    return {
        "Id": f"00Q{n:015d}",
        "LastName": f"L{n}",
        "IsDeleted": False,
        "SystemModstamp": f"2024-01-0{n}T00:00:00.000+0000",
    }


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_salesforce_page_names_the_call_and_writes_nothing(
    server: FakeServer, tmp_path: Path, kind: str
) -> None:
    _sf_token_server(server)
    described = {"body": LEAD_DESCRIBE, "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "r0"}
    counted = {
        "body": {"sObjects": [{"count": 3, "name": "Lead"}]},
        "httpStatusCode": 200,
        "referenceId": "r1",
    }
    server.route("POST", f"{BASE}/composite", Reply(200, {"compositeResponse": [described, counted]}))
    first = {
        "totalSize": 3,
        "done": False,
        "nextRecordsUrl": f"{BASE}/query/01g-2",
        "records": [_lead(1), _lead(2)],
    }
    server.route("GET", f"{BASE}/queryAll/", Reply(200, first))
    server.route("GET", f"{BASE}/query/01g-2", MALFORMED[kind])
    conn = connect(tmp_path / "warehouse.duckdb")
    client = SalesforceClient.from_env(sf_env(server, tmp_path))
    with pytest.raises(MalformedResponse) as e:
        extract_object(conn, client, "Lead")
    assert "salesforce GET queryAll/<locator>" in str(e.value)
    assert conn.execute("SELECT count(*) FROM raw_salesforce.lead").fetchone() == (0,)
    assert get_watermark(conn, "salesforce", "Lead") is None


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_acton_page_names_the_call_and_moves_no_watermark(
    server: FakeServer, tmp_path: Path, kind: str
) -> None:
    """A later page that breaks off keeps the rows already committed (whole rows, each page in its own
    transaction) but not the watermark: pages come in record order, so the next run must read them all again."""
    tokens = ActOnTokens()
    server.route("POST", "/token", tokens)
    server.route("GET", "/api/1/account", Reply(200, {"account_id": 4242}))
    contacts = "/ucl/v2/4242/contact/"

    def page(seen: Seen) -> Reply:
        if seen.query["page"] == ["1"]:
            return MALFORMED[kind]
        # a full page (Act-On's 1000), newest first: record order is not time order
        rows = [
            {
                "id": f"c{i}",
                "email": f"p{i}@example.com",
                "updatedAt": 1_700_000_000 - i,
                "fields": {"Act-On Primary Score": None},
            }
            for i in range(MAX_PAGE)
        ]
        return Reply(200, {"contacts": rows, "totalCount": MAX_PAGE + 5})

    server.route("GET", contacts, page)
    env = acton_env(server, tmp_path)
    conn = connect(tmp_path / "warehouse.duckdb")
    ensure_tables(conn)
    client = ActOnClient.from_env(env)
    with pytest.raises(MalformedResponse) as e:
        extract_contacts(conn, client)
    assert f"acton GET {contacts}" in str(e.value)
    assert get_watermark(conn, "acton", "contacts") is None
    (kept, whole) = conn.execute(
        "SELECT count(*), count(*) FILTER (email = 'p' || substr(contact_id, 2) || '@example.com' "
        "AND updated_at IS NOT NULL) FROM raw_acton.contacts"
    ).fetchone()
    assert kept in (0, MAX_PAGE) and whole == kept


def test_a_bad_duckdb_memory_limit_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="DUCKDB_MEMORY_LIMIT='lots'"):
        connect(tmp_path / "warehouse.duckdb")
