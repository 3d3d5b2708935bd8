"""docs/queries.md, run as an analyst would: `make demo` (the session's, tests/demo_world.py), then each query
through `make sql`'s entry point (the duckdb shell on the read-only analysts' copy), judged against the sandbox's
own records."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from analytics.marts_copy import exports_path
from tests.demo_world import Demo

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "docs" / "queries.md"
_QUESTION = re.compile(r"^## (.+?)\n(.*?)```sql\n(.*?)```", re.S | re.M)


def questions() -> dict[str, str]:
    return {title: sql for title, _, sql in _QUESTION.findall(QUERIES.read_text())}


def with_variable(sql: str, name: str, value: str) -> str:
    line = re.compile(rf"^set variable {name} = .*;$", re.M)
    assert line.search(sql), f"the query has no `set variable {name}` line"
    return line.sub(f"set variable {name} = {value};", sql)


def test_the_demo_prints_one_line_per_step_and_keeps_the_rest(demo: Demo) -> None:
    lines = demo.output.splitlines()
    steps = [
        line.split() for line in lines if re.match(r"^  (raw_|dbt_models|acton_list_sync |salesforce_)", line)
    ]
    assert len(lines) < 150 and not [line for line in lines if "DEBUG" in line or " START sql " in line]
    # the Lead extract's rows, as the sandbox holds them (the sync creates no Lead)
    ((count,),) = demo.sandbox("SELECT count(*) FROM Lead")
    assert ["raw_salesforce__lead", f"{count:,}", "rows"] == next(
        s for s in steps if s[0] == "raw_salesforce__lead"
    )[:3]
    assert all(s[-1] == "s" and float(s[-2]) >= 0 for s in steps)
    (summary,) = [line for line in lines if line.startswith("sync_job: run ")]
    assert " SUCCESS in " in summary and "STEP_START" in (demo.data_dir / "sync_job.log").read_text()


def test_every_question_has_its_query() -> None:
    assert len(questions()) == 4


def test_funnel_by_month_for_a_lead_source(demo: Demo) -> None:
    sql = questions()["Funnel by month for one lead source"]
    (source,) = demo.sandbox("SELECT LeadSource FROM Lead GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]
    rows = demo.sql(with_variable(sql, "lead_source", f"'{source}'"))
    assert rows and {r["stage"] for r in rows} >= {"known"}
    # the stage entries agree with the people mart: each person of this lead source is known once
    known = sum(r["entered"] for r in rows if r["stage"] == "known")
    people = demo.sql(
        f"select count(*) as n from marts.people where lead_source = '{source}' and known_at is not null"
    )
    assert known == people[0]["n"] > 0


def test_top_campaigns_by_won_revenue(demo: Demo) -> None:
    rows = demo.sql(
        with_variable(questions()["Top campaigns by won revenue, under each attribution model"], "top", "3")
    )
    models = {r["attribution_model"] for r in rows}
    assert models == {"primary", "first_touch", "last_touch", "linear"}
    assert all(sum(r["attribution_model"] == m for r in rows) <= 3 for m in models)
    # the primary model, from the sandbox's own Opportunities: won amount by primary campaign
    won = demo.sandbox(
        "SELECT c.Name, round(sum(o.Amount), 2) FROM Opportunity o JOIN Campaign c ON c.Id = o.CampaignId "
        "WHERE o.IsWon = 1 AND o.IsDeleted = 0 AND c.IsDeleted = 0 GROUP BY c.Id ORDER BY 2 DESC, c.Id LIMIT 1"
    )
    top = next(r for r in rows if r["attribution_model"] == "primary")
    assert (top["campaign_name"], round(top["won_revenue"], 2)) == won[0]


def test_who_opted_out(demo: Demo) -> None:
    sql = questions()["Who opted out in the last seven days, and where"]
    everyone = demo.sql(with_variable(sql, "days", "100000"))
    # every opt-out in force in Act-On, from the sandbox's own consent history (the demo world's are older than a
    # week, and the sync's uploads carry Salesforce's opt-outs made then): all shown, each once
    in_force = {
        email
        for email, event in demo.sandbox(
            "SELECT e.email_norm, e.event FROM acton_consent_events e "
            "WHERE e.ts_ms = (SELECT max(ts_ms) FROM acton_consent_events WHERE email_norm = e.email_norm)"
        )
        if event == "optout"
    }
    shown = [r["email"] for r in everyone]
    assert in_force and in_force <= set(shown) and len(shown) == len(set(shown))
    week = demo.sql(sql)
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=7, minutes=5)
    assert all(datetime.fromisoformat(r["opted_out_at"]) >= cutoff for r in week)
    assert {r["email"] for r in week} < set(shown)


def test_why_a_record_is_not_in_its_list(demo: Demo) -> None:
    sql = questions()["Why is this Salesforce record not in its Act-On list?"]
    (bad,) = demo.sandbox(
        "SELECT Id FROM Lead WHERE IsDeleted = 0 AND IsConverted = 0 AND coalesce(Email, '') = '' ORDER BY Id LIMIT 1"
    )[0]
    assert [r["why"] for r in demo.sql(with_variable(sql, "record_id", f"'{bad}'"))] == [
        "rejected: missing email"
    ]


def test_every_mart_is_exported_as_csv_and_parquet(demo: Demo) -> None:
    folder = exports_path(demo.data_dir / "warehouse_analytics.duckdb")
    for mart in ("funnel_report", "roi_report", "people", "sales_prospects", "rejected_records"):
        (n,) = demo.sql(f"select count(*) as n from marts.{mart}")[0].values()
        assert pl.read_csv(folder / f"{mart}.csv", infer_schema=False).height == n
        assert pl.read_parquet(folder / f"{mart}.parquet").height == n
