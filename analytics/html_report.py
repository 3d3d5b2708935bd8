"""``reports/index.html``: one self-contained page of the reports, read from the analysts' copy of the marts (what
analysts query, so the page and their queries agree) — the funnel by period and lead source, the conversion rate
over time, ROI by campaign under each attribution model, won revenue over time, when each source was last synced
and links to the CSV and Parquet exports. Styles and charts (static SVG) are inline and there is no script: the
page opens offline, from a file share or an attachment, exactly as written."""

import os
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from pathlib import Path

import duckdb

from analytics.charts import FunnelPeriods, funnel_periods, funnel_stages, stage_label
from analytics.svg import hbars, lines

INDEX_FILE = "index.html"
TOP_CAMPAIGNS = 10
MODELS = ("primary", "first_touch", "last_touch", "linear")
MODEL_LABELS = {
    "primary": "Primary campaign",
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "linear": "Linear (equal share per touch)",
}
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 900px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.zero { color: #bbb; } .note { color: #555; font-size: 0.9em; } svg { width: 100%; height: auto; }
"""


@dataclass(frozen=True)
class SourceSync:
    source: str  # raw_salesforce, raw_acton
    entity: str
    updated_at: datetime  # when the extract last moved the entity's watermark (UTC)


@dataclass(frozen=True)
class CampaignRow:
    campaign: str
    won_revenue: float
    cost: float | None
    roi: float | None


def last_syncs(warehouse: duckdb.DuckDBPyConnection) -> list[SourceSync]:
    """The watermarks of the live warehouse: the copy holds the marts alone, and the page should say how fresh
    the data behind them is, which only the sync state knows."""
    rows = warehouse.execute(
        "select source, entity, updated_at from sync_state.watermarks order by source, entity"
    ).fetchall()
    return [SourceSync(source, entity, at) for source, entity, at in rows]


def grain(period_label: str) -> str:
    """The period the funnel report was built with, read back from its labels (2024-W03, 2024-01, 2024-Q1), so
    the revenue chart uses the same periods as the funnel whatever sync.yaml says now."""
    return "week" if "-W" in period_label else "quarter" if "-Q" in period_label else "month"


def period_label(start: date, period: str) -> str:
    """The label dbt gives the period starting at ``start`` (macro funnel_period_label)."""
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return start.strftime("%Y-%m")


def lead_sources(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "select distinct lead_source from marts.funnel_report where lead_source <> '(all)' order by 1"
    ).fetchall()
    return [source for (source,) in rows]


def conversion_over_time(conn: duckdb.DuckDBPyConnection) -> dict[str, list[float | None]]:
    """Stage -> cohort conversion rate per period (None where nobody entered the stage), Won excluded."""
    rates: dict[str, list[float | None]] = {}
    for stage, rate in conn.execute(
        """
        select stage, conversion_rate from marts.funnel_report
        where lead_source = '(all)' and stage <> 'won'
        order by stage_order, period_start
        """
    ).fetchall():
        rates.setdefault(stage_label(stage), []).append(rate)
    return rates


def top_campaigns(conn: duckdb.DuckDBPyConnection, model: str) -> list[CampaignRow]:
    rows = conn.execute(
        """
        select campaign_name, won_revenue, cost, roi from marts.roi_report
        where attribution_model = ?
        order by won_revenue desc nulls last, campaign_id
        limit ?
        """,
        [model, TOP_CAMPAIGNS],
    ).fetchall()
    return [CampaignRow(name or "(unnamed)", won or 0.0, cost, roi) for name, won, cost, roi in rows]


def won_revenue(conn: duckdb.DuckDBPyConnection, period: str) -> list[tuple[str, float]]:
    """Won revenue by close date per period, every period from the first close to the last, 0 where none."""
    rows = conn.execute(
        f"""
        with won as (
            select date_trunc('{period}', close_date) as period_start, sum(amount) as revenue
            from marts.opportunities where is_won and close_date is not null group by 1
        ), spine as (
            select unnest(generate_series(min(period_start), max(period_start), interval 1 {period})) as period_start
            from won
        )
        select cast(s.period_start as date), coalesce(w.revenue, 0)
        from spine s left join won w using (period_start) order by 1
        """
    ).fetchall()
    return [(period_label(start, period), float(revenue)) for start, revenue in rows]


def _number(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _tick(value: float) -> str:
    """An axis label: whole numbers as such, a fraction with one decimal (small counts give 0.5 steps)."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _table(table_id: str, head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td{' class=zero' if c == '0' else ''}>{escape(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f'<table id="{table_id}"><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table>'


def _periods_table(table_id: str, data: FunnelPeriods) -> str:
    stages = list(data.entered)
    rows = [[p, *(str(data.entered[s][i]) for s in stages)] for i, p in enumerate(data.periods)]
    return _table(table_id, ["period", *(stage_label(s) for s in stages)], rows)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _funnel_section(conn: duckdb.DuckDBPyConnection) -> str:
    stages = funnel_stages(conn)
    totals = [
        [
            stage_label(s.stage),
            f"{s.entered:,}",
            "" if s.conversion_rate is None else f"{s.conversion_rate:.1%}",
        ]
        for s in stages
    ]
    chart = hbars(
        [stage_label(s.stage) for s in stages], [s.entered for s in stages], _number, "People per stage"
    )
    return (
        "<h2>Funnel</h2><p class=note>People entering each stage over all periods and lead sources, and the share of"
        " each stage's entrants who reached the next stage by now.</p>"
        + chart
        + _table("funnel", ["stage", "entered", "reached the next stage"], totals)
    )


def _periods_section(conn: duckdb.DuckDBPyConnection) -> str:
    everyone = funnel_periods(conn)
    period = grain(everyone.periods[0]) if everyone.periods else "month"
    series = {stage_label(s): [float(c) for c in counts] for s, counts in everyone.entered.items()}
    by_source = "".join(
        f"<details><summary>{escape(source)}</summary>"
        + _periods_table(f"funnel-by-period-{_slug(source)}", funnel_periods(conn, source))
        + "</details>"
        for source in lead_sources(conn)
    )
    return (
        f"<h2>Funnel by {period}</h2><p class=note>People entering each stage per {period} (UTC); every {period}"
        " from the first entry to the last is listed, 0 where nobody entered.</p>"
        + lines(everyone.periods, series, _tick, f"People entering each stage per {period}")
        + _periods_table("funnel-by-period", everyone)
        + f"<h3>By lead source</h3>{by_source}"
    )


def _conversion_section(conn: duckdb.DuckDBPyConnection, periods: list[str]) -> str:
    rates = conversion_over_time(conn)
    return (
        "<h2>Conversion rate over time</h2><p class=note>By cohort: of the people who entered a stage in a period,"
        " the share who reached the next stage by now (no point where nobody entered).</p>"
        + lines(periods, rates, lambda v: f"{v:.0%}", "Share reaching the next stage, by cohort")
    )


def _roi_section(conn: duckdb.DuckDBPyConnection) -> str:
    parts = [
        "<h2>ROI by campaign</h2><p class=note>ROI = (won revenue &minus; cost) / cost, empty when the cost is 0 or"
        f" unknown; the {TOP_CAMPAIGNS} campaigns with the most won revenue under each attribution model.</p>"
    ]
    for model in MODELS:
        campaigns = top_campaigns(conn, model)
        rows = [
            [c.campaign, _number(c.won_revenue, 2), _number(c.cost, 2), _number(c.roi, 2)] for c in campaigns
        ]
        parts.append(f"<h3>{escape(MODEL_LABELS[model])}</h3>")
        parts.append(
            hbars([c.campaign for c in campaigns], [c.won_revenue for c in campaigns], _number, "Won revenue")
        )
        parts.append(_table(f"roi-{model}", ["campaign", "won revenue", "cost", "ROI"], rows))
    return "".join(parts)


def _revenue_section(conn: duckdb.DuckDBPyConnection, period: str) -> str:
    revenue = won_revenue(conn, period)
    labels = [label for label, _ in revenue]
    return (
        f"<h2>Won revenue over time</h2><p class=note>Amount of the won opportunities by close date, per {period}.</p>"
        + lines(labels, {"won revenue": [v for _, v in revenue]}, _tick, f"Won revenue per {period}")
        + _table("won-revenue", [period, "won revenue"], [[label, _number(v, 2)] for label, v in revenue])
    )


def _sync_section(syncs: list[SourceSync]) -> str:
    latest: dict[str, datetime] = {}
    for s in syncs:
        latest[s.source] = max(latest.get(s.source, s.updated_at), s.updated_at)
    rows = [[source, f"{at:%Y-%m-%d %H:%M} UTC"] for source, at in sorted(latest.items())] or [
        ["(no extract has run yet)", ""]
    ]
    detail = [[f"{s.source}.{s.entity}", f"{s.updated_at:%Y-%m-%d %H:%M} UTC"] for s in syncs]
    return (
        "<h2>Last synced</h2><p class=note>When each source's extract last moved a watermark (new or changed rows"
        " read), from the warehouse's sync state at the time this page was written.</p>"
        + _table("last-synced", ["source", "last synced"], rows)
        + "<details><summary>per object</summary>"
        + _table("last-synced-detail", ["object", "last synced"], detail)
        + "</details>"
    )


def _exports_section(exports: Path, out: Path) -> str:
    files = sorted(exports.glob("*.csv")) + sorted(exports.glob("*.parquet")) if exports.is_dir() else []
    items = "".join(
        f'<li><a href="{escape(Path(os.path.relpath(f, out)).as_posix())}">{escape(f.name)}</a></li>'
        for f in files
    )
    return (
        f"<h2>Exports</h2><p class=note>Every mart as CSV and Parquet, replaced with the copy after each successful"
        f" run, in {escape(str(exports))}.</p><ul id=exports>{items or '<li>none yet</li>'}</ul>"
    )


def render(
    conn: duckdb.DuckDBPyConnection, syncs: list[SourceSync], exports: Path, out: Path, built_at: datetime
) -> str:
    """The whole page; ``conn`` reads the analysts' copy, ``out`` is the folder the page is written to (the links
    to the exports are relative to it, so the folder tree can be moved as a whole)."""
    everyone = funnel_periods(conn)
    period = grain(everyone.periods[0]) if everyone.periods else "month"
    body = "".join(
        [
            f"<h1>Funnel and ROI report</h1><p class=note>Written {built_at:%Y-%m-%d %H:%M} UTC from the analysts'"
            " copy of the marts.</p>",
            _funnel_section(conn),
            _periods_section(conn),
            _conversion_section(conn, everyone.periods),
            _roi_section(conn),
            _revenue_section(conn, period),
            _sync_section(syncs),
            _exports_section(exports, out),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Funnel and ROI report</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def write_report(copy: Path, syncs: list[SourceSync], exports: Path, out: Path, built_at: datetime) -> Path:
    """Render from the read-only copy and swap the page in whole, so a reader never opens half of it."""
    with duckdb.connect(str(copy), read_only=True) as conn:
        page = render(conn, syncs, exports, out, built_at)
    out.mkdir(parents=True, exist_ok=True)
    target = out / INDEX_FILE
    staging = out / f".{INDEX_FILE}.{os.getpid()}.tmp"
    staging.write_text(page, encoding="utf-8")
    os.replace(staging, target)
    return target
