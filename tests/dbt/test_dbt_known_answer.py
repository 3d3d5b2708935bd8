"""Known answer: a small hand-written org whose funnel and ROI numbers were worked out by hand (the arithmetic is
in the comments); after one `dbt build` on each warehouse target (DuckDB, Postgres) the marts must show exactly
those numbers.

Observed at 2024-06-01 (the score history's first observation), MQL at score >= 50, SQL statuses as sync.yaml.
2024 is a leap year: February has 29 days.

People (all Salesforce times 09:00 unless said):
- Amy  Lead (Web) created 5 Jan, converted 10 Feb into Contact 003AM; opened an email 20 Jan; score 80.
       Opportunity O1 created 15 Feb, won 20 Apr, 9,000, primary campaign Trade Show.
- Ben  Lead (Web) created 12 Jan, status Working - Contacted, last modified 3 Mar; score 60; no engagement.
- Cat  Contact (Event) created 3 Feb; clicked 25 Feb; no score. Opportunity O2 created 10 Mar, open, 4,000,
       primary campaign Webinar.
- Dan  Lead (Event) created 25 Jan, Open - Not Contacted; score 30.
- Eve  Contact, no lead source (Unknown), created 5 Mar. Opportunity O3 created 1 Apr, won 10 May, 5,000.
- O4   won 1 May, 1,000, primary campaign Ads, no contact role (nobody's, no touches).
Campaigns: Webinar (ActualCost 1,000, BudgetedCost 3,000), Trade Show (BudgetedCost 2,000), Ads (ActualCost 0).
Memberships (CreatedDate):
  Webinar:    Amy's lead 10 Jan, Ben's lead 15 Jan, Cat 20 Feb, Eve 20 Mar
  Trade Show: Amy's contact 12 Feb, Dan's lead 26 Jan, Eve 25 Mar
  Ads:        Amy's contact 1 Mar (after O1 was created: not a touch), Cat 1 Mar
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.raw_fixtures import (
    Connection,
    Warehouse,
    create_raw_tables,
    insert_rows,
)

OBSERVED_AT = "2024-06-01 00:00:00"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def load_raw(conn: Connection) -> None:
    create_raw_tables(conn)
    insert_rows(conn, "raw_salesforce.user", [{"Id": "005U1", "Name": "Una Owner", "Email": "una@corp.com"}])
    lead = {"IsDeleted": False, "IsConverted": False, "HasOptedOutOfEmail": False, "OwnerId": "005U1"}
    insert_rows(
        conn,
        "raw_salesforce.lead",
        [
            {
                **lead,
                "Id": "00QAM",
                "LastName": "Amy",
                "Email": "amy@k.com",
                "LeadSource": "Web",
                "Status": "Closed - Converted",
                "IsConverted": True,
                "ConvertedContactId": "003AM",
                "ConvertedOpportunityId": "006O1",
                "ConvertedDate": date(2024, 2, 10),
                "CreatedDate": ts("2024-01-05 09:00"),
                "LastModifiedDate": ts("2024-02-10 10:00"),
            },
            {
                **lead,
                "Id": "00QBE",
                "LastName": "Ben",
                "Email": "ben@k.com",
                "LeadSource": "Web",
                "Status": "Working - Contacted",
                "CreatedDate": ts("2024-01-12 09:00"),
                "LastModifiedDate": ts("2024-03-03 09:00"),
            },
            {
                **lead,
                "Id": "00QDA",
                "LastName": "Dan",
                "Email": "dan@k.com",
                "LeadSource": "Event",
                "Status": "Open - Not Contacted",
                "CreatedDate": ts("2024-01-25 09:00"),
                "LastModifiedDate": ts("2024-01-25 09:00"),
            },
        ],
    )
    contact = {"IsDeleted": False, "HasOptedOutOfEmail": False, "OwnerId": "005U1"}
    insert_rows(
        conn,
        "raw_salesforce.contact",
        [
            {
                **contact,
                "Id": "003AM",
                "LastName": "Amy",
                "Email": "amy@k.com",
                "CreatedDate": ts("2024-02-10 10:00"),
                "LastModifiedDate": ts("2024-02-10 10:00"),
            },
            {
                **contact,
                "Id": "003CA",
                "LastName": "Cat",
                "Email": "cat@k.com",
                "LeadSource": "Event",
                "CreatedDate": ts("2024-02-03 09:00"),
                "LastModifiedDate": ts("2024-02-03 09:00"),
            },
            {
                **contact,
                "Id": "003EV",
                "LastName": "Eve",
                "Email": "eve@k.com",
                "CreatedDate": ts("2024-03-05 09:00"),
                "LastModifiedDate": ts("2024-03-05 09:00"),
            },
        ],
    )
    opportunity = {"IsDeleted": False, "StageName": "Closed Won", "IsWon": True, "IsClosed": True}
    insert_rows(
        conn,
        "raw_salesforce.opportunity",
        [
            {
                **opportunity,
                "Id": "006O1",
                "Amount": 9000.0,
                "CloseDate": date(2024, 4, 20),
                "CampaignId": "701TS",
                "CreatedDate": ts("2024-02-15 09:00"),
            },
            {
                **opportunity,
                "Id": "006O2",
                "StageName": "Negotiation",
                "IsWon": False,
                "IsClosed": False,
                "Amount": 4000.0,
                "CloseDate": date(2024, 7, 1),
                "CampaignId": "701WB",
                "CreatedDate": ts("2024-03-10 09:00"),
            },
            {
                **opportunity,
                "Id": "006O3",
                "Amount": 5000.0,
                "CloseDate": date(2024, 5, 10),
                "CreatedDate": ts("2024-04-01 09:00"),
            },
            {
                **opportunity,
                "Id": "006O4",
                "Amount": 1000.0,
                "CloseDate": date(2024, 5, 1),
                "CampaignId": "701AD",
                "CreatedDate": ts("2024-04-05 09:00"),
            },
        ],
    )
    insert_rows(
        conn,
        "raw_salesforce.opportunitycontactrole",
        [
            {"Id": f"00K{i}", "OpportunityId": opp, "ContactId": contact_id, "IsDeleted": False}
            for i, (opp, contact_id) in enumerate(
                [("006O1", "003AM"), ("006O2", "003CA"), ("006O3", "003EV")]
            )
        ],
    )
    insert_rows(
        conn,
        "raw_salesforce.campaign",
        [
            {
                "Id": "701WB",
                "Name": "Webinar",
                "ActualCost": 1000.0,
                "BudgetedCost": 3000.0,
                "IsDeleted": False,
            },
            {"Id": "701TS", "Name": "Trade Show", "BudgetedCost": 2000.0, "IsDeleted": False},
            {"Id": "701AD", "Name": "Ads", "ActualCost": 0.0, "IsDeleted": False},
        ],
    )
    members = [
        ("701WB", "00QAM", None, "2024-01-10"),
        ("701WB", "00QBE", None, "2024-01-15"),
        ("701WB", None, "003CA", "2024-02-20"),
        ("701WB", None, "003EV", "2024-03-20"),
        ("701TS", None, "003AM", "2024-02-12"),
        ("701TS", "00QDA", None, "2024-01-26"),
        ("701TS", None, "003EV", "2024-03-25"),
        ("701AD", None, "003AM", "2024-03-01"),
        ("701AD", None, "003CA", "2024-03-01"),
    ]
    insert_rows(
        conn,
        "raw_salesforce.campaignmember",
        [
            {
                "Id": f"00vM{i}",
                "CampaignId": campaign,
                "LeadId": lead_id,
                "ContactId": contact_id,
                "IsDeleted": False,
                "CreatedDate": ts(f"{day} 09:00"),
            }
            for i, (campaign, lead_id, contact_id, day) in enumerate(members)
        ],
    )
    insert_rows(
        conn,
        "raw_acton.contacts",
        [
            {"contact_id": f"c-{email}", "email": email, "score": score, "created_at": ts("2024-05-01 00:00")}
            for email, score in [("amy@k.com", 80.0), ("ben@k.com", 60.0), ("dan@k.com", 30.0)]
        ],
    )
    insert_rows(
        conn, "raw_acton.messages", [{"message_id": "m-1", "name": "News", "sent_at": ts("2024-01-19")}]
    )
    insert_rows(
        conn,
        "raw_acton.message_events",
        [
            {
                "message_id": "m-1",
                "event_type": "OPENED",
                "email": "amy@k.com",
                "event_at": ts("2024-01-20 09:00"),
            },
            {
                "message_id": "m-1",
                "event_type": "CLICKED",
                "email": "cat@k.com",
                "event_at": ts("2024-02-25 09:00"),
            },
        ],
    )


def test_stage_dates(warehouse: Warehouse) -> None:
    stages = {
        r[0]: r[1:]
        for r in warehouse.rows(
            "select email, known_at, engaged_at, mql_at, sql_at, opportunity_at, won_at from marts.people"
        )
    }
    assert stages == {
        # MQL first observed 1 Jun, after SQL (converted 10 Feb): it takes SQL's date
        "amy@k.com": (ts("2024-01-05 09:00"), ts("2024-01-20 09:00"), ts("2024-02-10"), ts("2024-02-10"),
                      ts("2024-02-15 09:00"), ts("2024-04-20")),
        # SQL = first seen qualified, dated by LastModifiedDate 3 Mar; Engaged and MQL take that date
        "ben@k.com": (ts("2024-01-12 09:00"), ts("2024-03-03 09:00"), ts("2024-03-03 09:00"),
                      ts("2024-03-03 09:00"), None, None),
        # MQL and SQL skipped: they take the opportunity's date
        "cat@k.com": (ts("2024-02-03 09:00"), ts("2024-02-25 09:00"), ts("2024-03-10 09:00"),
                      ts("2024-03-10 09:00"), ts("2024-03-10 09:00"), None),
        "dan@k.com": (ts("2024-01-25 09:00"), None, None, None, None, None),
        "eve@k.com": (ts("2024-03-05 09:00"), ts("2024-04-01 09:00"), ts("2024-04-01 09:00"),
                      ts("2024-04-01 09:00"), ts("2024-04-01 09:00"), ts("2024-05-10")),
    }  # fmt: skip


def test_funnel_report(warehouse: Warehouse) -> None:
    report = {
        (r[0], r[1], r[2]): r[3:]
        for r in warehouse.rows(
            "select period_start, stage, lead_source, entered, conversion_rate, median_days_to_next "
            "from marts.funnel_report"
        )
    }
    jan, feb, mar, apr, may = (date(2024, m, 1) for m in (1, 2, 3, 4, 5))
    expected = {
        # Known in January from Web: Amy (5 Jan -> engaged 20 Jan = 15 days), Ben (12 Jan -> 3 Mar = 19 + 29 + 3
        # = 51 days): both engaged, conversion 2/2; median of (15, 51) = 33
        (jan, "known", "Web"): (2, 1.0, 33.0),
        (jan, "known", "Event"): (1, 0.0, None),  # Dan never engaged
        (feb, "known", "Event"): (1, 1.0, 22.0),  # Cat 3 Feb -> 25 Feb
        (mar, "known", "Unknown"): (1, 1.0, 27.0),  # Eve 5 Mar -> 1 Apr = 26 + 1
        # all sources in January: Amy, Ben, Dan; 2 of 3 engaged; median of (15, 51) = 33
        (jan, "known", "(all)"): (3, 2 / 3, 33.0),
        (feb, "known", "(all)"): (1, 1.0, 22.0),
        (mar, "known", "(all)"): (1, 1.0, 27.0),
        (jan, "engaged", "Web"): (1, 1.0, 21.0),  # Amy 20 Jan -> MQL 10 Feb = 11 + 10
        (mar, "engaged", "Web"): (1, 1.0, 0.0),  # Ben: engaged, MQL, SQL all on 3 Mar
        (feb, "engaged", "Event"): (1, 1.0, 14.0),  # Cat 25 Feb -> 10 Mar = 4 + 10
        (apr, "engaged", "Unknown"): (1, 1.0, 0.0),
        (feb, "engaged", "(all)"): (1, 1.0, 14.0),
        (jan, "engaged", "(all)"): (1, 1.0, 21.0),
        (mar, "engaged", "(all)"): (1, 1.0, 0.0),
        (apr, "engaged", "(all)"): (1, 1.0, 0.0),
        (feb, "mql", "Web"): (1, 1.0, 0.0),
        (mar, "mql", "Web"): (1, 1.0, 0.0),
        (mar, "mql", "Event"): (1, 1.0, 0.0),
        (apr, "mql", "Unknown"): (1, 1.0, 0.0),
        (feb, "mql", "(all)"): (1, 1.0, 0.0),
        (mar, "mql", "(all)"): (2, 1.0, 0.0),
        (apr, "mql", "(all)"): (1, 1.0, 0.0),
        (feb, "sql", "Web"): (1, 1.0, 5.0),  # Amy converted 10 Feb -> opportunity 15 Feb
        (mar, "sql", "Web"): (1, 0.0, None),  # Ben has no opportunity
        (mar, "sql", "Event"): (1, 1.0, 0.0),
        (apr, "sql", "Unknown"): (1, 1.0, 0.0),
        (feb, "sql", "(all)"): (1, 1.0, 5.0),
        (mar, "sql", "(all)"): (2, 0.5, 0.0),  # Ben and Cat, only Cat reached Opportunity (0 days)
        (apr, "sql", "(all)"): (1, 1.0, 0.0),
        (feb, "opportunity", "Web"): (1, 1.0, 65.0),  # 15 Feb -> 20 Apr = 14 + 31 + 20
        (mar, "opportunity", "Event"): (1, 0.0, None),  # O2 still open
        (apr, "opportunity", "Unknown"): (1, 1.0, 39.0),  # 1 Apr -> 10 May = 30 + 9
        (feb, "opportunity", "(all)"): (1, 1.0, 65.0),
        (mar, "opportunity", "(all)"): (1, 0.0, None),
        (apr, "opportunity", "(all)"): (1, 1.0, 39.0),
        # Won is the last stage: no conversion rate
        (apr, "won", "Web"): (1, None, None),
        (may, "won", "Unknown"): (1, None, None),
        (apr, "won", "(all)"): (1, None, None),
        (may, "won", "(all)"): (1, None, None),
    }
    # every month January to May, for every stage and lead source: where nobody entered, a row of zeros
    stages = ("known", "engaged", "mql", "sql", "opportunity", "won")
    spine = {(m, stage, source) for m in (jan, feb, mar, apr, may) for stage in stages
             for source in ("Web", "Event", "Unknown", "(all)")}  # fmt: skip
    assert report.keys() == spine
    expected |= {key: (0, None, None) for key in spine - expected.keys()}
    for key, (entered, rate, median) in expected.items():
        assert report[key][0] == entered, key
        assert report[key][1] == (None if rate is None else pytest.approx(rate)), key
        assert report[key][2] == median, key


def test_roi_report(warehouse: Warehouse) -> None:
    roi = {
        (r[0], r[1]): r[2:]
        for r in warehouse.rows(
            "select attribution_model, campaign_name, cost, members, leads, opportunities, pipeline_amount, "
            "won_revenue, roi from marts.roi_report"
        )
    }
    # cost: Webinar 1,000 (ActualCost before BudgetedCost), Trade Show 2,000 (budget only), Ads 0 (ROI null)
    # members / leads: Webinar 4 / 2 (Amy's and Ben's leads), Trade Show 3 / 1 (Dan's lead), Ads 2 / 0
    webinar, trade_show, ads = (1000.0, 4, 2), (2000.0, 3, 1), (0.0, 2, 0)
    # touches (before the opportunity's creation, of its role contacts and their converted leads):
    #   O1 (won 9,000): Webinar 10 Jan (Amy as a lead), Trade Show 12 Feb   (Ads 1 Mar is after 15 Feb)
    #   O2 (open 4,000): Webinar 20 Feb, Ads 1 Mar
    #   O3 (won 5,000): Webinar 20 Mar, Trade Show 25 Mar
    #   O4 (won 1,000): none
    expected = {
        # primary: O2 -> Webinar, O1 -> Trade Show, O4 -> Ads
        ("primary", "Webinar"): (*webinar, 1.0, 4000.0, 0.0, -1.0),  # (0 - 1,000) / 1,000
        ("primary", "Trade Show"): (*trade_show, 1.0, 9000.0, 9000.0, 3.5),  # (9,000 - 2,000) / 2,000
        ("primary", "Ads"): (*ads, 1.0, 1000.0, 1000.0, None),
        # first touch: Webinar first for O1, O2, O3; pipeline 9,000 + 4,000 + 5,000, won 9,000 + 5,000
        ("first_touch", "Webinar"): (*webinar, 3.0, 18000.0, 14000.0, 13.0),  # (14,000 - 1,000) / 1,000
        ("first_touch", "Trade Show"): (*trade_show, 0.0, 0.0, 0.0, -1.0),
        ("first_touch", "Ads"): (*ads, 0.0, 0.0, 0.0, None),
        # last touch: O1 -> Trade Show, O2 -> Ads, O3 -> Trade Show
        ("last_touch", "Webinar"): (*webinar, 0.0, 0.0, 0.0, -1.0),
        ("last_touch", "Trade Show"): (*trade_show, 2.0, 14000.0, 14000.0, 6.0),  # (14,000 - 2,000) / 2,000
        ("last_touch", "Ads"): (*ads, 1.0, 4000.0, 0.0, None),
        # linear: every opportunity split in halves between its two touches
        #   Webinar: O1/2 + O2/2 + O3/2 = 1.5 opportunities, 4,500 + 2,000 + 2,500 = 9,000 pipeline,
        #            4,500 + 2,500 = 7,000 won; (7,000 - 1,000) / 1,000 = 6
        #   Trade Show: O1/2 + O3/2 = 1.0, 4,500 + 2,500 = 7,000 pipeline and won; (7,000 - 2,000) / 2,000 = 2.5
        #   Ads: O2/2 = 0.5, 2,000 pipeline, 0 won
        ("linear", "Webinar"): (*webinar, 1.5, 9000.0, 7000.0, 6.0),
        ("linear", "Trade Show"): (*trade_show, 1.0, 7000.0, 7000.0, 2.5),
        ("linear", "Ads"): (*ads, 0.5, 2000.0, 0.0, None),
    }
    assert roi == expected
    # each multi-touch model hands out exactly the won revenue of the touched opportunities: 9,000 + 5,000
    for model in ("first_touch", "last_touch", "linear"):
        assert sum(v[5] for (m, _), v in roi.items() if m == model) == 14000.0
