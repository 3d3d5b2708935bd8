"""reports/index.html in headless Chromium, read as a person reads it (the text of its tables), and judged against
the analysts' copy it was written from, the warehouse's sync state and the sandbox's own Opportunity table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pytest

from analytics.charts import reports_dir
from analytics.html_report import INDEX_FILE, last_syncs, write_report
from analytics.marts_copy import exports_path, publish_marts
from tests.browser.chromium import Page, artefact, browser, chromium_or_skip
from tests.dbt.test_funnel_config import OBSERVED_AT, WEEKLY, load_org
from tests.demo_world import Demo
from tests.raw_fixtures import run_dbt

pytestmark = pytest.mark.browser


def number(text: str) -> float:
    return float(text.replace(",", ""))


def shown(page: Page, path: Path, screenshot: str) -> str:
    """Open the page from its file, as someone double-clicking it would; keep its screenshot; its text."""
    page.goto(path.as_uri())
    page.screenshot(artefact(screenshot))
    assert not page.errors, page.errors
    # offline: nothing but the file itself (and the exports it links to, not fetched) is asked for
    assert [u for u in page.requests if not u.startswith("file:")] == []
    return page.text()


def test_the_report_shows_the_demo_marts(demo: Demo) -> None:
    executable = chromium_or_skip()
    index = reports_dir(demo.data_dir / "warehouse.duckdb") / INDEX_FILE
    assert f"The report, to open in a browser: {index}" in demo.output  # what `make demo` prints
    copy = duckdb.connect(str(demo.data_dir / "warehouse_analytics.duckdb"), read_only=True)
    with browser(executable) as page:
        text = shown(page, index, "report.png")
        funnel = page.table("#funnel")
        by_period = page.table("#funnel-by-period")
        roi = {m: page.table(f"#roi-{m}") for m in ("primary", "first_touch", "last_touch", "linear")}
        revenue = page.table("#won-revenue")
        synced = page.table("#last-synced")
        links = page.evaluate("[...document.querySelectorAll('#exports a')].map(a => a.href)")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # a reader's clicks
        web = page.table("#funnel-by-period-web")

    # the funnel's entries per stage, over every period and source
    stages = copy.execute(
        "select stage, sum(entered) from marts.funnel_report where lead_source = '(all)' "
        "group by stage, stage_order order by stage_order"
    ).fetchall()
    assert [(row[0].lower(), int(number(row[1]))) for row in funnel] == [(s, n) for s, n in stages]
    # every period from the first entry to the last, in order, empty ones as 0 (the demo world has gaps)
    periods = copy.execute(
        "select period, list(entered order by stage_order) from marts.funnel_report where lead_source = '(all)' "
        "group by period, period_start order by period_start"
    ).fetchall()
    assert [(r[0], [int(c) for c in r[1:]]) for r in by_period] == [(p, list(e)) for p, e in periods]
    assert any(all(c == "0" for c in r[1:]) for r in by_period)
    # one lead source's periods: the same periods, its own counts
    web_rows = copy.execute(
        "select period, list(entered order by stage_order) from marts.funnel_report where lead_source = 'Web' "
        "group by period, period_start order by period_start"
    ).fetchall()
    assert [(r[0], [int(c) for c in r[1:]]) for r in web] == [(p, list(e)) for p, e in web_rows]
    assert "Funnel by month" in text  # sync.yaml's default period

    # the top campaigns' won revenue under each model, as the copy ranks them
    for model, rows in roi.items():
        top = copy.execute(
            "select campaign_name, coalesce(round(won_revenue, 2), 0) from marts.roi_report where attribution_model = ? "
            "order by won_revenue desc nulls last, campaign_id limit 10",
            [model],
        ).fetchall()
        assert [(r[0], number(r[1])) for r in rows] == top, model
    # and the primary model's first against the sandbox's own Opportunities
    (won,) = demo.sandbox(
        "SELECT c.Name, round(sum(o.Amount), 2) FROM Opportunity o JOIN Campaign c ON c.Id = o.CampaignId "
        "WHERE o.IsWon = 1 AND o.IsDeleted = 0 AND c.IsDeleted = 0 GROUP BY c.Id ORDER BY 2 DESC, c.Id LIMIT 1"
    )
    assert (roi["primary"][0][0], number(roi["primary"][0][1])) == won
    # won revenue over time adds up to every won Opportunity's amount in the sandbox
    ((total,),) = demo.sandbox(
        "SELECT round(sum(Amount), 2) FROM Opportunity WHERE IsWon = 1 AND IsDeleted = 0"
    )
    assert round(sum(number(r[1]) for r in revenue), 2) == total

    # last synced: each system's latest watermark, moved by this demo's run
    with duckdb.connect(str(demo.data_dir / "warehouse.duckdb"), read_only=True) as warehouse:
        syncs = last_syncs(warehouse)
    latest = {s.source: max(x.updated_at for x in syncs if x.source == s.source) for s in syncs}
    assert {source: when for source, when in synced} == {
        source: f"{at:%Y-%m-%d %H:%M} UTC" for source, at in latest.items()
    }
    assert len(latest) == 2 and all(
        datetime.now(UTC).replace(tzinfo=None) - at < timedelta(hours=2) for at in latest.values()
    )

    # a link to each mart's CSV and Parquet, and each opens an existing file
    marts = [t for (t,) in copy.execute("select table_name from information_schema.tables").fetchall()]
    files = [Path(unquote(urlparse(link).path)) for link in links]
    assert sorted(f.name for f in files) == sorted(f"{m}.{ext}" for m in marts for ext in ("csv", "parquet"))
    assert all(
        f.is_file() and f.parent == exports_path(demo.data_dir / "warehouse_analytics.duckdb") for f in files
    )
    copy.close()


def test_a_weekly_funnel_gives_week_labels(tmp_path: Path) -> None:
    """The hand-worked org of tests/dbt/test_funnel_config.py, built weekly: 28 ISO weeks of 2024, Cy's win (10,000)
    in week 7, Known 4 (Ann, Cy in week 1, Bob in week 3, Dee in week 28)."""
    executable = chromium_or_skip()
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        load_org(conn)
    run_dbt(warehouse, "build", observed_at=OBSERVED_AT, config=WEEKLY)
    copy = tmp_path / "warehouse_analytics.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        publish_marts(conn, copy)
    built = datetime(2024, 9, 1, 12, 0)
    index = write_report(copy, [], exports_path(copy), reports_dir(warehouse), built)
    with browser(executable) as page:
        text = shown(page, index, "report-weekly.png")
        by_period = page.table("#funnel-by-period")
        funnel = page.table("#funnel")
        revenue = page.table("#won-revenue")
    assert "Funnel by week" in text and "Written 2024-09-01 12:00 UTC" in text
    assert [r[0] for r in by_period] == [f"2024-W{n:02d}" for n in range(1, 29)]
    assert [r[-1] for r in by_period] == ["0"] * 6 + ["1"] + ["0"] * 21  # the Won column
    assert [r[0] for r in by_period if r[1] != "0"] == ["2024-W01", "2024-W03", "2024-W28"]  # Known
    assert funnel[0][:2] == ["Known", "4"] and funnel[-1][:2] == ["Won", "1"]
    assert revenue == [["2024-W07", "10,000.00"]]
