"""Pictures of the reports people would rather look at than read: the funnel (stages, counts, conversion rates),
its entries per period (the period sync.yaml's funnel.period gave the report: week, month or quarter) and the ROI
by campaign, rendered as PNG files under ``reports/`` next to the warehouse (the ``report_charts`` asset also
shows them in its metadata in the Dagster UI)."""

import base64
from dataclasses import dataclass
from pathlib import Path

import duckdb
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FUNNEL_FILE, PERIODS_FILE, ROI_FILE = "funnel.png", "funnel_by_period.png", "roi_by_campaign.png"
ROI_CAMPAIGNS = 15  # the campaigns with the most won revenue; more bars would not be readable
DPI = 100
STAGE_LABELS = {"mql": "MQL", "sql": "SQL"}
PERIOD_TICKS = 16  # at most this many period labels under the axis; more would overlap


def reports_dir(warehouse: Path) -> Path:
    """Where the report images go: ``reports/`` next to the warehouse."""
    return warehouse.parent / "reports"


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    entered: int
    conversion_rate: float | None  # share of the stage's entrants that reached the next stage; None for Won


@dataclass(frozen=True)
class FunnelPeriods:
    periods: list[str]  # the report's period labels in time order (2024-W03, 2024-01 or 2024-Q1)
    entered: dict[str, list[int]]  # stage -> entries per period, stages in funnel order


@dataclass(frozen=True)
class CampaignRoi:
    campaign: str
    cost: float | None
    won_revenue: float
    roi: float | None


def funnel_stages(conn: duckdb.DuckDBPyConnection) -> list[FunnelStage]:
    """Entries per stage over all periods and lead sources; the conversion rate weighted by each cohort's size."""
    rows = conn.execute(
        """
        select
            stage,
            sum(entered) as entered,
            sum(conversion_rate * entered) / nullif(sum(case when conversion_rate is not null then entered end), 0)
        from marts.funnel_report
        where lead_source = '(all)'
        group by stage, stage_order
        order by stage_order
        """
    ).fetchall()
    return [FunnelStage(stage, int(entered), rate) for stage, entered, rate in rows]


def funnel_periods(conn: duckdb.DuckDBPyConnection, lead_source: str = "(all)") -> FunnelPeriods:
    """Entries per period and stage of one lead source (default over all of them); the report lists every period
    for every source, empty ones as 0."""
    rows = conn.execute(
        """
        select period, stage, entered
        from marts.funnel_report
        where lead_source = ?
        order by period_start, stage_order
        """,
        [lead_source],
    ).fetchall()
    periods = list(dict.fromkeys(period for period, _, _ in rows))
    entered: dict[str, list[int]] = {}
    for _, stage, count in rows:
        entered.setdefault(stage, []).append(count)
    return FunnelPeriods(periods, entered)


def campaign_roi(conn: duckdb.DuckDBPyConnection) -> list[CampaignRoi]:
    """Primary attribution, the campaigns with the most won revenue."""
    rows = conn.execute(
        """
        select campaign_name, cost, won_revenue, roi
        from marts.roi_report
        where attribution_model = 'primary'
        order by won_revenue desc, campaign_name
        limit ?
        """,
        [ROI_CAMPAIGNS],
    ).fetchall()
    return [CampaignRoi(name or "(unnamed)", cost, won or 0.0, roi) for name, cost, won, roi in rows]


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by the Agg canvas: files only, no display, and no pyplot state shared between runs."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def funnel_figure(stages: list[FunnelStage]) -> Figure:
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    labels = [stage_label(s.stage) for s in stages]
    counts = [s.entered for s in stages]
    positions = range(len(stages))
    widest = max(counts, default=0) or 1
    # centred bars: the funnel shape
    ax.barh(positions, counts, left=[(widest - c) / 2 for c in counts], color="#3b6ea8")
    for i, s in enumerate(stages):
        ax.text((widest + s.entered) / 2 + widest * 0.01, i, f"{s.entered:,}", va="center", fontweight="bold")
        if s.conversion_rate is not None and i + 1 < len(stages):
            ax.text(widest * 1.12, i + 0.5, f"↓ {s.conversion_rate:.0%}", va="center", color="#444444")
    ax.set_yticks(list(positions), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, widest * 1.25)
    ax.set_xticks([])
    ax.spines[["top", "right", "bottom"]].set_visible(False)
    ax.set_title("Funnel: people entering each stage, and the share reaching the next")
    fig.tight_layout()
    return fig


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.title())


def funnel_periods_figure(data: FunnelPeriods) -> Figure:
    fig = _figure(10, 4.5)
    ax = fig.subplots()
    positions = range(len(data.periods))
    for stage, counts in data.entered.items():
        ax.plot(positions, counts, marker="o", markersize=3, label=stage_label(stage))
    step = max(1, -(-len(data.periods) // PERIOD_TICKS))  # every n-th period labelled, n rounded up
    ax.set_xticks(list(positions)[::step], data.periods[::step], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("period (UTC)")
    ax.set_ylabel("people entering the stage")
    ax.set_ylim(bottom=0)
    ax.spines[["top", "right"]].set_visible(False)
    if data.entered:
        ax.legend(frameon=False, fontsize=8)
    ax.set_title("Funnel entries per period")
    fig.tight_layout()
    return fig


def roi_figure(campaigns: list[CampaignRoi]) -> Figure:
    fig = _figure(8, max(3.0, 0.4 * len(campaigns) + 1.2))
    ax = fig.subplots()
    names = [c.campaign for c in campaigns]
    rois = [c.roi if c.roi is not None else 0.0 for c in campaigns]
    colours = ["#999999" if c.roi is None else "#2e8b57" if c.roi >= 0 else "#c0392b" for c in campaigns]
    ax.barh(range(len(campaigns)), rois, color=colours)
    for i, c in enumerate(campaigns):
        cost = "no cost" if not c.cost else f"cost {c.cost:,.0f}"
        roi = "ROI n/a" if c.roi is None else f"ROI {c.roi:.1f}x"
        ax.text(0, i, f"  {roi}, won {c.won_revenue:,.0f}, {cost}  ", va="center", fontsize=8)
    ax.set_yticks(range(len(campaigns)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlabel("ROI = (won revenue - cost) / cost, primary campaign attribution")
    ax.set_title(f"ROI by campaign (top {len(campaigns)} by won revenue)")
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path.read_bytes()


def embedded(title: str, png: bytes) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
