"""The analytics assets (``analytics/``): the analysts' read-only copy of the marts, the report charts and the
HTML report read from the copy."""

import dagster as dg

from analytics.charts import (
    FUNNEL_FILE,
    PERIODS_FILE,
    ROI_FILE,
    campaign_roi,
    embedded,
    funnel_figure,
    funnel_periods,
    funnel_periods_figure,
    funnel_stages,
    reports_dir,
    roi_figure,
    save,
)
from analytics.html_report import last_syncs, write_report
from analytics.marts_copy import MARTS_SCHEMA, analytics_path, exports_path, publish_marts, published_at
from common import build_inputs
from common.warehouse import utc_now
from orchestration.defs.resources import DUCKDB_POOL, WarehouseResource

GROUP = "analytics"
FUNNEL_REPORT = dg.AssetKey(["marts", "funnel_report"])
ROI_REPORT = dg.AssetKey(["marts", "roi_report"])
ANALYTICS_COPY = dg.AssetKey("analytics_copy")


def analytics_copy_asset(dbt_models: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """The analysts' copy, downstream of every mart ``dbt_models`` makes."""
    marts = sorted((key for key in dbt_models.keys if key.path[0] == MARTS_SCHEMA), key=lambda k: k.path)

    @dg.asset(
        group_name=GROUP,
        pool=DUCKDB_POOL,
        deps=marts,
        kinds={"duckdb"},
    )
    def analytics_copy(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """The marts published to a read-only DuckDB file for analysts ($ANALYTICS_PATH, default
        warehouse_analytics.duckdb next to the warehouse), replaced atomically after each successful run so that
        analysts' queries never block a scheduled run nor get blocked by one. Not copied again when the marts have
        not been rebuilt since the copy was made."""
        target = analytics_path(warehouse.file)
        with warehouse.connect() as conn:
            last = build_inputs.last_build(conn)
            if last and target.exists() and published_at(target) >= last.built_at:
                note = f"unchanged: the marts were last built by run {last.run_id}, before this copy was published"
                context.log.info("%s: %s", target, note)
                return dg.MaterializeResult(
                    metadata={"path": dg.MetadataValue.path(str(target)), "skipped": note}
                )
            rows = publish_marts(conn, target)
        context.log.info("published %d marts tables to %s", len(rows), target)
        table = "\n".join(
            ["| table | rows |", "| --- | ---: |", *(f"| marts.{t} | {n:,} |" for t, n in rows.items())]
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(target)),
                "tables": dg.MetadataValue.int(len(rows)),
                "rows": dg.MetadataValue.int(sum(rows.values())),
                "contents": dg.MetadataValue.md(table),
            }
        )

    return analytics_copy


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, deps=[FUNNEL_REPORT, ROI_REPORT], kinds={"python"})
def report_charts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The funnel (stages, counts, conversion rates), its entries per period (sync.yaml funnel.period) and the
    ROI by campaign as PNG images in reports/ next to the warehouse, shown here in the metadata."""
    with warehouse.connect() as conn:
        stages, periods, campaigns = funnel_stages(conn), funnel_periods(conn), campaign_roi(conn)
    out = reports_dir(warehouse.file)
    funnel_path, periods_path, roi_path = out / FUNNEL_FILE, out / PERIODS_FILE, out / ROI_FILE
    funnel_png = save(funnel_figure(stages), funnel_path)
    periods_png = save(funnel_periods_figure(periods), periods_path)
    roi_png = save(roi_figure(campaigns), roi_path)
    context.log.info("report images in %s", out)
    return dg.MaterializeResult(
        metadata={
            "funnel": dg.MetadataValue.md(embedded("Funnel", funnel_png)),
            "funnel_by_period": dg.MetadataValue.md(embedded("Funnel entries per period", periods_png)),
            "roi_by_campaign": dg.MetadataValue.md(embedded("ROI by campaign", roi_png)),
            "funnel_path": dg.MetadataValue.path(str(funnel_path)),
            "funnel_by_period_path": dg.MetadataValue.path(str(periods_path)),
            "roi_path": dg.MetadataValue.path(str(roi_path)),
            "periods": dg.MetadataValue.int(len(periods.periods)),
            "stages": dg.MetadataValue.int(len(stages)),
            "campaigns": dg.MetadataValue.int(len(campaigns)),
        }
    )


@dg.asset(group_name=GROUP, pool=DUCKDB_POOL, deps=[ANALYTICS_COPY], kinds={"html"})
def report_html(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """reports/index.html next to the warehouse: the funnel by period and lead source, conversion over time, ROI
    by campaign under each attribution model, won revenue over time, when each source was last synced and links
    to the exports, as one self-contained page read from the analysts' copy. Written on every run, even when the
    copy was not replaced, since the sync times move."""
    copy = analytics_path(warehouse.file)
    with warehouse.connect() as conn:
        syncs = last_syncs(conn)
    page = write_report(copy, syncs, exports_path(copy), reports_dir(warehouse.file), utc_now())
    context.log.info("HTML report: %s", page)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(page))})


def defs(dbt_models: dg.AssetsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[analytics_copy_asset(dbt_models), report_charts, report_html])
