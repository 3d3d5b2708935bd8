"""The synthetic org: proportions, determinism, the mess real data has, consistency, and simulated hours."""

from __future__ import annotations

import random
import time
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import world
from sandbox.salesforce import world as salesforce_world
from sandbox.store import Store, wall_clock

SCALE = 2000
SEED = 42
WALL_CLOCK_FIELDS = {"SystemModstamp", "LastModifiedDate"}
OBJECTS = (
    "Organization",
    "User",
    "Account",
    "Campaign",
    "Contact",
    "Opportunity",
    "OpportunityContactRole",
    "OpportunityHistory",
    "Lead",
    "CampaignMember",
)


def rows(store: Store, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with store.lock:
        cur = store.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def count(store: Store, obj: str, where: str = "1 = 1") -> int:
    with store.lock:
        return store.conn.execute(f'SELECT COUNT(*) FROM "{obj}" WHERE {where}').fetchone()[0]


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every row of every object, without the wall-clock audit stamps."""
    out = {}
    for obj in OBJECTS:
        cols = [f.name for f in store.fields(obj) if f.name not in WALL_CLOCK_FIELDS]
        quoted = ", ".join(f'"{c}"' for c in cols)
        with store.lock:
            out[obj] = store.conn.execute(f'SELECT {quoted} FROM "{obj}" ORDER BY "Id"').fetchall()
    return out


def norm(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def make(tmp: Path, name: str, scale: int = SCALE, seed: int = SEED) -> Store:
    store = Store(tmp / f"{name}.sqlite")
    world.generate(store, scale, seed)
    return store


# An Act-On side that adds nothing to the world
NO_ACTON = types.SimpleNamespace(
    generate=lambda store, rng: None, simulate_hour=lambda store, rng, start, end: {}
)


@pytest.fixture(scope="module", autouse=True)
def no_acton() -> Iterator[None]:
    """These tests are about the Salesforce side; the Act-On world (another module) is tested on its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(world, "acton_world", NO_ACTON)
        yield


@pytest.fixture(scope="module")
def org(no_acton: None, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return make(tmp_path_factory.mktemp("org"), "org")


def assert_conversions_consistent(store: Store, contacts_edited: bool = False) -> int:
    """Converted leads point at their contact, account and opportunity; ``contacts_edited``: emails may differ
    since (a simulated hour changes some contacts' addresses)."""
    leads = rows(store, 'SELECT * FROM "Lead"')
    contacts = {r["Id"]: r for r in rows(store, 'SELECT * FROM "Contact"')}
    opportunities = {r["Id"]: r for r in rows(store, 'SELECT * FROM "Opportunity"')}
    converted = 0
    for lead in leads:
        conversion = (lead["ConvertedContactId"], lead["ConvertedAccountId"], lead["ConvertedDate"])
        if not lead["IsConverted"]:
            assert lead["Status"] != "Closed - Converted"
            assert conversion == (None, None, None) and lead["ConvertedOpportunityId"] is None
            continue
        converted += 1
        assert lead["Status"] == "Closed - Converted"
        contact = contacts[lead["ConvertedContactId"]]
        assert contact["Email"] == lead["Email"] or contacts_edited
        assert contact["AccountId"] == lead["ConvertedAccountId"]
        assert lead["ConvertedDate"] == contact["CreatedDate"][:10]
        assert lead["CreatedDate"] <= contact["CreatedDate"]
        if lead["ConvertedOpportunityId"]:
            opportunity = opportunities[lead["ConvertedOpportunityId"]]
            assert opportunity["AccountId"] == lead["ConvertedAccountId"]
            assert opportunity["ContactId"] == contact["Id"]
    return converted


def assert_pipeline_consistent(store: Store) -> None:
    opportunities = rows(store, 'SELECT * FROM "Opportunity"')
    for o in opportunities:
        assert o["IsClosed"] == int(o["StageName"] in ("Closed Won", "Closed Lost"))
        assert o["IsWon"] == int(o["StageName"] == "Closed Won")
        assert o["Probability"] == salesforce_world.STAGE_INFO[o["StageName"]][0]
        assert o["FiscalYear"] == int(o["CloseDate"][:4])
    primaries = Counter(
        r["OpportunityId"]
        for r in rows(store, 'SELECT "OpportunityId" FROM "OpportunityContactRole" WHERE "IsPrimary" = 1')
    )
    assert all(primaries[o["Id"]] == 1 for o in opportunities)
    deleted_role_contacts = rows(
        store,
        'SELECT r."Id" FROM "OpportunityContactRole" r JOIN "Contact" c ON c."Id" = r."ContactId" '
        'WHERE c."IsDeleted" = 1',
    )
    assert deleted_role_contacts == []
    latest = {
        r["OpportunityId"]: r["StageName"]
        for r in rows(
            store,
            'SELECT "OpportunityId", "StageName" FROM "OpportunityHistory" ORDER BY "CreatedDate", "Id"',
        )
    }
    assert all(latest[o["Id"]] == o["StageName"] for o in opportunities)


def assert_members_consistent(store: Store) -> None:
    members = rows(store, 'SELECT * FROM "CampaignMember"')
    people = {
        r["Id"]: r["Email"]
        for obj in ("Lead", "Contact")
        for r in rows(store, f'SELECT "Id", "Email" FROM "{obj}"')
    }
    for m in members:
        assert m["LeadOrContactId"] == (m["LeadId"] or m["ContactId"])
        assert (m["LeadId"] is None) != (m["ContactId"] is None)
        assert m["Email"] == people[m["LeadOrContactId"]]
        assert m["HasResponded"] == int(m["Status"] == "Responded")
        assert (m["FirstRespondedDate"] is not None) == bool(m["HasResponded"])
    pairs = Counter((m["CampaignId"], m["LeadOrContactId"]) for m in members)
    assert max(pairs.values()) == 1
    for c in rows(store, 'SELECT * FROM "Campaign"'):
        mine = [m for m in members if m["CampaignId"] == c["Id"]]
        assert c["NumberOfLeads"] == sum(1 for m in mine if m["LeadId"])
        assert c["NumberOfContacts"] == sum(1 for m in mine if m["ContactId"])


# -- generation ------------------------------------------------------------------------------------------------
def test_counts_are_in_proportion(org: Store) -> None:
    store = org
    assert count(store, "Lead") == SCALE
    assert count(store, "Contact") == SCALE * 6 // 10
    assert count(store, "Account") == SCALE * 15 // 100
    assert count(store, "Opportunity") == SCALE // 10
    assert count(store, "Campaign") == 5
    assert count(store, "User") == 5 + 1
    assert 1.2 <= count(store, "OpportunityContactRole") / count(store, "Opportunity") <= 1.8
    assert 2.5 <= count(store, "OpportunityHistory") / count(store, "Opportunity") <= 3.5
    assert 0.8 <= count(store, "CampaignMember") / SCALE <= 1.2
    (org_row,) = rows(store, 'SELECT * FROM "Organization"')
    assert (org_row["Name"], org_row["IsSandbox"]) == ("Sandbox Org", 1)


def test_api_user_and_world_meta(org: Store, tmp_path: Path) -> None:
    store = org
    api_user = store.get("User", store.get_meta("api_user_id"))
    assert api_user["Username"] == salesforce_world.DEFAULT_API_USERNAME
    assert store.get_meta("world_clock") == salesforce_world.WORLD_START
    assert (store.get_meta("world_seed"), store.get_meta("world_scale"), store.get_meta("world_hours")) == (
        SEED,
        SCALE,
        0,
    )

    named = Store(tmp_path / "named.sqlite")
    named.set_meta("salesforce_credentials", {"username": "etl@acme.example"})
    world.generate(named, 50, 1)
    assert named.get("User", named.get_meta("api_user_id"))["Username"] == "etl@acme.example"


def test_generate_runs_once(org: Store) -> None:
    store = org
    before = snapshot(store)
    world.generate(store, SCALE, SEED + 1)
    assert snapshot(store) == before


def test_same_seed_same_org_other_seed_other_org(org: Store, tmp_path: Path) -> None:
    store = org
    assert snapshot(make(tmp_path, "same")) == snapshot(store)
    other = snapshot(make(tmp_path, "other", seed=SEED + 1))
    assert other["Lead"] != snapshot(store)["Lead"]
    assert len(other["Lead"]) == SCALE


def test_timestamps(org: Store) -> None:
    store = org
    earliest = "2023-10-01"  # two years of history before the world clock, plus lead lead-time
    for obj in ("Lead", "Contact", "Account", "Opportunity", "CampaignMember", "OpportunityHistory"):
        lo, hi = store.conn.execute(f'SELECT MIN("CreatedDate"), MAX("CreatedDate") FROM "{obj}"').fetchone()
        assert earliest <= lo and hi <= salesforce_world.WORLD_START, obj
        # audit stamps are wall-clock, spread over the weeks before generation, never before the row existed
        (odd,) = store.conn.execute(
            f'SELECT COUNT(*) FROM "{obj}" WHERE "SystemModstamp" < "CreatedDate" OR "SystemModstamp" > ?',
            (wall_clock(),),
        ).fetchone()
        assert odd == 0, obj
    dates = rows(store, 'SELECT "CloseDate", "IsClosed" FROM "Opportunity"')
    assert all(d["CloseDate"] <= salesforce_world.WORLD_START[:10] for d in dates if d["IsClosed"])
    assert all(d["CloseDate"] > salesforce_world.WORLD_START[:10] for d in dates if not d["IsClosed"])


def test_messy_emails(org: Store) -> None:
    store = org
    emails = [
        r["Email"] for r in rows(store, 'SELECT "Email" FROM "Lead" UNION ALL SELECT "Email" FROM "Contact"')
    ]
    assert sum(e is None for e in emails) > 0.02 * len(emails)
    present = [e for e in emails if e is not None]
    assert set(salesforce_world.INVALID_EMAILS) & set(present)
    assert any(e != e.strip() for e in present)
    assert any(e.strip() != e.strip().lower() for e in present)
    lead_emails = Counter(
        norm(r["Email"]) for r in rows(store, 'SELECT "Email" FROM "Lead" WHERE "Email" IS NOT NULL')
    )
    assert max(lead_emails.values()) >= 2
    assert sum(1 for n in lead_emails.values() if n >= 2) >= 10


def test_same_person_as_lead_and_contact(org: Store) -> None:
    store = org
    contacts = {
        norm(r["Email"]): r["HasOptedOutOfEmail"]
        for r in rows(store, 'SELECT "Email", "HasOptedOutOfEmail" FROM "Contact" WHERE "Email" IS NOT NULL')
    }
    unconverted = rows(store, 'SELECT "Email", "HasOptedOutOfEmail" FROM "Lead" WHERE "IsConverted" = 0')
    shared = [lead for lead in unconverted if norm(lead["Email"]) in contacts]
    assert len(shared) >= 10
    assert any(lead["HasOptedOutOfEmail"] != contacts[norm(lead["Email"])] for lead in shared)
    assert count(store, "Lead", '"HasOptedOutOfEmail" = 1') > 0
    assert count(store, "Contact", '"EmailBouncedReason" IS NOT NULL') > 0


def test_messy_text(org: Store) -> None:
    store = org
    texts = [
        v
        for r in rows(store, 'SELECT "FirstName", "LastName", "Title", "Company" FROM "Lead"')
        for v in r.values()
        if v is not None
    ]
    assert any(any(ch in v for ch in "éüø") for v in texts)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in v) for v in texts)
    assert any(any(ord(ch) > 0xFFFF for ch in v) for v in texts)  # emoji
    for mark in ("\n", '"', "'", ","):
        assert any(mark in v for v in texts), repr(mark)
    assert count(store, "Lead", '"FirstName" IS NULL') > 0
    assert count(store, "Lead", '"Title" IS NULL') > 0


def test_converted_leads_are_consistent(org: Store) -> None:
    store = org
    assert assert_conversions_consistent(store) == round(SCALE * 0.06)
    assert count(store, "Lead", '"ConvertedOpportunityId" IS NOT NULL') > 0


def test_pipeline_and_campaigns(org: Store) -> None:
    store = org
    assert_pipeline_consistent(store)
    assert_members_consistent(store)
    stages = Counter(r["StageName"] for r in rows(store, 'SELECT "StageName" FROM "Opportunity"'))
    assert set(stages) == set(salesforce_world.STAGE_INFO)
    assert count(store, "Opportunity", '"Amount" IS NULL') > 0
    assert count(store, "Opportunity", '"CampaignId" IS NULL') > 0
    assert count(store, "Opportunity", '"CampaignId" IS NOT NULL') > 0
    costs = rows(store, 'SELECT "BudgetedCost", "ActualCost" FROM "Campaign"')
    assert any(c["BudgetedCost"] is None and c["ActualCost"] is None for c in costs)
    assert any(c["ActualCost"] == 0 for c in costs)
    assert count(store, "Contact", '"AccountId" IS NULL') == 0


def test_scores_start_empty(org: Store) -> None:
    store = org
    for obj in ("Lead", "Contact"):
        scored = count(store, obj, '"ActOn_Lead_Score__c" IS NOT NULL')
        assert 0 < scored < 0.05 * count(store, obj)
        assert count(store, obj, '"ActOn_High_Intent__c" != 0') == 0


# -- simulation ------------------------------------------------------------------------------------------------
def test_simulate_is_deterministic(tmp_path: Path) -> None:
    a, b = make(tmp_path, "a", scale=500), make(tmp_path, "b", scale=500)
    counts_a = world.simulate(a, 4, churn=0.03)
    parts = [world.simulate(b, 1, churn=0.03), world.simulate(b, 3, churn=0.03)]
    assert snapshot(a) == snapshot(b)
    assert counts_a["leads_created"] == sum(p.get("leads_created", 0) for p in parts)
    assert counts_a["world_clock"] == parts[-1]["world_clock"] == "2026-01-01T04:00:00.000+0000"
    assert a.get_meta("world_hours") == b.get_meta("world_hours") == 4


def test_simulate_changes_the_world(tmp_path: Path) -> None:
    store = make(tmp_path, "sim")
    # modstamps have millisecond resolution: step past the generator's last write and before the simulation's first
    time.sleep(0.01)
    generated_at = wall_clock()
    time.sleep(0.01)
    before = {obj: count(store, obj) for obj in ("Lead", "CampaignMember")}
    deleted_before = count(store, "Lead", '"IsDeleted" = 1')
    counts = world.simulate(store, 3, churn=0.02)

    for kind in (
        "leads_created",
        "leads_updated",
        "contacts_updated",
        "leads_converted",
        "opportunity_stage_changes",
        "opt_outs",
        "leads_deleted",
        "campaign_members_created",
        "campaign_members_deleted",
    ):
        assert counts.get(kind, 0) > 0, kind
    assert count(store, "Lead") == before["Lead"] + counts["leads_created"]
    assert count(store, "Lead", '"IsDeleted" = 1') == deleted_before + counts["leads_deleted"]
    assert count(store, "CampaignMember") == (
        before["CampaignMember"] + counts["campaign_members_created"] - counts["campaign_members_deleted"]
    )
    # new records carry business times inside the simulated hours, every write a wall-clock modstamp
    new_leads = rows(
        store,
        'SELECT "CreatedDate", "SystemModstamp" FROM "Lead" WHERE "CreatedDate" >= ?',
        (salesforce_world.WORLD_START,),
    )
    assert len(new_leads) == counts["leads_created"]
    assert all(r["CreatedDate"] < "2026-01-01T03:00:00.000+0000" for r in new_leads)
    assert all(r["SystemModstamp"] > generated_at for r in new_leads)
    for obj in ("Lead", "Contact", "Opportunity", "CampaignMember"):
        touched = (
            f"\"SystemModstamp\" > '{generated_at}' AND \"CreatedDate\" < '{salesforce_world.WORLD_START}'"
        )
        assert count(store, obj, touched) > 0, obj
    assert store.get_meta("world_clock") == "2026-01-01T03:00:00.000+0000"
    assert_conversions_consistent(store, contacts_edited=True)
    assert_pipeline_consistent(store)
    assert_members_consistent(store)


def changes(counts: dict[str, Any]) -> int:
    return sum(v for k, v in counts.items() if isinstance(v, int) and k != "hours")


def test_churn_sets_the_rate(tmp_path: Path) -> None:
    quiet = world.simulate(make(tmp_path, "quiet", scale=1000), 1, churn=0.005)
    busy = world.simulate(make(tmp_path, "busy", scale=1000), 1, churn=0.1)
    assert 0 < 4 * changes(quiet) < changes(busy)


def test_simulate_survives_a_dropped_field(tmp_path: Path) -> None:
    store = make(tmp_path, "mutated", scale=500)
    store.drop_field("Lead", "Title")
    counts = world.simulate(store, 2, churn=0.05)
    assert counts["leads_created"] > 0


def test_simulate_needs_a_world(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        world.simulate(Store(tmp_path / "empty.sqlite"), 1)


def test_acton_world_is_called_with_its_own_seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    fake = types.ModuleType("sandbox.acton.world")
    fake.generate = lambda store, rng: calls.append(("generate", rng.random()))
    fake.simulate_hour = lambda store, rng, start, end: calls.append(("hour", rng.random(), start, end)) or {
        "opens": 3
    }
    monkeypatch.setattr(world, "acton_world", fake)
    store = make(tmp_path, "acton", scale=100, seed=7)
    counts = world.simulate(store, 2)
    assert calls == [
        ("generate", random.Random("7-acton").random()),
        (
            "hour",
            random.Random("7-acton-sim-0").random(),
            "2026-01-01T00:00:00.000+0000",
            "2026-01-01T01:00:00.000+0000",
        ),
        (
            "hour",
            random.Random("7-acton-sim-1").random(),
            "2026-01-01T01:00:00.000+0000",
            "2026-01-01T02:00:00.000+0000",
        ),
    ]
    assert counts["acton_opens"] == 6


def test_every_generated_row_has_a_deleted_flag(tmp_path: Path) -> None:
    store = Store(tmp_path / "flags.sqlite")
    world.generate(store, 200, SEED)
    for obj in store.objects():
        if store.field(obj, "IsDeleted") is not None:
            (missing,) = store.conn.execute(
                f'SELECT COUNT(*) FROM "{obj}" WHERE "IsDeleted" IS NULL'
            ).fetchone()
            assert missing == 0, obj
