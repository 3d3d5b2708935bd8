"""The funnel and ROI reports follow sync.yaml (funnel.period, funnel.stages, funnel.engagement_events,
report_mapping.campaign_cost): a small org built twice by dbt, once weekly with the defaults and once quarterly
with MQL and SQL off, only clicks as engagement and the cost summed from two fields; every number below was
worked out by hand (the arithmetic is in the comments).

People (Salesforce times 09:00 UTC; 2024 weeks start on Monday, 1 Jan 2024 is a Monday, ISO week 2024-W01):
- Ann  Lead (Web) created Wed 3 Jan; opened an email Wed 10 Jan.
- Bob  Lead (Web) created Mon 15 Jan; was sent an email Tue 16 Jan, clicked Mon 22 Jan.
- Cy   Contact (Event) created Sun 7 Jan (still week 1); opportunity created Thu 1 Feb, won Thu 15 Feb, 10,000,
       primary campaign Launch.
- Dee  Contact (Web) created Wed 10 Jul.
No scores and no qualified lead status: MQL and SQL are only ever reached as skipped stages.
Campaigns: Launch (ActualCost 500, BudgetedCost 2,000), Expo (BudgetedCost 1,000), Blog (ActualCost 300).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from analytics.charts import funnel_periods, funnel_periods_figure
from common.sync_config import SyncConfig, parse_sync_config
from health.preflight import configuration_problems
from health.schema_contract import check_schema_contract
from ingest.clients.salesforce_client import SalesforceClient
from sandbox.launcher import Sandbox
from tests.raw_fixtures import create_raw_tables, insert_rows, run_dbt

ROOT = Path(__file__).resolve().parents[2]
OBSERVED_AT = "2024-09-01 00:00:00"
SOURCES = ("Web", "Event", "(all)")


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def load_org(conn: duckdb.DuckDBPyConnection) -> None:
    create_raw_tables(conn)
    insert_rows(conn, "raw_salesforce.user", [{"Id": "005U1", "Name": "Una Owner", "Email": "una@corp.com"}])
    person = {"IsDeleted": False, "HasOptedOutOfEmail": False, "OwnerId": "005U1"}
    lead = {**person, "IsConverted": False, "Status": "Open - Not Contacted", "LeadSource": "Web"}
    insert_rows(
        conn,
        "raw_salesforce.lead",
        [
            {**lead, "Id": "00QAN", "LastName": "Ann", "Email": "ann@k.com", "CreatedDate": ts("2024-01-03 09:00")},
            {**lead, "Id": "00QBO", "LastName": "Bob", "Email": "bob@k.com", "CreatedDate": ts("2024-01-15 09:00")},
        ],
    )  # fmt: skip
    insert_rows(
        conn,
        "raw_salesforce.contact",
        [
            {**person, "Id": "003CY", "LastName": "Cy", "Email": "cy@k.com", "LeadSource": "Event",
             "CreatedDate": ts("2024-01-07 09:00")},
            {**person, "Id": "003DE", "LastName": "Dee", "Email": "dee@k.com", "LeadSource": "Web",
             "CreatedDate": ts("2024-07-10 09:00")},
        ],
    )  # fmt: skip
    insert_rows(
        conn,
        "raw_salesforce.opportunity",
        [
            {"Id": "006W", "IsDeleted": False, "StageName": "Closed Won", "IsWon": True, "IsClosed": True,
             "Amount": 10000.0, "CloseDate": date(2024, 2, 15), "CampaignId": "701LA",
             "CreatedDate": ts("2024-02-01 09:00")},
        ],
    )  # fmt: skip
    insert_rows(
        conn,
        "raw_salesforce.opportunitycontactrole",
        [{"Id": "00K1", "OpportunityId": "006W", "ContactId": "003CY", "IsDeleted": False}],
    )
    campaigns = [
        ("701LA", "Launch", 500.0, 2000.0),
        ("701EX", "Expo", None, 1000.0),
        ("701BL", "Blog", 300.0, None),
    ]
    insert_rows(
        conn,
        "raw_salesforce.campaign",
        [
            {"Id": i, "Name": name, "ActualCost": actual, "BudgetedCost": budget, "IsDeleted": False}
            for i, name, actual, budget in campaigns
        ],
    )
    insert_rows(
        conn, "raw_acton.messages", [{"message_id": "m-1", "name": "News", "sent_at": ts("2024-01-09")}]
    )
    events = [
        ("OPENED", "ann@k.com", "2024-01-10 09:00"),
        ("SENT", "bob@k.com", "2024-01-16 09:00"),
        ("CLICKED", "bob@k.com", "2024-01-22 09:00"),
    ]
    insert_rows(
        conn,
        "raw_acton.message_events",
        [{"message_id": "m-1", "event_type": t, "email": e, "event_at": ts(at)} for t, e, at in events],
    )


def config(**funnel: Any) -> SyncConfig:
    data = yaml.safe_load((ROOT / "sync.yaml").read_text())
    data["funnel"].update(funnel)
    if funnel.get("period") == "quarter":
        data["report_mapping"]["campaign_cost"] = ["ActualCost", "BudgetedCost"]
        data["report_mapping"]["campaign_cost_fallback"] = []
    return parse_sync_config(data)


WEEKLY = config(period="week")
QUARTERLY = config(
    period="quarter", stages=["known", "engaged", "opportunity", "won"], engagement_events=["CLICKED"]
)


def build(
    tmp_path_factory: pytest.TempPathFactory, sync_config: SyncConfig
) -> Iterator[duckdb.DuckDBPyConnection]:
    path: Path = tmp_path_factory.mktemp("funnel_config") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        load_org(conn)
    run_dbt(path, "build", observed_at=OBSERVED_AT, config=sync_config)
    conn = duckdb.connect(str(path))
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from build(tmp_path_factory, WEEKLY)


@pytest.fixture(scope="module")
def quarterly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from build(tmp_path_factory, QUARTERLY)


def funnel(conn: duckdb.DuckDBPyConnection) -> dict[tuple[date, str, str, str], tuple[Any, ...]]:
    rows = conn.execute(
        "select period_start, period, stage, lead_source, entered, conversion_rate, median_days_to_next "
        "from marts.funnel_report"
    ).fetchall()
    return {r[:4]: r[4:] for r in rows}


def assert_funnel(
    report: dict[tuple[date, str, str, str], tuple[Any, ...]],
    periods: dict[date, str],
    stages: tuple[str, ...],
    entries: dict[tuple[date, str, str], tuple[Any, ...]],
) -> None:
    """The report is exactly every period x stage x source, `entries` where people entered, zeros elsewhere."""
    spine = {
        (p, label, stage, source) for p, label in periods.items() for stage in stages for source in SOURCES
    }
    assert report.keys() == spine
    for p, label, stage, source in sorted(spine):
        entered, rate, median = entries.get((p, stage, source), (0, None, None))
        got = report[(p, label, stage, source)]
        assert got == (entered, None if rate is None else pytest.approx(rate), median), (p, stage, source)


def both(
    entries: dict[tuple[date, str, str], tuple[Any, ...]],
) -> dict[tuple[date, str, str], tuple[Any, ...]]:
    """The entries of one lead source, also as the '(all)' row (the period has no other source's entries)."""
    return entries | {(p, stage, "(all)"): v for (p, stage, _), v in entries.items()}


def test_weekly_funnel(weekly: duckdb.DuckDBPyConnection) -> None:
    monday = date(2024, 1, 1)
    # Mondays from 1 Jan (W01) to 8 Jul (W28, Dee's week): every week, most of them empty
    periods = {monday + timedelta(weeks=w): f"2024-W{w + 1:02d}" for w in range(28)}
    w = {n: monday + timedelta(weeks=n - 1) for n in (1, 2, 3, 4, 5, 7, 28)}
    entries = {
        (w[1], "known", "Web"): (1, 1.0, 7.0),  # Ann 3 Jan -> engaged 10 Jan
        (w[1], "known", "Event"): (1, 1.0, 25.0),  # Cy 7 Jan -> engaged (skipped) 1 Feb = 24 + 1
        (w[1], "known", "(all)"): (2, 1.0, 16.0),  # median of (7, 25)
        **both({
            (w[2], "engaged", "Web"): (1, 0.0, None),  # Ann, never an MQL
            (w[3], "known", "Web"): (1, 1.0, 7.0),  # Bob 15 Jan -> clicked 22 Jan (the send is no engagement)
            (w[4], "engaged", "Web"): (1, 0.0, None),
            # Cy's skipped Engaged, MQL and SQL take the opportunity's date, Thu 1 Feb (week 5)
            (w[5], "engaged", "Event"): (1, 1.0, 0.0),
            (w[5], "mql", "Event"): (1, 1.0, 0.0),
            (w[5], "sql", "Event"): (1, 1.0, 0.0),
            (w[5], "opportunity", "Event"): (1, 1.0, 14.0),  # 1 Feb -> won 15 Feb
            # week 6 (5 Feb) nobody entered anything: zeros
            (w[7], "won", "Event"): (1, None, None),
            (w[28], "known", "Web"): (1, 0.0, None),  # Dee
        }),
    }  # fmt: skip
    assert_funnel(funnel(weekly), periods, ("known", "engaged", "mql", "sql", "opportunity", "won"), entries)


def test_quarterly_funnel_with_mql_and_sql_off_and_only_clicks(quarterly: duckdb.DuckDBPyConnection) -> None:
    q1, q2, q3 = date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1)
    entries = {
        # Ann's open no longer counts: of Ann and Bob only Bob engaged (22 Jan, 7 days after Known)
        (q1, "known", "Web"): (2, 0.5, 7.0),
        (q1, "known", "Event"): (1, 1.0, 25.0),  # Cy: Engaged skipped, dated by the opportunity, 1 Feb
        (q1, "known", "(all)"): (3, 2 / 3, 16.0),
        (q1, "engaged", "Web"): (1, 0.0, None),  # Bob, no opportunity
        (q1, "engaged", "Event"): (1, 1.0, 0.0),  # the next stage after Engaged is now Opportunity
        (q1, "engaged", "(all)"): (2, 0.5, 0.0),
        **both({
            (q1, "opportunity", "Event"): (1, 1.0, 14.0),
            (q1, "won", "Event"): (1, None, None),
            # the second quarter is empty: zeros
            (q3, "known", "Web"): (1, 0.0, None),
        }),
    }  # fmt: skip
    periods = {q1: "2024-Q1", q2: "2024-Q2", q3: "2024-Q3"}
    assert_funnel(funnel(quarterly), periods, ("known", "engaged", "opportunity", "won"), entries)


def test_a_stage_turned_off_is_absent(quarterly: duckdb.DuckDBPyConnection) -> None:
    for table in ("funnel_report", "funnel_stage_entries"):
        stages = {r[0] for r in quarterly.execute(f"select distinct stage from marts.{table}").fetchall()}
        assert stages == {"known", "engaged", "opportunity", "won"}, table
    people = quarterly.execute(
        "select email, stage_reached, mql_at, sql_at from marts.people order by email"
    ).fetchall()
    assert people == [
        ("ann@k.com", "known", None, None),
        ("bob@k.com", "engaged", None, None),
        ("cy@k.com", "won", None, None),
        ("dee@k.com", "known", None, None),
    ]


def test_engagement_events_decide_engaged(
    weekly: duckdb.DuckDBPyConnection, quarterly: duckdb.DuckDBPyConnection
) -> None:
    query = "select email, engaged_at, last_engaged_at from marts.people where email in ('ann@k.com', 'bob@k.com')"
    # opens and clicks (the default): Ann's open engages her; Bob's send does not, his click does
    assert sorted(weekly.execute(query).fetchall()) == [
        ("ann@k.com", ts("2024-01-10 09:00"), ts("2024-01-10 09:00")),
        ("bob@k.com", ts("2024-01-22 09:00"), ts("2024-01-22 09:00")),
    ]
    # clicks only: Ann never engaged, so high intent cannot see her engagement either
    assert sorted(quarterly.execute(query).fetchall()) == [
        ("ann@k.com", None, None),
        ("bob@k.com", ts("2024-01-22 09:00"), ts("2024-01-22 09:00")),
    ]


def test_campaign_cost_follows_the_mapping(
    weekly: duckdb.DuckDBPyConnection, quarterly: duckdb.DuckDBPyConnection
) -> None:
    query = "select campaign_name, cost, won_revenue, roi from marts.roi_report where attribution_model = 'primary'"
    # default: ActualCost, else BudgetedCost; Launch (10,000 - 500) / 500 = 19
    assert sorted(weekly.execute(query).fetchall()) == [
        ("Blog", 300.0, 0.0, -1.0),
        ("Expo", 1000.0, 0.0, -1.0),  # no ActualCost: the budget
        ("Launch", 500.0, 10000.0, 19.0),
    ]
    # ActualCost + BudgetedCost, no fallback: Launch 2,500, (10,000 - 2,500) / 2,500 = 3; a field unset adds 0
    assert sorted(quarterly.execute(query).fetchall()) == [
        ("Blog", 300.0, 0.0, -1.0),
        ("Expo", 1000.0, 0.0, -1.0),
        ("Launch", 2500.0, 10000.0, 3.0),
    ]


def test_charts_follow_the_period(
    weekly: duckdb.DuckDBPyConnection, quarterly: duckdb.DuckDBPyConnection
) -> None:
    quarters = funnel_periods(quarterly)
    assert quarters.periods == ["2024-Q1", "2024-Q2", "2024-Q3"]
    # over all sources, per quarter (the empty second quarter a zero): the counts of the quarterly test above
    assert quarters.entered == {
        "known": [3, 0, 1],
        "engaged": [2, 0, 0],
        "opportunity": [1, 0, 0],
        "won": [1, 0, 0],
    }
    ticks = [t.get_text() for t in funnel_periods_figure(quarters).axes[0].get_xticklabels()]
    assert ticks == ["2024-Q1", "2024-Q2", "2024-Q3"]
    weeks = funnel_periods(weekly)
    assert weeks.periods == [f"2024-W{n:02d}" for n in range(1, 29)]
    assert weeks.entered["won"] == [0] * 6 + [1] + [0] * 21  # Cy won in week 7
    # 28 weeks: every second one labelled, so that the labels do not overlap
    ticks = [t.get_text() for t in funnel_periods_figure(weeks).axes[0].get_xticklabels()]
    assert ticks == [f"2024-W{n:02d}" for n in range(1, 29, 2)]


def test_preflight_and_schema_contract_check_the_campaign_cost_fields(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    client = SalesforceClient.from_env({**sandbox.env, "TOKEN_CACHE_PATH": str(tmp_path / "tokens.json")})
    try:
        assert (
            configuration_problems(client, QUARTERLY, "sync.yaml") == []
        )  # ActualCost and BudgetedCost exist
        data = yaml.safe_load((ROOT / "sync.yaml").read_text())
        data["report_mapping"] |= {
            "campaign_cost": ["ActualCost", "Agency_Fee__c"],
            "campaign_cost_fallback": ["Budget"],
        }
        assert configuration_problems(client, parse_sync_config(data), "other.yaml") == [
            "other.yaml: report_mapping.campaign_cost: Campaign.Agency_Fee__c does not exist; fix: name an existing "
            "Campaign field's API name in report_mapping.campaign_cost",
            "other.yaml: report_mapping.campaign_cost_fallback: Campaign.Budget does not exist; fix: name an "
            "existing Campaign field's API name in report_mapping.campaign_cost_fallback",
        ]
        # a text field summed as money: the schema contract stops the write-back before the ROI report breaks
        data["report_mapping"] |= {"campaign_cost": ["Name"], "campaign_cost_fallback": []}
        result = check_schema_contract(client, parse_sync_config(data), "other.yaml")
        assert not result.passed and result.samples == [
            {
                "problem": "other.yaml: report_mapping.campaign_cost: Campaign.Name is of type string, the sync "
                "needs a number or currency; fix: point report_mapping.campaign_cost at a number or currency field"
            }
        ]
    finally:
        client.session.close()
