"""The dbt project on a small hand-made warehouse, on each warehouse target (DuckDB, Postgres): one real `dbt build`
(models, data tests, unit tests, contracts), then the business numbers a user would check: the person spine,
funnel, ROI, prospects, and exactly which rows each sync model asks the write-back to send.

The world (observed at 2024-04-01; its raw rows are in tests/dbt_models_world.yaml):
- Pat: a Lead converted into a Contact (same email, mixed case), won a 10,000 opportunity (contact role) whose
  primary campaign is Trade Show, touched by Webinar (as a lead) then Trade Show (as a contact). Score 80.
- Lee: a Lead and a Contact with one email; checked the box in Salesforce, then opted back in inside Act-On.
  Score 40 (Salesforce has none / 35). An open 5,000 opportunity touched by Email Nurture (cost 0).
- Ann: a Lead; on Act-On's opt-out list, box unchecked in Salesforce. Score 90, clicked recently: high intent.
  Her Act-On list record carries a stale Lead Score.
- Sam: a Contact whose box is checked after an Act-On opt-in; hard bounce in Act-On; list record outdated.
- Oli: only in Act-On; so is a record added by hand to the Leads list.  Dan: a deleted Lead still in the
  Leads list.  Two Salesforce records and one Act-On contact without a valid email.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import yaml

from tests.raw_fixtures import (
    Connection,
    Warehouse,
    create_raw_tables,
    insert_rows,
)

WORLD = Path(__file__).with_name("dbt_models_world.yaml")
OBSERVED_AT = "2024-04-01 00:00:00"
CONTACTS, LEADS = "SFDC Master Contacts", "SFDC Master Leads"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def load_raw(conn: Connection) -> None:
    create_raw_tables(conn)
    for table, table_rows in yaml.safe_load(WORLD.read_text()).items():
        insert_rows(conn, table, table_rows)


def test_people_are_emails_across_both_systems(warehouse: Warehouse) -> None:
    people = {
        r[0]: r[1:]
        for r in warehouse.rows(
            "select email, primary_salesforce_object, primary_salesforce_id, system_of_origin, in_salesforce, "
            "lead_source, salesforce_record_count from marts.people",
        )
    }
    assert set(people) == {
        "pat@acme.com",
        "lee@beta.io",
        "ann@gamma.org",
        "sam@delta.com",
        "oli@acton-only.net",
        "manual@elsewhere.com",
    }
    assert people["pat@acme.com"] == ("Contact", "003P1", "salesforce", True, "Web", 2)
    assert people["lee@beta.io"] == ("Contact", "003L1", "salesforce", True, "Trade Show", 2)
    assert people["oli@acton-only.net"] == (None, None, "acton", False, "Unknown", 0)
    assert people["manual@elsewhere.com"] == (None, None, "acton", False, "Unknown", 0)


def test_people_carry_ids_owner_consent_and_stage(warehouse: Warehouse) -> None:
    lee = warehouse.rows(
        "select salesforce_ids, acton_contact_id, owner_name, owner_email, score, salesforce_opted_out, "
        "acton_opted_out, consent_source_event, consent_event_at, stage_reached, stage_reached_at "
        "from marts.people where email = 'lee@beta.io'",
    )
    # the Contact's box is checked, but Lee opted back in inside Act-On later: that event decides
    assert lee == [
        (
            "003L1,00QL1",
            "c-lee",
            "Una Owner",
            "una@corp.com",
            40.0,
            True,
            False,
            "acton_optin",
            ts("2024-02-28 09:00"),
            "opportunity",
            ts("2024-03-01 09:00"),
        )
    ]
    ann = warehouse.rows(
        "select acton_opted_out, salesforce_opted_out, consent_source_event from marts.people "
        "where email = 'ann@gamma.org'",
    )
    assert ann == [(True, False, "acton_optout")]


def test_records_without_valid_email_are_rejected(warehouse: Warehouse) -> None:
    rejected = warehouse.rows(
        "select source_object, record_id, reason from marts.rejected_records order by 2"
    )
    assert rejected == [
        ("Contact", "003X1", "invalid email"),
        ("Lead", "00QX1", "missing email"),
        ("contact", "c-bad", "invalid email"),
    ]


def test_funnel_stages_are_dated_and_counted(warehouse: Warehouse) -> None:
    stages = {
        r[0]: r[1:]
        for r in warehouse.rows(
            "select email, stage_reached, known_at, engaged_at, mql_at, sql_at, opportunity_at, won_at "
            "from marts.people",
        )
    }
    assert stages["pat@acme.com"] == (
        "won",
        ts("2024-01-02 09:00"),
        ts("2024-01-10 09:00"),
        ts("2024-01-20 00:00"),  # MQL first observed on 2024-04-01, after SQL: it takes SQL's date
        ts("2024-01-20 00:00"),
        ts("2024-01-25 09:00"),
        ts("2024-03-15 00:00"),
    )
    # Lee skipped Engaged and MQL: both take SQL's date (first seen qualified, dated by the lead's last change)
    assert stages["lee@beta.io"][:4] == ("opportunity", ts("2024-02-05 09:00"), ts("2024-02-06 09:00"),
                                         ts("2024-02-06 09:00"))  # fmt: skip
    assert stages["ann@gamma.org"][0] == "mql" and stages["ann@gamma.org"][3] == ts(OBSERVED_AT)
    assert stages["oli@acton-only.net"][:3] == ("engaged", ts("2023-12-20 09:00"), ts("2024-01-15 09:00"))

    counts = dict(warehouse.rows("select stage, count(*) from marts.funnel_stage_entries group by stage"))
    assert counts == {"known": 6, "engaged": 4, "mql": 3, "sql": 2, "opportunity": 2, "won": 1}

    by_period = {
        (r[0], r[1], r[2]): r[3:]
        for r in warehouse.rows(
            "select period_start, lead_source, stage, entered, conversion_rate, median_days_to_next "
            "from marts.funnel_report",
        )
    }
    jan = date(2024, 1, 1)
    assert by_period[(jan, "Web", "known")] == (1, 1.0, 8.0)  # Pat: known 2 Jan, engaged 10 Jan
    assert by_period[(jan, "Unknown", "known")] == (2, 0.0, None)  # Sam and the hand-added record
    assert by_period[(date(2024, 3, 1), "Web", "won")] == (1, None, None)  # last stage: no conversion
    assert by_period[(date(2024, 3, 1), "(all)", "won")] == (1, None, None)


def test_roi_report_per_attribution_model(warehouse: Warehouse) -> None:
    roi = {
        (r[0], r[1]): r[2:]
        for r in warehouse.rows(
            "select campaign_name, attribution_model, cost, won_revenue, pipeline_amount, roi "
            "from marts.roi_report",
        )
    }
    # Webinar (actual cost 1,000) touched Pat first as a lead; Trade Show (budget 500) is primary and last.
    assert roi[("Webinar Spring", "primary")] == (1000.0, 0.0, 0.0, -1.0)
    assert roi[("Webinar Spring", "first_touch")] == (1000.0, 10000.0, 10000.0, 9.0)
    assert roi[("Webinar Spring", "linear")] == (1000.0, 5000.0, 5000.0, 4.0)
    assert roi[("Trade Show", "primary")] == (500.0, 10000.0, 10000.0, 19.0)
    assert roi[("Trade Show", "last_touch")] == (500.0, 10000.0, 10000.0, 19.0)
    assert roi[("Trade Show", "first_touch")] == (500.0, 0.0, 0.0, -1.0)
    # cost 0: ROI unknown, pipeline still credited
    assert roi[("Email Nurture", "first_touch")] == (0.0, 0.0, 5000.0, None)
    assert len(roi) == 3 * 4


def test_opportunities_use_the_report_mapping(warehouse: Warehouse) -> None:
    assert warehouse.rows(
        "select opportunity_id, amount, stage, is_won, primary_campaign_id, people_count, campaign_touch_count "
        "from marts.opportunities order by 1",
    ) == [
        ("006O1", 10000.0, "Closed Won", True, "701C2", 1, 2),
        ("006O2", 5000.0, "Prospecting", False, None, 1, 1),
    ]


def test_sales_prospects_ranked_per_owner(warehouse: Warehouse) -> None:
    prospects = warehouse.rows(
        "select owner_name, owner_email, intent_rank, email, is_high_intent, in_prospects_in_active_opportunities "
        "from marts.sales_prospects order by owner_name, intent_rank",
    )
    assert prospects == [
        ("Dee Seller", "dee@corp.com", 1, "ann@gamma.org", True, False),
        ("Una Owner", "una@corp.com", 1, "pat@acme.com", True, False),
        ("Una Owner", "una@corp.com", 2, "lee@beta.io", False, True),
        ("Una Owner", "una@corp.com", 3, "sam@delta.com", False, False),
    ]


def test_list_members_only_new_or_changed(warehouse: Warehouse) -> None:
    members = warehouse.rows(
        "select list_name, email, change_type, record_id, salesforce_id, field_values "
        "from sync.acton_list_upserts order by 1, 2",
    )
    columns = ("First Name", "Last Name", "Company", "Salesforce Owner", "Lead Score")
    assert [(*m[:5], tuple(json.loads(m[5]).get(c) for c in columns)) for m in members] == [
        (CONTACTS, "lee@beta.io", "insert", None, "003L1", ("Lee", "Park", None, "Una Owner", "40")),
        (
            CONTACTS,
            "sam@delta.com",
            "update",
            "l-0001:2",
            "003S1",
            ("Sam", "Stone", "Acme Corp", "Una Owner", None),
        ),
        (LEADS, "ann@gamma.org", "update", "l-0002:3", "00QA1", ("Ann", "Lee", "Gamma", "Dee Seller", "90")),
        (LEADS, "lee@beta.io", "insert", None, "00QL1", ("Lee", "Park", "Beta", "Dee Seller", "40")),
    ]
    assert all(set(json.loads(m[5])) == set(columns) for m in members)
    removals = warehouse.rows("select record_id, reason from sync.acton_list_removals order by 1")
    assert removals == [("l-0002:1", "converted"), ("l-0002:2", "deleted")]


def test_scores_sent_only_where_they_differ(warehouse: Warehouse) -> None:
    # Pat's contact and Ann's lead already hold the score; Pat's converted lead cannot be written; Sam has none.
    assert warehouse.rows(
        "select salesforce_object, salesforce_id, field, old_value, new_value from sync.salesforce_score_updates "
        "order by 2",
    ) == [
        ("Contact", "003L1", "ActOn_Lead_Score__c", 35.0, 40.0),
        ("Lead", "00QL1", "ActOn_Lead_Score__c", None, 40.0),
    ]


def test_optouts_follow_the_latest_consent_event(warehouse: Warehouse) -> None:
    salesforce = warehouse.rows(
        "select salesforce_id, email, old_value, new_value, source_event, event_at "
        "from sync.salesforce_optout_updates order by 1",
    )
    assert salesforce == [
        # Lee opted back in inside Act-On after checking the box: un-checked, the opt-in dated when the list
        # last showed the email
        ("003L1", "lee@beta.io", True, False, "acton_optin", ts("2024-02-28 09:00")),
        # Ann is on Act-On's opt-out list: checked
        ("00QA1", "ann@gamma.org", False, True, "acton_optout", ts("2024-03-05 09:00")),
    ]
    # Sam checked the box after opting back in inside Act-On: opted out again in Act-On
    assert warehouse.rows("select email, source_event, event_at from sync.acton_optout_additions") == [
        ("sam@delta.com", "salesforce_check", ts("2024-01-10 09:00"))
    ]
    # Sam's hard bounce, one row per field, as the write-back sends it
    assert warehouse.rows(
        "select salesforce_id, field, old_value, new_value from sync.salesforce_bounce_updates order by 2",
    ) == [
        ("003S1", "EmailBouncedDate", None, "2024-02-01T09:00:00.000Z"),
        ("003S1", "EmailBouncedReason", None, "Act-On hard bounce: mailbox unknown"),
    ]


def test_prospect_fields_sent_only_where_they_differ(warehouse: Warehouse) -> None:
    assert warehouse.rows(
        "select salesforce_id, field, old_value, new_value from sync.salesforce_prospect_updates order by 1, 2",
    ) == [
        ("003P1", "ActOn_High_Intent__c", None, "true"),
        ("003P1", "ActOn_Last_Engagement__c", None, "2024-03-20T09:00:00.000Z"),
        ("00QA1", "ActOn_High_Intent__c", None, "true"),
        ("00QA1", "ActOn_Last_Engagement__c", None, "2024-03-10T09:00:00.000Z"),
    ]


def test_schemas_are_exactly_the_layers(warehouse: Warehouse) -> None:
    schemas = {
        r[0]
        for r in warehouse.rows(
            "select distinct table_schema from information_schema.tables "
            "where table_schema not like 'raw_%' and table_schema not in ('information_schema', 'pg_catalog')",
        )
    }
    assert schemas == {"staging", "intermediate", "marts", "sync", "sync_state"}


def model_rows(warehouse: Warehouse) -> dict[str, list[str]]:
    """The rows of every model table, sorted: equal for the same rows in any order."""
    tables = warehouse.rows(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('intermediate', 'marts', 'sync') and table_type = 'BASE TABLE'"
    )
    assert len(tables) > 20
    return {
        f"{schema}.{table}": sorted(map(repr, warehouse.rows(f"select * from {schema}.{table}")))
        for schema, table in tables
    }


def test_a_second_build_of_the_same_data_gives_the_same_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    # Same rows, not merely the same counts: a tie or a float sum in arrival order would move between builds.
    rebuilt = warehouse.copy(tmp_path)
    rebuilt.run_dbt("build", "--exclude", "resource_type:unit_test", observed_at=OBSERVED_AT)
    try:
        assert model_rows(rebuilt) == model_rows(warehouse)
    finally:
        rebuilt.close()


def test_score_history_keeps_each_change_across_runs(warehouse: Warehouse) -> None:
    # Only the score history and what it reads are re-run (the marts other tests read stay as built).
    warehouse.execute("update raw_acton.contacts set score = 55 where contact_id = 'c-lee'")
    warehouse.run_dbt("run", "--select", "+int_scores_observed", observed_at="2024-04-02 00:00:00")
    history = warehouse.rows(
        "select email, score, previous_score, observed_at from intermediate.int_scores_observed order by 1, 4",
    )
    assert history == [
        ("ann@gamma.org", 90.0, None, ts(OBSERVED_AT)),
        ("lee@beta.io", 40.0, None, ts(OBSERVED_AT)),
        ("lee@beta.io", 55.0, 40.0, ts("2024-04-02 00:00")),
        ("oli@acton-only.net", 20.0, None, ts(OBSERVED_AT)),
        ("pat@acme.com", 80.0, None, ts(OBSERVED_AT)),
    ]
