"""Independent cross-check: extract the sandbox org (the shared session sandbox, read only) into a warehouse,
`dbt build` it, then recompute from the raw tables with polars — not with the models' SQL — the won revenue and
opportunity counts per campaign under every attribution model, and the opt-out sets each write-back would send
(first run, direction both: the latest consent event per email decides, a Salesforce un-check is never one).
The marts must agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from common import warehouse
from common.sync_config import load_sync_config
from ingest.clients.acton_client import ActOnClient
from ingest.clients.salesforce_client import SalesforceClient
from ingest.extract import acton as extract_acton
from ingest.extract import salesforce as extract_salesforce
from sandbox.launcher import Sandbox
from tests.raw_fixtures import ROOT, run_dbt

VALID_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MULTI_TOUCH = ("first_touch", "last_touch", "linear")


@pytest.fixture(scope="module")
def built(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The sandbox org extracted and built once for the module."""
    directory = tmp_path_factory.mktemp("crosscheck")
    path = directory / "warehouse.duckdb"
    env = {**sandbox.env, "TOKEN_CACHE_PATH": str(directory / "tokens.json")}
    lists = [lst.name for lst in load_sync_config(ROOT / "sync.yaml").lists]
    with warehouse.connect(path) as conn:
        extract_salesforce.extract_all(conn, SalesforceClient.from_env(env))
        extract_acton.extract_all(conn, ActOnClient.from_env(env), list_names=lists)
    run_dbt(path, "build")
    conn = duckdb.connect(str(path))
    yield conn
    conn.close()


def raw(conn: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    return conn.execute(f"select * from {table}").pl()


def live(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(~pl.col("IsDeleted").fill_null(False))


def normalised(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.to_lowercase()


def valid_email(column: str) -> pl.Expr:
    """The normalised email, null when it is not a valid one."""
    email = normalised(column)
    return pl.when(email.str.contains(VALID_EMAIL)).then(email).otherwise(None)


# --- attribution --------------------------------------------------------------------------------------------


def touches(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(opportunity, member, campaign, touched_at): memberships of live campaigns created before the opportunity,
    of its contact-role contacts or of the leads converted into them."""
    opportunities = live(raw(conn, "raw_salesforce.opportunity")).select(
        pl.col("Id").alias("opportunity_id"), pl.col("CreatedDate").alias("opportunity_created")
    )
    roles = live(raw(conn, "raw_salesforce.opportunitycontactrole")).select(
        pl.col("OpportunityId").alias("opportunity_id"), pl.col("ContactId").alias("contact_id")
    )
    converted = raw(conn, "raw_salesforce.lead").select(
        pl.col("Id").alias("lead_id"), pl.col("ConvertedContactId").alias("contact_id")
    )
    campaigns = live(raw(conn, "raw_salesforce.campaign")).select(pl.col("Id").alias("campaign_id"))
    members = (
        live(raw(conn, "raw_salesforce.campaignmember"))
        .select(
            pl.col("Id").alias("member_id"),
            pl.col("CampaignId").alias("campaign_id"),
            pl.col("LeadId").alias("lead_id"),
            pl.col("ContactId").alias("contact_id"),
            pl.col("CreatedDate").alias("touched_at"),
        )
        .join(campaigns, on="campaign_id")
    )
    as_contact = roles.join(members.drop("lead_id"), on="contact_id")
    as_lead = roles.join(converted, on="contact_id").join(members.drop("contact_id"), on="lead_id")
    columns = ["opportunity_id", "member_id", "campaign_id", "touched_at"]
    return (
        pl.concat([as_contact.select(columns), as_lead.select(columns)])
        .unique()
        .join(opportunities, on="opportunity_id")
        .filter(pl.col("touched_at") < pl.col("opportunity_created"))
        .drop("opportunity_created")
    )


def credits(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(attribution_model, campaign_id, opportunity_id, weight) under the four models."""
    campaigns = live(raw(conn, "raw_salesforce.campaign")).select(pl.col("Id").alias("campaign_id"))
    primary = (
        live(raw(conn, "raw_salesforce.opportunity"))
        .select(pl.col("Id").alias("opportunity_id"), pl.col("CampaignId").alias("campaign_id"))
        .join(campaigns, on="campaign_id")
        .with_columns(pl.lit("primary").alias("attribution_model"), pl.lit(1.0).alias("weight"))
    )
    t = touches(conn)
    first = t.sort("touched_at", "member_id").group_by("opportunity_id").first()
    last = t.sort("touched_at", "member_id").group_by("opportunity_id").last()
    linear = t.with_columns((1.0 / pl.len().over("opportunity_id")).alias("weight"))
    columns = ["attribution_model", "campaign_id", "opportunity_id", "weight"]
    return pl.concat(
        [
            primary.select(columns),
            first.with_columns(
                pl.lit("first_touch").alias("attribution_model"), pl.lit(1.0).alias("weight")
            ).select(columns),
            last.with_columns(
                pl.lit("last_touch").alias("attribution_model"), pl.lit(1.0).alias("weight")
            ).select(columns),
            linear.with_columns(pl.lit("linear").alias("attribution_model")).select(columns),
        ]
    )


def test_roi_report_matches_a_recomputation_from_raw(built: duckdb.DuckDBPyConnection) -> None:
    opportunities = live(raw(built, "raw_salesforce.opportunity")).select(
        pl.col("Id").alias("opportunity_id"),
        pl.col("Amount").fill_null(0.0).alias("amount"),
        pl.col("IsWon").fill_null(False).alias("is_won"),
    )
    expected = (
        credits(built)
        .join(opportunities, on="opportunity_id")
        .group_by("attribution_model", "campaign_id")
        .agg(
            pl.col("weight").sum().alias("opportunities"),
            (pl.col("weight") * pl.col("amount")).sum().alias("pipeline_amount"),
            (pl.col("weight") * pl.col("amount") * pl.col("is_won")).sum().alias("won_revenue"),
        )
    )
    report = built.execute(
        "select attribution_model, campaign_id, opportunities, pipeline_amount, won_revenue from marts.roi_report"
    ).pl()
    # campaigns without credit are in the report with zeros
    compared = report.join(expected, on=["attribution_model", "campaign_id"], how="left", suffix="_expected")
    assert compared.height == report.height
    assert expected.height > 0 and expected["won_revenue"].sum() > 0, "the org should have attributed revenue"
    for column in ("opportunities", "pipeline_amount", "won_revenue"):
        differing = compared.filter(
            (pl.col(column) - pl.col(f"{column}_expected").fill_null(0.0)).abs()
            > 1e-6 * (1 + pl.col(column).abs())
        )
        assert differing.is_empty(), f"{column} differs:\n{differing}"

    # each multi-touch model distributes exactly the won revenue of the opportunities that have touches
    touched_won = (
        opportunities.join(touches(built).select("opportunity_id").unique(), on="opportunity_id")
        .filter(pl.col("is_won"))["amount"]
        .sum()
    )
    for model in MULTI_TOUCH:
        distributed = report.filter(pl.col("attribution_model") == model)["won_revenue"].sum()
        assert distributed == pytest.approx(touched_won), model


def test_opportunity_counts_and_won_revenue_match(built: duckdb.DuckDBPyConnection) -> None:
    opportunities = live(raw(built, "raw_salesforce.opportunity"))
    won = opportunities.filter(pl.col("IsWon").fill_null(False))
    marts = built.execute(
        "select count(*), sum(case when is_won then 1 else 0 end), sum(case when is_won then amount end) "
        "from marts.opportunities"
    ).fetchone()
    assert marts == (opportunities.height, won.height, pytest.approx(won["Amount"].sum()))
    # the primary model credits each opportunity of a live campaign once
    campaigns = live(raw(built, "raw_salesforce.campaign"))["Id"]
    primary_count = opportunities.filter(pl.col("CampaignId").is_in(campaigns.implode())).height
    (reported,) = built.execute(
        "select sum(opportunities) from marts.roi_report where attribution_model = 'primary'"
    ).fetchone()
    assert reported == primary_count > 0


# --- opt-outs -----------------------------------------------------------------------------------------------


def salesforce_records(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Live Leads and Contacts with the person they belong to (a converted lead: its live contact's email)."""
    leads = raw(conn, "raw_salesforce.lead")
    contacts = raw(conn, "raw_salesforce.contact")
    contact_emails = live(contacts).select(
        pl.col("Id").alias("ConvertedContactId"), valid_email("Email").alias("contact_email")
    )
    columns = ["Id", "is_converted", "HasOptedOutOfEmail", "LastModifiedDate", "person_email"]
    lead_people = (
        live(leads)
        .join(contact_emails, on="ConvertedContactId", how="left")
        .with_columns(
            pl.coalesce("contact_email", valid_email("Email")).alias("person_email"),
            pl.col("IsConverted").fill_null(False).alias("is_converted"),
        )
    )
    contact_people = live(contacts).with_columns(
        valid_email("Email").alias("person_email"), pl.lit(False).alias("is_converted")
    )
    return pl.concat([lead_people.select(columns), contact_people.select(columns)]).filter(
        pl.col("person_email").is_not_null()
    )


def decided_optouts(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """Emails whose latest consent event is an opt-out (ties go to the opt-out)."""
    records = salesforce_records(conn)
    history = raw(conn, "raw_acton.optout_history")
    events = pl.concat(
        [
            records.filter(pl.col("HasOptedOutOfEmail").fill_null(False)).select(
                pl.col("person_email").alias("email"),
                pl.col("LastModifiedDate").alias("at"),
                pl.lit(True).alias("out"),
            ),
            history.select(
                valid_email("email").alias("email"),
                pl.coalesce("opted_out_at", "first_seen_at").alias("at"),
                pl.lit(True).alias("out"),
            ),
            history.select(
                valid_email("email").alias("email"),
                pl.col("removed_at").alias("at"),
                pl.lit(False).alias("out"),
            ),
            raw(conn, "raw_acton.optouts").select(
                valid_email("email").alias("email"),
                pl.col("opted_out_at").alias("at"),
                pl.lit(True).alias("out"),
            ),
            raw(conn, "raw_acton.spam_complaints").select(
                valid_email("email").alias("email"),
                pl.col("complained_at").alias("at"),
                pl.lit(True).alias("out"),
            ),
        ]
    ).drop_nulls(["email", "at"])
    latest = events.sort("at", "out").group_by("email").last()
    return set(latest.filter(pl.col("out"))["email"])


def test_optout_sets_match_a_recomputation_from_raw(built: duckdb.DuckDBPyConnection) -> None:
    assert load_sync_config(ROOT / "sync.yaml").optouts.direction == "both"
    opted_out = decided_optouts(built)
    on_acton_list = set(raw(built, "raw_acton.optouts").select(valid_email("email"))["email"].drop_nulls())
    additions = {e for (e,) in built.execute("select email from sync.acton_optout_additions").fetchall()}
    assert additions == opted_out - on_acton_list

    records = salesforce_records(built).filter(~pl.col("is_converted"))
    should_change = records.with_columns(
        pl.col("person_email").is_in(list(opted_out)).alias("desired")
    ).filter(pl.col("HasOptedOutOfEmail").fill_null(False) != pl.col("desired"))
    # on a first run there are no Act-On opt-ins: every record to change is one to check
    expected = {(r["Id"], True) for r in should_change.iter_rows(named=True) if r["desired"]}
    updates = set(
        built.execute("select salesforce_id, new_value from sync.salesforce_optout_updates").fetchall()
    )
    assert updates == expected
    assert additions and updates, "the org should have opt-outs to send both ways"
